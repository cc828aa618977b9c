"""Parser and evaluator for Peoplevox search clauses (the ``SearchClause`` of GetData / GetReportData).

A search clause is a small LINQ-like boolean expression, for example::

    SalesOrderNumber.Equals("SO-1") OR ItemCode.StartsWith("ABC")
    !Name.Contains("sample") AND (RetailPrice >= 10.5)
    ([Despatch date] >= DateTime(2024,05,01,00,00,00))

Supported: property names (``ItemCode``, dotted paths) or bracketed display names (``[Site reference]``);
the methods ``.Equals .Contains .StartsWith .EndsWith``; the operators ``== != > >= < <=`` (plus the
LINQ spellings ``=`` and ``<>``); ``!`` negation; ``AND`` / ``OR`` (any case, or ``&&`` / ``||``) and
parentheses. Literals are double-quoted strings (single quotes are accepted too), bare numbers,
``true`` / ``false`` and ``DateTime(y,M,d[,H,m,s])``.

String comparisons ignore case, as the SQL Server collation behind the real service does [I].
Parse errors raise :class:`SearchClauseError`, whose message names the problem and the 1-based
character position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import NoReturn

Literal = str | Decimal | datetime | bool

METHODS = {"equals": "==", "contains": "contains", "startswith": "startswith", "endswith": "endswith"}
OPERATORS = {"==": "==", "=": "==", "!=": "!=", "<>": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S",
                "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")


class SearchClauseError(ValueError):
    """A search clause that cannot be parsed (or names an unknown field)."""

    def __init__(self, problem: str, position: int) -> None:
        self.problem = problem
        self.position = position
        super().__init__(f"Search clause error at character {position}: {problem}")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int  # 0-based offset into the clause


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Literal
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" or "OR"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class MatchAll:
    """The empty clause: every row matches."""


Node = Comparison | Not | BoolOp | MatchAll

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<bracket>\[[^\]]*\])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<>|>=|<=|>|<|=)
      | (?P<and>&&)
      | (?P<or>\|\|)
      | (?P<not>!)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<dot>\.)
      | (?P<comma>,)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """Split a clause into tokens; raises :class:`SearchClauseError` on a stray character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise SearchClauseError(_unexpected_char(text, pos), pos + 1)
        kind = match.lastgroup or ""
        if kind == "ident" and match.group().upper() in ("AND", "OR"):
            kind = match.group().lower()
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens


def _unexpected_char(text: str, pos: int) -> str:
    char = text[pos]
    if char in "\"'":
        return f"unterminated string starting with {char}"
    if char == "[":
        return "unterminated bracketed field name (missing ']')"
    return f"unexpected character {char!r}"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def expect(self, kind: str, what: str) -> Token:
        if self.current.kind != kind:
            self.fail(f"expected {what}")
        return self.advance()

    def fail(self, expected: str) -> NoReturn:
        token = self.current
        found = "end of clause" if token.kind == "eof" else repr(token.text)
        raise SearchClauseError(f"{expected} but found {found}", token.pos + 1)

    def parse(self) -> Node:
        if self.current.kind == "eof":
            return MatchAll()
        node = self.or_expr()
        if self.current.kind != "eof":
            self.fail("expected AND, OR or the end of the clause")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.current.kind == "or":
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.unary()]
        while self.current.kind == "and":
            self.advance()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def unary(self) -> Node:
        if self.current.kind == "not":
            self.advance()
            return Not(self.unary())
        if self.current.kind == "lparen":
            self.advance()
            node = self.or_expr()
            self.expect("rparen", "')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        start = self.current
        field = self.field_name()
        if self.current.kind == "dot":
            self.advance()
            method = self.expect("ident", "a method name (Equals, Contains, StartsWith, EndsWith)")
            op = METHODS.get(method.text.lower())
            if op is None:
                raise SearchClauseError(f"unknown method {method.text!r} (use Equals, Contains, "
                                        "StartsWith or EndsWith)", method.pos + 1)
            self.expect("lparen", f"'(' after {method.text}")
            value = self.literal()
            self.expect("rparen", "')'")
            return Comparison(field, op, value, start.pos + 1)
        if self.current.kind == "op":
            op = OPERATORS[self.advance().text]
            return Comparison(field, op, self.literal(), start.pos + 1)
        self.fail(f"expected a comparison operator or .Equals/.Contains/.StartsWith/.EndsWith "
                  f"after {field!r}")

    def field_name(self) -> str:
        token = self.current
        if token.kind == "bracket":
            self.advance()
            return token.text[1:-1].strip()
        if token.kind != "ident":
            self.fail("expected a field name")
        parts = [self.advance().text]
        while self.current.kind == "dot" and self.peek().kind == "ident" and self.peek(2).kind != "lparen":
            self.advance()
            parts.append(self.advance().text)
        return ".".join(parts)

    def literal(self) -> Literal:
        token = self.current
        if token.kind == "string":
            self.advance()
            return _unescape(token.text[1:-1])
        if token.kind == "number":
            self.advance()
            return Decimal(token.text)
        if token.kind == "ident" and token.text.lower() in ("true", "false"):
            self.advance()
            return token.text.lower() == "true"
        if token.kind == "ident" and token.text.lower() == "datetime":
            return self.datetime_literal()
        self.fail("expected a value (a quoted string, a number, true/false or DateTime(...))")

    def datetime_literal(self) -> datetime:
        start = self.advance()
        self.expect("lparen", "'(' after DateTime")
        parts = [self.expect("number", "a number").text]
        while self.current.kind == "comma":
            self.advance()
            parts.append(self.expect("number", "a number").text)
        self.expect("rparen", "')'")
        if len(parts) not in (3, 6) or any(not p.isdigit() for p in parts):
            raise SearchClauseError("DateTime takes 3 or 6 whole numbers: DateTime(y,M,d[,H,m,s])",
                                    start.pos + 1)
        try:
            year, month, day, hour, minute, second = ([int(p) for p in parts] + [0, 0, 0])[:6]
            return datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise SearchClauseError(f"invalid date in DateTime(...): {exc}", start.pos + 1) from None


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def parse(text: str | None) -> Node:
    """Parse a clause into a tree; ``None`` or blank means "match everything"."""
    return _Parser(tokenize(text or "")).parse()


def fields_of(node: Node) -> Iterable[Comparison]:
    """Every comparison in the tree, left to right."""
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Not):
        yield from fields_of(node.operand)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            yield from fields_of(operand)


def resolve_fields(node: Node, columns: Iterable[str]) -> Node:
    """Map field names (any case, dotted or bracketed) onto ``columns``; unknown names are an error."""
    by_lower = {c.lower(): c for c in columns}
    if isinstance(node, Comparison):
        canonical = by_lower.get(node.field.lower())
        if canonical is None:
            raise SearchClauseError(f"unknown field {node.field!r}", node.pos)
        return Comparison(canonical, node.op, node.value, node.pos)
    if isinstance(node, Not):
        return Not(resolve_fields(node.operand, columns))
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(resolve_fields(o, columns) for o in node.operands))
    return node


def retarget_numbers(node: Node, aliases: Mapping[str, str]) -> Node:
    """Comparisons of an aliased column with a number go to its hidden id column (``Status == 5``)."""
    if not aliases:
        return node
    if isinstance(node, Comparison):
        alias = aliases.get(node.field)
        if alias and isinstance(node.value, Decimal) and node.op not in ("contains", "startswith", "endswith"):
            return Comparison(alias, node.op, node.value, node.pos)
        return node
    if isinstance(node, Not):
        return Not(retarget_numbers(node.operand, aliases))
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(retarget_numbers(o, aliases) for o in node.operands))
    return node


def compile_clause(text: str | None, columns: Iterable[str]) -> Node:
    """Parse ``text`` and check its fields against ``columns`` in one step."""
    return resolve_fields(parse(text), list(columns))


def evaluate(node: Node, row: Mapping[str, str]) -> bool:
    """Does ``row`` (column -> text value) satisfy the clause?"""
    if isinstance(node, MatchAll):
        return True
    if isinstance(node, Not):
        return not evaluate(node.operand, row)
    if isinstance(node, BoolOp):
        results = (evaluate(o, row) for o in node.operands)
        return all(results) if node.op == "AND" else any(results)
    return compare(node.op, row.get(node.field, "") or "", node.value)


def compare(op: str, raw: str, value: Literal) -> bool:
    """Compare one stored text value with a literal."""
    if op in ("contains", "startswith", "endswith"):
        return _text_method(op, raw.casefold(), _as_text(value).casefold())
    if isinstance(value, bool):
        actual: object = raw.strip().lower() in ("true", "1", "yes")
        return _order(op, actual, value) if op in ("==", "!=") else False
    if isinstance(value, Decimal):
        return _typed(op, _as_decimal(raw), value)
    if isinstance(value, datetime):
        return _typed(op, _as_datetime(raw), value)
    if op not in ("==", "!="):
        left_date, right_date = _as_datetime(raw), _as_datetime(value)
        if left_date is not None and right_date is not None:
            return _order(op, left_date, right_date)
        left_num, right_num = _as_decimal(raw), _as_decimal(value)
        if left_num is not None and right_num is not None:
            return _order(op, left_num, right_num)
    return _order(op, raw.strip().casefold(), value.strip().casefold())


def _text_method(op: str, haystack: str, needle: str) -> bool:
    if op == "contains":
        return needle in haystack
    if op == "startswith":
        return haystack.startswith(needle)
    return haystack.endswith(needle)


def _typed(op: str, actual: object | None, expected: object) -> bool:
    if actual is None:
        return op == "!="
    return _order(op, actual, expected)


def _order(op: str, left: object, right: object) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    try:
        if op == ">":
            return left > right  # type: ignore[operator]
        if op == ">=":
            return left >= right  # type: ignore[operator]
        if op == "<":
            return left < right  # type: ignore[operator]
        return left <= right  # type: ignore[operator]
    except TypeError:
        return False


def _as_text(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _as_decimal(raw: str) -> Decimal | None:
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _as_datetime(raw: str) -> datetime | None:
    text = raw.strip().strip("'").strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
