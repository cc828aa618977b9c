"""docs/operations-runbook.md keeps up with the code: every exception type the product raises has its entry, with
the default owner team the exception catalogue gives it, and the runbook lists no type the code no longer knows.

The types are collected from the source itself (regular expressions over ``include/erp_wms_sync/**/*.py``), from
every place an exception type is written today:

1. ``NewException(type=...)`` — the only way a flow raises an exception. The expression is a string literal, an
   upper-case constant (``INVALID_ITEM``, ``flow.STOCK_VARIANCE``, resolved through the module's own assignments and
   its ``from ... import`` lines), a conditional of constants (``NO_INVOICE if ... else UNKNOWN``), or a local
   variable whose assignment names constants (``type_ = AMENDMENT_HELD if ... else AFTER_CUTOFF``);
2. a data check's category — the fourth argument of ``Check(...)``: the type its failures raise (order release,
   dispatch confirmation, inventory sync, reconciliation), where the flows pass the category on as ``type=kind``;
3. the reconciliation findings' ``KINDS`` table — ``"kind": ("exception_type", ENTITY)``;
4. the exception catalogue ``DEFAULT_OWNERS`` (config.py): every type with its default owner team.

A constant the collector cannot resolve fails the test (naming the file), so a new way of writing a type cannot
slip past it unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from erp_wms_sync.config import DEFAULT_OWNERS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "include"
PACKAGE = "erp_wms_sync"
RUNBOOK = ROOT / "docs" / "operations-runbook.md"

TYPE_NAME = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+"  # snake_case with at least one underscore, as every type is written
NEW_EXCEPTION = re.compile(r"\bNewException\(")
TYPE_ARGUMENT = re.compile(r"(?<![\w.])type=(?P<expr>[^,\n]+)")
LITERAL = re.compile(rf'"({TYPE_NAME})"')
CONSTANT = re.compile(r"(?<![\w.])(?:(?P<alias>[a-z_][a-z0-9_]*)\.)?(?P<name>[A-Z][A-Z0-9_]*)\b")
LOCAL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
STRING = re.compile(r"""[rbfRBF]*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")
MODULE_CONSTANT = re.compile(r'^(?P<name>[A-Z][A-Z0-9_]*)\s*(?::[^=\n]+)?=\s*"(?P<value>[a-z][a-z0-9_]*)"', re.M)
FROM_IMPORT = re.compile(r"^\s*from\s+(?P<module>[\w.]+)\s+import\s+(?P<names>\([^)]*\)|[^\n]+)", re.M)
PLAIN_IMPORT = re.compile(r"^\s*import\s+(?P<module>[\w.]+)\s+as\s+(?P<alias>\w+)", re.M)
CHECK_CALL = re.compile(r"(?<![\w.])Check\(")
KINDS_ENTRY = re.compile(rf'"[a-z_]+":\s*\(\s*"(?P<type>{TYPE_NAME})"\s*,\s*[A-Z][A-Z_]*\s*\)')
OWNERS_BLOCK = re.compile(r"^DEFAULT_OWNERS\s*=\s*\{(?P<body>.*?)^\}", re.M | re.S)
OWNERS_KEY = re.compile(rf'^\s*"(?P<type>{TYPE_NAME})"\s*:', re.M)

ENTRY_HEADING = re.compile(rf"^#{{3,4}} `(?P<type>{TYPE_NAME})`", re.M)
TABLE_ROW = re.compile(rf"^\| `(?P<type>{TYPE_NAME})` \| (?P<owner>[a-z][a-z+-]*) \|", re.M)
OWNER_LINE = re.compile(r"\*\*Owner \(default\):\*\*\s*(?P<owner>[a-z][a-z+-]*)")


class Unresolved(Exception):
    """A constant used as an exception type that the collector could not trace to its string."""


# --- reading the source -----------------------------------------------------------------------------------------
def module_path(source: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under ``source`` (``a/b.py`` or ``a/b/__init__.py``), or None."""
    base = source.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_constants(text: str) -> dict[str, str]:
    """Module-level ``NAME = "snake_case"`` assignments (indented ones — enum members, locals — are not)."""
    return {m["name"]: m["value"] for m in MODULE_CONSTANT.finditer(text)}


def imported_names(text: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, attribute or None for a module) of every absolute import of the package."""
    found: dict[str, tuple[str, str | None]] = {}
    for match in FROM_IMPORT.finditer(text):
        module = match["module"]
        if not module.startswith(PACKAGE):
            continue
        for part in match["names"].strip("()").split(","):
            words = part.split("#")[0].split()
            if not words:
                continue
            attribute, local = (words[0], words[2]) if len(words) == 3 and words[1] == "as" else (words[0],
                                                                                                  words[0])
            found[local] = (module, attribute)
    for match in PLAIN_IMPORT.finditer(text):
        if match["module"].startswith(PACKAGE):
            found[match["alias"]] = (match["module"], None)
    return found


def resolve(source: Path, path: Path, name: str, alias: str | None = None, depth: int = 0) -> str:
    """The string value of constant ``name`` (``alias.name`` when aliased) as seen from the module at ``path``."""
    if depth > 8:
        raise Unresolved(f"{path}: {name} is imported in a loop")
    text = path.read_text(encoding="utf-8")
    imports = imported_names(text)
    if alias is not None:
        if alias not in imports:
            raise Unresolved(f"{path}: {alias}.{name}: {alias} is not an import of the package")
        module, attribute = imports[alias]
        target = module_path(source, f"{module}.{attribute}" if attribute else module)
        if target is None:
            raise Unresolved(f"{path}: {alias}.{name}: module {module}.{attribute or ''} not found")
        return resolve(source, target, name, None, depth + 1)
    local = module_constants(text)
    if name in local:
        return local[name]
    if name in imports:
        module, attribute = imports[name]
        target = module_path(source, module)
        if target is not None and attribute is not None:
            return resolve(source, target, attribute, None, depth + 1)
    raise Unresolved(f"{path}: constant {name} used as an exception type has no string value the test can find")


def statement_from(text: str, start: int) -> str:
    """The Python text from ``start`` to the end of its logical line (open brackets continue it)."""
    depth, index, quote = 0, start, ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return text[start:index]
        elif char == "\n" and depth == 0:
            return text[start:index]
        index += 1
    return text[start:]


def call_arguments(text: str, open_paren: int) -> list[str]:
    """The top-level arguments of the call whose ``(`` is at ``open_paren``."""
    args, depth, quote, current = [], 0, "", []
    for char in text[open_paren + 1:]:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    tail = "".join(current).strip()
    return [*args, tail] if tail else args


def values_of(source: Path, path: Path, text: str, expr: str, *, follow_locals: bool) -> set[str]:
    """Exception types named by ``expr``: literals, constants, and (``follow_locals``) a local variable's
    assignments in the same file. A local variable assigned nothing nameable (a loop over a data check's
    categories, a finding row's ``exception_type``) is covered by the category and KINDS patterns."""
    expr = expr.strip()
    found = set(LITERAL.findall(expr))
    for match in CONSTANT.finditer(STRING.sub('""', expr)):
        found.add(resolve(source, path, match["name"], match["alias"]))
    if follow_locals and LOCAL_NAME.match(expr):
        assignment = re.compile(rf"^[ \t]*(?:\w+\s*,\s*)*{re.escape(expr)}\s*(?:,\s*\w+\s*)*=(?!=)", re.M)
        for match in assignment.finditer(text):
            rhs = statement_from(text, match.end())
            for constant in CONSTANT.finditer(STRING.sub('""', rhs)):
                found.add(resolve(source, path, constant["name"], constant["alias"]))
    return found


def python_files(source: Path) -> Iterator[Path]:
    """Every module of the package under ``source``, in a stable order."""
    yield from sorted((source / PACKAGE).rglob("*.py"))


def raised_types(source: Path = SOURCE) -> dict[str, set[str]]:
    """Every exception type the package raises -> where it was found (``file: pattern``)."""
    found: dict[str, set[str]] = {}

    def add(types: set[str], path: Path, pattern: str) -> None:
        for type_ in types:
            found.setdefault(type_, set()).add(f"{path.relative_to(source)}: {pattern}")

    for path in python_files(source):
        text = path.read_text(encoding="utf-8")
        for call in NEW_EXCEPTION.finditer(text):
            body = ",".join(call_arguments(text, call.end() - 1))
            argument = TYPE_ARGUMENT.search(body)
            if argument is None:
                raise Unresolved(f"{path}: NewException( without type= at offset {call.start()}")
            add(values_of(source, path, text, argument["expr"], follow_locals=True), path, "NewException(type=)")
        for call in CHECK_CALL.finditer(text):
            args = call_arguments(text, call.end() - 1)
            category = next((a.split("=", 1)[1] for a in args if a.startswith("category=")),
                            args[3] if len(args) > 3 and "=" not in args[3].split("(")[0] else None)
            if category:
                add(values_of(source, path, text, category, follow_locals=False), path, "Check(category)")
        add({m["type"] for m in KINDS_ENTRY.finditer(text)}, path, "findings KINDS")
        block = OWNERS_BLOCK.search(text)
        if block is not None:
            add({m["type"] for m in OWNERS_KEY.finditer(block["body"])}, path, "DEFAULT_OWNERS")
    return found


# --- reading the runbook ----------------------------------------------------------------------------------------
def runbook_entries(text: str) -> dict[str, str | None]:
    """Documented type -> the default owner its entry states (None when the entry states none)."""
    headings = list(ENTRY_HEADING.finditer(text))
    entries: dict[str, str | None] = {}
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        block = text[heading.end():end]
        next_section = re.search(r"^#{1,3} ", block, re.M)
        block = block[:next_section.start()] if next_section else block
        owner = OWNER_LINE.search(block)
        entries[heading["type"]] = owner["owner"] if owner else None
    return entries


def missing_from_runbook(raised: set[str], runbook_text: str) -> list[str]:
    """The types of ``raised`` that have no entry in the runbook text, sorted."""
    return sorted(raised - set(runbook_entries(runbook_text)))


# --- the tests --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raised() -> dict[str, set[str]]:
    return raised_types()


@pytest.fixture(scope="module")
def runbook() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


def test_every_raised_exception_type_has_a_runbook_entry(raised: dict[str, set[str]], runbook: str) -> None:
    missing = missing_from_runbook(set(raised), runbook)
    assert not missing, (
        "docs/operations-runbook.md has no entry (a '#### `type`' heading in section 3, 'Every exception type') for: "
        + "; ".join(f"{t} (raised in {', '.join(sorted(raised[t]))})" for t in missing))


def test_the_runbook_lists_no_type_the_code_does_not_raise(raised: dict[str, set[str]], runbook: str) -> None:
    stale = sorted(set(runbook_entries(runbook)) - set(raised))
    assert not stale, f"docs/operations-runbook.md documents types the code no longer raises: {', '.join(stale)}"


def test_each_entry_names_the_default_owner_of_the_catalogue(runbook: str) -> None:
    entries = runbook_entries(runbook)
    wrong = {t: (owner, DEFAULT_OWNERS.get(t, "integration-engineer")) for t, owner in entries.items()
             if owner != DEFAULT_OWNERS.get(t, "integration-engineer")}
    assert not wrong, "runbook owner differs from config.DEFAULT_OWNERS (runbook, code): " + "; ".join(
        f"{t}: {pair}" for t, pair in sorted(wrong.items()))


def test_the_overview_table_lists_every_type_with_its_default_owner(raised: dict[str, set[str]],
                                                                      runbook: str) -> None:
    rows = {m["type"]: m["owner"] for m in TABLE_ROW.finditer(runbook)}
    assert sorted(set(raised) - set(rows)) == [], "types missing from the overview table of section 3"
    wrong = {t: (o, DEFAULT_OWNERS.get(t)) for t, o in rows.items() if o != DEFAULT_OWNERS.get(t)}
    assert not wrong, f"overview table owners differ from config.DEFAULT_OWNERS (table, code): {wrong}"


def test_each_entry_says_what_it_means_what_to_do_and_whether_it_closes(runbook: str) -> None:
    headings = list(ENTRY_HEADING.finditer(runbook))
    assert len(headings) == len({h["type"] for h in headings}), "a type has two entries in the runbook"
    incomplete = []
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(runbook)
        block = runbook[heading.end():end]
        lacking = [part for part in ("**What it means:**", "**What to do in the dashboard:**", "**Closes by itself:**")
                   if part not in block]
        if lacking:
            incomplete.append(f"{heading['type']}: {', '.join(lacking)}")
    assert not incomplete, "runbook entries missing a part: " + "; ".join(incomplete)


def test_the_patterns_find_every_catalogue_type_where_it_is_raised(raised: dict[str, set[str]]) -> None:
    """Each type of the catalogue is found outside the catalogue too (in a NewException, a check category or the
    findings table): the patterns above catch every way the code raises today."""
    not_seen = sorted(t for t in DEFAULT_OWNERS
                      if not any(not where.endswith("DEFAULT_OWNERS") for where in raised.get(t, set())))
    assert not not_seen, f"catalogue types the scan did not find raised anywhere: {', '.join(not_seen)}"
    assert set(DEFAULT_OWNERS) <= set(raised)


def test_a_new_type_in_the_code_is_reported_missing(tmp_path: Path, runbook: str) -> None:
    """The guard can fail: a flow raising a brand-new type (through a constant imported from another module, and a
    data-check category) is found, and reported missing from the runbook."""
    package = tmp_path / PACKAGE
    (package / "flows" / "newflow").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "flows" / "__init__.py").write_text("", encoding="utf-8")
    (package / "flows" / "newflow" / "__init__.py").write_text(
        'from __future__ import annotations\n\nPALLET_LOST = "pallet_lost"\nSUITE = "pallets"\n', encoding="utf-8")
    (package / "flows" / "newflow" / "run.py").write_text(
        "from erp_wms_sync.flows.newflow import PALLET_LOST\n"
        "from erp_wms_sync.flows import newflow as flow\n\n"
        "def go(ctx, session, kind):\n"
        "    label = PALLET_LOST if kind else flow.PALLET_LOST\n"
        "    ctx.hold(session, NewException(\n"
        "        type=label, entity_type='pallet', entity_key='P1', summary='', detail={}, payload=None))\n"
        "    checks = [Check('ExpectColumnValuesToNotBeNull', {'column': 'x'}, 'no x, see (a)', \"crate_crushed\")]\n"
        "    return checks\n", encoding="utf-8")
    found = raised_types(tmp_path)
    assert set(found) == {"pallet_lost", "crate_crushed"}
    assert missing_from_runbook(set(found), runbook) == ["crate_crushed", "pallet_lost"]
    assert missing_from_runbook(set(found), runbook + "\n### `pallet_lost` — x\n### `crate_crushed` — y\n") == []


def test_an_unresolvable_constant_fails_loudly(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "flow.py").write_text("def go(ctx):\n    NewException(type=NOT_DEFINED_ANYWHERE, entity_type='x')\n",
                                     encoding="utf-8")
    with pytest.raises(Unresolved, match="NOT_DEFINED_ANYWHERE"):
        raised_types(tmp_path)
