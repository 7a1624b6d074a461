"""berth-runtime: a runc-compatible OCI runtime (runtime-spec runtime.md, config.md, config-linux.md).

Stdlib only, and nothing imported here: this package is on every container's start path.
"""
