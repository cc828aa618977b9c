"""Run simulator apps in-process: :class:`ServerThread` serves one ASGI app with uvicorn on a daemon
thread; :class:`SimulatorStack` starts Cin7 Core, Peoplevox and BlueCherry together (used by the demo,
the CLI ``python -m erp_wms_simulators up`` and the tests), each wrapped in the fault-injection middleware
and with its callback dispatcher pumping in the background while the stack runs.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp

from erp_wms_simulators.faultmw import install_faults
from erp_wms_simulators.faults import PROFILES, parse_knob
from erp_wms_simulators.traffic import TrafficMiddleware

if TYPE_CHECKING:
    from erp_wms_simulators.bluecherry.state import BlueCherryState
    from erp_wms_simulators.cin7core.state import Cin7CoreState
    from erp_wms_simulators.peoplevox.state import PeoplevoxState

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class ServerThread:
    """One uvicorn server on a daemon thread, bound to ``host`` (``port=0`` picks a free port)."""

    def __init__(self, app: ASGIApp, host: str = LOCALHOST, port: int = 0, *, log_level: str = "warning",
                 name: str = "simulator") -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.name = name
        self.log_level = log_level
        self.port: int = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError(f"{self.name} server is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        alive = self._thread is not None and self._thread.is_alive()
        return alive and self._server is not None and self._server.started

    def start(self, timeout: float = START_TIMEOUT) -> ServerThread:
        """Bind, start serving, and return once the server accepts connections (or raise)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} server already started")
        sock = self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, lifespan="off",
                                timeout_graceful_shutdown=5, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"{self.name}-{self.port}",
                                        daemon=True)
        self._thread.start()
        self._wait_started(timeout)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask uvicorn to exit and wait (bounded) for the thread to finish."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._thread = None
        self._server = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(f"{self.name}: cannot listen on {self.host}:{self.requested_port} ({exc.strerror})"
                          ) from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        except BaseException as exc:  # reported to start() on the caller's thread
            self._failure = exc
        finally:
            sock.close()

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return
            if self._thread is not None and not self._thread.is_alive():
                break
            time.sleep(0.01)
        failure = self._failure
        self.stop(timeout=2.0)
        reason = f": {failure!r}" if failure is not None else f" within {timeout:.0f} s"
        raise RuntimeError(f"{self.name} server on {self.host}:{self.port} did not start{reason}")


@dataclass(frozen=True)
class SimulatorSpec:
    """Where a simulator lives and how its base URL is built from the host root."""

    name: str
    module: str
    state_class: str
    url_suffix: str
    default_port: int


SPECS: dict[str, SimulatorSpec] = {
    "cin7core": SimulatorSpec("cin7core", "erp_wms_simulators.cin7core", "Cin7CoreState", "/ExternalApi/v2",
                              8701),
    "peoplevox": SimulatorSpec("peoplevox", "erp_wms_simulators.peoplevox", "PeoplevoxState", "", 8702),
    "bluecherry": SimulatorSpec("bluecherry", "erp_wms_simulators.bluecherry", "BlueCherryState", "/api/v1",
                                8703),
}
NAMES: tuple[str, ...] = tuple(SPECS)


def load_simulator(name: str) -> ModuleType:
    """Import a simulator package, failing with a message that says which one is missing."""
    spec = SPECS[name]
    try:
        return importlib.import_module(spec.module)
    except ImportError as exc:
        raise RuntimeError(f"the {name} simulator ({spec.module}) cannot be imported: {exc}") from exc


def build_app(name: str, state: Any, module: ModuleType | None = None) -> ASGIApp:
    """The simulator's app for ``state``, wrapped by the fault middleware driven by ``state.faults`` and,
    outermost, by the call counting of ``state.traffic`` (so fault-injected answers are counted too)."""
    module = module if module is not None else load_simulator(name)
    return TrafficMiddleware(install_faults(module.create_app(state=state), state.faults), state.traffic)


def split_knob(knob: str) -> tuple[str | None, str]:
    """``"peoplevox:http_5xx@SaveData=0.3"`` -> ``("peoplevox", "http_5xx@SaveData=0.3")``; no prefix -> all."""
    prefix, sep, rest = knob.partition(":")
    if sep and prefix.strip().lower() in SPECS:
        return prefix.strip().lower(), rest.strip()
    return None, knob.strip()


def demo_credentials(name: str) -> dict[str, Any]:
    """The published demo credentials of a simulator, read from its ``demo`` module.

    A ``demo_credentials()`` function there wins; otherwise every ``DEMO_*`` string constant, plus any
    ``DEMO_*USERS*`` / ``DEMO_*CREDENTIALS*`` table, keyed by the lower-cased name without ``DEMO_``.
    """
    module = importlib.import_module(f"{SPECS[name].module}.demo")
    custom = getattr(module, "demo_credentials", None)
    if callable(custom):
        return dict(custom())
    found: dict[str, Any] = {}
    for key, value in vars(module).items():
        if not key.startswith("DEMO_"):
            continue
        if isinstance(value, str):
            found[key[5:].lower()] = value
        elif isinstance(value, Mapping) and ("USERS" in key or "CREDENTIALS" in key):
            found[key[5:].lower()] = {str(k): list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return found


class SimulatorStack:
    """Cin7 Core, Peoplevox and BlueCherry simulators on localhost, each with its state object.

    ``ports`` maps a simulator name to a port (0 or absent = a free port); ``names`` limits which
    simulators start. Attributes ``cin7core`` / ``peoplevox`` / ``bluecherry`` hold the states and
    ``urls[name]`` the base address a client is configured with.

    ``faults`` names a fault profile (``none``, ``flaky``, ``hostile``) seeded with ``fault_seed`` and installed on
    every simulator; ``knobs`` add rules (``kind[@endpoint]=probability[,option=value]``, optionally prefixed by
    a simulator name and ``:`` to target one simulator). ``time_scale`` compresses callback retry schedules.
    """

    def __init__(self, ports: Mapping[str, int] | None = None, seed_demo: bool = True, *,
                 names: Sequence[str] = NAMES, host: str = LOCALHOST, faults: str = "none", fault_seed: int = 0,
                 knobs: Sequence[str] = (), time_scale: float = 1.0) -> None:
        unknown = sorted(set(names) - set(SPECS)) + sorted(set(ports or {}) - set(SPECS))
        if unknown:
            raise ValueError(f"unknown simulator(s) {unknown}; choose from {list(SPECS)}")
        if faults not in PROFILES:
            raise ValueError(f"unknown fault profile {faults!r}; choose from {', '.join(PROFILES)}")
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.knobs = [split_knob(knob) for knob in knobs]
        for _, knob in self.knobs:
            parse_knob(knob)  # a bad knob fails here, before anything listens
        self.fault_profile = faults
        self.fault_seed = fault_seed
        self.time_scale = time_scale
        self.names = tuple(names)
        self.ports = dict(ports or {})
        self.seed = seed_demo
        self.host = host
        self.servers: dict[str, ServerThread] = {}
        self.states: dict[str, Any] = {}
        self.urls: dict[str, str] = {}

    @property
    def cin7core(self) -> Cin7CoreState:
        state: Cin7CoreState = self._state("cin7core")
        return state

    @property
    def peoplevox(self) -> PeoplevoxState:
        state: PeoplevoxState = self._state("peoplevox")
        return state

    @property
    def bluecherry(self) -> BlueCherryState:
        state: BlueCherryState = self._state("bluecherry")
        return state

    def start(self) -> SimulatorStack:
        modules = {name: load_simulator(name) for name in self.names}  # fail before anything listens
        try:
            for name, module in modules.items():
                self._start_one(name, module)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in reversed(list(self.servers)):
            self.states[name].callbacks.stop()
            self.servers[name].stop()
        self.servers.clear()

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per simulator: base URL, port and demo credentials (what the CLI prints and writes as JSON)."""
        return {name: {"url": self.urls[name], "port": self.servers[name].port,
                       "credentials": demo_credentials(name)} for name in self.servers}

    def traffic(self) -> dict[str, dict[str, Any]]:
        """Per running simulator: calls per endpoint, answered and refused (see :mod:`.traffic`)."""
        return {name: self.states[name].traffic.snapshot() for name in self.servers}

    def reset_traffic(self) -> None:
        """Clear every running simulator's call counts (e.g. between two measured phases)."""
        for name in self.servers:
            self.states[name].traffic.reset()

    def __enter__(self) -> SimulatorStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _start_one(self, name: str, module: ModuleType) -> None:
        spec = SPECS[name]
        state = getattr(module, spec.state_class)()
        if self.seed:
            importlib.import_module(f"{spec.module}.demo").seed_demo(state)
        self._configure(name, state)
        server = ServerThread(build_app(name, state, module), self.host, self.ports.get(name, 0), name=name)
        server.start()
        self.states[name] = state
        self.servers[name] = server
        self.urls[name] = server.url + spec.url_suffix
        state.callbacks.start()

    def _configure(self, name: str, state: Any) -> None:
        """Install the fault profile and knobs meant for ``name``, and the callback time scale."""
        state.faults.set_profile(self.fault_profile, self.fault_seed)
        for target, knob in self.knobs:
            if target is None or target == name:
                state.faults.set_knob(knob)
        state.callbacks.time_scale = self.time_scale

    def _state(self, name: str) -> Any:
        if name not in self.states:
            raise RuntimeError(f"the {name} simulator is not running in this stack")
        return self.states[name]
