"""The embedded server: one ASGI app (auth, limits, dispatch) served by uvicorn.

``kms-tui serve`` runs it in the foreground (:func:`run_serve`); the console's embedded mode
runs the same app on 127.0.0.1 in a background thread (:class:`EmbeddedServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from kms_tui.embedded.accounts import Account, UsersFileError, load_users
from kms_tui.embedded.asgi import BODY_LIMIT, KmsAsgiApp
from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.locking import DataDirLock, DataDirLockedError
from kms_tui.embedded.objects import DEFAULT_MAX_OBJECT_SIZE, parse_size
from kms_tui.paths import ensure_private_dir, server_data_dir, server_log_file

if TYPE_CHECKING:
    from kms_tui.embedded.service import KmsService

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_CREDENTIAL",
    "DEFAULT_MAX_OBJECT_SIZE",
    "EmbeddedServer",
    "EmbeddedServerError",
    "KmsAsgiApp",
    "run_serve",
]

DEFAULT_CREDENTIAL = "rustfsadmin"
_START_TIMEOUT_SECONDS = 15.0
_STOP_TIMEOUT_SECONDS = 10.0
_GRACEFUL_SHUTDOWN_SECONDS = 5
# Logger name -> level we set (None: keep its level). asyncio is included because a stray
# event-loop warning must not reach the terminal the console draws on.
_SERVER_LOGGERS: dict[str, int | None] = {
    "uvicorn": logging.INFO,
    "kms_tui.embedded": logging.INFO,
    "asyncio": None,
}
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logger = logging.getLogger("kms_tui.embedded.server")


class EmbeddedServerError(RuntimeError):
    """The embedded server could not start."""


# ---------------------------------------------------------------------------- running it


def _load_uvicorn() -> Any:
    import uvicorn

    class QuietSignalServer(uvicorn.Server):
        """uvicorn's server minus its own signal capture (we install handlers ourselves)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return uvicorn, QuietSignalServer


def _make_server(app: KmsAsgiApp) -> Any:
    uvicorn, server_class = _load_uvicorn()
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
    )
    return server_class(config)


def _bind_socket(host: str, port: int) -> socket.socket:
    """Bind ourselves so port 0 works and the real port is known before serving."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def _socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Sweeper:
    """Runs the KMS deletion sweep now and then every ``interval`` seconds in a thread."""

    def __init__(self, sweep: Callable[[], list[str]], interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kms-tui-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                destroyed = self._sweep()
            except Exception:
                logger.exception("key deletion sweep failed")
            else:
                if destroyed:
                    logger.info("deletion sweep destroyed %d key(s)", len(destroyed))
            if self._stopped.wait(self._interval):
                return

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()


class _ServerParts:
    """The bucket store, the KMS service and the app, built over one data directory."""

    def __init__(
        self,
        data_dir: Path,
        access_key: str,
        secret_key: str,
        allow_immediate_deletion: bool,
        clock: Callable[[], datetime] | None = None,
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
        users: tuple[Account, ...] = (),
    ) -> None:
        from kms_tui.embedded.admin_routes import handle_admin
        from kms_tui.embedded.service import KmsService

        self.buckets = BucketStore(data_dir)
        self.buckets.load()
        self.service = KmsService(
            data_dir,
            references=self.buckets,
            allow_immediate_deletion=allow_immediate_deletion,
            **({"clock": clock} if clock is not None else {}),
        )
        self.service.load()
        self.app = KmsAsgiApp(
            service=self.service,
            buckets=self.buckets,
            access_key=access_key,
            secret_key=secret_key,
            admin_handler=handle_admin,
            max_object_size=max_object_size,
            users=users,
        )


class _LogRouting:
    """Point the server's loggers at one handler only (no propagation), and undo it after."""

    _lock = threading.Lock()
    _depth = 0
    _saved: list[tuple[logging.Logger, bool, int]] = []

    def __init__(self, handler: logging.Handler) -> None:
        self._handler = handler
        self._active = False

    def install(self) -> None:
        with _LogRouting._lock:
            if _LogRouting._depth == 0:
                _LogRouting._saved = [
                    (lg, lg.propagate, lg.level) for lg in map(logging.getLogger, _SERVER_LOGGERS)
                ]
            _LogRouting._depth += 1
            for name, level in _SERVER_LOGGERS.items():
                named = logging.getLogger(name)
                named.addHandler(self._handler)
                named.propagate = False
                if level is not None:
                    named.setLevel(level)
            self._active = True

    def remove(self) -> None:
        with _LogRouting._lock:
            if not self._active:
                return
            self._active = False
            for name in _SERVER_LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            _LogRouting._depth -= 1
            if _LogRouting._depth == 0:
                for named, propagate, level in _LogRouting._saved:
                    named.propagate = propagate
                    named.setLevel(level)
        self._handler.close()


def _file_handler(log_file: Path) -> logging.Handler:
    ensure_private_dir(log_file.parent)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    return handler


class EmbeddedServer:
    """The server on 127.0.0.1 with a random port, in a background thread, silent on the tty."""

    def __init__(
        self,
        data_dir: Path,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        allow_immediate_deletion: bool = False,
        log_file: Path | None = None,
        sweep_interval: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
        users: tuple[Account, ...] = (),
    ) -> None:
        """``clock`` fixes the service's time (screenshots and snapshot tests); None is real.

        ``max_object_size`` caps a PutObject body (400 ``EntityTooLarge`` above it); ``users``
        are restricted accounts beside the root credential (:mod:`kms_tui.embedded.accounts`).
        """
        self.data_dir = Path(data_dir)
        self._users = users
        self._clock = clock
        self._max_object_size = max_object_size
        self.access_key = access_key or secrets.token_urlsafe(15)
        self._secret_key = secret_key or secrets.token_urlsafe(30)
        self._allow_immediate_deletion = allow_immediate_deletion
        self.log_file = Path(log_file) if log_file is not None else server_log_file()
        self._sweep_interval = sweep_interval
        self._lock = DataDirLock(self.data_dir)
        self._parts: _ServerParts | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sweeper: _Sweeper | None = None
        self._routing: _LogRouting | None = None
        self._failure: BaseException | None = None
        self._endpoint: str | None = None

    def __repr__(self) -> str:
        return (
            f"EmbeddedServer(data_dir={str(self.data_dir)!r}, endpoint={self._endpoint!r}, "
            f"access_key={self.access_key!r})"
        )

    @property
    def secret_key(self) -> str:
        """The secret key clients sign with (kept out of repr)."""
        return self._secret_key

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._endpoint is None:
            raise EmbeddedServerError("the embedded server is not running")
        return self._endpoint

    @property
    def service(self) -> KmsService:
        """The KMS service behind the server."""
        if self._parts is None:
            raise EmbeddedServerError("the embedded server is not running")
        return self._parts.service

    @property
    def running(self) -> bool:
        """Whether start() succeeded and stop() has not run yet."""
        return self._endpoint is not None

    def start(self) -> EmbeddedServer:
        """Start serving and return once the socket accepts connections."""
        if self._thread is not None:
            return self
        self._routing = _LogRouting(_file_handler(self.log_file))
        self._routing.install()
        try:
            self._lock.acquire()
            self._parts = _ServerParts(
                self.data_dir,
                self.access_key,
                self._secret_key,
                self._allow_immediate_deletion,
                self._clock,
                self._max_object_size,
                self._users,
            )
            sock = _bind_socket("127.0.0.1", 0)
            self._server = _make_server(self._parts.app)
            self._failure = None
            self._thread = threading.Thread(
                target=self._run, args=(sock,), name="kms-tui-embedded-server", daemon=True
            )
            self._thread.start()
            self._wait_started()
            self._endpoint = _socket_url(sock)
            self._sweeper = _Sweeper(self._parts.service.keys.sweep_expired, self._sweep_interval)
            self._sweeper.start()
        except BaseException:
            self._teardown()
            raise
        logger.info("embedded server listening on %s", self._endpoint)
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as err:  # SystemExit from uvicorn start-up included
            self._failure = err
            logger.exception("embedded server stopped with an error")
        finally:
            sock.close()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        assert self._thread is not None
        while not self._server.started:
            if not self._thread.is_alive():
                raise EmbeddedServerError(
                    f"the embedded KMS server failed to start ({self._failure!r}); "
                    f"see {self.log_file}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded KMS server did not start within {_START_TIMEOUT_SECONDS:.0f} s;"
                    f" see {self.log_file}"
                )
            time.sleep(0.002)

    def stop(self) -> None:
        """Shut down gracefully and join the thread; calling it again does nothing."""
        self._teardown()

    def _teardown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(_STOP_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT_SECONDS)
            self._thread = None
        if self._parts is not None:
            try:
                self._parts.service.close()
            except Exception:
                logger.exception("closing the KMS service failed")
            self._parts = None
        self._lock.release()
        self._endpoint = None
        if self._routing is not None:
            self._routing.remove()
            self._routing = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------- kms-tui serve


def _resolve_credentials(
    access_key: str | None, secret_key: str | None
) -> tuple[str, str, bool] | str:
    """(access, secret, are they the defaults) or an error message."""
    access = access_key or os.environ.get("RUSTFS_ACCESS_KEY") or None
    secret = secret_key or os.environ.get("RUSTFS_SECRET_KEY") or None
    if access is None and secret is None:
        return DEFAULT_CREDENTIAL, DEFAULT_CREDENTIAL, True
    if access is None or secret is None:
        return (
            "kms-tui serve: give both an access key and a secret key "
            "(--access-key/--secret-key or RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY), or neither"
        )
    return access, secret, access == secret == DEFAULT_CREDENTIAL


def _object_cap(value: int | str | None) -> int:
    if value is None:
        return DEFAULT_MAX_OBJECT_SIZE
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("the size must be positive")
        return value
    return parse_size(value)


def _stderr_logging() -> _LogRouting:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    routing = _LogRouting(handler)
    routing.install()
    return routing


class _Interrupted(Exception):
    """SIGTERM before the event loop took over signal handling."""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


async def _serve_until_signalled(server: Any, sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()

    def request_exit() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, request_exit)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        sys.stdout.write(f"listening on {_socket_url(sock)}\n")
        sys.stdout.flush()
    await serving


def run_serve(
    *,
    host: str,
    port: int,
    data_dir: Path | None,
    access_key: str | None,
    secret_key: str | None,
    allow_immediate_deletion: bool,
    sweep_interval: float = 60.0,
    max_object_size: int | str | None = None,
    users_file: Path | None = None,
) -> int:
    """``kms-tui serve``: run in the foreground until SIGINT/SIGTERM; returns the exit code.

    ``max_object_size`` caps a PutObject body: bytes, or text such as ``5GiB`` or ``10M``
    (None: :data:`DEFAULT_MAX_OBJECT_SIZE`, 5 GiB). ``users_file`` adds restricted accounts.
    """
    credentials = _resolve_credentials(access_key, secret_key)
    if isinstance(credentials, str):
        sys.stderr.write(credentials + "\n")
        return 2
    try:
        object_cap = _object_cap(max_object_size)
    except ValueError as err:
        sys.stderr.write(f"kms-tui serve: --max-object-size: {err}\n")
        return 2
    access, secret, defaults = credentials
    users: tuple[Account, ...] = ()
    if users_file is not None:
        try:
            users = load_users(Path(users_file))
        except UsersFileError as err:
            sys.stderr.write(f"kms-tui serve: --users: {err}\n")
            return 2
        if any(account.access_key == access for account in users):
            sys.stderr.write(
                f"kms-tui serve: --users: the file names the root access key {access!r}; "
                "the root credential is always the administrator: pick another access key\n"
            )
            return 2
    if defaults:
        if not _is_loopback(host):
            sys.stderr.write(
                f"kms-tui serve: refusing to listen on {host} with the default credentials "
                "(rustfsadmin/rustfsadmin); set --access-key/--secret-key or "
                "RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY, or bind a loopback address\n"
            )
            return 2
        sys.stderr.write(
            "kms-tui serve: WARNING: using the default credentials rustfsadmin/rustfsadmin; "
            "set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY for anything but local testing\n"
        )
    data_dir = Path(data_dir) if data_dir is not None else server_data_dir()
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirLockedError as err:
        sys.stderr.write(f"kms-tui serve: {err}\n")
        return 2
    except OSError as err:
        sys.stderr.write(f"kms-tui serve: cannot use the data directory {data_dir}: {err}\n")
        return 2

    previous_term = signal.signal(signal.SIGTERM, _raise_interrupted)
    routing = _stderr_logging()
    parts: _ServerParts | None = None
    sweeper: _Sweeper | None = None
    try:
        parts = _ServerParts(
            data_dir,
            access,
            secret,
            allow_immediate_deletion,
            max_object_size=object_cap,
            users=users,
        )
        try:
            sock = _bind_socket(host, port)
        except OSError as err:
            sys.stderr.write(f"kms-tui serve: cannot listen on {host}:{port}: {err}\n")
            return 1
        sweeper = _Sweeper(parts.service.keys.sweep_expired, sweep_interval)
        sweeper.start()
        logger.info("serving data directory %s", data_dir)
        for account in users:  # names and policies only: never a secret
            logger.info(
                "account %s: %s",
                account.access_key,
                ", ".join(account.policy_names) or "no policy (refused everything)",
            )
        with sock:
            asyncio.run(_serve_until_signalled(_make_server(parts.app), sock))
        return 0
    except (KeyboardInterrupt, _Interrupted):
        return 0
    except Exception as err:
        logger.debug("kms-tui serve failed", exc_info=True)
        sys.stderr.write(f"kms-tui serve: failed: {type(err).__name__}: {err}\n")
        return 1
    finally:
        if sweeper is not None:
            sweeper.stop()
        if parts is not None:
            try:
                parts.service.close()
            except Exception:
                logger.exception("closing the KMS service failed")
        lock.release()
        routing.remove()
        signal.signal(signal.SIGTERM, previous_term)
