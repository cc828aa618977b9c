"""Read docker-compose.yaml the way Docker Compose does, for tests that have no Docker engine.

YAML anchors and ``<<`` merge keys are resolved by the YAML loader; ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``$VAR`` and the ``$$`` escape are interpolated here with Compose's rules (a default after
``:-`` applies when the variable is unset or empty, after ``-`` only when it is unset). Any other ``${...}`` form
is an error, so a file using one cannot pass unnoticed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"

_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>\{[^}]*\}?|))"
)


@dataclass(frozen=True)
class Reference:
    """One variable reference: ``op`` is ``":-"``, ``"-"`` or ``None`` (no default)."""

    name: str
    op: str | None
    default: str | None


def references(text: str) -> list[Reference]:
    """The variable references of one string (``$$`` escapes are not references)."""
    found = []
    for match in _TOKEN.finditer(text):
        if match["invalid"] is not None:
            raise ValueError(f"unsupported interpolation ${match['invalid']} in {text!r}")
        if match["braced"]:
            found.append(Reference(match["braced"], match["op"], match["default"]))
        elif match["named"]:
            found.append(Reference(match["named"], None, None))
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every reference replaced as Docker Compose would, given the environment ``env``."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["invalid"] is not None:
            raise ValueError(f"unsupported interpolation ${match['invalid']} in {text!r}")
        name = match["braced"] or match["named"]
        value = env.get(name)
        op, default = match["op"], match["default"] or ""
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        return value or ""

    return _TOKEN.sub(replace, text)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """A copy of a parsed YAML tree with every string interpolated (keys included, as Compose does)."""
    if isinstance(node, dict):
        return {interpolate_tree(k, env): interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def raw() -> dict[str, Any]:
    """The file as parsed YAML (anchors merged), before interpolation."""
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as ``docker compose config`` would see it with the environment ``env`` (default: empty)."""
    document = interpolate_tree(raw(), env or {})
    assert isinstance(document, dict)
    return document


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string value of a tree, with a dotted path saying where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from strings(item, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def all_references() -> list[Reference]:
    """Every variable reference of the file."""
    return [ref for _, text in strings(raw()) for ref in references(text)]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose accepts a mapping or a list of ``KEY=value``)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def connections(document: Mapping[str, Any], service: str = "airflow-scheduler") -> dict[str, dict[str, Any]]:
    """conn_id -> the JSON of its ``AIRFLOW_CONN_*`` variable, as the given service sees it."""
    env = environment(document["services"][service])
    prefix = "AIRFLOW_CONN_"
    return {name[len(prefix):].lower(): json.loads(value) for name, value in env.items()
            if name.startswith(prefix)}


def init_script(document: Mapping[str, Any]) -> str:
    """The bash script airflow-init runs (``bash -c SCRIPT``), as the container receives it."""
    command = document["services"]["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"], command
    return str(command[2])
