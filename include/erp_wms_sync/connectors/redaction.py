"""Redaction of credentials and of the forms servers echo them in.

A server that repeats a credential back rarely repeats it verbatim: it URL-encodes it in a query string,
base64-encodes it in a ``Basic`` header or a SOAP field (Peoplevox sends its password base64-encoded), or
JSON- or XML-escapes it inside an error body. :func:`variants` lists, for one credential, every form worth
removing:

- the exact text, URL-encoded (``quote`` and ``quote_plus``, upper- and lower-case hex, and twice-encoded);
- base64, standard and url-safe, with and without ``=`` padding, also URL-encoded and JSON-escaped
  (``\\/``). Besides the credential's own encoding, the three *aligned cores* are listed: the characters
  that only depend on the credential whatever precedes it, so ``base64("user:" + password)`` (a basic-auth
  header) or any larger base64 blob that contains the credential is caught as well;
- JSON-escaped (``ensure_ascii`` on and off, ``/`` escaped or not) and XML/HTML-escaped.

:func:`redact` replaces every variant of every credential (longest first) with ``***``. Credentials
shorter than :data:`MIN_SECRET_LENGTH` are ignored (masking "ab" everywhere would only destroy messages).

The module also keeps the process's *known* credentials (:func:`remember`, :func:`redact_known`), so code
that has no client at hand, such as an alert callback, can still scrub a message; listeners added with
:func:`on_new_secret` (the Airflow hooks register the secrets masker) learn every variant of each new
credential, e.g. a Peoplevox session id opened in the middle of a task.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

REDACTED = "***"
MIN_SECRET_LENGTH = 3
MIN_CORE_LENGTH = 6  # shorter base64 fragments would match innocent text
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _url_forms(value: str) -> Iterator[str]:
    """``value`` URL-encoded (path and form style, upper- and lower-case hex)."""
    for encoded in (quote(value, safe=""), quote_plus(value, safe=""), quote(value)):
        yield encoded
        yield _PERCENT.sub(lambda match: match.group(0).lower(), encoded)


def _json_forms(value: str) -> Iterator[str]:
    """``value`` as it appears inside a JSON string."""
    for ascii_only in (True, False):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        yield escaped
        yield escaped.replace("/", "\\/")


def _xml_forms(value: str) -> Iterator[str]:
    """``value`` as it appears in XML / HTML text or attributes."""
    yield html.escape(value, quote=False)
    yield html.escape(value, quote=True)
    yield html.escape(value, quote=True).replace("&#x27;", "&apos;")
    yield html.escape(value, quote=True).replace("&#x27;", "&#39;")


def _base64_cores(raw: bytes) -> Iterator[str]:
    """Standard base64 of ``raw`` as found at each of the three byte alignments inside a longer blob.

    With ``k`` unknown bytes before it (k = 0, 1, 2), the first ``(0, 2, 3)[k]`` characters also depend on
    those bytes and the last one or two on what follows, so only the middle is kept.
    """
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        head = (0, 2, 3)[offset]
        tail = (offset + len(raw)) % 3
        core = encoded[head: len(encoded) - (1 if tail else 0)]
        if len(core) >= MIN_CORE_LENGTH:
            yield core


def _base64_forms(secret: str) -> Iterator[str]:
    """Every base64 spelling of ``secret`` worth removing (whole and aligned cores, both alphabets)."""
    raw = secret.encode()
    standard = base64.b64encode(raw).decode()
    spellings = [standard, standard.rstrip("=")]
    spellings += [core for core in _base64_cores(raw)]
    for spelling in spellings:
        urlsafe = spelling.translate(str.maketrans("+/", "-_"))
        for form in (spelling, urlsafe):
            yield form
            yield from _url_forms(form)
            yield form.replace("/", "\\/")


@functools.lru_cache(maxsize=256)
def variants(secret: str) -> tuple[str, ...]:
    """Every form of ``secret`` to redact, longest first; empty for a credential too short to redact."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return ()
    forms: set[str] = {secret}
    forms.update(_url_forms(secret))
    forms.update(_url_forms(quote(secret, safe="")))  # URL-encoded twice
    forms.update(_json_forms(secret))
    forms.update(_xml_forms(secret))
    for url_form in list(_url_forms(secret)):
        forms.update(_xml_forms(url_form))  # a query string inside XML: & becomes &amp;
    forms.update(_base64_forms(secret))
    return tuple(sorted((form for form in forms if len(form) >= MIN_SECRET_LENGTH), key=lambda f: (-len(f), f)))


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = sorted({form for secret in secrets for form in variants(secret)}, key=lambda f: (-len(f), f))
    return re.compile("|".join(re.escape(form) for form in forms)) if forms else None


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (see :func:`variants`) replaced by ``***``."""
    pattern = _pattern(tuple(sorted({secret for secret in secrets if secret})))
    return pattern.sub(REDACTED, text) if pattern is not None and text else text


class _Registry:
    """The credentials this process has used, and who wants to hear about new ones."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.listeners: list[Callable[[str], None]] = []
        self.lock = threading.Lock()

    def add(self, secret: str) -> list[Callable[[str], None]]:
        """Record ``secret``; the listeners to tell (none when it was already known)."""
        with self.lock:
            if secret in self.secrets:
                return []
            self.secrets.add(secret)
            return list(self.listeners)


_REGISTRY = _Registry()


def remember(*secrets: str) -> None:
    """Add credentials to the process's known set and tell every listener each of their variants."""
    for secret in secrets:
        if not variants(secret):
            continue
        for listener in _REGISTRY.add(secret):
            _tell(listener, secret)


def on_new_secret(listener: Callable[[str], None]) -> None:
    """Call ``listener(form)`` for every variant of every credential remembered, now and later."""
    with _REGISTRY.lock:
        if listener in _REGISTRY.listeners:
            return
        _REGISTRY.listeners.append(listener)
        known = sorted(_REGISTRY.secrets)
    for secret in known:
        _tell(listener, secret)


def _tell(listener: Callable[[str], None], secret: str) -> None:
    for form in variants(secret):
        listener(form)


def start_afresh() -> None:
    """Forget every remembered credential and clear Airflow's log masks: the state a new task process starts in.

    For runners that execute many tasks in one process (``erp-wms-sync simulate``, the test suite). In a deployment
    each task is a process of its own, and what it remembered (a Peoplevox session per log-in, each in every
    encoding) dies with it; one long process would keep every session id of a whole day instead, and Airflow's
    masker compiles one pattern of all of them again for each new form. Listeners stay registered, and a task
    remembers its connection's credentials again as it opens its clients.
    """
    with _REGISTRY.lock:
        _REGISTRY.secrets.clear()
    for name in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        reset = getattr(sys.modules.get(name), "reset_secrets_masker", None)
        if reset is not None:
            reset()


def known_secrets() -> tuple[str, ...]:
    with _REGISTRY.lock:
        return tuple(sorted(_REGISTRY.secrets))


def redact_known(text: str) -> str:
    """``text`` with every form of every credential this process remembered replaced by ``***``."""
    return redact(text, known_secrets())
