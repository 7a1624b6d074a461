"""``berth cri serve``: Berth as a Kubernetes node runtime over the CRI (docs/cri.md). gRPC is
imported only when the server starts, so no other command pays for it."""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def _serve(args: argparse.Namespace) -> int:
    from berth.cri.config import load_cri_config
    from berth.engine.config import load_config

    config = load_cri_config(args.config, args.listen)
    engine_config = load_config(args.root, args.runroot)
    if config.cni_plugin_dirs:
        from berth.spec.records import replace

        engine_config = replace(engine_config, cni_plugin_dirs=config.cni_plugin_dirs)
    # Monitors are forked elsewhere (berth.cri.starter); the server's own children are
    # fork-and-exec (the runtime, ExecSync), for which gRPC's fork handlers are useless work.
    os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"
    from berth.cri.server import serve

    return serve(engine_config, config, log_level=args.log_level)


def register(subparsers: Any) -> None:
    """Add ``berth cri serve``."""
    parser = subparsers.add_parser("cri", help="serve the Kubernetes Container Runtime Interface")
    sub = parser.add_subparsers(dest="cri_command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="serve CRI v1 (RuntimeService, ImageService) in the foreground")
    serve.add_argument("--listen", default=None, help="unix:///PATH (default unix:///run/berth/cri.sock)")
    serve.add_argument("--config", default=None, help="TOML settings file (docs/cri.md)")
    serve.add_argument(
        "--log-level",
        choices=("debug", "info"),
        default="info",
        help="info: a line per call that changes something, and per error; debug: per call",
    )
    serve.set_defaults(handler=_serve)
