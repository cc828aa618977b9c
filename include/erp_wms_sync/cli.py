"""The ``erp-wms-sync`` command.

    erp-wms-sync config validate FILE...      every problem with file, field and fix; exit 2 on any
    erp-wms-sync ledger upgrade [--url URL]   migrate the ledger (URL: --url, the erp_wms_ledger connection,
                                              ERP_WMS_LEDGER_URL, the SQLite default)
    erp-wms-sync ledger current [--url URL]   print the ledger's revision and the code's
    erp-wms-sync reconcile proposals|approve|reject --integration NAME ...
                                              reconciliation proposals (see erp_wms_sync.reconcile_cli)
    erp-wms-sync exceptions list|retry|resolve --integration NAME ...
                                              open exceptions; retry now; resolve with a note (see
                                              erp_wms_sync.exceptions_cli)
    erp-wms-sync pools                        the Airflow pools as JSON, for ``airflow pools import``
    erp-wms-sync sim up [options]             start the three simulators (see ``sim up --help``)
    erp-wms-sync subscriptions sync [--integration NAME ...] [--force] [--base-url URL]
                                              make Peoplevox (and Cin7 Core) call the receiver; connections from
                                              AIRFLOW_CONN_* (exit 1 when one is missing or a change failed)
    erp-wms-sync subscriptions list [--integration NAME ...]
                                              the subscriptions the ledger holds
    erp-wms-sync simulate --seed N [--orders 2000] [--faults none|flaky|hostile] [--integrations a,b] [--hours 8]
                          [--skus 200] [--out FILE] [--workdir DIR]
                                              a trading day through the real DAGs against the simulators; prints a
                                              JSON summary; exit 1 when an invariant broke (named on stderr)
    erp-wms-sync audit INTEGRATION [--json] [--out DIR]
                                              pre-go-live audit of both systems (no ledger history needed):
                                              mapping coverage, orders in limbo, stock and item drift; writes the
                                              report; exit 1 when a system could not be read
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from erp_wms_sync.errors import ApiError, ConfigError, LedgerError

if TYPE_CHECKING:
    from erp_wms_sync.config import Integration

EXIT_FAILED = 1
EXIT_PROBLEMS = 2


def _config_validate(args: argparse.Namespace) -> int:
    """Every problem of the files given (each read once; two files defining one integration included); exit 2."""
    from erp_wms_sync.config import scan_files

    scan = scan_files(args.files)
    for problem in scan.problems:
        print(problem, file=sys.stderr)
    if scan.problems:
        print(f"{len(scan.problems)} problem(s) in {len(args.files)} file(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{len(args.files)} file(s) valid: {', '.join(sorted(i.name for i in scan.integrations))}")
    return 0


def _ledger_url(explicit: str | None) -> str:
    """--url, else the Airflow connection ``erp_wms_ledger``, else ERP_WMS_LEDGER_URL, else the SQLite default."""
    from erp_wms_sync.ledger.db import resolve_url

    if explicit:
        return explicit
    try:
        from erp_wms_sync.airflow.hooks import ledger_url
    except ImportError:  # Airflow not installed: the environment variable and default apply
        return resolve_url(None)
    return resolve_url(ledger_url())


def _ledger_upgrade(args: argparse.Namespace) -> int:
    from erp_wms_sync.ledger.db import safe_url, upgrade

    url = _ledger_url(args.url)
    revision = upgrade(url)
    print(f"ledger {safe_url(url)} is at revision {revision}")
    return 0


def _ledger_current(args: argparse.Namespace) -> int:
    from erp_wms_sync.ledger.db import current_revision, head_revision, safe_url

    url = _ledger_url(args.url)
    current, head = current_revision(url), head_revision()
    print(f"ledger {safe_url(url)}: revision {current or 'none'}; code expects {head}")
    return 0 if current == head else 1


def _pools(_: argparse.Namespace) -> int:
    from erp_wms_sync.airflow.factory import POOLS

    print(json.dumps({name: {"slots": slots, "description": desc, "include_deferred": False}
                      for name, (slots, desc) in POOLS.items()}, indent=2))
    return 0


def _sim(args: argparse.Namespace) -> int:
    from erp_wms_simulators.cli import main as sim_main

    return int(sim_main(list(args.rest)) or 0)


def _integrations(args: argparse.Namespace) -> list[Integration]:
    """The integrations of --integrations-dir (default ERP_WMS_INTEGRATIONS_DIR, else the packaged folder), or
    those named by --integration."""
    import os

    from erp_wms_sync.config import load_all

    found = load_all(args.integrations_dir or os.environ.get("ERP_WMS_INTEGRATIONS_DIR") or None)
    wanted = list(dict.fromkeys(args.integration or []))
    unknown = sorted(set(wanted) - {i.name for i in found})
    if unknown:
        raise ConfigError(f"no integration named {', '.join(unknown)} (known: "
                          f"{', '.join(sorted(i.name for i in found)) or 'none'})")
    return [i for i in found if i.name in wanted] if wanted else found


def _vendor_client(integration: Integration, kind: str) -> Any:
    """A vendor client from its Airflow connection (outside a task the connections come from AIRFLOW_CONN_*)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from erp_wms_sync.airflow.runtime import erp_client, wms_client

    conn_id = integration.wms.conn_id if kind == "wms" else integration.erp.conn_id
    try:
        return wms_client(integration) if kind == "wms" else erp_client(integration)
    except AirflowNotFoundException:
        raise ConfigError(f"integration {integration.name}: connection {conn_id} is not defined (set "
                          f"AIRFLOW_CONN_{conn_id.upper()})") from None
    except ValueError as exc:  # the hooks name the connection and the missing field
        raise ConfigError(f"integration {integration.name}: {exc}") from None


def _subscriptions_sync(args: argparse.Namespace) -> int:
    from erp_wms_sync.config import ErpKind
    from erp_wms_sync.flows.webhook_subscriptions import webhook_settings
    from erp_wms_sync.ledger.db import ensure_migrated, session_scope
    from erp_wms_sync.webhooks.subscriptions import sync_subscriptions

    integrations = _integrations(args)
    url = _ledger_url(args.ledger_url)
    ensure_migrated(url)
    failed = False
    for integration in integrations:
        try:
            base_url, secret, login = webhook_settings(integration)
            wms = _vendor_client(integration, "wms")
            erp = _vendor_client(integration, "erp") if integration.erp.kind is ErpKind.CIN7CORE else None
            with session_scope(url) as session:
                report = sync_subscriptions(integration, session=session, wms=wms, erp=erp,
                                            base_url=args.base_url or base_url, secret=secret, login=login,
                                            force=args.force)
        except (ConfigError, ApiError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = True
            continue
        print("\n".join(report.lines()))
        failed = failed or bool(report.failed)
    return EXIT_FAILED if failed else 0


def _subscriptions_list(args: argparse.Namespace) -> int:
    from erp_wms_sync.ledger.db import ensure_migrated, session_scope
    from erp_wms_sync.webhooks.subscriptions import stored_subscriptions

    url = _ledger_url(args.ledger_url)
    ensure_migrated(url)
    with session_scope(url) as session:
        rows = [(r.integration, r.system, r.event_type, r.external_id, "active" if r.active else "inactive",
                 f"{r.checked_at:%Y-%m-%d %H:%M:%S}" if r.checked_at else "-", r.url)
                for r in stored_subscriptions(session, args.integration or ())]
    if not rows:
        print("no subscriptions stored (run: erp-wms-sync subscriptions sync)")
        return 0
    header = ("INTEGRATION", "SYSTEM", "EVENT", "ID", "STATE", "CHECKED (UTC)", "URL")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _budget_ledger(explicit: str | None) -> str | None:
    """The ledger whose API budget the audit's ERP calls share with running DAGs, when it is migrated."""
    from erp_wms_sync.ledger.db import current_revision, head_revision

    url = _ledger_url(explicit)
    try:
        return url if current_revision(url) == head_revision() else None
    except LedgerError:
        return None


def _audit(args: argparse.Namespace) -> int:
    """Run the pre-go-live audit of one integration; exit 0 when it ran (findings are its output), 1 when a system
    could not be read (named, with why)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from erp_wms_sync.airflow.hooks import erp_hook
    from erp_wms_sync.connectors.budget import Priority
    from erp_wms_sync.flows.reconciliation.audit import run_audit

    args.integration = [args.integration]
    integration = _integrations(args)[0]
    wms = _vendor_client(integration, "wms")
    budget = _budget_ledger(args.ledger_url)
    try:
        erp = erp_hook(integration.erp.kind.value, integration.erp.conn_id,
                       rate_per_minute=integration.erp.rate_per_minute, budget_url=budget,
                       priority=Priority.LOW).get_client()
    except AirflowNotFoundException:
        raise ConfigError(f"integration {integration.name}: connection {integration.erp.conn_id} is not defined "
                          f"(set AIRFLOW_CONN_{integration.erp.conn_id.upper()})") from None
    except ValueError as exc:  # the hook names the connection and the missing field
        raise ConfigError(f"integration {integration.name}: {exc}") from None
    result = run_audit(integration, wms, erp, out_dir=args.out)
    if args.json:
        print(json.dumps(result.summary(max(0, args.examples)), indent=2, default=str))
    else:
        print("\n".join(result.lines(max(0, args.examples))))
    for failure in result.failures:
        print(f"error: could not read {failure}", file=sys.stderr)
    return EXIT_FAILED if result.failures else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="erp-wms-sync", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = root.add_subparsers(dest="command", required=True)
    config = sub.add_parser("config", help="integration YAML files").add_subparsers(dest="action", required=True)
    validate = config.add_parser("validate", help="validate integration files")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(func=_config_validate)
    ledger = sub.add_parser("ledger", help="the integration ledger").add_subparsers(dest="action", required=True)
    for name, func in (("upgrade", _ledger_upgrade), ("current", _ledger_current)):
        cmd = ledger.add_parser(name)
        cmd.add_argument("--url", help="SQLAlchemy URL (default: ERP_WMS_LEDGER_URL or the SQLite file)")
        cmd.set_defaults(func=func)
    sub.add_parser("pools", help="Airflow pools as JSON").set_defaults(func=_pools)
    subs = sub.add_parser("subscriptions", help="callback subscriptions in Peoplevox and Cin7 Core")
    subs_actions = subs.add_subparsers(dest="action", required=True)
    subs_sync = subs_actions.add_parser("sync", help="subscribe, repair or re-subscribe the callbacks")
    subs_sync.add_argument("--force", action="store_true",
                           help="re-subscribe Peoplevox events even when nothing changed")
    subs_sync.add_argument("--base-url", help="the receiver's public base URL with the plugin prefix "
                                              "(default: the host of the integration's webhook connection)")
    subs_sync.add_argument("--integrations-dir", help="folder of integration YAML files "
                                                      "(default: ERP_WMS_INTEGRATIONS_DIR or the packaged folder)")
    subs_sync.set_defaults(func=_subscriptions_sync)
    subs_list = subs_actions.add_parser("list", help="the subscriptions stored in the ledger")
    subs_list.set_defaults(func=_subscriptions_list)
    for cmd in (subs_sync, subs_list):
        cmd.add_argument("--integration", action="append", metavar="NAME", help="only this integration (repeatable)")
        cmd.add_argument("--ledger-url", help="SQLAlchemy URL of the ledger (default: as for `ledger upgrade`)")
    audit = sub.add_parser("audit", help="pre-go-live audit of an integration's two systems")
    audit.add_argument("integration", metavar="INTEGRATION", help="the integration's name")
    audit.add_argument("--json", action="store_true", help="print the summary as JSON")
    audit.add_argument("--out", metavar="DIR", help="folder for the report (default: ERP_WMS_REPORTS_DIR, else "
                                                    "$AIRFLOW_HOME/reports, else ./reports)")
    audit.add_argument("--examples", type=int, default=5, help="examples shown per finding kind (default 5)")
    audit.add_argument("--integrations-dir", help="folder of integration YAML files "
                                                  "(default: ERP_WMS_INTEGRATIONS_DIR or the packaged folder)")
    audit.add_argument("--ledger-url", help="ledger whose shared API budget the ERP calls spend (default: as for "
                                            "`ledger upgrade`, when it is migrated; else the audit paces itself)")
    audit.set_defaults(func=_audit)
    from erp_wms_sync.reconcile_cli import add_parser as add_reconcile

    add_reconcile(sub, _ledger_url, _integrations, _vendor_client)
    from erp_wms_sync.exceptions_cli import add_parser as add_exceptions

    add_exceptions(sub, _ledger_url, _integrations, _vendor_client)
    from erp_wms_sync.simulate.command import add_parser as add_simulate

    add_simulate(sub)
    sim = sub.add_parser("sim", help="the vendor API simulators", add_help=False)
    sim.add_argument("rest", nargs=argparse.REMAINDER)
    sim.set_defaults(func=_sim)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
