"""Time zones and cron schedules of an integration, checked the way Airflow will use them.

A zone must be an IANA zone name, spelled exactly (``Europe/London``): not a region folder (``Europe``), not the
machine's ``localtime``, not a differently-cased spelling that happens to work on one filesystem. A cron must
have five fields (no seconds), no random (``R``) or hashed (``H``) values, and must produce a next run in the
timetable the DAG factory builds (``CronDataIntervalTimetable`` with the integration's zone) — so ``0 0 31 2 *``
(never fires) is refused here instead of failing in the scheduler. Airflow is imported lazily, only when a
schedule is checked; without Airflow, croniter (Airflow's own cron library) computes the next run.

Each function returns a :class:`Finding` (what is wrong and how to fix it) or ``None``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
CRON_PRESETS = {  # the presets Airflow expands (airflow.sdk.definitions.timetables._cron.CRON_PRESETS)
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
_CRON_WORDS = frozenset("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC SUN MON TUE WED THU FRI SAT L W LW".split())
ZONE_FIX = "use an IANA zone name, spelled exactly, such as Europe/London or America/New_York"
CRON_FIX = "use five cron fields (minute hour day month weekday), e.g. '*/5 * * * *', that match a real date"


@dataclass(frozen=True)
class Finding:
    message: str
    fix: str


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """Zone names the scheduler will accept everywhere (not the machine-specific aliases)."""
    return frozenset(z for z in zoneinfo.available_timezones()
                     if z not in NOT_ZONES and not z.startswith(("posix/", "right/")))


def timezone_finding(name: str) -> Finding | None:
    """None when ``name`` is an IANA zone; otherwise why not, with a suggestion where one is obvious."""
    zones = iana_zones()
    if name in zones:
        return None
    if name == "localtime":
        return Finding("'localtime' is the zone of whichever machine runs the task, not a zone name", ZONE_FIX)
    prefix = f"{name}/"
    examples = sorted(z for z in zones if z.startswith(prefix))[:3]
    if examples:
        return Finding(f"'{name}' is a region, not a time zone", f"name a zone in it, e.g. {', '.join(examples)}")
    spelled = next((z for z in sorted(zones) if z.casefold() == name.casefold()), None)
    if spelled:
        return Finding(f"unknown time zone '{name}' (zone names are case-sensitive)", f"write it as {spelled}")
    return Finding(f"unknown time zone '{name}'", ZONE_FIX)


@lru_cache(maxsize=1024)
def cron_finding(expression: str, timezone: str) -> Finding | None:
    """None when Airflow can schedule ``expression`` in ``timezone``; otherwise what is wrong.

    Kept per (expression, zone): integrations mostly share schedules, and building a timetable costs milliseconds.
    """
    expanded = CRON_PRESETS.get(expression.strip(), expression)
    fields = expanded.split()
    if len(fields) != 5:
        return Finding(f"'{expression}' has {len(fields)} fields; a schedule has 5 "
                       "(minute hour day month weekday) and no seconds", CRON_FIX)
    words = sorted({w.upper() for f in fields for w in re.findall(r"[A-Za-z]+", f)} - _CRON_WORDS)
    if words:
        return Finding(f"'{expression}' contains {', '.join(words)}, which is not a cron value "
                       "(random R and hashed H values are not supported)", CRON_FIX)
    failure = _next_run_failure(expanded, timezone)
    if failure:
        return Finding(f"'{expression}' cannot be scheduled: {failure}", CRON_FIX)
    return None


def _next_run_failure(expression: str, timezone: str) -> str | None:
    """Why no next run can be computed (None when one can), with the timetable Airflow will use."""
    try:
        import pendulum
        from airflow.sdk import CronDataIntervalTimetable
        from airflow.serialization.encoders import coerce_to_core_timetable
        from airflow.timetables.base import TimeRestriction
    except ImportError:
        return _croniter_failure(expression, timezone)
    try:
        sdk_timetable = CronDataIntervalTimetable(expression, timezone=timezone)
        sdk_timetable.validate()
        restriction = TimeRestriction(earliest=pendulum.now("UTC"), latest=None, catchup=True)
        info = coerce_to_core_timetable(sdk_timetable).next_dagrun_info(
            last_automated_data_interval=None, restriction=restriction)
    except Exception as exc:  # whatever the timetable raises is a schedule Airflow cannot run
        return _reason(exc)
    return None if info is not None else "it never fires"


def _croniter_failure(expression: str, timezone: str) -> str | None:
    from croniter import croniter

    try:
        croniter(expression, start_time=datetime.now(UTC).astimezone(zoneinfo.ZoneInfo(timezone))).get_next(datetime)
    except Exception as exc:  # croniter raises several unrelated types for a bad expression
        return _reason(exc)
    return None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return "it never fires (no such date)" if "failed to find next date" in text else text
