"""Pods: containers that share an infra container's namespaces and a cgroup (docs/pods.md)."""
