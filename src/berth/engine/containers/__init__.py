"""Containers: one module per lifecycle verb (create, start, stop, remove...), the monitor that outlives
a command, and everything a running container is watched and reached through (state, logs, exec,
health, attach, inspect); the runtime configuration a container gets (``oci_config`` with users,
capabilities and seccomp)."""
