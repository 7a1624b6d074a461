"""Networking: bridge networks over the CNI plugins, pinned network namespaces, a container's /etc files."""
