"""Fresh in-process simulator states for a scenario, demo-seeded on a fixed clock so that even the demo
data's timestamps are the same on every run (the command line's in-process mode and the tests use them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from erp_wms_simulators.bluecherry import BlueCherryState
from erp_wms_simulators.bluecherry.demo import seed_demo as seed_bluecherry
from erp_wms_simulators.cin7core import Cin7CoreState
from erp_wms_simulators.cin7core.demo import seed_demo as seed_cin7core
from erp_wms_simulators.peoplevox import PeoplevoxState
from erp_wms_simulators.peoplevox.demo import seed_demo as seed_peoplevox
from erp_wms_simulators.scenario.brands import BLUECHERRY, CIN7CORE

ALL = (CIN7CORE, BLUECHERRY, "peoplevox")


def fresh_states(start: datetime, names: Sequence[str] = ALL, *, demo: bool = True) -> dict[str, Any]:
    """New states for ``names`` whose clocks stand at ``start`` (a Scenario then moves them)."""
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        raise ValueError(f"unknown simulator(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")

    def fixed() -> datetime:
        return start

    def naive() -> datetime:
        return start.replace(tzinfo=None, microsecond=0)

    states: dict[str, Any] = {}
    if CIN7CORE in names:
        states[CIN7CORE] = Cin7CoreState(clock=fixed)
        if demo:
            seed_cin7core(states[CIN7CORE])
    if BLUECHERRY in names:
        states[BLUECHERRY] = BlueCherryState(clock=fixed)
        if demo:
            seed_bluecherry(states[BLUECHERRY])
    if "peoplevox" in names:
        states["peoplevox"] = PeoplevoxState(now=naive)
        if demo:
            seed_peoplevox(states["peoplevox"])
    return states
