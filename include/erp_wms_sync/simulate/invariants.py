"""The architecture's invariants (ARCHITECTURE.md §6), each a pure function of plain data read from the systems'
own APIs (see :mod:`erp_wms_sync.simulate.observe`), returning a :class:`Verdict`: ``ok``, the counts compared
(``evidence``) and, when it breaks, the records that break it (``breaches``, each naming the record).

1. :func:`released_once` — every order at the release status in the ERP is in the WMS exactly once, or an open
   exception says why not; an order cancelled in the ERP has no live WMS order (or an open exception says why).
2. :func:`no_duplicate_effects` — one live WMS order per ERP order, one ERP fulfilment per despatch, one stock
   adjustment per reference (one per WMS movement batch, as far as the APIs show), one credit per return.
3. :func:`stock_agrees` — after reconciliation ERP and WMS figures agree per mapped SKU × location, or an open
   exception names the SKU, in its key, summary or payload (the excused pairs are listed apart).
4. :func:`credit_after_stock_in` — a credit note for a return never appears before its stock-in was booked
   (compared by the order in which snapshots taken during the day first saw each record).
5. :func:`failures_visible` — every open exception has a payload and an owner; every failed DAG run raised an
   exception or was completed by a later run of the same DAG.
6. :func:`secrets_hidden` — no connection secret, plain, base64 or URL-encoded, in any captured text.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

MAX_LISTED = 20  # records named per breach kind in the evidence (the count is always complete)
WMS_CANCELLED = "cancelled"
REISSUE = re.compile(r"-R\d+$")
DATA_CHECK = "data_check"  # the task that fails when a run held records as exceptions
Row = Mapping[str, Any]


@dataclass
class Verdict:
    """One invariant's outcome: ``ok``, what was compared, and the records that break it."""

    name: str
    ok: bool = True
    evidence: dict[str, Any] = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)

    def breach(self, record: str) -> None:
        self.ok = False
        self.breaches.append(record)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "evidence": self.evidence,
                "breaches": self.breaches[:MAX_LISTED], "breach_count": len(self.breaches)}


def _base(number: str) -> str:
    return REISSUE.sub("", str(number))


def _live(order: Row) -> bool:
    return str(order.get("status", "")).strip().casefold() != WMS_CANCELLED


def _open(exceptions: Iterable[Row]) -> list[Row]:
    return [e for e in exceptions if str(e.get("status", "")) == "open"]


def excuse_for(exceptions: Iterable[Row], *names: str, payload: bool = False) -> Row | None:
    """The first open exception whose key or summary (with ``payload``: or payload / detail) names any of ``names``
    (non-empty)."""
    wanted = [n for n in names if n]
    for exc in _open(exceptions):
        text = f"{exc.get('entity_key', '')} {exc.get('summary', '')}"
        if payload:
            text += f" {json.dumps(exc.get('payload'), default=str)} {json.dumps(exc.get('detail'), default=str)}"
        if any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w])", text) for name in wanted):
            return exc
    return None


def released_once(erp_orders: Sequence[Row], wms_orders: Sequence[Row], exceptions: Sequence[Row]) -> Verdict:
    """Invariant 1 for one integration: released ERP orders are live in the WMS exactly once (or excused);
    cancelled ERP orders are not live in the WMS (or excused)."""
    verdict = Verdict("released_exactly_once")
    live: dict[str, list[str]] = defaultdict(list)
    for order in wms_orders:
        if _live(order):
            live[_base(order["number"])].append(str(order["number"]))
    counts: Counter[str] = Counter()
    excused: list[str] = []
    for order in erp_orders:
        number, held = str(order["number"]), live.get(str(order["number"]), [])
        if order.get("cancelled"):
            counts["cancelled_in_erp"] += 1
            if held:
                reason = excuse_for(exceptions, number, str(order.get("id", "")))
                if reason is None:
                    verdict.breach(f"{number}: cancelled in the ERP, still live in the WMS as {', '.join(held)}")
                else:
                    excused.append(f"{number}: live in WMS, open {reason['type']}")
            continue
        if not order.get("released"):
            counts["not_released"] += 1
            continue
        counts["released_in_erp"] += 1
        if len(held) == 1:
            counts["in_wms_once"] += 1
        elif len(held) > 1:
            verdict.breach(f"{number}: {len(held)} live WMS orders ({', '.join(sorted(held))})")
        else:
            reason = excuse_for(exceptions, number, str(order.get("id", "")))
            if reason is None:
                verdict.breach(f"{number}: released in the ERP, not in the WMS and no open exception says why")
            else:
                excused.append(f"{number}: open {reason['type']}")
    known = {str(o["number"]) for o in erp_orders}
    counts["wms_orders_without_erp_order"] = sum(1 for base in live if base not in known)
    verdict.evidence = {**dict(counts), "excused": len(excused), "excused_examples": excused[:MAX_LISTED]}
    return verdict


def no_duplicate_effects(wms_orders: Sequence[Row], fulfilments: Sequence[Row], adjustments: Sequence[Row],
                         credits: Sequence[Row]) -> Verdict:
    """Invariant 2 for one integration: nothing the integration writes exists twice."""
    verdict = Verdict("no_duplicate_effect")
    live: dict[str, list[str]] = defaultdict(list)
    for order in wms_orders:
        if _live(order):
            live[_base(order["number"])].append(str(order["number"]))
    for base, numbers in sorted(live.items()):
        if len(numbers) > 1:
            verdict.breach(f"ERP order {base}: {len(numbers)} live WMS orders ({', '.join(sorted(numbers))})")
    per_despatch: dict[str, list[str]] = defaultdict(list)
    for fulfilment in fulfilments:
        for despatch in fulfilment.get("despatches") or []:
            per_despatch[str(despatch)].append(str(fulfilment.get("ref", "")))
    for despatch, refs in sorted(per_despatch.items()):
        if len(refs) > 1:
            verdict.breach(f"despatch {despatch}: {len(refs)} ERP fulfilments ({', '.join(refs)})")
    references = Counter(str(a["reference"]) for a in adjustments if a.get("reference"))
    for reference, count in sorted(references.items()):
        if count > 1:
            verdict.breach(f"stock adjustment reference {reference}: posted {count} times")
    per_return = Counter(str(c["return_code"]) for c in credits if c.get("return_code"))
    for code, count in sorted(per_return.items()):
        if count > 1:
            verdict.breach(f"return {code}: {count} credits")
    verdict.evidence = {"erp_orders_in_wms": len(live), "despatches_fulfilled": len(per_despatch),
                        "adjustment_references": len(references), "returns_credited": len(per_return)}
    return verdict


def stock_agrees(erp_stock: Sequence[Row], wms_stock: Sequence[Row], exceptions: Sequence[Row]) -> Verdict:
    """Invariant 3 for one integration: ERP == WMS per SKU × location, unless an open exception names the SKU (in its
    key, summary or payload: a despatch the ERP refused names its lines there)."""
    verdict = Verdict("stock_agrees_after_reconciliation")
    erp = {(str(r["sku"]), str(r["location"])): int(r["qty"]) for r in erp_stock}
    wms = {(str(r["sku"]), str(r["location"])): int(r["qty"]) for r in wms_stock}
    equal, excused = 0, []
    for sku, location in sorted(set(erp) | set(wms)):
        ours, theirs = erp.get((sku, location), 0), wms.get((sku, location), 0)
        if ours == theirs:
            equal += 1
            continue
        reason = excuse_for(exceptions, sku, payload=True)
        record = f"{sku} @ {location}: ERP {ours}, WMS {theirs}"
        if reason is None:
            verdict.breach(record)
        else:
            excused.append(f"{record} (open {reason['type']})")
    verdict.evidence = {"pairs_compared": len(set(erp) | set(wms)), "equal": equal, "excused": len(excused),
                        "excused_examples": excused[:MAX_LISTED]}
    return verdict


def credit_after_stock_in(returns: Sequence[Row], adjustments: Sequence[Row], credits: Sequence[Row],
                          sites: Mapping[str, str]) -> Verdict:
    """Invariant 4 (Cin7 Core): each return's credit note was first seen strictly after a completed stock
    adjustment of the returned SKU at the return's location that was first seen no earlier than the return.

    ``returns``: ``{return_code, sku, site, seen}``; ``adjustments``: ``{lines: [{sku, location}], seen}``;
    ``credits``: ``{return_code, ref, seen}``; ``sites``: Peoplevox site -> ERP location; ``seen`` is the index of
    the snapshot that first showed the record."""
    verdict = Verdict("credit_never_before_stock_in")
    lines: dict[str, list[Row]] = defaultdict(list)
    for row in returns:
        lines[str(row["return_code"])].append(row)
    checked = 0
    for credit in credits:
        code = str(credit.get("return_code") or "")
        if not code or credit.get("seen") is None:
            continue
        checked += 1
        for line in lines.get(code, []) or [{"sku": "?", "site": "", "seen": None}]:
            location = sites.get(str(line.get("site", "")).casefold(), str(line.get("site", "")))
            stock_ins = [a for a in adjustments if line.get("seen") is not None
                         and int(a["seen"]) >= int(line["seen"]) and _books(a, str(line["sku"]), location)]
            if not any(int(a["seen"]) < int(credit["seen"]) for a in stock_ins):
                verdict.breach(f"return {code}: credit note {credit.get('ref', '')} (snapshot {credit['seen']}) "
                               f"before any stock-in of {line['sku']} at {location or '?'}")
    verdict.evidence = {"credit_notes_checked": checked, "returns_seen": len(lines),
                        "stock_adjustments_seen": len(adjustments)}
    return verdict


def _books(adjustment: Row, sku: str, location: str) -> bool:
    """The adjustment has a line for ``sku`` at ``location``."""
    return any(str(x["sku"]) == sku and str(x["location"]).casefold() == location.casefold()
               for x in adjustment.get("lines") or [])


def failures_visible(exceptions: Sequence[Row], runs: Sequence[Row]) -> Verdict:
    """Invariant 5: open exceptions carry a payload and an owner; a failed DAG run raised an exception (its run id
    is in an exception's history) or a later run of the same DAG completed its work.

    A later run completes the work when it succeeded, or when its data check is the only task that failed: every
    sync step of it ran to the end (it read from the unchanged watermark, so the failed run's window too), and its
    data check failed only because it held records as exceptions."""
    verdict = Verdict("every_failure_visible")
    open_ones = _open(exceptions)
    for exc in open_ones:
        if not exc.get("payload") or not str(exc.get("owner") or "").strip():
            verdict.breach(f"exception #{exc.get('id')} ({exc.get('type')} {exc.get('entity_key')}): "
                           f"{'no payload' if not exc.get('payload') else 'no owner'}")
    raised = {run_id for exc in exceptions for run_id in exc.get("runs") or []}
    by_exception = by_later = 0
    for index, run in enumerate(runs):
        if run.get("state") == "success":
            continue
        if run.get("run_id") in raised:
            by_exception += 1
        elif any(r.get("dag_id") == run.get("dag_id") and _completed(r) for r in runs[index + 1:]):
            by_later += 1
        else:
            tasks = ", ".join(run.get("failed_tasks") or [])
            verdict.breach(f"run {run.get('dag_id')} {run.get('run_id')} failed ({tasks}): no exception and no "
                           f"later run completed its work")
    failed = sum(1 for r in runs if r.get("state") != "success")
    verdict.evidence = {"open_exceptions": len(open_ones), "failed_runs": failed,
                        "failed_runs_with_exception": by_exception, "failed_runs_completed_later": by_later}
    return verdict


def _completed(run: Row) -> bool:
    """The run succeeded, or its data check (records held as exceptions) is the only task that failed."""
    failed = set(run.get("failed_tasks") or ())
    return run.get("state") == "success" or failed == {DATA_CHECK}


def secret_forms(secret: str) -> dict[str, str]:
    """The forms a secret can leak in: plain, base64 (standard and URL-safe, unpadded), URL-encoded."""
    raw = secret.encode()
    forms = {"plain": secret, "base64": base64.b64encode(raw).decode().rstrip("="),
             "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="), "url": quote(secret, safe=""),
             "url_plus": quote_plus(secret)}
    unique: dict[str, str] = {}
    for name, value in forms.items():
        if value not in unique.values():
            unique[name] = value
    return unique


def secrets_hidden(secrets: Sequence[str], texts: Mapping[str, str]) -> Verdict:
    """Invariant 6: no form of any secret in any of ``texts`` (name -> content); a breach names the text, the
    form and the secret only by its length and first character."""
    verdict = Verdict("secrets_never_exposed")
    for secret in secrets:
        for form, value in secret_forms(secret).items():
            for name, text in texts.items():
                if value and value in text:
                    verdict.breach(f"{name}: a secret ({secret[:1]}…, {len(secret)} chars) appears {form}")
    verdict.evidence = {"secrets": len(secrets), "texts_searched": len(texts),
                        "characters_searched": sum(len(t) for t in texts.values())}
    return verdict


def merge(name: str, parts: Mapping[str, Verdict]) -> Verdict:
    """One verdict from per-integration verdicts: ok when all are; evidence and breaches per integration."""
    out = Verdict(name)
    for integration, part in parts.items():
        out.evidence[integration] = part.evidence
        for record in part.breaches:
            out.breach(f"{integration}: {record}")
    return out
