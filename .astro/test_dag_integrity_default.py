"""DAG import check run by ``astro dev parse`` (and ``astro dev pytest``): every DAG file must import cleanly.

Adapted from the Astro CLI's default for Airflow 3.3: ``DagBag`` lives in ``airflow.dag_processing.dagbag`` and
no longer accepts ``include_examples`` (example DAGs are a separate bundle, switched off by
``AIRFLOW__CORE__LOAD_EXAMPLES=False``). It needs no metadata database.

Nothing is monkeypatched: the project's DAGs read no connection, variable or environment value at parse time,
so a DAG that starts doing so fails here instead of slowing down every parse in production.

A file listed in ``dag_integrity_exceptions.txt`` (next to this file; paths relative to ``AIRFLOW_HOME``, such as
``dags/experimental_flow.py``) is allowed to fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag

EXCEPTIONS_FILE = Path(__file__).with_name("dag_integrity_exceptions.txt")


def relative_to_home(path: str) -> str:
    """``path`` relative to AIRFLOW_HOME (the form used in the exceptions file)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.cwd()).resolve()
    resolved = Path(path).resolve()
    return resolved.relative_to(home).as_posix() if resolved.is_relative_to(home) else resolved.as_posix()


def allowed_failures() -> set[str]:
    """The files listed in the exceptions file (blank lines and # comments skipped)."""
    if not EXCEPTIONS_FILE.exists():
        return set()
    lines = (line.strip() for line in EXCEPTIONS_FILE.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def parse_dag_folder() -> list[tuple[str, str]]:
    """``(file, error)`` for every DAG file of the configured DAG folder; ``error`` is empty for clean files."""
    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    results = {relative_to_home(path): error.strip() for path, error in bag.import_errors.items()}
    for dag in bag.dags.values():
        results.setdefault(relative_to_home(dag.fileloc), "")
    return sorted(results.items())


RESULTS = parse_dag_folder()


@pytest.mark.parametrize(("rel_path", "error"), RESULTS, ids=[rel_path for rel_path, _ in RESULTS])
def test_file_imports(rel_path: str, error: str) -> None:
    """A DAG file imports without error, unless it is listed as an allowed failure."""
    if error and rel_path not in allowed_failures():
        pytest.fail(f"{rel_path} failed to import:\n{error}", pytrace=False)
