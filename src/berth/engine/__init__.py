"""Engine: containers, volumes, networks and metadata, daemonless (podman-like)."""
