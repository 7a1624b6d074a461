"""Linux mechanics of the runtime: namespaces, mounts, cgroups, capabilities, seccomp, syscalls."""
