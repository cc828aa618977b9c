"""Seeded, reproducible fault injection shared by the three simulators.

A :class:`FaultPlan` holds :class:`FaultRule` objects (from a named profile, explicit rules or ``--fault``
knobs) and answers one question: *does fault ``kind`` fire now for ``endpoint``?* (:meth:`FaultPlan.fires`).

- HTTP faults (``http_5xx``, ``timeout``, ``slow``, ``rate_limit_burst``) are applied by the ASGI middleware in
  :mod:`erp_wms_simulators.faultmw`; the endpoint name is ``"<METHOD> <path lowercased>"`` (for example
  ``"GET /externalapi/v2/product"``), or the SOAP operation (``"SaveData"``) for Peoplevox service posts.
- Callback faults (``drop_callback``, ``duplicate_callback``, ``reorder_callback``) are applied by
  :class:`erp_wms_simulators.callbacks.CallbackDispatcher`; the endpoint is the event type
  (``"Sale/OrderAuthorised"``, ``"TrackingNumberReceived"``).
- ``session_expiry`` (endpoint = SOAP operation), ``partial_save_failure`` (endpoint = template name) and
  ``malformed_report_rows`` (endpoint = report name) are consulted by the simulators themselves.

Every (kind, endpoint) pair draws from its own ``random.Random`` seeded from the plan's seed, the kind and the
lower-cased endpoint, so a given seed and call order always give the same faults, and extra calls to one
endpoint never shift another endpoint's sequence. A plan is changed in place (the middleware and the
dispatcher keep a reference to it); every method is thread-safe.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "http_5xx", "timeout", "slow", "rate_limit_burst", "drop_callback", "duplicate_callback",
    "reorder_callback", "session_expiry", "partial_save_failure", "malformed_report_rows",
)
HTTP_KINDS: tuple[str, ...] = ("http_5xx", "timeout", "slow", "rate_limit_burst")
MAX_DELAY_SECONDS = 300.0
MAX_BURST = 1000
MAX_RULES = 200
FIRED_LOG_LENGTH = 1000
DEFAULT_STATUS = {"rate_limit_burst": 429, "timeout": 504}


@dataclass
class FaultRule:
    """One fault: what (``kind``), where (``endpoint`` glob, case-insensitive) and how often.

    ``status`` 0 means the kind's default: 503, 429 for ``rate_limit_burst``, 504 for ``timeout``.
    ``delay_seconds`` is the added
    latency of ``slow`` and how long ``timeout`` hangs (at most 300 s). ``count`` caps how many times the rule
    fires (for ``rate_limit_burst``: how many bursts). Invalid values raise ``ValueError``.
    """

    kind: str
    probability: float = 1.0
    endpoint: str = "*"
    status: int = 0
    delay_seconds: float = 0
    count: int | None = None
    retry_after: int | None = None
    burst: int = 5

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if not self.status:
            self.status = DEFAULT_STATUS.get(self.kind, 503)
        self._check()

    def _check(self) -> None:
        if not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError(f"{self.kind}: probability must be between 0 and 1, got {self.probability}")
        if not 400 <= int(self.status) <= 599:
            raise ValueError(f"{self.kind}: status must be an HTTP error status (400-599), got {self.status}")
        if not 0.0 <= float(self.delay_seconds) <= MAX_DELAY_SECONDS:
            raise ValueError(f"{self.kind}: delay must be between 0 and {MAX_DELAY_SECONDS:.0f} seconds, "
                             f"got {self.delay_seconds}")
        if self.count is not None and int(self.count) < 0:
            raise ValueError(f"{self.kind}: count must be 0 or more, got {self.count}")
        if self.retry_after is not None and int(self.retry_after) < 0:
            raise ValueError(f"{self.kind}: retry_after must be 0 or more, got {self.retry_after}")
        if not 1 <= int(self.burst) <= MAX_BURST:
            raise ValueError(f"{self.kind}: burst must be between 1 and {MAX_BURST}, got {self.burst}")
        if not isinstance(self.endpoint, str) or not self.endpoint.strip():
            raise ValueError(f"{self.kind}: endpoint must be a non-empty glob (use '*' for every endpoint)")

    def matches(self, kind: str, endpoint: str) -> bool:
        return kind == self.kind and fnmatch.fnmatchcase(endpoint.lower(), self.endpoint.strip().lower())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """A rule from a JSON object (``{"kind": "slow", "delay_seconds": 0.2}``); ``delay`` is an alias."""
        if not isinstance(data, dict):
            raise ValueError("a fault rule must be an object with at least a 'kind'")
        values = dict(data)
        if "delay" in values:
            values["delay_seconds"] = values.pop("delay")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault rule field(s) {', '.join(unknown)}; use {', '.join(sorted(known))}")
        if "kind" not in values:
            raise ValueError("a fault rule needs a 'kind'")
        return cls(**values)


def _profile_flaky() -> list[FaultRule]:
    return [
        FaultRule("http_5xx", 0.05),
        FaultRule("slow", 0.05, delay_seconds=0.2),
        FaultRule("drop_callback", 0.02),
        FaultRule("duplicate_callback", 0.05),
    ]


def _profile_hostile() -> list[FaultRule]:
    return [
        FaultRule("http_5xx", 0.15),
        FaultRule("http_5xx", 0.05, status=500),
        FaultRule("timeout", 0.02, delay_seconds=10.0),
        FaultRule("slow", 0.15, delay_seconds=0.5),
        FaultRule("rate_limit_burst", 0.03, burst=3, retry_after=1),
        FaultRule("drop_callback", 0.1),
        FaultRule("duplicate_callback", 0.1),
        FaultRule("reorder_callback", 0.2),
        FaultRule("session_expiry", 0.05),
        FaultRule("partial_save_failure", 0.1),
        FaultRule("malformed_report_rows", 0.05),
    ]


PROFILES: dict[str, list[FaultRule]] = {
    "none": [],
    "flaky": _profile_flaky(),
    "hostile": _profile_hostile(),
}


def parse_knob(spec: str) -> FaultRule:
    """``kind[@endpoint]=probability[,status=..,delay=..,count=..,retry_after=..,burst=..]`` as a rule.

    ``ValueError`` names the part that is wrong (the kind, the probability or the option).
    """
    text = spec.strip()
    head, sep, tail = text.partition("=")
    if not sep or not head.strip() or not tail.strip():
        raise ValueError(f"fault knob {spec!r} must look like kind[@endpoint]=probability[,option=value...]")
    kind, at, endpoint = head.strip().partition("@")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault knob {spec!r}: unknown kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")
    if at and not endpoint.strip():
        raise ValueError(f"fault knob {spec!r}: the endpoint after '@' is empty")
    first, *options = tail.split(",")
    values: dict[str, Any] = {"kind": kind, "endpoint": endpoint.strip() or "*",
                              "probability": _number(spec, "probability", first, float)}
    for option in options:
        name, eq, raw = option.partition("=")
        name = name.strip().lower()
        if not eq or name not in _KNOB_OPTIONS:
            raise ValueError(f"fault knob {spec!r}: bad option {option.strip()!r}; "
                             f"use {', '.join(f'{o}=..' for o in _KNOB_OPTIONS)}")
        field_name, convert = _KNOB_OPTIONS[name]
        values[field_name] = _number(spec, name, raw, convert)
    try:
        return FaultRule(**values)
    except ValueError as exc:
        raise ValueError(f"fault knob {spec!r}: {exc}") from None


_KNOB_OPTIONS: dict[str, tuple[str, type]] = {
    "status": ("status", int), "delay": ("delay_seconds", float), "count": ("count", int),
    "retry_after": ("retry_after", int), "burst": ("burst", int),
}


def _number(spec: str, name: str, raw: str, convert: type) -> Any:
    try:
        return convert(raw.strip())
    except ValueError:
        raise ValueError(f"fault knob {spec!r}: {name} must be a number, got {raw.strip()!r}") from None


class FaultPlan:
    """The faults one simulator injects; deterministic for a given seed and call order."""

    def __init__(self, simulator: str, profile: str = "none", seed: int = 0, rules: Sequence[FaultRule] = ()
                 ) -> None:
        self.simulator = simulator
        self.fired: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._profile = "none"
        self._seed = 0
        self._rules: list[FaultRule] = []
        self._streams: dict[tuple[str, str], random.Random] = {}
        self._fired_by_rule: Counter[int] = Counter()
        self._counts: Counter[str] = Counter()
        self._bursts: dict[int, int] = {}  # id(rule) -> refusals still due in the current burst
        self.set_profile(profile, seed)
        for rule in rules:
            self.add_rule(rule)

    @classmethod
    def none(cls, simulator: str) -> FaultPlan:
        """A plan that never fires (every simulator's default)."""
        return cls(simulator)

    @property
    def profile(self) -> str:
        return self._profile

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    @property
    def active(self) -> bool:
        """Whether any rule is configured (lets hot paths skip the lookup)."""
        return bool(self._rules)

    def fires(self, kind: str, endpoint: str) -> FaultRule | None:
        """The rule that fires for this call of ``endpoint``, or ``None``.

        Each matching rule draws once from the (kind, endpoint) stream, in rule order, whether or not it is
        exhausted, so the sequence depends only on the seed and on the calls made to that endpoint.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        with self._lock:
            matching = [rule for rule in self._rules if rule.matches(kind, endpoint)]
            if not matching:
                return None
            for rule in matching:
                if self._bursts.get(id(rule), 0) > 0:
                    self._bursts[id(rule)] -= 1
                    self._record(kind, endpoint)
                    return rule
            stream = self._stream(kind, endpoint)
            chosen: FaultRule | None = None
            for rule in matching:
                draw = stream.random()
                if chosen is None and draw < rule.probability and self._left(rule):
                    chosen = rule
            if chosen is not None:
                self._fired_by_rule[id(chosen)] += 1
                if kind == "rate_limit_burst":
                    self._bursts[id(chosen)] = chosen.burst - 1
                self._record(kind, endpoint)
            return chosen

    def set_profile(self, profile: str, seed: int | None = None) -> None:
        """Replace every rule with the named profile's; ``seed`` (if given) replaces the seed."""
        if profile not in PROFILES:
            raise ValueError(f"unknown fault profile {profile!r}; choose from {', '.join(PROFILES)}")
        with self._lock:
            self._profile = profile
            if seed is not None:
                self._seed = int(seed)
            self._rules = [replace(rule) for rule in PROFILES[profile]]
            self._restart()

    def add_rule(self, rule: FaultRule) -> None:
        """Add a copy of ``rule`` after the existing ones (the profile name is kept; ``to_dict`` lists all rules)."""
        if not isinstance(rule, FaultRule):
            raise TypeError("add_rule expects a FaultRule")
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise ValueError(f"a fault plan holds at most {MAX_RULES} rules")
            self._rules.append(replace(rule))

    def set_knob(self, spec: str) -> None:
        """Parse ``kind[@endpoint]=probability[,status=..,delay=..,count=..,retry_after=..,burst=..]`` and add it."""
        self.add_rule(parse_knob(spec))

    def reseed(self, seed: int) -> None:
        """Start every random stream again from ``seed`` (rules and fired counts are kept)."""
        with self._lock:
            self._seed = int(seed)
            self._streams.clear()
            self._bursts.clear()

    def clear(self) -> None:
        """No faults at all (profile ``none``); the seed is kept."""
        with self._lock:
            self._profile = "none"
            self._rules = []
            self._restart()

    def count(self, kind: str) -> int:
        """How many times ``kind`` has fired since the plan was last set."""
        with self._lock:
            return self._counts[kind]

    def to_dict(self) -> dict[str, Any]:
        """Profile, seed, rules (with how often each fired) and fired counts per kind, for ``GET /_sim/faults``."""
        with self._lock:
            rules = [{**asdict(rule), "fired": self._fired_by_rule[id(rule)]} for rule in self._rules]
            return {"simulator": self.simulator, "profile": self._profile, "seed": self._seed, "rules": rules,
                    "fired": dict(sorted(self._counts.items())),
                    "recent": [list(entry) for entry in self.fired[-20:]]}

    def _restart(self) -> None:
        self._streams.clear()
        self._fired_by_rule.clear()
        self._counts.clear()
        self._bursts.clear()
        self.fired.clear()

    def _stream(self, kind: str, endpoint: str) -> random.Random:
        key = (kind, endpoint.lower())
        stream = self._streams.get(key)
        if stream is None:
            stream = random.Random(f"{self._seed}|{kind}|{key[1]}")
            self._streams[key] = stream
        return stream

    def _left(self, rule: FaultRule) -> bool:
        return rule.count is None or self._fired_by_rule[id(rule)] < rule.count

    def _record(self, kind: str, endpoint: str) -> None:
        self._counts[kind] += 1
        self.fired.append((kind, endpoint))
        if len(self.fired) > FIRED_LOG_LENGTH:
            del self.fired[: len(self.fired) - FIRED_LOG_LENGTH]
