"""BlueCherry style master records: a style carries colours and a size scale; each colour × size is a
SKU ``style-color-size`` with its own UPC, size bucket and status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp_wms_simulators.common import format_timestamp

STATUSES = ("ACTIVE", "INACTIVE")
STYLE_SUMMARY_FIELDS = ("style", "styleName", "description", "division", "season", "status", "sizeScale",
                        "sizes", "colors", "price", "weight", "weightUnit", "updatedAt")


def upc_a(number: int, prefix: str = "0845") -> str:
    """A valid 12-digit UPC-A from ``prefix`` and ``number`` (with its check digit)."""
    body = f"{prefix}{number:0{11 - len(prefix)}d}"
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    return body + str((10 - (odd * 3 + even) % 10) % 10)


def sku_code(style: str, color: str, size: str) -> str:
    return f"{style}-{color}-{size}"


@dataclass(frozen=True)
class StyleSpec:
    """What a new style is made of (see ``BlueCherryState.add_style``)."""

    style: str
    style_name: str
    colors: Sequence[tuple[str, str]]
    sizes: Sequence[str]
    size_scale: str
    division: str
    season: str
    status: str
    price: float
    weight: float

    def check(self) -> None:
        if not self.style.strip():
            raise ValueError("a style needs a style code")
        if not self.colors or not self.sizes:
            raise ValueError(f"style {self.style} needs at least one colour and one size")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def style_record(spec: StyleSpec, updated: datetime) -> dict[str, Any]:
    return {
        "style": spec.style, "styleName": spec.style_name, "description": spec.style_name,
        "division": spec.division, "season": spec.season, "status": spec.status,
        "sizeScale": spec.size_scale, "sizes": list(spec.sizes),
        "colors": [{"color": code, "colorName": name} for code, name in spec.colors],
        "price": spec.price, "weight": spec.weight, "weightUnit": "lb", "updatedAt": updated,
    }


def sku_records(style: Mapping[str, Any], upcs: Iterable[str]) -> list[dict[str, Any]]:
    """One SKU per colour × size, in colour then size-bucket order, taking UPCs from ``upcs``."""
    codes = iter(upcs)
    rows = []
    for color in style["colors"]:
        for bucket, size in enumerate(style["sizes"], start=1):
            rows.append({
                "sku": sku_code(style["style"], color["color"], size), "style": style["style"],
                "color": color["color"], "colorName": color["colorName"], "size": size,
                "sizeBucket": bucket, "upc": next(codes),
                "description": f"{style['styleName']} {color['colorName']} {size}",
                "styleName": style["styleName"], "division": style["division"], "season": style["season"],
                "status": style["status"], "price": style["price"], "weight": style["weight"],
                "updatedAt": style["updatedAt"],
            })
    return rows


def render(record: Mapping[str, Any]) -> dict[str, Any]:
    """A style or SKU as the API returns it (``updatedAt`` as ``yyyy-MM-ddTHH:mm:ssZ``)."""
    out = dict(record)
    out["updatedAt"] = format_timestamp(record["updatedAt"], millis=False)
    return out


def style_summary(style: Mapping[str, Any]) -> dict[str, Any]:
    return render({k: style[k] for k in STYLE_SUMMARY_FIELDS})
