"""The production topology under a test's control: a helper for end-to-end tests.

`Topology` starts the same processes as `deploy/topology.sh` (relay, venue-sim,
workers, api replicas and nginx rendered from `deploy/nginx.conf.template`), each a
child of the test process with its own log file, on free ports, against a database
and an instance name the test hands it, so stacks never collide on shared servers::

    url = create_database()                       # or a database of your own
    topology = Topology(f"e2e-{uuid.uuid4().hex[:8]}", url, work_dir=tmp_path)
    topology.start()
    try:
        headers = topology.headers("alice")
        httpx.get(f"{topology.url}/balance", headers=headers)
        topology.kill("worker")                   # SIGKILL worker 0
        topology.restart("worker")                # the same command again, awaited
    finally:
        topology.stop()
        cleanup_broker_sync(topology.instance)   # or: await cleanup_broker(...)
        cleanup_redis_sync(DEFAULT_REDIS_URL, topology.instance)
        drop_database(url)

Process names for kill/terminate/restart/logs: "relay", "venue-sim", "worker",
"api" and "nginx"; `index` picks one of several workers or replicas. The methods
block (they poll with time.sleep): from an async test call them through
`asyncio.to_thread`. `cleanup_broker` and `cleanup_redis` are coroutines; their
`*_sync` twins, `create_database` and `drop_database` are synchronous and safe to
call from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

EXCHANGES = ("events", "venue", "prices")
CONSUMER_QUEUES = ("venue-gateway", "executions", "notifier", "history", "webhooks", "venue-sim")

KINDS = ("relay", "venue-sim", "worker", "api", "nginx")
# What each process logs once it is doing its job (the api and nginx answer /readyz instead).
READY_LINES = {"relay": "relay running", "venue-sim": "venue-sim ready", "worker": "workers running"}
STOP_ORDER = ("nginx", "api", "worker", "venue-sim", "relay")  # the front first, the relay last
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40

T = TypeVar("T")


class TopologyError(RuntimeError):
    """A process did not start, or did not become ready in time (the message has its log tail)."""


# ---------------------------------------------------------------------------------------
# Small helpers, usable on their own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_nginx() -> str | None:
    """nginx on PATH, else Debian's /usr/sbin/nginx (not on every PATH); None when absent."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def tickerdesk_bin() -> str:
    """TICKERDESK_BIN, else the `tickerdesk` next to this interpreter, else the repo's .venv one."""
    if configured := os.environ.get("TICKERDESK_BIN"):
        return configured
    beside = Path(sys.executable).with_name("tickerdesk")
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "tickerdesk")


def render_nginx_conf(run_dir: Path, port: int, api_ports: list[int], template: Path = TEMPLATE) -> str:
    """The template with its placeholders filled exactly as deploy/topology.sh fills them."""
    upstreams = "".join(f"        server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in api_ports)
    user_directive = "user root;" if os.geteuid() == 0 else "# not root: nginx's workers run as the invoking user"
    out = []
    for line in template.read_text().splitlines():
        if line == "@UPSTREAMS@":
            out.append(upstreams.rstrip("\n"))
        elif line == "@USER_DIRECTIVE@":
            out.append(user_directive)
        else:
            out.append(line.replace("@RUN_DIR@", str(run_dir)).replace("@PORT@", str(port)))
    return "\n".join(out) + "\n"


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running
    event loop (then on a thread of its own, so the caller's loop is not re-entered)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(make())
        except Exception as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="topology-sync")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---------------------------------------------------------------------------------------
# The topology


@dataclass
class _Process:
    kind: str
    index: int
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    offset: int = 0  # where the current run's output starts in the log file
    port: int | None = None  # api replicas and nginx

    @property
    def label(self) -> str:
        return f"{self.kind}[{self.index}]"

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Topology:
    """One tickerdesk stack (relay, venue-sim, workers, api replicas, nginx) as child processes.

    instance:      TICKERDESK_INSTANCE, unique per test (prefixes broker names and Redis keys)
    database_url:  a database of the test's own (the relay migrates and seeds it)
    work_dir:      where data/ (JWT secret) and run/ (logs, nginx.conf) go; default a
                   fresh temporary directory, kept after stop() so the logs can be read
    env:           extra environment for every process (wins over the defaults)
    """

    def __init__(
        self,
        instance: str,
        database_url: str,
        *,
        redis_url: str = DEFAULT_REDIS_URL,
        amqp_url: str = DEFAULT_AMQP_URL,
        workers: int = 2,
        api_replicas: int = 3,
        nginx: bool = True,
        env: Mapping[str, str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        tickerdesk: str | None = None,
    ):
        if api_replicas < 1:
            raise ValueError("a topology needs at least one api replica")
        self.instance = instance
        self.database_url = database_url
        self.redis_url = redis_url
        self.amqp_url = amqp_url
        self.timeout = timeout
        self.with_nginx = nginx
        self.bin = tickerdesk or tickerdesk_bin()
        self.work_dir = Path(work_dir) if work_dir is not None else Path(
            tempfile.mkdtemp(prefix=f"topology-{re.sub(r'[^A-Za-z0-9_.-]', '_', instance)}-"))
        self.work_dir = self.work_dir.resolve()
        self.data_dir = self.work_dir / "data"
        self.run_dir = self.work_dir / "run"
        self.logs_dir = self.run_dir / "logs"
        self._workers, self._api_replicas = workers, api_replicas

        # Nothing of the developer's own TICKERDESK_* settings leaks into the stack.
        base = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
        self.env: dict[str, str] = {
            **base,
            "TICKERDESK_DATABASE_URL": database_url,
            "TICKERDESK_REDIS_URL": redis_url,
            "TICKERDESK_AMQP_URL": amqp_url,
            "TICKERDESK_INSTANCE": instance,
            "TICKERDESK_DATA_DIR": str(self.data_dir),
            # A secret set in the environment: the test can sign tokens without a subprocess.
            "TICKERDESK_JWT_SECRET": secrets.token_urlsafe(48),
            "TICKERDESK_PRICE_WALK_SECONDS": "0",
            "TICKERDESK_LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",  # log lines reach the files as they happen
            "TYPER_STANDARD_TRACEBACK": "1",  # a crash's traceback as plain text, not boxes for a terminal
            **(env or {}),
        }
        self.jwt_secret = self.env.get("TICKERDESK_JWT_SECRET", "")
        self._processes: dict[str, list[_Process]] = {}
        self.nginx_port: int | None = None
        self.api_ports: list[int] = []
        self._started = False

    # -- addresses and credentials ------------------------------------------------------
    @property
    def url(self) -> str:
        """The stack's base URL: nginx (or the first replica when started with nginx=False)."""
        if self.nginx_port is not None:
            return f"http://127.0.0.1:{self.nginx_port}"
        if self.api_ports:
            return self.api_urls[0]
        raise TopologyError("the topology has not been started")

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def token(self, user: str, admin: bool = False) -> str:
        """A JWT for `user`, signed with the stack's secret."""
        from tickerdesk.entrypoints.http.auth import issue_token

        if not self.jwt_secret:
            raise TopologyError("tokens need TICKERDESK_JWT_SECRET (it was overridden with an empty value)")
        return issue_token(self.jwt_secret, user, admin=admin)

    def headers(self, user: str, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, admin)}"}

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Self:
        """Start everything, the relay first (it migrates the database), and wait until
        each process is ready. On failure, stops what it started and raises TopologyError."""
        if self._started:
            return self
        nginx = None
        if self.with_nginx:
            nginx = find_nginx()
            if nginx is None:
                raise TopologyError("nginx is not installed: `apt-get install -y nginx` "
                                    "(deploy/topology.sh start installs it too)")
        if not TEMPLATE.is_file():
            raise TopologyError(f"{TEMPLATE} is missing")
        for directory in (self.data_dir, self.logs_dir, self.run_dir / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)

        ports: set[int] = set()
        while len(ports) < self._api_replicas + 1:
            ports.add(free_port())
        chosen = sorted(ports)
        self.api_ports = chosen[: self._api_replicas]
        self._define("relay", [[self.bin, "relay"]])
        self._define("venue-sim", [[self.bin, "venue-sim"]])
        self._define("worker", [[self.bin, "worker"] for _ in range(self._workers)])
        self._define("api", [[self.bin, "api", "--host", "127.0.0.1", "--port", str(p)] for p in self.api_ports],
                     ports=self.api_ports)
        if nginx is not None:
            self.nginx_port = chosen[-1]
            conf = self.run_dir / "nginx.conf"
            conf.write_text(render_nginx_conf(self.run_dir, self.nginx_port, self.api_ports))
            args = [nginx, "-p", str(self.run_dir), "-c", str(conf), "-e", str(self.logs_dir / "nginx-error.log")]
            self._define("nginx", [args], ports=[self.nginx_port])

        self._started = True
        try:
            relay = self._processes["relay"][0]
            self._spawn(relay)
            self._await_ready(relay)  # the schema exists before anything else connects
            rest = [p for kind in ("venue-sim", "worker", "api") for p in self._processes[kind]]
            for process in rest:
                self._spawn(process)
            for process in rest:
                self._await_ready(process)
            if nginx is not None:
                check = subprocess.run([*args, "-t", "-q"], check=False, capture_output=True, text=True)
                if check.returncode != 0:
                    raise TopologyError(f"nginx rejected {conf}:\n{check.stderr}")
                front = self._processes["nginx"][0]
                self._spawn(front)
                self._await_ready(front)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process, nginx first and the relay last: SIGTERM (for nginx its fast
        shutdown, so open streams do not hold a teardown up), SIGKILL after 10 s.
        Idempotent; the logs stay readable."""
        for kind in STOP_ORDER:
            group = [p for p in self._processes.get(kind, []) if p.running()]
            for process in group:  # signal the whole tier at once, then wait for it
                self._signal(process, signal.SIGTERM)
            for process in group:
                self._wait_or_kill(process, STOP_TIMEOUT)
        for group in self._processes.values():
            for process in group:
                self._close_log(process)
        self._started = False

    def kill(self, name: str, index: int = 0) -> None:
        """SIGKILL one process (and anything it spawned): a crash, not a shutdown."""
        process = self._get(name, index)
        if process.running():
            self._signal(process, signal.SIGKILL)
            process.popen.wait(STOP_TIMEOUT)
        self._close_log(process)

    def terminate(self, name: str, index: int = 0, timeout: float = STOP_TIMEOUT) -> None:
        """A graceful stop of one process (SIGTERM, or SIGQUIT, nginx's graceful one;
        SIGKILL after `timeout`)."""
        process = self._get(name, index)
        if process.running():
            self._signal(process, signal.SIGQUIT if process.kind == "nginx" else signal.SIGTERM)
            self._wait_or_kill(process, timeout)
        self._close_log(process)

    def restart(self, name: str, index: int = 0, wait: bool = True) -> None:
        """Start that process again with the same command and environment (stopping it
        gracefully first if it still runs) and, unless wait=False, wait until it is ready."""
        process = self._get(name, index)
        if process.running():
            self.terminate(name, index)
        self._spawn(process)
        if wait:
            self._await_ready(process)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection ---------------------------------------------------------------------
    def is_running(self, name: str, index: int = 0) -> bool:
        return self._get(name, index).running()

    def pid(self, name: str, index: int = 0) -> int | None:
        process = self._get(name, index)
        return process.popen.pid if process.popen is not None else None

    def count(self, name: str) -> int:
        return len(self._processes.get(name, []))

    def logs(self, name: str, index: int | None = None) -> str:
        """A process's whole log (every run of it). For several workers or replicas with
        no index: all of them, each under a `==> worker[1] <==` heading. "nginx" includes
        nginx's error log; "nginx-access" is its JSON access log."""
        if name == "nginx-access":
            return _read(self.logs_dir / "nginx-access.log")
        group = self._processes.get(name)
        if not group:
            raise KeyError(f"no process {name!r}; choose from {', '.join(self._processes) or KINDS}")
        if index is not None:
            return self._log_of(self._get(name, index))
        if len(group) == 1:
            return self._log_of(group[0])
        return "\n".join(f"==> {p.label} <==\n{self._log_of(p)}" for p in group)

    def wait_for_log(self, name: str, text: str, index: int = 0, timeout: float | None = None) -> None:
        """Wait until `text` appears in the current run's output of one process."""
        process = self._get(name, index)
        deadline = time.monotonic() + (timeout or self.timeout)
        while text not in self._current_output(process):
            if time.monotonic() > deadline:
                raise TopologyError(f"{process.label} did not log {text!r} within {timeout or self.timeout}s\n"
                                    f"{self._describe(process)}")
            time.sleep(0.1)

    # -- internals ----------------------------------------------------------------------
    def _define(self, kind: str, commands: list[list[str]], ports: list[int] | None = None) -> None:
        self._processes[kind] = [
            _Process(kind, i, args, self.logs_dir / f"{kind}-{i}.log", port=(ports[i] if ports else None))
            for i, args in enumerate(commands)
        ]

    def _get(self, name: str, index: int) -> _Process:
        group = self._processes.get(name)
        if group is None:
            known = ", ".join(self._processes) if self._processes else ", ".join(KINDS) + " (after start())"
            raise KeyError(f"no process {name!r}; choose from {known}")
        if not 0 <= index < len(group):
            raise IndexError(f"{name} has {len(group)} process(es); index {index} is out of range")
        return group[index]

    def _spawn(self, process: _Process) -> None:
        self._close_log(process)
        # Appended, so restarts keep the history; open for the process's lifetime, closed by _close_log.
        process.log_file = open(process.log_path, "ab")  # noqa: SIM115
        process.log_file.write(f"==== topology: {' '.join(process.args)} ====\n".encode())
        process.log_file.flush()
        process.offset = process.log_path.stat().st_size
        process.popen = subprocess.Popen(
            process.args, env=self.env, cwd=self.work_dir, stdin=subprocess.DEVNULL,
            stdout=process.log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches anything it spawns
        )

    def _await_ready(self, process: _Process) -> None:
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        while True:
            if process.popen.poll() is not None:
                raise TopologyError(f"{process.label} exited with code {process.popen.returncode} "
                                    f"before it was ready\n{self._describe(process)}")
            if process.kind in READY_LINES:
                if READY_LINES[process.kind] in self._current_output(process):
                    return
                last = f"waiting for {READY_LINES[process.kind]!r} in its log"
            else:
                url = f"http://127.0.0.1:{process.port}/readyz"
                try:
                    response = httpx.get(url, timeout=2)
                    if response.status_code == 200:
                        return
                    last = f"{url} answered {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as error:
                    last = f"{url}: {type(error).__name__}"
            if time.monotonic() > deadline:
                raise TopologyError(f"{process.label} was not ready within {self.timeout}s ({last})\n"
                                    f"{self._describe(process)}")
            time.sleep(0.1)

    def _current_output(self, process: _Process) -> str:
        try:
            with open(process.log_path, "rb") as f:
                f.seek(process.offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_of(self, process: _Process) -> str:
        text = _read(process.log_path)
        if process.kind == "nginx":
            text += "\n==> nginx-error.log <==\n" + _read(self.logs_dir / "nginx-error.log")
        return text

    def _describe(self, process: _Process) -> str:
        text = f"---- last lines of {process.log_path} ----\n{_tail(process.log_path)}"
        if process.kind == "nginx":
            error_log = self.logs_dir / "nginx-error.log"
            text += f"\n---- last lines of {error_log} ----\n{_tail(error_log)}"
        return text + "\n----"

    @staticmethod
    def _signal(process: _Process, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            try:
                os.killpg(process.popen.pid, sig)
            except ProcessLookupError:
                process.popen.send_signal(sig)

    def _wait_or_kill(self, process: _Process, timeout: float) -> None:
        try:
            process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGKILL)
            process.popen.wait(STOP_TIMEOUT)

    @staticmethod
    def _close_log(process: _Process) -> None:
        if process.log_file is not None and not process.running():
            process.log_file.close()
            process.log_file = None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------
# Shared servers: scratch databases, and leftovers of an instance in RabbitMQ and Redis


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def create_database(server_url: str = DEFAULT_SERVER_URL, prefix: str = "tickerdesk_topo") -> str:
    """Create `<prefix>_<random>` on the server and return its URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run_sync(create)
    return _with_database(server_url, name)


def drop_database(database_url: str, server_url: str | None = None) -> None:
    """Drop the database (WITH (FORCE): connections a killed process left are closed too)."""
    import asyncpg

    name = database_url.partition("?")[0].rsplit("/", 1)[1]
    server = server_url or _with_database(database_url, "postgres")

    async def drop() -> None:
        conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute('DROP DATABASE IF EXISTS "{}" WITH (FORCE)'.format(name.replace('"', '""')))
        finally:
            await conn.close()

    _run_sync(drop)


def _consumer_names() -> list[str]:
    names = list(CONSUMER_QUEUES)
    with contextlib.suppress(ImportError):  # the source of truth, when importable
        from tickerdesk.adapters.rabbitmq.broker import CONSUMERS

        names += [n for n in CONSUMERS if n not in names]
    return names


async def cleanup_broker(instance: str, amqp_url: str = DEFAULT_AMQP_URL) -> list[str]:
    """Delete the instance's queues and exchanges (names starting with f"{instance}.");
    returns the names it deleted (or that were already gone). Run it after the stack
    stopped: a running process would declare them again. A coroutine: `await` it, or
    call `cleanup_broker_sync` from synchronous code."""
    import aio_pika
    from aio_pika.exceptions import AMQPError

    names = [f"{instance}.{name}{suffix}" for name in _consumer_names() for suffix in ("", ".retry", ".dead")]
    with contextlib.suppress(ImportError):  # sharded queues, named by the source of truth
        from tickerdesk.adapters.rabbitmq.broker import Broker

        names += [n for n in Broker(amqp_url, instance).all_queue_names() if n not in names]
    exchanges = [f"{instance}.{name}" for name in EXCHANGES]
    deleted: list[str] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for kind, items in (("queue", names), ("exchange", exchanges)):
            for item in items:
                try:
                    if kind == "queue":
                        await channel.queue_delete(item)
                    else:
                        await channel.exchange_delete(item)
                    deleted.append(item)
                except AMQPError:
                    # A channel error (e.g. a server that refuses deleting what is missing)
                    # closes the channel: open another and go on.
                    channel = await connection.channel()
    finally:
        await connection.close()
    return deleted


async def cleanup_redis(url: str, instance: str) -> int:
    """Delete every key under f"{instance}:" (cache, rate limits, venue state); returns how
    many. A coroutine: `await` it, or call `cleanup_redis_sync` from synchronous code."""
    import redis.asyncio

    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", f"{instance}:") + "*"  # the instance literally
    client = redis.asyncio.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += await client.delete(*batch)
                batch.clear()
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted


def cleanup_broker_sync(instance: str, amqp_url: str = DEFAULT_AMQP_URL) -> list[str]:
    """`cleanup_broker` for synchronous code (safe inside a running event loop too)."""
    return _run_sync(lambda: cleanup_broker(instance, amqp_url))


def cleanup_redis_sync(url: str, instance: str) -> int:
    """`cleanup_redis` for synchronous code (safe inside a running event loop too)."""
    return _run_sync(lambda: cleanup_redis(url, instance))
