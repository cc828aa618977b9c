"""Redaction removes a credential in every form a server may echo it: exact, URL-encoded, base64 (plain,
url-safe, padded or not, inside a larger blob such as a basic-auth header, then URL-encoded), JSON- and
XML-escaped; it leaves innocent text alone."""

from __future__ import annotations

import base64
import json
import os
import re
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import pytest

from erp_wms_sync.connectors import redaction
from erp_wms_sync.connectors.redaction import redact, variants
from erp_wms_sync.connectors.transport import redact as transport_redact

SECRET = 'Kx7/q+Z="é&<k>'


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


ECHOES = {
    "exact": SECRET,
    "quote": quote(SECRET, safe=""),
    "quote-keeps-slash": quote(SECRET),
    "quote-plus": quote_plus(SECRET),
    "quote-lower-hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
    "quoted-twice": quote(quote(SECRET, safe=""), safe=""),
    "base64": b64(SECRET.encode()),
    "base64-no-padding": b64(SECRET.encode()).rstrip("="),
    "base64-url-safe": base64.urlsafe_b64encode(SECRET.encode()).decode(),
    "base64-then-url": quote(b64(SECRET.encode()), safe=""),
    "basic-auth": b64(f"api.user:{SECRET}".encode()),
    "json": json.dumps(SECRET)[1:-1],
    "json-unicode": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    "json-escaped-slash": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    "xml": escape(SECRET),
    "xml-attribute": escape(SECRET, {'"': "&quot;"}),
}


@pytest.mark.parametrize("form", list(ECHOES.values()), ids=list(ECHOES))
def test_every_echoed_form_is_redacted(form: str) -> None:
    text = f"refused: {form} (request 42)"
    cleaned = redact(text, [SECRET])
    assert cleaned.startswith("refused: ") and cleaned.endswith(" (request 42)") and "***" in cleaned
    for echoed in ECHOES.values():
        assert echoed not in cleaned


@pytest.mark.parametrize("before", range(7))
@pytest.mark.parametrize("after", range(4))
def test_base64_blobs_holding_the_secret_at_any_offset_are_redacted(before: int, after: int) -> None:
    blob = b64(os.urandom(before) + SECRET.encode() + os.urandom(after))
    cleaned = redact(f"token={blob};", [SECRET])
    assert "***" in cleaned
    remains = "".join(cleaned.replace("token=", "").replace(";", "").split("***"))
    # what remains encodes the random bytes around the secret, plus at most 4 characters shared with it
    assert len(remains) <= -(-(before + after) * 4 // 3) + 6


def test_innocent_text_and_tiny_secrets_are_left_alone() -> None:
    text = "key=abc&account=acct-123&x=ab"
    assert redact(text, ["acct-123", "ab", ""]) == "key=abc&account=***&x=ab"
    assert redact("Order SO-1 released", [SECRET]) == "Order SO-1 released"
    assert variants("ab") == ()


def test_several_secrets_and_the_transport_name_agree() -> None:
    other = "a1b2c3d4-e5f6"
    text = f"{quote(SECRET, safe='')} and {b64(other.encode())}"
    assert redact(text, [SECRET, other]) == "*** and ***"
    assert transport_redact(text, [SECRET, other]) == "*** and ***"


def test_remembered_secrets_reach_listeners_with_every_form() -> None:
    heard: list[str] = []
    secret = "remembered-secret-7f3a"
    redaction.remember(secret)
    redaction.on_new_secret(heard.append)
    later = "opened-later-session-91c2"
    redaction.remember(later)
    assert set(variants(secret)) <= set(heard) and set(variants(later)) <= set(heard)
    assert b64(later.encode()) in heard
    assert redaction.redact_known(f"session {quote(later)} / {b64(secret.encode())}") == "session *** / ***"
    redaction._REGISTRY.listeners.remove(heard.append)


def test_starting_afresh_forgets_like_a_new_task_process_and_keeps_listening() -> None:
    """simulate runs a whole day's tasks in one process: each starts with no remembered session ids or masks."""
    from airflow.sdk._shared.secrets_masker import _secrets_masker
    from airflow.sdk.log import mask_secret

    heard: list[str] = []
    redaction.on_new_secret(heard.append)
    redaction.on_new_secret(mask_secret)
    try:
        old = "session-of-an-earlier-task-4d1e"
        redaction.remember(old)
        assert _secrets_masker().redact(f"sid={old}") == "sid=***"

        redaction.start_afresh()
        assert redaction.known_secrets() == ()
        assert redaction.redact_known(f"sid={old}") == f"sid={old}"
        assert _secrets_masker().redact(f"sid={old}") == f"sid={old}", "Airflow's masks went with the task"

        new = "session-of-the-next-task-8b2c"
        heard.clear()
        redaction.remember(new)
        assert set(variants(new)) <= set(heard), "listeners stay registered"
        assert _secrets_masker().redact(f"sid={new}") == "sid=***"
    finally:
        redaction._REGISTRY.listeners.remove(heard.append)
        redaction._REGISTRY.listeners.remove(mask_secret)
