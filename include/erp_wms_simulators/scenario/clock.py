"""The simulated clock of a scenario: an aware UTC time that only moves when the driver moves it.

In-process simulator states are pointed at it (``state.clock = sim_clock`` for the ERPs, the naive
:meth:`SimClock.naive` for Peoplevox's warehouse time), so every record a scenario creates carries
simulated time and a run is reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class SimClock:
    """Aware UTC time, moved forward by :meth:`advance` / :meth:`move_to`, or at real speed inside
    :meth:`running` (while a hook talks to the simulators, so their rate limits and retries see time pass)."""

    now: datetime
    _since: float | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("a scenario clock needs a timezone-aware start time")
        self.now = self.now.astimezone(UTC)

    def __call__(self) -> datetime:
        if self._since is None:
            return self.now
        return self.now + timedelta(seconds=time.monotonic() - self._since)

    def naive(self) -> datetime:
        """The same moment as naive UTC to the second (the Peoplevox simulator's warehouse clock)."""
        return self().replace(tzinfo=None, microsecond=0)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Let time pass at real speed for the duration of the block; the clock keeps what passed."""
        self._since = time.monotonic()
        try:
            yield
        finally:
            self.now = self()
            self._since = None

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the scenario clock never goes back")
        self.now += timedelta(seconds=seconds)
        return self.now

    def move_to(self, moment: datetime) -> datetime:
        """Jump forward to ``moment`` (a moment in the past leaves the clock where it is)."""
        if moment > self.now:
            self.now = moment
        return self.now
