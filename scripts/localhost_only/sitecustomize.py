"""Keep every server `airflow standalone` starts on 127.0.0.1.

The scheduler's and triggerer's log servers call ``uvicorn.run(host="")`` (all interfaces) and standalone offers
no switch for it; this module, put on PYTHONPATH by scripts/demo.sh, makes uvicorn bind those to 127.0.0.1.
"""

from __future__ import annotations

try:
    import uvicorn
except ImportError:  # not an Airflow process
    uvicorn = None

if uvicorn is not None:
    _original_run = uvicorn.run

    def _run_on_localhost(app, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("host") in (None, "", "0.0.0.0", "::"):
            kwargs["host"] = "127.0.0.1"
        return _original_run(app, *args, **kwargs)

    uvicorn.run = _run_on_localhost
