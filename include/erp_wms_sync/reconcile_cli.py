"""``erp-wms-sync reconcile``: list, approve and reject the stock adjustments reconciliation proposed.

    erp-wms-sync reconcile proposals --integration NAME [--run RUN_ID] [--all-states]
    erp-wms-sync reconcile approve --integration NAME (--all | --id N [--id N ...]) --by WHO [--note TEXT]
    erp-wms-sync reconcile reject  --integration NAME (--all | --id N [--id N ...]) --by WHO [--note TEXT]

Approving applies at once, through the same journalled, budgeted path as inventory sync (see
:mod:`erp_wms_sync.flows.reconciliation.apply`); the ERP connection comes from ``AIRFLOW_CONN_*`` as for
``subscriptions sync``. Exit 1 when a proposal could not be applied (each one says why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from erp_wms_sync.cli_common import add_integration_options, migrated_url, one_integration

EXIT_FAILED = 1


def add_parser(sub: Any, ledger_url: Callable[[str | None], str], integration: Callable[[argparse.Namespace], Any],
               vendor_client: Callable[[Any, str], Any]) -> None:
    """Register ``reconcile`` on the CLI's sub-parsers (the CLI hands over its ledger, YAML and client helpers)."""
    reconcile = sub.add_parser("reconcile", help="reconciliation proposals: list, approve, reject")
    actions = reconcile.add_subparsers(dest="action", required=True)

    common = add_integration_options
    listing = actions.add_parser("proposals", help="the proposals waiting (or of one run)")
    common(listing)
    listing.add_argument("--run", default=None, help="an Airflow run id of the reconciliation DAG")
    listing.add_argument("--all-states", action="store_true", help="applied, rejected and superseded ones too")
    listing.set_defaults(func=lambda args: list_proposals(args, ledger_url, integration))
    for name in ("approve", "reject"):
        cmd = actions.add_parser(name, help=f"{name} proposals" + (" (applies them now)" if name == "approve" else ""))
        common(cmd)
        chosen = cmd.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--all", action="store_true", help="every open proposal of the integration")
        chosen.add_argument("--id", type=int, action="append", dest="ids", help="a proposal id (repeatable)")
        cmd.add_argument("--by", required=True, help="who decides (recorded)")
        cmd.add_argument("--note", default=None)
        cmd.set_defaults(func=lambda args, state=("approved" if name == "approve" else "rejected"): decide_command(
            args, state, ledger_url, integration, vendor_client))


def list_proposals(args: argparse.Namespace, ledger_url: Callable[[str | None], str],
                   integration: Callable[[argparse.Namespace], Any]) -> int:
    from erp_wms_sync.ledger import reconciliation_repo as rrepo
    from erp_wms_sync.ledger.db import session_scope

    found = one_integration(args, integration)
    url = migrated_url(args, ledger_url)
    with session_scope(url) as session:
        run_pk = None
        if args.run:
            run = rrepo.run_of(session, found.name, args.run)
            if run is None:
                print(f"error: no reconciliation run {args.run} for {found.name}", file=sys.stderr)
                return EXIT_FAILED
            run_pk = run.id
        states = None if args.all_states or run_pk is not None else rrepo.OPEN_PROPOSAL_STATES
        rows = [(str(p.id), p.business_date, p.sku, p.location, str(p.erp_on_hand), str(p.set_to), f"{p.change:+d}",
                 p.state, p.decided_by or "-", (p.error or "")[:80])
                for p in rrepo.proposals(session, found.name, run_pk=run_pk, states=states)]
    if not rows:
        print(f"no proposals {'in that run' if args.run else 'waiting'} for {found.name}")
        return 0
    header = ("ID", "DATE", "SKU", "LOCATION", "ERP", "SET TO", "CHANGE", "STATE", "BY", "NOTE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return 0


def decide_command(args: argparse.Namespace, state: str, ledger_url: Callable[[str | None], str],
                   integration: Callable[[argparse.Namespace], Any], vendor_client: Callable[[Any, str], Any]) -> int:
    found = one_integration(args, integration)
    url = ledger_url(args.ledger_url)
    erp = vendor_client(found, "erp") if state == "approved" else None
    return decide_and_apply(found, url, erp, None if args.all else list(args.ids or []), state, by=args.by,
                            note=args.note)


def decide_and_apply(integration: Any, url: str | None, erp: Any, ids: list[int] | None, state: str, *, by: str,
                     note: str | None, out: Any = None) -> int:
    """Approve (and apply) or reject proposals; prints one line per proposal; 1 when one could not be applied."""
    from erp_wms_sync.flows.reconciliation.apply import apply_proposals, decide
    from erp_wms_sync.ledger.db import ensure_migrated, session_scope

    stream = out or sys.stdout
    ensure_migrated(url)

    def sessions() -> Any:
        return session_scope(url)

    decided = decide(integration, sessions, ids, state, by=by, note=note)
    missing = sorted(set(ids or []) - set(decided))
    for proposal_id in missing:
        print(f"proposal {proposal_id}: not open for {integration.name} (unknown, applied, rejected or superseded)",
              file=stream)
    if state == "rejected":
        print(f"{len(decided)} proposal(s) rejected by {by}", file=stream)
        return 0
    result = apply_proposals(integration, sessions, erp, decided, by=by)
    print(f"{len(decided)} proposal(s) approved by {by}: {result.applied} applied "
          f"({result.adopted} found already posted)", file=stream)
    for line in result.refused + result.skipped:
        print(f"  not applied: {line}", file=stream)
    return EXIT_FAILED if result.refused else 0
