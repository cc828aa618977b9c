"""Reading configuration files without surprises: integration YAML and item-code cross-reference tables.

Everything a hostile or careless file can do becomes a :class:`FileIssue` (field, what is wrong, fix) instead of
a traceback or a silent guess:

- a file larger than the limit is refused before it is read; bytes that are not UTF-8 are named by offset;
- YAML is parsed by libyaml (the C loader) when available, then checked in one linear pass over the node tree:
  a key given twice in one mapping is refused (naming the key and both lines), as is an integer too long for
  Python to convert; a YAML syntax error names its line and column;
- a cross-reference table is a CSV with the header ``sku,item_code`` or a YAML mapping ``SKU: ItemCode``;
  each row keeps its row number (or SKU) for error messages.

Nothing here knows the settings schema; :mod:`erp_wms_sync.config` does.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import CollectionEndEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from erp_wms_sync.domain.item_codes import ItemCodeRow

# An integration file is a few kilobytes; the limits keep a runaway file from stalling DAG parsing (YAML reads at
# roughly 1 MB per second even with libyaml, CSV at well over 20 MB per second).
MAX_YAML_BYTES = 1_000_000
MAX_TABLE_YAML_BYTES = 2_000_000
MAX_TABLE_CSV_BYTES = 20_000_000
MAX_NODES = 1_000_000  # more than a file within the limits can hold; aliases cannot make the walk larger
MAX_DEPTH = 64  # settings nest 3 deep
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class FileIssue:
    """One problem of a file: ``field`` is the setting's dotted path, or ``(file)`` for the file as a whole."""

    field: str
    message: str
    fix: str


class FileProblems(Exception):
    """The file cannot be used; ``issues`` says why."""

    def __init__(self, issues: list[FileIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))


def _file_issue(message: str, fix: str) -> FileProblems:
    return FileProblems([FileIssue("(file)", message, fix)])


def read_text(path: Path, max_bytes: int) -> str:
    """The file's text; refuses a missing/unreadable file, a file over ``max_bytes`` and bytes that are not UTF-8."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:  # bounded read: a device or pipe may claim size 0 and never end
            raw = b"" if size > max_bytes else handle.read(max_bytes + 1)
        if size > max_bytes or len(raw) > max_bytes:
            found = f"{size:,} bytes" if size > max_bytes else f"more than {max_bytes:,} bytes"
            raise _file_issue(f"the file is {found}; the limit is {max_bytes:,}",
                              "keep the file small: a large item-code table belongs in a CSV named by item_codes.file")
    except OSError as exc:
        raise _file_issue(f"cannot read the file ({exc.strerror or exc})",
                          "check that the path exists, is a file and is readable") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _file_issue(f"byte 0x{raw[exc.start]:02X} at offset {exc.start} (line {line}) is not UTF-8",
                          "save the file as UTF-8") from None


def read_yaml(path: Path, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse one YAML document (``None`` for an empty file); raises :class:`FileProblems`."""
    return parse_yaml(read_text(path, max_bytes))


def parse_yaml(text: str) -> Any:
    """One YAML document as Python data; raises :class:`FileProblems` for anything a setting file must not be."""
    loader = _Loader(text)
    try:
        _refuse_deep_nesting(_Loader(text))
        node = loader.get_single_node()
        if node is None:
            return None
        problems = list(_node_issues(node))
        if problems:
            raise FileProblems(problems)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _file_issue(f"not valid YAML at {_where(exc)}: {exc.problem or exc.context}",
                          "correct the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise _file_issue(f"not valid YAML: {exc}", "correct the YAML syntax") from None
    except RecursionError:
        raise _file_issue("the YAML is nested too deeply", "write the settings as in the samples") from None
    except ValueError as exc:  # a value the constructor cannot convert that the node check did not foresee
        raise _file_issue(f"a value cannot be read: {exc}", "correct the value") from None
    finally:
        loader.dispose()


def _refuse_deep_nesting(loader: Any) -> None:
    """Walk the parser's events (libyaml keeps its own stack) before composing: composing a deeply nested document
    recurses, and libyaml's composer crashes the process rather than raising."""
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else "?"
                    raise _file_issue(f"collections are nested more than {MAX_DEPTH} deep (line {line})",
                                      "write the settings as in the samples")
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _where(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"


def _node_issues(root: Node) -> Iterator[FileIssue]:
    """Duplicate keys and unconvertible integers, in one pass; each node is visited once (aliases included)."""
    stack: list[tuple[Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            yield FileIssue("(file)", f"more than {MAX_NODES:,} YAML nodes", "write the settings as in the samples")
            return
        if isinstance(node, ScalarNode):
            yield from _scalar_issues(node, path)
        elif isinstance(node, SequenceNode):
            stack.extend((item, _join(path, str(i))) for i, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            yield from _duplicate_keys(node, path)
            stack.extend((v, _join(path, _key_text(k))) for k, v in node.value)
            stack.extend((k, _join(path, _key_text(k))) for k, _ in node.value
                         if not isinstance(k, ScalarNode) or k.tag == _INT_TAG)


def _scalar_issues(node: ScalarNode, path: str) -> Iterator[FileIssue]:
    limit = sys.get_int_max_str_digits()
    digits = sum(ch.isdigit() for ch in node.value) if node.tag == _INT_TAG else 0
    if limit and digits > limit:
        yield FileIssue(path or "(top level)", f"a number of {digits:,} digits (line {node.start_mark.line + 1}) "
                        f"is longer than the {limit:,} digits a number may have",
                        "use a realistic value, or quote it if it is meant as text")


def _duplicate_keys(node: MappingNode, path: str) -> Iterator[FileIssue]:
    first_line: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
            continue
        line = key.start_mark.line + 1
        ident = (key.tag, key.value)
        if ident in first_line:
            yield FileIssue(_join(path, key.value), f"key '{key.value}' is given twice (lines {first_line[ident]} "
                            f"and {line}); YAML would silently keep the last",
                            "keep one of the two and delete the other")
        else:
            first_line[ident] = line


def _key_text(key: Node) -> str:
    return key.value if isinstance(key, ScalarNode) else "(key)"


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


# --- item-code cross-reference tables --------------------------------------------------------------------------
TABLE_HEADER = ("sku", "item_code")


def read_item_code_rows(path: Path) -> list[ItemCodeRow]:
    """The rows of a cross-reference table: ``.csv`` (header ``sku,item_code``) or ``.yaml``/``.yml`` mapping."""
    if path.suffix.lower() == ".csv":
        return _csv_rows(read_text(path, MAX_TABLE_CSV_BYTES))
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_rows(read_yaml(path, MAX_TABLE_YAML_BYTES))
    raise _file_issue(f"'{path.name}' is neither .csv nor .yaml", "give a .csv (sku,item_code) or .yaml file")


def _csv_rows(text: str) -> list[ItemCodeRow]:
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != TABLE_HEADER:
        raise _file_issue("the first row is not the header sku,item_code",
                          "start the file with the line: sku,item_code")
    rows: list[ItemCodeRow] = []
    bad: list[FileIssue] = []
    try:
        for cells in reader:
            where = f"row {reader.line_num}"
            if not cells or all(not c.strip() for c in cells):
                continue  # blank line
            if len(cells) != 2:
                bad.append(FileIssue(where, f"has {len(cells)} columns, not 2", "write each row as sku,item_code"))
                continue
            rows.append(ItemCodeRow(where, cells[0], cells[1]))
    except csv.Error as exc:
        bad.append(FileIssue(f"row {reader.line_num}", f"is not valid CSV ({exc})", "correct the row"))
    if bad:
        raise FileProblems(bad)
    return rows


def _yaml_rows(data: Any) -> list[ItemCodeRow]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise _file_issue(f"expected a mapping SKU: ItemCode, found {type(data).__name__}",
                          "write one 'SKU: ItemCode' pair per line")
    not_text = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str)]
    if not_text:
        raise _file_issue(f"SKU '{not_text[0]}' or its ItemCode is not text (e.g. a number)",
                          "quote SKUs and ItemCodes that look like numbers, e.g. '00123': 'A-00123'")
    return [ItemCodeRow(f"SKU '{sku}'", sku, code) for sku, code in data.items()]
