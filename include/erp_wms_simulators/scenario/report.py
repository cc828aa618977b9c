"""What a scenario reports, and how its dumps are made stable.

:class:`DayReport` counts the planned events and how each ended, what the warehouse and the drill bridge did,
and how long the run took (wall clock; left out of dumps). :func:`stable_json` turns any dump into JSON with
sorted keys, datetimes as ISO text and every random GUID (Cin7 Core gives new sales one) replaced by an alias
numbered in order of first appearance, so two runs with the same seed give byte-identical dumps.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class DayReport:
    start: datetime
    end: datetime | None = None
    planned: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> done / skipped / refused
    warehouse: Counter[str] = field(default_factory=Counter)
    bridge: Counter[str] = field(default_factory=Counter)
    returns_received: int = 0
    ticks: int = 0
    seconds: float = 0.0  # wall-clock duration (not part of dumps)

    def outcome(self, kind: str, result: str) -> None:
        self.outcomes.setdefault(kind, Counter())[result] += 1

    def done(self, kind: str) -> int:
        return self.outcomes.get(kind, Counter())["done"]

    def to_dict(self, *, timing: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "planned": dict(sorted(self.planned.items())),
               "outcomes": {kind: dict(sorted(c.items())) for kind, c in sorted(self.outcomes.items())},
               "warehouse": dict(sorted(self.warehouse.items())), "bridge": dict(sorted(self.bridge.items())),
               "returns_received": self.returns_received, "ticks": self.ticks}
        if timing:
            out["seconds"] = round(self.seconds, 3)
        return jsonable(out)


def jsonable(value: Any) -> Any:
    """Plain JSON data: datetimes as ISO text, dataclasses / tuples / sets unpacked (sets sorted)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(item) for item in value)
    return value


def stable_json(data: Any, indent: int | None = 1) -> str:
    """``data`` as JSON with sorted keys and GUIDs replaced by ``guid-0001``-style aliases."""
    text = json.dumps(jsonable(data), sort_keys=True, indent=indent, ensure_ascii=False)
    aliases: dict[str, str] = {}

    def alias(match: re.Match[str]) -> str:
        guid = match.group(0).lower()
        if guid not in aliases:
            aliases[guid] = f"guid-{len(aliases) + 1:05d}"
        return aliases[guid]

    return GUID.sub(alias, text) + "\n"
