"""Swarm mode's endpoints (engine API v1.44: Swarm, Node, Service, Task, Secret, Config), answered as
dockerd answers them on a node that is in no swarm: 503 and its message. Berth has no swarm mode;
clients tell "not in a swarm" from a broken service by this answer (docker-py's ``leave_swarm``
takes it as success)."""

from __future__ import annotations

from aiohttp import web

from berth.dockerapi.app import Router, error_response

_NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
    "node to swarm and try again."
)
_NOT_IN_A_SWARM = "This node is not part of a swarm"


async def not_a_manager(request: web.Request) -> web.StreamResponse:
    """Any swarm manager's endpoint: 503."""
    return error_response(503, _NOT_A_MANAGER)


async def join(request: web.Request) -> web.StreamResponse:
    """``POST /swarm/init`` and ``/swarm/join``: 501, Berth does not take part in swarms."""
    return error_response(501, "swarm mode is not supported by Berth")


async def leave(request: web.Request) -> web.StreamResponse:
    """``POST /swarm/leave``: 503, there is no swarm to leave."""
    return error_response(503, _NOT_IN_A_SWARM)


def register(router: Router) -> None:
    """Add the swarm endpoints."""
    router.add("POST", "/swarm/leave", leave)
    router.add("POST", "/swarm/init", join)
    router.add("POST", "/swarm/join", join)
    router.add("*", "/swarm", not_a_manager)
    router.add("*", "/swarm/{rest:.*}", not_a_manager)
    for kind in ("nodes", "services", "tasks", "secrets", "configs"):
        router.add("*", f"/{kind}", not_a_manager)
        router.add("*", f"/{kind}/{{rest:.*}}", not_a_manager)
