"""The ``erp-wms-sync`` command.

    erp-wms-sync config validate FILE...      every problem with file, field and fix; exit 2 on any
    erp-wms-sync ledger upgrade [--url URL]   migrate the ledger (URL: --url, the erp_wms_ledger connection,
                                              ERP_WMS_LEDGER_URL, the SQLite default)
    erp-wms-sync ledger current [--url URL]   print the ledger's revision and the code's
    erp-wms-sync pools                        the Airflow pools as JSON, for ``airflow pools import``
    erp-wms-sync sim up [options]             start the three simulators (see ``sim up --help``)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from erp_wms_sync.errors import ConfigError, LedgerError

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
