"""The aiohttp application: routes under every API version prefix, Docker's error shape, the
thread pool that runs the engine's blocking calls, and the activity count ``--time`` watches."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from berth.dockerapi.errors import ApiError, status_of
from berth.dockerapi.versions import MAX_VERSION, parse_version
from berth.engine.config import EngineConfig
from berth.engine.engine import Engine
from berth.errors import BerthError

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The largest JSON body accepted (a container's create request is a few kilobytes); archives and
#: image tarballs are streamed and not bound by it.
MAX_JSON_BODY = 4 * 1024 * 1024
#: Engine calls at once; more wait their turn (each holds a thread and a database connection).
_WORKERS = 16
#: Threads for calls that last as long as a client watches (wait, logs and events followed):
#: separate, so watchers never keep short calls waiting.
_WATCHERS = 256


class Activity:
    """Requests in flight and when the last one ended, for ``--time``'s idle timer."""

    def __init__(self) -> None:
        self.active = 0
        self.last = time.monotonic()

    def idle_for(self) -> float:
        """Seconds without a request in flight (0 while one is)."""
        return 0.0 if self.active else time.monotonic() - self.last


CONFIG_KEY = web.AppKey("config", EngineConfig)
POOL_KEY = web.AppKey("pool", ThreadPoolExecutor)
WATCH_POOL_KEY = web.AppKey("watch_pool", ThreadPoolExecutor)
ACTIVITY_KEY = web.AppKey("activity", Activity)


def error_response(status: int, message: str) -> web.Response:
    """Docker's error body: ``{"message": "..."}``."""
    return json_response({"message": message}, status=status)


@web.middleware
async def _docker_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    activity = request.app[ACTIVITY_KEY]
    activity.active += 1
    try:
        version = request.match_info.get("version")
        if version is not None:
            parse_version(version)
        return await handler(request)
    except ApiError as err:
        return error_response(err.status, err.message)
    except BerthError as err:
        return error_response(status_of(err), str(err))
    except web.HTTPException as err:
        if err.status < 400:
            raise
        # aiohttp's own refusals (no such route, body too large) in Docker's shape
        message = "page not found" if err.status == 404 else err.reason
        return error_response(err.status, message)
    except (ConnectionError, asyncio.CancelledError):
        raise  # the client went away: nobody to answer
    except Exception as err:
        # A failure Berth did not foresee: the traceback to the service's log, Docker's shape to
        # the client, and the service serves on.
        traceback.print_exc(file=sys.stderr)
        return error_response(500, f"internal error: {type(err).__name__}: {err}")
    finally:
        activity.active -= 1
        activity.last = time.monotonic()


def make_app(config: EngineConfig, registrars: list[Callable[[Router], None]]) -> web.Application:
    """The application for engine ``config``, with the routes each of ``registrars`` adds."""
    app = web.Application(middlewares=[_docker_errors], client_max_size=MAX_JSON_BODY)
    app[CONFIG_KEY] = config
    app[POOL_KEY] = ThreadPoolExecutor(_WORKERS, thread_name_prefix="berth-api")
    app[WATCH_POOL_KEY] = ThreadPoolExecutor(_WATCHERS, thread_name_prefix="berth-api-watch")
    app[ACTIVITY_KEY] = Activity()
    router = Router(app)
    for register in registrars:
        register(router)

    async def _shutdown(app: web.Application) -> None:
        for key in (POOL_KEY, WATCH_POOL_KEY):
            app[key].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_shutdown)
    return app


class Router:
    """Adds each route twice: unversioned and under ``/vMAJOR.MINOR`` (any version; the middleware
    refuses the ones the service does not speak)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def add(self, method: str, path: str, handler: Handler) -> None:
        """Route ``method path`` (aiohttp's ``{name}`` patterns) to ``handler``."""
        self.app.router.add_route(method, path, handler)
        self.app.router.add_route(method, r"/v{version:[0-9][0-9.]*}" + path, handler)


def api_version(request: web.Request) -> tuple[int, int]:
    """The version the request was made for (unversioned requests get the newest)."""
    version = request.match_info.get("version")
    return MAX_VERSION if version is None else parse_version(version)


async def blocking(request: web.Request, call: Callable[..., T], *args: Any, watch: bool = False) -> T:
    """``call(engine, *args)`` in the thread pool (with ``watch``, the watchers' pool), with an
    engine of its own (a database connection belongs to one thread)."""
    config = request.app[CONFIG_KEY]

    def work() -> T:
        with Engine(config) as engine:
            return call(engine, *args)

    pool = request.app[WATCH_POOL_KEY if watch else POOL_KEY]
    return await asyncio.get_running_loop().run_in_executor(pool, work)


async def stream_from_thread(
    request: web.Request, work: Callable[[Engine, Callable[[T], None], threading.Event], None]
) -> AsyncIterator[T]:
    """The items ``work(engine, emit, stop)`` emits, as they come, from a watcher thread. When the
    consumer stops early (its client went away) ``stop`` is set, which ``work`` must check while
    it waits; ``emit`` then drops what it is given. An exception of ``work`` is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    room = threading.Semaphore(64)  # items made but not yet sent: a slow client slows the producer
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        while not stop.is_set():
            if room.acquire(timeout=0.5):
                loop.call_soon_threadsafe(queue.put_nowait, item)
                return

    def run(engine: Engine) -> None:
        try:
            work(engine, lambda item: put(("item", item)), stop)
            put(("end", None))
        except BaseException as err:
            put(("error", err))

    task = asyncio.ensure_future(blocking(request, run, watch=True))
    try:
        while True:
            kind, value = await queue.get()
            room.release()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        await asyncio.shield(task)


async def iterate_in_thread(
    request: web.Request, produce: Callable[[Engine, threading.Event], Iterator[T]]
) -> AsyncIterator[T]:
    """The items of the blocking iterator ``produce(engine, stop)`` as they come (see
    ``stream_from_thread``)."""

    def work(engine: Engine, emit: Callable[[T], None], stop: threading.Event) -> None:
        for item in produce(engine, stop):
            emit(item)
            if stop.is_set():
                return

    async for item in stream_from_thread(request, work):
        yield item


async def send_all(response: web.StreamResponse, chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Send each of ``chunks`` on the prepared ``response``, then its end. A client that went away
    ends the stream quietly (the watcher behind ``chunks`` is stopped when it is collected)."""
    try:
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # aiohttp drops the answer of a connection that is gone
    return response


async def in_pool(request: web.Request, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in the thread pool (blocking work that needs no engine)."""
    return await asyncio.get_running_loop().run_in_executor(request.app[POOL_KEY], call, *args)


async def read_json(request: web.Request, default: Any = None) -> Any:
    """The request's JSON body (``default`` when empty); malformed JSON is a 400 naming the problem."""
    body = await request.read()
    if not body.strip():
        return default
    try:
        return json.loads(body)
    except ValueError as err:
        raise ApiError(400, f"invalid JSON in the request body: {err}") from None


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as a JSON answer, typed ``application/json`` exactly as dockerd types it: Docker's
    Go client decodes an error body only under that exact type (with aiohttp's ``; charset=utf-8``
    the docker CLI printed the raw ``{"message": ...}``)."""
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Docker reads them: ``1``/``true``/``True`` (and an empty value
    for a flag given bare) are true, ``0``/``false`` false."""
    text = request.query.get(name)
    if text is None:
        return default
    lowered = text.lower()
    if lowered in ("", "1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ApiError(400, f"invalid value {text!r} for query parameter {name}: want a boolean")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter (``default`` when absent)."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, f"invalid value {text!r} for query parameter {name}: want an integer") from None


def query_object(request: web.Request, name: str) -> dict[str, Any]:
    """The query parameter ``name``, a JSON object (empty when absent); anything else is a 400."""
    text = request.query.get(name, "")
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ApiError(400, f"invalid {name} {text!r}: {err}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"invalid {name} {text!r}: want a JSON object")
    return data


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """The ``filters`` parameter: JSON ``{"key": ["value", ...]}`` or the older ``{"key": {"value":
    true}}`` form, as a map from key to values."""
    data = query_object(request, "filters")
    filters: dict[str, list[str]] = {}
    for key, values in data.items():
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError(400, f"invalid filter {key!r}: want a list of strings")
        filters[key] = values
    return filters
