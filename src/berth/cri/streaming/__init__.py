"""The CRI's streaming server: Exec, Attach and PortForward sessions over SPDY/3.1."""
