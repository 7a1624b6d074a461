"""The engine CLI fixtures (temporary roots, busybox root, ``berth`` runner) for image tests."""

from tests.integration.engine_cli.conftest import berth, busybox_root, host_network_unchanged

__all__ = ["berth", "busybox_root", "host_network_unchanged"]
