"""``erp-wms-sync simulate``: a reproducible trading day through the real DAGs of the sample integrations, against
the simulators (optionally hostile), with the architecture's invariants checked at the systems' own APIs.

Modules: :mod:`.world` (isolated Airflow home, ledger, simulators, scenario, compressed day), :mod:`.dagruns`
(``dag.test()`` on the simulated clock), :mod:`.observe` (what the systems say), :mod:`.invariants` (pure checks),
:mod:`.summary` (the JSON summary), :mod:`.runner` (the order of work), :mod:`.command` (the CLI sub-command).
"""
