"""The ``simulate`` sub-command of ``erp-wms-sync``: parse and check the options (exit 2 on a bad one), run the day,
print the summary as JSON, name every broken invariant and its first records on stderr (exit 1), else exit 0.

The day runs in a child process that this one supervises (:func:`supervise`), for two reasons:

- Airflow reads its home and metadata DB from the environment when it is first imported, so the day must run in a
  process that has not imported Airflow yet (a test runner or an embedding program has);
- Airflow's task runner swallows SIGTERM while a task runs (it only calls the operator's ``on_kill``), so a day run
  in this process could not be stopped by ``timeout``, a service manager or ``kill``. The supervisor stops the
  child's whole process group instead (TERM, then KILL after :data:`STOP_GRACE` seconds), removes the temporary
  world and exits ``128 + signal``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

EXIT_BROKEN = 1
EXIT_BAD_ARGUMENTS = 2
BREACHES_PRINTED = 5
DAY_PROCESS = "ERP_WMS_SIMULATE_DAY_PROCESS"  # set in the child that runs the day
SCRATCH = "ERP_WMS_SIMULATE_SCRATCH"  # the temporary world the supervisor made (and removes) for the child
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE = 10.0
POLL = 0.5


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
    if os.environ.get(DAY_PROCESS) == "1":
        return report(run(options))
    return supervise(options)


def supervise(options: Any) -> int:
    """Run the day in a child process (its own session) and pass its output and exit code through.

    A TERM, INT or HUP to this process stops the child's process group (TERM, then KILL after
    :data:`STOP_GRACE` s), removes the temporary world (a ``--workdir`` is kept) and returns ``128 + signal``.
    """
    scratch = None if options.workdir is not None else tempfile.mkdtemp(prefix="erp-wms-simulate-")
    env = {**os.environ, DAY_PROCESS: "1"}
    if scratch is not None:
        env[SCRATCH] = scratch
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: received.append(signum))
                for signum in STOP_SIGNALS}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        child = subprocess.Popen([sys.executable, "-m", "erp_wms_sync.cli", *argv_of(options)], env=env,
                                 start_new_session=True)
        while not received:
            try:
                return child.wait(timeout=POLL)
            except subprocess.TimeoutExpired:
                continue
        _stop_group(child)
        name = signal.Signals(received[0]).name
        where = f"; the world is kept in {options.workdir}" if options.workdir is not None else ""
        print(f"simulate: stopped by {name} before the day ended, nothing was checked{where}", file=sys.stderr)
        return 128 + received[0]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """TERM to the child's process group; after :data:`STOP_GRACE` seconds KILL to whatever is left of it."""
    _signal_group(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(child.pid, signal.SIGKILL)  # the group's other members too, even when the leader is gone
    child.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


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
