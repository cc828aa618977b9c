"""Hypothesis strategies shared by the fuzz tests: hostile variants of real inbound payloads.

Every strategy starts from a payload shaped as the simulators (and the vendors) send it and breaks it the way a
hostile or broken sender would: keys dropped or replaced, types changed, huge / unicode / control / surrogate
strings, NaN, infinities, negative and fractional numbers, deep nesting, truncation, stray bytes, BOMs, other
delimiters. The settings are fixed (``derandomize``) so CI sees the same examples on every run.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
FUZZ_SLOW = settings(FUZZ, max_examples=120)  # examples that go through an HTTP stack into a database
FUZZ_FLOW = settings(FUZZ, max_examples=40)  # examples that run a flow's collect step against a ledger

#: Strings that broke (or could break) a parser somewhere: empty, blanks, control and NUL characters, a lone
#: surrogate (JSON may escape one), placeholders Peoplevox leaves unfilled, numbers in every wrong spelling,
#: dates at the edges of the calendar, a right-to-left mark, a huge value.
NASTY_TEXT: tuple[str, ...] = (
    "", " ", "\t", "\n", "\r\n", "\x00", "a\x00b", "\x1b[31m", "\ud800", "\udfff", "\ufeff", "\u202e", "{ItemCode}",
    "{Carrier.Name}", "NaN", "nan", "Infinity", "-Infinity", "1e309", "-1", "-0", "0", "1.5", "3.0", "2,5", "٣",
    "0x10", "1_000", "99999999999999999999999", "'", "\"", "''", "'01/03/2026 10:15:00'", "01/03/2026 10:15:00",
    "31/02/2026 10:00:00", "01/01/0001 00:00:00", "31/12/9999 23:59:59", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00", "2026-03-01T10:15:00", "2026-13-45T99:99:99", "[Item code]", "None", "null",
    "true", "False", "💥", "Ω" * 300, "x" * 70_000, ",", ";", "a,b", "\"a\"\"b\"", "&token=x", "%00", "%ZZ",
)

nasty_text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=40),
                       st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x7F), max_size=20))
numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 0.5, -0.0, 1e308]))
scalars = st.one_of(st.none(), st.booleans(), numbers, nasty_text)
json_values = st.recursive(
    scalars, lambda children: st.one_of(st.lists(children, max_size=4),
                                        st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=10)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A list or object nested up to 400 deep (a JSON parser keeps such a value; printing it may not)."""
    depth = draw(st.integers(min_value=1, max_value=400))
    value: Any = draw(scalars)
    for _ in range(depth):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


hostile_values = st.one_of(json_values, nested())


@st.composite
def variant(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A hostile variant of ``value``: each key kept, dropped, replaced by a hostile value or varied in turn; lists
    lose, gain or change entries; now and then the whole value is replaced."""
    if draw(st.integers(min_value=0, max_value=11)) == 11:  # Hypothesis leans to small draws: small keeps
        return draw(hostile_values)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            change = 7 - draw(st.integers(min_value=0, max_value=7))
            if change == 0:
                continue
            out[key] = draw(hostile_values) if change == 1 else draw(variant(item, depth + 1)) if change == 2 \
                else item
        if draw(st.integers(min_value=0, max_value=5)) == 5:
            out[draw(st.sampled_from([*value, "", "Extra"]))] = draw(hostile_values)
        return out
    if isinstance(value, list):
        items = [draw(variant(item, depth + 1)) for item in value]
        if items and draw(st.booleans()):
            items.append(draw(variant(value[0], depth + 1)))
        if draw(st.integers(min_value=0, max_value=5)) == 5:
            items.append(draw(hostile_values))
        return items
    return value


# --- JSON bodies as bytes --------------------------------------------------------------------------------------
@st.composite
def hostile_json_bytes(draw: st.DrawFn, example: Any) -> bytes:
    """The bytes of a hostile variant of ``example``: a varied value serialised, then (sometimes) broken as text:
    truncated, stray or non-UTF-8 bytes inserted, a BOM, a key given twice, NaN / 1e999 numbers, nesting thousands
    deep, another encoding."""
    value = draw(variant(example))
    body = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True).encode("utf-8", "surrogatepass")
    kind = 9 - draw(st.integers(min_value=0, max_value=9))
    if kind == 0:
        return body[:draw(st.integers(min_value=0, max_value=len(body)))]
    if kind == 1:
        at = draw(st.integers(min_value=0, max_value=len(body)))
        return body[:at] + draw(st.binary(min_size=1, max_size=6)) + body[at:]
    if kind == 2:
        return b"\xef\xbb\xbf" + body
    if kind == 3 and body.startswith(b"{") and isinstance(example, dict) and example:
        key = json.dumps(draw(st.sampled_from(sorted(example)))).encode()
        return b"{" + key + b": " + json.dumps(draw(scalars), allow_nan=True).encode("utf-8", "surrogatepass") \
            + b", " + body[1:]
    if kind == 4:
        depth = draw(st.integers(min_value=100, max_value=20_000))
        return b"[" * depth + body + b"]" * depth
    if kind == 5:
        return body.replace(b"1", b"NaN", 1).replace(b"2", b"1e999", 1)
    if kind == 6:
        return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-16", "surrogatepass")
    if kind == 7:
        return body.replace(b'"', b"'")
    return body


# --- CSV (Peoplevox Detail) ------------------------------------------------------------------------------------
def write_csv(header: Sequence[str], rows: Sequence[Mapping[str, str]]) -> str:
    """CSV text as Peoplevox answers it: the header line, then one quoted line per row, CRLF endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return buffer.getvalue()


@st.composite
def hostile_rows(draw: st.DrawFn, example: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Report rows like ``example`` with cells emptied, replaced by nasty text or swapped between rows; rows
    repeated, dropped and added."""
    rows: list[dict[str, str]] = []
    source = list(example) * draw(st.integers(min_value=1, max_value=3))
    for base in source:
        if draw(st.integers(min_value=0, max_value=6)) == 0:
            continue
        row = dict(base)
        for column in list(row):
            choice = draw(st.integers(min_value=0, max_value=7))
            if choice == 0:
                row[column] = draw(nasty_text)
            elif choice == 1:
                row[column] = ""
            elif choice == 2:
                row[column] = draw(st.sampled_from(source)).get(column, "")
        rows.append(row)
    return rows


@st.composite
def hostile_csv(draw: st.DrawFn, header: Sequence[str], example: Sequence[Mapping[str, str]]) -> str:
    """A CSV ``Detail`` from hostile rows, then (sometimes) broken as text: a header column dropped or doubled,
    a BOM, another delimiter, truncation, stray characters (quotes, NUL, CR), a cell beyond the CSV field limit."""
    columns = list(header)
    kind = draw(st.integers(min_value=0, max_value=10))
    if kind == 0 and columns:
        columns.remove(draw(st.sampled_from(columns)))
    elif kind == 1:
        columns.append(draw(st.sampled_from(columns)))
    detail = write_csv(columns, draw(hostile_rows(example)))
    if kind == 2:
        detail = "\ufeff" + detail
    elif kind == 3:
        detail = detail.replace(",", draw(st.sampled_from([";", "\t", "|"])))
    elif kind == 4:
        detail = detail[:draw(st.integers(min_value=0, max_value=len(detail)))]
    elif kind == 5:
        at = draw(st.integers(min_value=0, max_value=len(detail)))
        detail = detail[:at] + draw(st.sampled_from(['"', "\x00", "\r", "\n", '",', "'", "\ufeff"])) + detail[at:]
    elif kind == 6:
        detail = detail.replace("\r\n", draw(st.sampled_from(["\n", "\r", "\n\n"])))
    elif kind == 7:
        detail += '"' + "y" * 140_000 + '",1\r\n'
    elif kind == 8:
        detail = detail.replace("\r\n", "\r\n,,,\r\n", 1)
    return detail


def outcome(call: Callable[[], Any], allowed: tuple[type[BaseException], ...],
            named: Sequence[str] = ()) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, error)`` when ``call`` raised one of the ``allowed`` errors; any other
    exception fails the test (pytest shows it). The message of an allowed error must not be empty and must
    contain each of ``named`` (what failed and where)."""
    try:
        return call(), None
    except allowed as exc:
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} without a message"
        for part in named:
            assert part in message, f"{type(exc).__name__} does not name {part!r}: {message[:300]}"
        return None, exc
