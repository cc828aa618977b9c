"""``erp-wms-sync exceptions``: list, retry and resolve an integration's exceptions.

    erp-wms-sync exceptions list --integration NAME [--type T] [--parked] [--limit N]
    erp-wms-sync exceptions retry --integration NAME --id N [--id N ...]
    erp-wms-sync exceptions resolve --integration NAME --id N [--id N ...] --by WHO --note TEXT

``retry`` runs the exception's retry handler now, whatever its schedule (the same handlers as the
exception_housekeeping DAG, :data:`erp_wms_sync.flows.exception_housekeeping.RETRY_HANDLERS`); the clients come
from ``AIRFLOW_CONN_*`` as for ``subscriptions sync``. ``resolve`` closes the exceptions with the note, recorded in
their history. Exit 1 when an id is unknown or a retry did not close its exception.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from erp_wms_sync.cli_common import add_integration_options, migrated_url, one_integration

EXIT_FAILED = 1


def add_parser(sub: Any, ledger_url: Callable[[str | None], str], integration: Callable[[argparse.Namespace], Any],
               vendor_client: Callable[[Any, str], Any]) -> None:
    """Register ``exceptions`` on the CLI's sub-parsers (the CLI hands over its ledger, YAML and client helpers)."""
    cmd = sub.add_parser("exceptions", help="an integration's exceptions: list, retry now, resolve")
    actions = cmd.add_subparsers(dest="action", required=True)

    common = add_integration_options
    listing = actions.add_parser("list", help="open exceptions, oldest first")
    common(listing)
    listing.add_argument("--type", default=None, help="only this exception type")
    listing.add_argument("--parked", action="store_true", help="only exceptions parked after their last retry")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(func=lambda args: list_exceptions(args, ledger_url, integration))
    retry = actions.add_parser("retry", help="retry exceptions now, whatever their schedule")
    common(retry)
    retry.add_argument("--id", type=int, action="append", dest="ids", required=True)
    retry.set_defaults(func=lambda args: retry_exceptions(args, ledger_url, integration, vendor_client))
    resolve = actions.add_parser("resolve", help="resolve exceptions with a note")
    common(resolve)
    resolve.add_argument("--id", type=int, action="append", dest="ids", required=True)
    resolve.add_argument("--by", required=True, help="who resolves (recorded)")
    resolve.add_argument("--note", required=True, help="what was done (recorded)")
    resolve.set_defaults(func=lambda args: resolve_exceptions(args, ledger_url, integration))


def list_exceptions(args: argparse.Namespace, ledger_url: Callable[[str | None], str],
                    integration: Callable[[argparse.Namespace], Any]) -> int:
    from erp_wms_sync.ledger import repo
    from erp_wms_sync.ledger.db import session_scope

    found = one_integration(args, integration)
    with session_scope(migrated_url(args, ledger_url)) as session:
        rows = [r for r in repo.open_exceptions(session, found.name, type_=args.type)
                if not args.parked or r.parked_at is not None]
        for row in rows[:max(args.limit, 0)]:
            state = f"parked {row.parked_at:%Y-%m-%d %H:%M}" if row.parked_at else (
                f"next retry {row.next_retry_at:%Y-%m-%d %H:%M}" if row.next_retry_at else "not retried")
            print(f"#{row.id}\t{row.type}\t{row.entity_type} {row.entity_key}\t{row.owner}\tattempts "
                  f"{row.attempts}\t{state}\t{row.summary}")
        print(f"{len(rows)} open exception(s)" + (f" (first {args.limit} shown)" if len(rows) > args.limit else ""))
    return 0


def _context(found: Any, url: str) -> Any:
    from erp_wms_sync.domain.windows import Window
    from erp_wms_sync.flows.common import RunContext

    now = datetime.now(UTC)
    return RunContext(found, "exception_housekeeping", f"manual__cli_{now:%Y%m%dT%H%M%S}", Window(None, now, "cli"),
                      url)


def retry_exceptions(args: argparse.Namespace, ledger_url: Callable[[str | None], str],
                     integration: Callable[[argparse.Namespace], Any],
                     vendor_client: Callable[[Any, str], Any]) -> int:
    from erp_wms_sync.flows.exception_housekeeping import retry_now

    found = one_integration(args, integration)
    url = migrated_url(args, ledger_url)
    outcomes = retry_now(_context(found, url), args.ids, vendor_client(found, "wms"), vendor_client(found, "erp"),
                         by=f"{_who()} (erp-wms-sync exceptions retry)")
    failed = 0
    for exception_id in args.ids:
        outcome = outcomes.get(exception_id)
        if outcome is None:
            print(f"#{exception_id}: no open exception of {found.name} with this id", file=sys.stderr)
            failed += 1
        else:
            print(f"#{exception_id}: {outcome}")
            failed += outcome != "closed"
    return EXIT_FAILED if failed else 0


def resolve_exceptions(args: argparse.Namespace, ledger_url: Callable[[str | None], str],
                       integration: Callable[[argparse.Namespace], Any]) -> int:
    from erp_wms_sync.ledger import repo
    from erp_wms_sync.ledger.db import session_scope
    from erp_wms_sync.ledger.models import ExceptionRecord

    found = one_integration(args, integration)
    failed = 0
    with session_scope(migrated_url(args, ledger_url)) as session:
        for exception_id in args.ids:
            row = session.get(ExceptionRecord, exception_id)
            if row is None or row.integration != found.name or row.status != repo.OPEN:
                print(f"#{exception_id}: no open exception of {found.name} with this id", file=sys.stderr)
                failed += 1
                continue
            repo.resolve_exception(session, exception_id, by=args.by, note=args.note)
            print(f"#{exception_id}: resolved")
    return EXIT_FAILED if failed else 0


def _who() -> str:
    """The operating-system user running the command (recorded as who closed what it retried)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown user"
