"""Cin7 Core fulfilment and webhook calls, mixed into :class:`~erp_wms_sync.connectors.cin7core.Cin7CoreClient`.

Fulfilment: the tasks of a sale (``/sale/fulfilment``), a new task, and the writes of its pick, pack and ship
stages. Webhooks: list, create, change and delete subscriptions (``/webhooks``).

Every call goes through the client's transport, so it spends the key's shared budget and is retried, redacted
and refused (400 → :class:`~erp_wms_sync.errors.ApiRejected` carrying Cin7's message) as every other call.
Every answer is checked before it is returned: a non-object, a list that is not one, a task or stage without
its ``TaskID`` or ``Status``, or an answer for another sale, task or webhook than the one asked for raises
:class:`~erp_wms_sync.errors.ApiResponseInvalid` naming the call; nothing is taken from it.

A webhook's ``ExternalPassword`` and ``ExternalBearerToken`` are the credentials Cin7 sends to our receiver:
they join the client's redaction (and the process's known secrets) before the call that carries or returns
them, so no error message, log line or alert can show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erp_wms_sync.connectors.parsing import FieldReader, check_identity, decode_json, text
from erp_wms_sync.connectors.redaction import redact, remember
from erp_wms_sync.connectors.transport import HttpTransport, trim

_read = FieldReader("cin7core", blank_is_missing=True)
STAGES = ("pick", "pack", "ship")
WRITE_METHODS = ("POST", "PUT")
STAGE_KEYS = ("Pick", "Pack", "Ship")
#: Webhook fields holding the credentials Cin7 presents to our receiver.
WEBHOOK_SECRETS = ("ExternalPassword", "ExternalBearerToken")


class Cin7FulfilmentCalls:
    """Fulfilment and webhook calls of a Cin7 Core client (needs its ``transport`` and ``_secrets``)."""

    transport: HttpTransport
    _secrets: tuple[str, ...]

    # ---- fulfilment -------------------------------------------------------------------------
    def fulfilment_tasks(self, sale_id: str) -> list[dict[str, Any]]:
        """The fulfilment tasks of a sale (``TaskID``, ``Pick``, ``Pack``, ``Ship`` with their statuses and
        lines), in Cin7's order."""
        return self._tasks("GET", sale_id, self._json("GET", "sale/fulfilment", params={"SaleID": sale_id}))

    def add_fulfilment_task(self, sale_id: str) -> list[dict[str, Any]]:
        """Add a fulfilment task to a sale (a second task makes a simple sale advanced); answers the sale's
        tasks, the new one among them (see :func:`~erp_wms_sync.domain.cin7_fulfilment.new_task_id`)."""
        return self._tasks("POST", sale_id, self._json("POST", "sale/fulfilment", body={"SaleID": sale_id}))

    def write_fulfilment_stage(self, stage: str, body: Mapping[str, Any], *, method: str = "POST") -> dict[str, Any]:
        """POST (or PUT) the ``stage`` (pick, pack, ship) of the task ``body["TaskID"]``; returns the stage
        document Cin7 answers (``TaskID``, ``Status``, ``Lines``)."""
        if stage not in STAGES:
            raise ValueError(f"unknown fulfilment stage {stage!r}; expected one of {', '.join(STAGES)}")
        if method not in WRITE_METHODS:
            raise ValueError(f"a fulfilment stage is written with POST or PUT, not {method!r}")
        task_id = text(body.get("TaskID")).strip()
        if not task_id:
            raise ValueError(f"the {stage} body has no TaskID")
        where = f"{method} sale/fulfilment/{stage} for task {task_id}"
        document = _read.obj(self._json(method, f"sale/fulfilment/{stage}", body=dict(body)), where)
        check_identity(_read, document, "TaskID", task_id, where, self._secrets)
        _check_stage_document(document, where)
        return document

    def _tasks(self, method: str, sale_id: str, answer: Any) -> list[dict[str, Any]]:
        where = f"{method} sale/fulfilment for sale {sale_id}"
        listing = _read.obj(answer, where)
        check_identity(_read, listing, "SaleID", sale_id, where, self._secrets)
        tasks = listing.get("Fulfilments")
        if not isinstance(tasks, list):
            raise _read.invalid(f"{where}: 'Fulfilments' is missing or not a list")
        seen: set[str] = set()
        for spot, task in _read.objects(tasks, where, "task"):
            task_id = _read.required_text(task, "TaskID", spot).strip().casefold()
            if task_id in seen:
                raise _read.invalid(redact(f"{spot}: TaskID {trim(task_id, 80)!r} is listed twice", self._secrets))
            seen.add(task_id)
            for key in STAGE_KEYS:
                if task.get(key) is not None:
                    _check_stage_document(_read.obj(task[key], f"{spot} {key}"), f"{spot} {key}")
        return tasks

    # ---- webhooks ---------------------------------------------------------------------------
    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook subscription of the account."""
        return self._webhooks(self._json("GET", "webhooks"), "GET webhooks")

    def create_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        """Subscribe (``Type``, ``IsActive``, ``ExternalURL``, ``ExternalAuthorizationType`` and its
        credentials, ``ExternalHeaders``); returns the webhook with the ``ID`` Cin7 gave it."""
        self._remember_webhook_secrets(webhook)
        where = f"POST webhooks ({text(webhook.get('Type')) or 'no Type'})"
        created = self._one_webhook(self._webhooks(self._json("POST", "webhooks", body=dict(webhook)), where), where)
        if text(created.get("Type")).casefold() != text(webhook.get("Type")).strip().casefold():
            raise _read.invalid(f"{where}: the answer is a webhook of type {trim(text(created.get('Type')), 80)!r}")
        return created

    def update_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        """Change a webhook (``ID`` required; e.g. ``{"ID", "IsActive": True}`` re-enables one Cin7 switched
        off after six failed deliveries); returns it as Cin7 now holds it."""
        webhook_id = text(webhook.get("ID")).strip()
        if not webhook_id:
            raise ValueError("a webhook is changed by its ID, and this one has none")
        self._remember_webhook_secrets(webhook)
        where = f"PUT webhooks {webhook_id}"
        changed = self._one_webhook(self._webhooks(self._json("PUT", "webhooks", body=dict(webhook)), where), where)
        check_identity(_read, changed, "ID", webhook_id, where, self._secrets)
        return changed

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook subscription (Cin7 answers ``{"Webhooks": []}``)."""
        if not webhook_id.strip():
            raise ValueError("a webhook is deleted by its ID, and none was given")
        where = f"DELETE webhooks {webhook_id}"
        response = self.transport.request("DELETE", "webhooks", params={"ID": webhook_id})
        if response.status_code == 204 or not (response.content or b"").strip():
            return
        self._webhooks(decode_json("cin7core", response, where, self._secrets), where)

    def _webhooks(self, answer: Any, where: str) -> list[dict[str, Any]]:
        body = _read.obj(answer, where)
        hooks = body.get("Webhooks")
        if not isinstance(hooks, list):
            raise _read.invalid(f"{where}: 'Webhooks' is missing or not a list")
        webhooks: list[dict[str, Any]] = []
        for spot, hook in _read.objects(hooks, where, "webhook"):
            self._remember_webhook_secrets(hook)  # before any check whose message might quote the answer
            _read.required_text(hook, "ID", spot)
            webhooks.append(hook)
        return webhooks

    @staticmethod
    def _one_webhook(webhooks: list[dict[str, Any]], where: str) -> dict[str, Any]:
        if len(webhooks) != 1:
            raise _read.invalid(f"{where}: the answer lists {len(webhooks)} webhooks, not the one written")
        return webhooks[0]

    def _remember_webhook_secrets(self, webhook: Mapping[str, Any]) -> None:
        """Redact this webhook's credentials from every later message of this client and of the process."""
        found = [value for key in WEBHOOK_SECRETS if isinstance(value := webhook.get(key), str) and value.strip()]
        new = [value for value in found if value not in self._secrets]
        if not new:
            return
        self._secrets = (*self._secrets, *new)
        self.transport.secrets = self._secrets
        remember(*new)

    # ---- transport --------------------------------------------------------------------------
    def _json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Any = None) -> Any:
        response = self.transport.request(method, path, params=params, json=body)
        return decode_json("cin7core", response, f"{method} {path}", self._secrets)


def _check_stage_document(document: Mapping[str, Any], where: str) -> None:
    """A pick, pack or ship document has a ``Status`` and its ``Lines`` (when present) are objects."""
    _read.required_text(document, "Status", where)
    lines = document.get("Lines")
    if lines is None:
        return
    if not isinstance(lines, list):
        raise _read.invalid(f"{where}: 'Lines' is not a list")
    for index, line in enumerate(lines, start=1):
        _read.obj(line, f"{where} line {index}")
