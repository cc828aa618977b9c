"""``erp-wms-sync simulate`` end to end: small trading days through the real DAGs under hostile and flaky faults
keep every invariant and report sensible counts; a second WMS order created behind the integration's back makes
the command exit 1 naming the order; bad arguments exit 2.

Each day runs in a child process (Airflow must be configured before it is imported; this test process already has
its own Airflow home). The four days start together (a module fixture) and each test waits for its own, so the
file takes about as long as its slowest day; volume is small (``--orders 30 --hours 2 --skus 60``), except one
8-hour Cin7 Core day, long enough for returns to find despatched orders, so credit notes are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from erp_wms_sync.cli import main

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--orders", "30", "--hours", "2", "--skus", "60"]
LONGER = ["--orders", "80", "--hours", "8", "--skus", "60"]  # returns need despatched orders: only in a longer day
DAYS = {"seed1-hostile-both": (1, "hostile", "northwind,bluebird", SMALL),
        "seed2-hostile-cin7": (2, "hostile", "northwind", SMALL),
        "seed4-flaky-cin7-returns": (4, "flaky", "northwind", LONGER)}
INVARIANTS = {"released_exactly_once", "no_duplicate_effect", "stock_agrees_after_reconciliation",
              "credit_never_before_stock_in", "every_failure_visible", "secrets_never_exposed"}
TIMEOUT = 600


def child_env() -> dict[str, str]:
    """This environment without the test session's Airflow and ledger settings (the command makes its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ERP_WMS"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "include"), env.get("PYTHONPATH", "")]))
    return env


@dataclass
class Day:
    """A simulation started in a child process: wait for it with :meth:`finish`."""

    process: subprocess.Popen[str]
    out: Path
    marker: Path | None = None

    def finish(self) -> tuple[int, dict[str, Any], str, str]:
        """(exit code, the summary written to --out or printed, stdout, stderr)."""
        try:
            stdout, stderr = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        text = self.out.read_text() if self.out.exists() else stdout
        return self.process.returncode, json.loads(text) if text.strip() else {}, stdout, stderr


def start(argv: list[str], out: Path, marker: Path | None = None) -> Day:
    process = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=child_env(), cwd=ROOT)
    return Day(process, out, marker)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Day]]:
    """Every day of this file, started at once (the tests only wait)."""
    folder = tmp_path_factory.mktemp("simulate")
    started: dict[str, Day] = {}
    for name, (seed, faults, integrations, volume) in DAYS.items():
        out = folder / f"{name}.json"
        started[name] = start(["-m", "erp_wms_sync.cli", "simulate", "--seed", str(seed), "--faults", faults,
                               "--integrations", integrations, *volume, "--out", str(out),
                               "--workdir", str(folder / name)], out)
    script, marker = folder / "tamper.py", folder / "duplicated.txt"
    script.write_text(textwrap.dedent(TAMPER))
    started["tamper"] = start([str(script), str(marker)], folder / "tamper-summary.json", marker)
    yield started
    for day in started.values():
        if day.process.poll() is None:
            day.process.kill()
            day.process.communicate()


def broken(summary: dict[str, Any]) -> list[Any]:
    return [(v["name"], v["breaches"]) for v in summary.get("invariants", []) if not v["ok"]]


def errors(log: Path) -> list[str]:
    """The last lines of the run's captured log that name an error (kept with --workdir), for a failure message."""
    if not log.is_file():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [line[:300] for line in lines if "Error" in line or "error" in line][-15:]


def fault_answers(summary: dict[str, Any]) -> int:
    """Calls the simulators answered with an error status (5xx, 429) over the run."""
    return sum(count for system in summary["api_calls"].values() for status, count in system["statuses"].items()
               if status == "429" or status.startswith("5"))


@pytest.mark.parametrize("name", list(DAYS))
def test_a_faulty_trading_day_keeps_every_invariant(days: dict[str, Day], name: str) -> None:
    seed, faults, integrations, volume = DAYS[name]
    code, summary, stdout, stderr = days[name].finish()
    assert json.loads(stdout) == summary  # the printed summary is the one written to --out
    assert code == 0, (broken(summary), errors(Path(summary.get("workdir") or ".") / "run.log"), stderr[-3000:])
    assert {v["name"] for v in summary["invariants"]} == INVARIANTS and summary["ok"] is True
    assert summary["seed"] == seed and summary["faults"] == faults
    names = integrations.split(",")
    released = summary["invariants"][0]["evidence"]
    latency = summary["despatch_latency_minutes"]
    for integration in names:
        assert released[integration]["in_wms_once"] > 0, released  # orders reached the warehouse
        assert latency[integration]["confirmed"] > 0, latency  # despatches were booked in the ERP
        assert 0 <= latency[integration]["p50"] <= latency[integration]["p95"]
        assert summary["flows"][f"{integration}__order_release"]["runs"] >= 3  # every tick and the settle phase
    assert summary["scenario"]["outcomes"]["order"]["done"] > 0
    assert sum(system["answered"] for system in summary["api_calls"].values()) > 0
    if faults == "hostile":
        assert fault_answers(summary) > 0, summary["api_calls"]
        assert any(summary["faults_fired"].values()), summary["faults_fired"]
    if volume is LONGER:  # returns happened, Cin7 credited some, and invariant 4 compared them
        assert summary["scenario"]["outcomes"]["return_sellable"].get("done", 0) > 0
        credits = {v["name"]: v for v in summary["invariants"]}["credit_never_before_stock_in"]["evidence"]
        assert credits["northwind"]["credit_notes_checked"] > 0, credits


TAMPER = """
import sys
from pathlib import Path
from erp_wms_sync.simulate.command import report, run
from erp_wms_sync.simulate.runner import Options

def second_wms_order(world):
    state = world.stack.peoplevox
    with state.lock:
        table = state.tenant("northwind").tables["Sales orders"]
        number, row = next((n, r) for n, r in sorted(table.items()) if r.get("Status") != "Cancelled")
        copy = f"{number}-R9"
        table[copy] = {**row, "SalesOrderNumber": copy, "Status": "New"}
    Path(sys.argv[1]).write_text(number)

sys.exit(report(run(Options(seed=5, orders=10, faults="none", integrations=("northwind",), hours=1, skus=40),
                    second_wms_order)))
"""


def test_a_second_wms_order_behind_the_integrations_back_exits_1_naming_the_order(days: dict[str, Day]) -> None:
    code, summary, _, stderr = days["tamper"].finish()
    assert days["tamper"].marker is not None
    number = days["tamper"].marker.read_text().strip()
    assert code == 1, stderr[-3000:]
    assert number.startswith("SO-")
    assert "invariant no_duplicate_effect broken" in stderr
    assert f"{number}: 2 live WMS orders ({number}, {number}-R9)" in stderr
    verdicts = {v["name"]: v for v in summary["invariants"]}
    assert not verdicts["released_exactly_once"]["ok"] and not verdicts["no_duplicate_effect"]["ok"]
    assert verdicts["secrets_never_exposed"]["ok"] and verdicts["stock_agrees_after_reconciliation"]["ok"]


@pytest.mark.parametrize("args", [
    ["--faults", "nasty"], ["--orders", "0"], ["--hours", "25"], ["--integrations", "acme"], ["--skus", "5"],
], ids=["faults", "orders", "hours", "integration", "skus"])
def test_bad_arguments_exit_2_naming_the_option(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seed", "1", *args]) == 2
    assert args[0] in capsys.readouterr().err


def test_a_non_numeric_seed_exits_2() -> None:
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "--seed", "x"])
    assert stop.value.code == 2


def _day_processes(scratch: Path) -> list[int]:
    """Processes whose environment names ``scratch`` as their world (the day's child and anything it started)."""
    found = []
    needle = f"ERP_WMS_SIMULATE_SCRATCH={scratch}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_stop_signal_ends_the_day_and_removes_its_world(tmp_path: Path) -> None:
    """``timeout`` or a service manager stops a long day with TERM: it ends within seconds (Airflow's task runner
    would swallow the signal in the day's own process), leaves no process and no temporary world behind, and
    says it checked nothing."""
    import signal
    import time

    env = {**child_env(), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "erp_wms_sync.cli", "simulate", "--seed", "1", "--orders",
                                "2000", "--integrations", "northwind"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 180
        worlds: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:  # until the day runs its DAGs
            worlds = [w for w in tmp_path.glob("erp-wms-simulate-*") if (w / "run.log").is_file()
                      and (w / "run.log").stat().st_size > 0]
            if worlds:
                break
            time.sleep(0.5)
        assert worlds, f"the day did not start: {process.poll()}"
        (world,) = worlds
        assert _day_processes(world)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "stopped by SIGTERM before the day ended, nothing was checked" in stderr
    assert not world.exists()
    assert not _day_processes(world)
