"""What a Cin7 Core sale shows as shipped, shared by the dispatch end-to-end tests (read from Cin7's own answer)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def shipped_boxes(sale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every shipped box of a ``GET /sale`` answer: {task, box, tracking, carrier, skus (packed in its task)}."""
    out = []
    for task in sale.get("Fulfilments") or []:
        packed: Counter[str] = Counter()
        for line in (task.get("Pack") or {}).get("Lines") or []:
            packed[line["SKU"]] += int(line["Quantity"])
        for line in (task.get("Ship") or {}).get("Lines") or []:
            if line.get("IsShipped"):
                out.append({"task": task["TaskID"], "box": line.get("Boxes") or line.get("Box"),
                            "tracking": line.get("TrackingNumber"), "carrier": line.get("Carrier"),
                            "skus": dict(packed)})
    return out
