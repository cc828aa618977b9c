"""Exception digests: per owner team, the new exceptions of an integration grouped by type, by e-mail and Slack.

One cause that produced a thousand exceptions is one line of the digest: its type, the count, the first few
examples (entity key and summary) and a link to the dashboard's list filtered to that integration, team and type.

**Who gets what** (``digests:`` in the integration YAML): each team of ``digests.teams`` gets an e-mail at its
``emails`` (through ``alerts.smtp_conn_id``) and a Slack message through its ``slack_conn_id`` (else
``alerts.slack_conn_id``). A channel without configuration (no recipients, no connection) sends nothing; this is
logged once per run, never raised. Teams that own new exceptions but are not listed are logged too.

**Nothing lost, nothing sent twice.** Every team × channel has its own ledger cursor
(``exception_digest.<team>.<channel>``). A run reads ``[cursor, until)``, sends, and moves that cursor to
``until`` only when the channel accepted the message; a channel that fails (SMTP down) keeps its cursor, so the
next run's digest for that channel covers the missed period too, while the other channel is not sent again.
``until`` is the run's window end, but never later than ``digests.settle_minutes`` ago: an exception whose flow
is still committing its transaction is left to the next digest instead of being skipped. A new team × channel
starts at the run's window start (the first digest run ever: every open exception). A cursor never moves back, so
a backfill of an old window sends nothing already sent. Should the ledger fail right after a channel accepted a
message, the next run sends it again (at least once, never silently lost).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from erp_wms_sync.airflow.alerts import scrub
from erp_wms_sync.config import Integration
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger import digest_repo, repo
from erp_wms_sync.ledger.models import utcnow

log = logging.getLogger(__name__)

FLOW = "exception_digest"
EMAIL, SLACK = "email", "slack"
EPOCH = datetime(1970, 1, 1)
DASHBOARD_PATH = "/erp-wms-dashboard/"
RUNBOOK = "docs/runbook.md#exception-digests"
SUMMARY_CHARS = 200  # an example's summary is cut there: the dashboard has the rest


@dataclass(frozen=True)
class Example:
    entity_key: str
    summary: str


@dataclass(frozen=True)
class DigestLine:
    """One exception type of a digest: how many are new, the first examples and the dashboard's filtered list."""

    type: str
    count: int
    examples: tuple[Example, ...]
    link: str

    @property
    def more(self) -> int:
        return self.count - len(self.examples)


@dataclass(frozen=True)
class Digest:
    """What one team gets for one period: a line per exception type, most frequent first."""

    integration: str
    label: str
    team: str
    timezone: str
    since: datetime  # naive UTC, like the ledger
    until: datetime
    lines: tuple[DigestLine, ...]

    @property
    def total(self) -> int:
        return sum(line.count for line in self.lines)


@dataclass(frozen=True)
class Target:
    """One delivery: a team on a channel (its e-mail recipients, or none for Slack) through a connection."""

    team: str
    channel: str
    conn_id: str
    recipients: tuple[str, ...] = ()

    @property
    def cursor(self) -> str:
        return f"{FLOW}.{self.team}.{self.channel}"


class Channels(Protocol):
    """Sends a rendered digest to a target; raises when the channel did not accept it."""

    def send(self, target: Target, digest: Digest) -> None: ...


@dataclass
class DigestRun:
    """What a run did: messages sent, failed (sent again next run), empty periods, and what is not configured."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    nothing_new: int = 0
    not_configured: list[str] = field(default_factory=list)


# --- who gets what ------------------------------------------------------------------------------------------------
def plan_targets(integration: Integration) -> tuple[list[Target], list[str]]:
    """The deliveries the YAML configures, and why each other team × channel sends nothing."""
    settings, alerts = integration.digests, integration.alerts
    targets: list[Target] = []
    missing: list[str] = []
    for team, cfg in sorted(settings.teams.items()):
        if not cfg.emails:
            missing.append(f"{team}: no e-mail digest (digests.teams.{team}.emails is empty)")
        elif not alerts.smtp_conn_id:
            missing.append(f"{team}: no e-mail digest (alerts.smtp_conn_id is not set)")
        else:
            targets.append(Target(team, EMAIL, alerts.smtp_conn_id, tuple(cfg.emails)))
        slack = cfg.slack_conn_id or alerts.slack_conn_id
        if slack:
            targets.append(Target(team, SLACK, slack))
        else:
            missing.append(f"{team}: no Slack digest (neither digests.teams.{team}.slack_conn_id nor "
                           "alerts.slack_conn_id is set)")
    return targets, missing


# --- what a digest says -------------------------------------------------------------------------------------------
def dashboard_link(base_url: str | None, integration: str, team: str, type_: str) -> str:
    """The dashboard's exception list filtered to one integration, team and type (absolute with a base URL)."""
    query = urlencode({"integration": integration, "owner": team, "type": type_})
    return f"{(base_url or '').rstrip('/')}{DASHBOARD_PATH}?{query}"


def collect(session: Session, integration: Integration, team: str, since: datetime, until: datetime) -> Digest:
    """The team's new exceptions in ``[since, until)``, grouped by type, with the first examples of each."""
    settings = integration.digests
    owners = digest_repo.owners_of_team(digest_repo.new_owners(session, integration.name, since, until), team)
    counts = digest_repo.new_counts(session, integration.name, owners, since, until)
    lines = []
    for type_, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        examples = digest_repo.first_examples(session, integration.name, owners, type_, since, until,
                                              settings.examples)
        lines.append(DigestLine(type_, count, tuple(Example(k, s) for k, s in examples),
                                dashboard_link(settings.dashboard_url, integration.name, team, type_)))
    return Digest(integration.name, integration.label, team, integration.timezone, since, until, tuple(lines))


def _clean(text: str, limit: int | None = None) -> str:
    """Scrubbed of every credential, on one line, cut to ``limit`` characters."""
    flat = " ".join(scrub(text).split())
    return flat if limit is None or len(flat) <= limit else flat[:limit - 1] + "…"


def _local(moment: datetime, zone: str) -> str:
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def period(digest: Digest) -> str:
    """When the exceptions became new, in the integration's time zone."""
    until = _local(digest.until, digest.timezone)
    if digest.since <= EPOCH:
        return f"every open exception up to {until} ({digest.timezone}); later digests list only new ones"
    return f"new between {_local(digest.since, digest.timezone)} and {until} ({digest.timezone})"


def subject(digest: Digest) -> str:
    plural = "s" if digest.total != 1 else ""
    types = f"{len(digest.lines)} type{'s' if len(digest.lines) != 1 else ''}"
    return _clean(f"[erp-wms-sync/{digest.integration}] {digest.team}: {digest.total} new exception{plural} "
                  f"({types}) in {digest.label}")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(digest: Digest) -> str:
    """The Slack message (mrkdwn): a header, then one bullet per exception type with its examples."""
    out = [f"*{_slack_escape(subject(digest))}*", _slack_escape(period(digest))]
    for line in digest.lines:
        link = (f"<{line.link}|open the list>" if line.link.startswith("http")
                else f"dashboard: `{line.link}`")
        out.append(f"• *{_slack_escape(line.type)}*: {line.count} new ({link})")
        out += [f"    – `{_slack_escape(_clean(e.entity_key, 128))}`: "
                f"{_slack_escape(_clean(e.summary, SUMMARY_CHARS))}" for e in line.examples]
        if line.more > 0:
            out.append(f"    – and {line.more} more")
    out.append(f"What to do: {RUNBOOK}")
    return "\n".join(out)


def email_html(digest: Digest) -> str:
    """The e-mail body: every piece of exception text HTML-escaped, the dashboard links as links."""
    esc = html.escape
    out = [f"<p><b>{esc(subject(digest))}</b><br>{esc(period(digest))}</p>", "<ul>"]
    for line in digest.lines:
        items = [f"<li><code>{esc(_clean(e.entity_key, 128))}</code>: {esc(_clean(e.summary, SUMMARY_CHARS))}</li>"
                 for e in line.examples]
        if line.more > 0:
            items.append(f"<li>and {line.more} more</li>")
        out.append(f'<li><b>{esc(line.type)}</b>: {line.count} new (<a href="{esc(line.link, quote=True)}">'
                   f"open the list in the dashboard</a>)<ul>{''.join(items)}</ul></li>")
    out += ["</ul>", f"<p>What to do: {esc(RUNBOOK)}</p>"]
    return "\n".join(out)


# --- the run ------------------------------------------------------------------------------------------------------
def until_of(ctx: RunContext) -> datetime:
    """The run's window end (naive UTC), but never later than ``settle_minutes`` before the clock says now: a
    window ending in the future (a manual run's conf) must not move a cursor past exceptions still to come."""
    end = ctx.window.end
    end = end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
    return min(end, utcnow() - timedelta(minutes=ctx.integration.digests.settle_minutes))


def _start_of(ctx: RunContext) -> datetime:
    start = ctx.window.start
    if start is None:
        return EPOCH
    return start.astimezone(UTC).replace(tzinfo=None) if start.tzinfo else start


def send_digests(ctx: RunContext, channels: Channels) -> dict[str, object]:
    """Send each configured team × channel its digest of what became new since its cursor; see the module doc."""
    integration, result = ctx.integration, DigestRun()
    targets, result.not_configured = plan_targets(integration)
    until = until_of(ctx)
    for note in result.not_configured:
        log.warning("%s exception digest: %s", integration.name, note)
    _log_unlisted_teams(ctx, until)
    digests: dict[tuple[str, datetime], Digest] = {}
    for target in targets:
        with ctx.session() as session:
            since = _cursor(session, ctx, target)
            if since >= until:
                continue
            digest = digests.get((target.team, since))
            if digest is None:
                digest = digests[(target.team, since)] = collect(session, integration, target.team, since, until)
        if digest.lines:
            try:
                channels.send(target, digest)
            except Exception as exc:  # one channel's failure must not cost the other channels their digest
                log.error("%s exception digest for %s by %s not delivered, sent again next run: %s: %s",
                          integration.name, target.team, target.channel, type(exc).__name__, scrub(str(exc)))
                result.failed.append(f"{target.team}/{target.channel}")
                continue
            result.sent.append(f"{target.team}/{target.channel}: {digest.total} in {len(digest.lines)} type(s)")
        else:
            result.nothing_new += 1
        with ctx.session() as session:
            repo.advance_cursor(session, integration.name, target.cursor, until, ctx.run_id)
    with ctx.session() as session:
        repo.advance_cursor(session, integration.name, FLOW, until, ctx.run_id)
    log.info("%s exception digests: %d sent, %d failed, %d with nothing new, %d not configured",
             integration.name, len(result.sent), len(result.failed), result.nothing_new,
             len(result.not_configured))
    return asdict(result)


def _cursor(session: Session, ctx: RunContext, target: Target) -> datetime:
    """The target's cursor, created at the run's window start the first time (kept even if this send fails)."""
    row = repo.get_cursor(session, ctx.integration.name, target.cursor)
    if row is None or row.watermark is None:
        row = repo.advance_cursor(session, ctx.integration.name, target.cursor, _start_of(ctx), ctx.run_id)
    assert row.watermark is not None
    return row.watermark


def _log_unlisted_teams(ctx: RunContext, until: datetime) -> None:
    """One line naming the owners of exceptions new in this run's window that no digest team covers."""
    teams: Sequence[str] = list(ctx.integration.digests.teams)
    with ctx.session() as session:
        owners = digest_repo.new_owners(session, ctx.integration.name, _start_of(ctx), until)
    unlisted = [o for o in owners if not any(o == t or t in o.split("+") for t in teams)]
    if unlisted:
        log.warning("%s exception digest: new exceptions owned by %s reach no one (add the team under "
                    "digests.teams)", ctx.integration.name, ", ".join(unlisted))
