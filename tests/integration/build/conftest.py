"""The engine tests' fixtures (temporary roots, the busybox root, the ``berth`` runner) for builds."""

from tests.integration.engine_cli.conftest import berth, busybox_root, host_network_unchanged

__all__ = ["berth", "busybox_root", "host_network_unchanged"]
