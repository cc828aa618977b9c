"""Delivery of exception digests through the Airflow provider notifiers, as the failure alerts do
(:mod:`erp_wms_sync.airflow.alerts`): a fresh ``SmtpNotifier`` / ``SlackWebhookNotifier`` per message, called with
``notify`` so the text, already rendered and scrubbed by :mod:`erp_wms_sync.flows.exception_digest`, is sent as it
is and never evaluated as a template. Connections are Airflow connections (``alerts.smtp_conn_id``, the team's or
the integration's Slack webhook connection); a missing connection or a refusing server raises here, and the flow
records that channel as not delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erp_wms_sync.flows.exception_digest import EMAIL, SLACK, Digest, Target, email_html, slack_text, subject


class NotifierChannels:
    """:class:`~erp_wms_sync.flows.exception_digest.Channels` over the SMTP and Slack-webhook provider notifiers."""

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        self.context: Any = dict(context or {})  # the notifiers type it as Airflow's Context (a TypedDict)

    def send(self, target: Target, digest: Digest) -> None:
        """Send one digest; raises whatever the provider raises when the message was not accepted."""
        if target.channel == EMAIL:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            SmtpNotifier(to=list(target.recipients), subject=subject(digest), html_content=email_html(digest),
                         smtp_conn_id=target.conn_id).notify(self.context)
        elif target.channel == SLACK:
            from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

            SlackWebhookNotifier(slack_webhook_conn_id=target.conn_id, text=slack_text(digest),
                                 unfurl_links=False).notify(self.context)
        else:
            raise ValueError(f"unknown digest channel {target.channel!r}")
