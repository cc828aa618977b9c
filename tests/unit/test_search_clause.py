"""Table-driven tests of the Peoplevox search-clause parser and evaluator."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from erp_wms_simulators.peoplevox.search import (
    BoolOp,
    Comparison,
    MatchAll,
    Not,
    SearchClauseError,
    compile_clause,
    evaluate,
    parse,
)

ROW = {
    "SalesOrderNumber": "SO-1001",
    "ItemCode": "ABC-RED-M",
    "Name": "Red shirt, medium",
    "Status": "5",
    "RetailPrice": "19.99",
    "Despatch date": "'02/05/2024 14:30'",
    "CreatedDate": "2024-04-30 09:15:00",
    "IsPartialShipment": "true",
    "Empty": "",
}
COLUMNS = list(ROW)

PARSES = [
    ("equals-method", 'SalesOrderNumber.Equals("SO-1")', Comparison("SalesOrderNumber", "==", "SO-1", 1)),
    ("double-equals", 'SalesOrderNumber == "SO-1"', Comparison("SalesOrderNumber", "==", "SO-1", 1)),
    ("number-literal", "Status.Equals(5)", Comparison("Status", "==", Decimal(5), 1)),
    ("bracketed-field", '([Site reference].Equals("PrimarySite"))',
     Comparison("Site reference", "==", "PrimarySite", 2)),
    ("datetime", "([Despatch date] >= DateTime(2024,05,01,00,00,00))",
     Comparison("Despatch date", ">=", datetime(2024, 5, 1), 2)),
    ("datetime-date-only", "CreatedDate < DateTime(2024,5,1)",
     Comparison("CreatedDate", "<", datetime(2024, 5, 1), 1)),
    ("negated-method", '!Name.Contains("sample")', Not(Comparison("Name", "contains", "sample", 2))),
    ("dotted-path", 'SalesOrderStatus.Name == "New"', Comparison("SalesOrderStatus.Name", "==", "New", 1)),
    ("linq-operators", 'A <> "x"', Comparison("A", "!=", "x", 1)),
    ("escaped-quote", r'Name.Equals("say \"hi\"")', Comparison("Name", "==", 'say "hi"', 1)),
    ("single-quoted", "[Despatch date] > '2015-03-10 08:00'",
     Comparison("Despatch date", ">", "2015-03-10 08:00", 1)),
    ("and-or-precedence", 'A == 1 OR B == 2 AND C == 3',
     BoolOp("OR", (Comparison("A", "==", Decimal(1), 1),
                   BoolOp("AND", (Comparison("B", "==", Decimal(2), 11), Comparison("C", "==", Decimal(3), 22)))))),
    ("symbol-and", "A == 1 && B == 2",
     BoolOp("AND", (Comparison("A", "==", Decimal(1), 1), Comparison("B", "==", Decimal(2), 11)))),
    ("empty", "   ", MatchAll()),
]


@pytest.mark.parametrize(("clause", "expected"), [p[1:] for p in PARSES], ids=[p[0] for p in PARSES])
def test_parse(clause: str, expected: object) -> None:
    assert parse(clause) == expected


MATCHES = [
    ("equals", 'SalesOrderNumber.Equals("SO-1001")', True),
    ("equals-ignores-case", 'SalesOrderNumber.Equals("so-1001")', True),
    ("equals-miss", 'SalesOrderNumber.Equals("SO-1")', False),
    ("field-name-any-case", 'salesordernumber == "SO-1001"', True),
    ("not-equals", 'ItemCode != "ABC-RED-M"', False),
    ("numeric-equals", "Status.Equals(5)", True),
    ("numeric-greater", "RetailPrice > 19.5", True),
    ("numeric-less-equal", "RetailPrice <= 19.98", False),
    ("numeric-vs-text-never-equal", "Name == 5", False),
    ("starts-with", 'ItemCode.StartsWith("ABC")', True),
    ("ends-with", 'ItemCode.EndsWith("-M")', True),
    ("contains", 'Name.Contains("shirt")', True),
    ("not-contains", '!Name.Contains("shirt")', False),
    ("report-date-after", "([Despatch date] >= DateTime(2024,05,01,00,00,00))", True),
    ("report-date-before", "[Despatch date] < DateTime(2024,5,2,14,0,0)", False),
    ("iso-date", "CreatedDate < DateTime(2024,5,1)", True),
    ("string-date-compare", "CreatedDate > '2024-04-30 09:00'", True),
    ("boolean", "IsPartialShipment == true", True),
    ("empty-value-is-not-a-number", "Empty == 0", False),
    ("and", 'ItemCode.StartsWith("ABC") AND Status.Equals(4)', False),
    ("or", 'ItemCode.StartsWith("XYZ") OR Status.Equals(5)', True),
    ("parentheses", '(ItemCode.StartsWith("XYZ") OR Status == 5) AND !(Name.Contains("blue"))', True),
    ("batched-or-equals", " OR ".join(f'ItemCode.Equals("SKU-{n}")' for n in range(100))
     + ' OR ItemCode.Equals("ABC-RED-M")', True),
    ("empty-clause", "", True),
]


@pytest.mark.parametrize(("clause", "expected"), [m[1:] for m in MATCHES], ids=[m[0] for m in MATCHES])
def test_evaluate(clause: str, expected: bool) -> None:
    assert evaluate(compile_clause(clause, COLUMNS), ROW) is expected


ERRORS = [
    ("unterminated-string", 'ItemCode.Equals("ABC)', 17, "unterminated string"),
    ("missing-paren", 'ItemCode.Equals("ABC"', 22, "expected ')'"),
    ("unknown-method", 'ItemCode.Like("ABC")', 10, "unknown method 'Like'"),
    ("no-operator", "ItemCode", 9, "expected a comparison operator"),
    ("dangling-and", 'ItemCode == "A" AND', 20, "expected a field name but found end of clause"),
    ("stray-character", 'ItemCode == "A" # x', 17, "unexpected character '#'"),
    ("missing-value", "ItemCode ==", 12, "expected a value"),
    ("bad-date", "CreatedDate > DateTime(2024,13,1)", 15, "invalid date"),
    ("date-arity", "CreatedDate > DateTime(2024,1)", 15, "DateTime takes 3 or 6"),
    ("unbalanced-bracket", "[Despatch date > 1", 1, "unterminated bracketed field name"),
    ("trailing-garbage", 'ItemCode == "A" "B"', 17, "expected AND, OR or the end of the clause"),
    ("unknown-field", 'Colour == "red"', 1, "unknown field 'Colour'"),
]


@pytest.mark.parametrize(("clause", "position", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_problem_and_position(clause: str, position: int, fragment: str) -> None:
    with pytest.raises(SearchClauseError) as caught:
        compile_clause(clause, COLUMNS)
    assert caught.value.position == position
    assert fragment in str(caught.value)
    assert f"at character {position}" in str(caught.value)
