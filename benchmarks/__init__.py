"""``make bench``: performance figures of erp-wms-sync, counted at the simulator side.

Run ``python -m benchmarks.run`` (``--quick`` for a smoke run of a couple of minutes). Each figure runs in
its own process with its own Airflow home, simulators and ledger; the runner collects one JSON row per
figure into ``benchmarks/results/latest.json`` and a Markdown table into ``benchmarks/results/latest.md``.
"""
