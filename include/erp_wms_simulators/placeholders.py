"""Peoplevox-style ``{Placeholder}`` substitution for callback URLs and form templates.

``{ItemCode}`` or a dotted path such as ``{Carrier.Name}`` is replaced by the value under that name (names are
matched ignoring case; unknown tokens become empty).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)\}")


def fill_placeholders(template: str, values: Mapping[str, Any], *, encode: bool = True) -> str:
    """Replace ``{Name}`` / ``{Dotted.Path}`` tokens by ``values`` (names matched ignoring case).

    Unknown tokens become empty; ``encode`` percent-encodes each value (for query strings).
    """
    lookup = {str(key).lower(): value for key, value in values.items()}

    def substitute(match: re.Match[str]) -> str:
        value = lookup.get(match.group(1).lower())
        text = "" if value is None else str(value)
        return quote(text, safe="") if encode else text

    return PLACEHOLDER.sub(substitute, template)


def form_fields(template: str, values: Mapping[str, Any]) -> dict[str, str]:
    """``item={ItemCode}&available={Available}`` (``&amp;`` accepted) as substituted form fields."""
    fields: dict[str, str] = {}
    for pair in template.replace("&amp;", "&").split("&"):
        if not pair.strip():
            continue
        name, _, value = pair.partition("=")
        fields[name.strip()] = fill_placeholders(value, values, encode=False)
    return fields
