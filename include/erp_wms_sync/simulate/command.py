"""The ``simulate`` sub-command of ``erp-wms-sync``: parse and check the options (exit 2 on a bad one), run the day,
print the summary as JSON, name every broken invariant and its first records on stderr (exit 1), else exit 0.

Airflow reads its home and metadata DB from the environment when it is first imported, so the day must run in a
process that has not imported Airflow yet; when this one has (a test runner, an embedding program), the command
runs itself again in a child process with the same options and passes its output and exit code through.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

EXIT_BROKEN = 1
EXIT_BAD_ARGUMENTS = 2
CHILD_TIMEOUT = 3600
BREACHES_PRINTED = 5


def add_parser(sub: Any) -> None:
    """Add ``simulate`` to the ``erp-wms-sync`` sub-commands."""
    cmd = sub.add_parser("simulate", help="a simulated trading day through the real DAGs, invariants checked",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--seed", type=int, required=True, help="the scenario's and the faults' seed")
    cmd.add_argument("--orders", type=int, default=2000, help="new orders in the day (default 2000)")
    cmd.add_argument("--faults", default="none", help="fault profile during the day: none | flaky | hostile")
    cmd.add_argument("--integrations", default="northwind,bluebird",
                     help="comma-separated sample integrations (default northwind,bluebird)")
    cmd.add_argument("--hours", type=int, default=8, help="simulated trading hours; the DAGs run every hour "
                                                          "(default 8)")
    cmd.add_argument("--skus", type=int, default=200, help="catalogue size per brand (default 200)")
    cmd.add_argument("--out", type=Path, help="also write the summary JSON here")
    cmd.add_argument("--workdir", type=Path, help="keep the world (Airflow home, ledger, logs, reports) here "
                                                  "(default: a temporary folder, removed)")
    cmd.set_defaults(func=run_command)


def options_of(args: argparse.Namespace) -> Any:
    from erp_wms_sync.simulate.runner import Options

    names = tuple(dict.fromkeys(n.strip() for n in str(args.integrations).split(",") if n.strip()))
    return Options(seed=args.seed, orders=args.orders, faults=args.faults, integrations=names, hours=args.hours,
                   skus=args.skus, out=args.out, workdir=args.workdir)


def argv_of(options: Any) -> list[str]:
    """The command line that runs ``options`` again."""
    argv = ["simulate", "--seed", str(options.seed), "--orders", str(options.orders), "--faults", options.faults,
            "--integrations", ",".join(options.integrations), "--hours", str(options.hours),
            "--skus", str(options.skus)]
    if options.out is not None:
        argv += ["--out", str(options.out)]
    if options.workdir is not None:
        argv += ["--workdir", str(options.workdir)]
    return argv


def run_command(args: argparse.Namespace) -> int:
    options = options_of(args)
    problems = options.problems()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_BAD_ARGUMENTS
    if "airflow" in sys.modules:
        child = subprocess.run([sys.executable, "-m", "erp_wms_sync.cli", *argv_of(options)], capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT, check=False)
        sys.stdout.write(child.stdout)
        sys.stderr.write(child.stderr)
        return child.returncode
    return report(run(options))


def run(options: Any, tamper: Any = None) -> dict[str, Any]:
    """The simulation of ``options`` (see :func:`erp_wms_sync.simulate.runner.simulate`)."""
    from erp_wms_sync.simulate.runner import simulate

    return simulate(options, tamper)


def report(summary: dict[str, Any]) -> int:
    """Print the summary; name each broken invariant and its first records on stderr; the exit code."""
    print(json.dumps(summary, indent=2, default=str))
    for verdict in summary["invariants"]:
        if verdict["ok"]:
            continue
        print(f"invariant {verdict['name']} broken ({verdict['breach_count']} record(s)):", file=sys.stderr)
        for breach in verdict["breaches"][:BREACHES_PRINTED]:
            print(f"  {breach}", file=sys.stderr)
    return 0 if summary["ok"] else EXIT_BROKEN
