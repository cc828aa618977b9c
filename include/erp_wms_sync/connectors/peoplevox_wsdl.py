"""The Peoplevox WSDL, downloaded and parsed once per service URL instead of once per task.

Every Airflow task runs in its own process and builds its own :class:`~erp_wms_sync.connectors.peoplevox.
PeoplevoxClient`; without a cache each of them downloads the service description (a counted ``WSDL`` call) and
parses it. :class:`WsdlCache` keeps it at two levels:

- **in the process**: the parsed zeep ``Document`` per WSDL URL, shared by every client of that URL (the document
  is read-only once parsed; it keeps no reference to the client, its transport or its credentials);
- **on disk**: one file per URL, named by the SHA-256 of the URL, holding the WSDL bytes (and any document it
  imports), a digest of them and the time they were fetched — never the URL itself, a password or a session id.
  The folder is ``$ERP_WMS_CACHE_DIR/peoplevox-wsdl``, else ``$AIRFLOW_HOME/cache/peoplevox-wsdl``, else a
  per-user folder in the system temp directory; it is created private (0700) and files are written 0600,
  atomically. A file that cannot be read, is not ours, fails its digest, does not parse or lacks the
  IntegrationServiceV4 binding is deleted and the WSDL fetched again.

Entries older than :data:`MAX_AGE_SECONDS` are fetched again (at most one ``WSDL`` call per URL per day). A
WSDL changed on the server is handled by the client: when a call made with a cached document fails in a way a
stale description explains, it calls :meth:`WsdlCache.forget` and fetches once more (see
:meth:`PeoplevoxClient._invoke <erp_wms_sync.connectors.peoplevox.PeoplevoxClient._invoke>`).
The cache is an optimisation: a folder that cannot be written only costs a download.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zeep
import zeep.exceptions
from lxml import etree
from zeep.wsdl import Document

log = logging.getLogger(__name__)

FORMAT = 1
MAX_AGE_SECONDS = 24 * 3600
FOLDER = "peoplevox-wsdl"
PVX_NS = "http://www.peoplevox.net/"
BINDING = f"{{{PVX_NS}}}IntegrationServiceV4Soap"
HEADER_ELEMENT = f"{{{PVX_NS}}}UserSessionCredentials"

Fetch = Callable[[str], bytes]
#: What reading a stored copy may raise: the copy is then deleted and the WSDL fetched again.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, zeep.exceptions.Error, etree.XMLSyntaxError)


@dataclass(frozen=True)
class CachedWsdl:
    """A parsed WSDL, the digest of its bytes, and whether this look-up downloaded it."""

    document: Any  # zeep.wsdl.Document
    digest: str
    fetched: bool


@dataclass(frozen=True)
class _Entry:
    document: Any
    digest: str
    loaded_at: float


def cache_folder() -> Path:
    """Where WSDL files are kept (read from the environment at every use, so a task sees its own settings)."""
    explicit = os.environ.get("ERP_WMS_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit) / FOLDER
    home = os.environ.get("AIRFLOW_HOME", "").strip()
    if home:
        return Path(home) / "cache" / FOLDER
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"erp-wms-sync-{user}" / FOLDER


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def digest_of(main: bytes, imports: dict[str, bytes]) -> str:
    """SHA-256 over the WSDL and the documents it imports (in URL order)."""
    sha = hashlib.sha256(main)
    for url in sorted(imports):
        sha.update(b"\0" + url.encode("utf-8") + b"\0" + imports[url])
    return sha.hexdigest()


class _Loader:
    """What zeep calls to load documents while parsing: the WSDL from memory, anything it imports through
    ``fetch`` (recorded, so the disk copy holds it too). Detached after parsing, so a cached document keeps no
    reference to the client's transport."""

    binding_classes = None

    def __init__(self, url: str, main: bytes, imports: dict[str, bytes], fetch: Fetch | None) -> None:
        self.url = url
        self.main = main
        self.imports = imports
        self.fetch = fetch

    def load(self, url: str) -> bytes:
        if url == self.url:
            return self.main
        if url not in self.imports:
            if self.fetch is None:
                raise ValueError("the cached WSDL imports a document that is not cached")
            self.imports[url] = self.fetch(url)
        return self.imports[url]

    def detach(self) -> None:
        self.fetch = None


def parse(url: str, main: bytes, imports: dict[str, bytes], fetch: Fetch | None,
          settings: zeep.Settings) -> Any:
    """The zeep document of a WSDL; ``ValueError``/``KeyError``/zeep errors when it is not IntegrationServiceV4."""
    loader = _Loader(url, main, imports, fetch)
    try:
        document = Document(url, loader, settings=settings)  # type: ignore[arg-type]  # zeep only calls load()
    finally:
        loader.detach()
    if BINDING not in document.bindings:
        raise KeyError(f"the WSDL has no {BINDING} binding")
    document.types.get_element(HEADER_ELEMENT)  # raises when the session header is not described
    return document


class WsdlCache:
    """Parsed WSDLs per URL in this process, WSDL bytes per URL on disk (see the module docstring)."""

    def __init__(self, folder: Path | None = None, max_age: float = MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._folder = folder
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[str, _Entry] = {}

    @property
    def folder(self) -> Path:
        return self._folder or cache_folder()

    def path(self, url: str) -> Path:
        return self.folder / f"{url_key(url)}.json"

    def document(self, url: str, fetch: Fetch, settings: zeep.Settings) -> CachedWsdl:
        """The parsed WSDL of ``url``: from this process, else from disk, else downloaded with ``fetch`` (and
        then kept at both levels). Errors of a downloaded WSDL that cannot be used propagate."""
        now = self.clock()
        with self._lock:
            entry = self._memory.get(url)
        if entry is not None and now - entry.loaded_at < self.max_age:
            return CachedWsdl(entry.document, entry.digest, fetched=False)
        stored = self._read(url, settings, now)
        if stored is not None:
            return stored
        main = fetch(url)
        imports: dict[str, bytes] = {}
        document = parse(url, main, imports, fetch, settings)
        digest = digest_of(main, imports)
        with self._lock:
            self._memory[url] = _Entry(document, digest, now)
        self._write(url, main, imports, digest, now)
        return CachedWsdl(document, digest, fetched=True)

    def forget(self, url: str) -> None:
        """Drop ``url`` here and on disk (a call showed the cached description no longer matches)."""
        with self._lock:
            self._memory.pop(url, None)
        try:
            self.path(url).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("peoplevox WSDL cache: cannot delete a stale copy: %s", exc)

    def clear(self) -> None:
        """Forget every parsed WSDL of this process (the disk copies stay)."""
        with self._lock:
            self._memory.clear()

    # -- disk ----------------------------------------------------------------------------------------
    def _read(self, url: str, settings: zeep.Settings, now: float) -> CachedWsdl | None:
        path = self.path(url)
        try:
            if not path.is_file() or not _ours(path):
                return None
            record = json.loads(path.read_text(encoding="utf-8"))
            main, imports, digest, fetched_at = _decode(record, url)
            if now - fetched_at >= self.max_age or now < fetched_at - 60:
                raise ValueError("the copy is out of date")
            document = parse(url, main, imports, None, settings)
        except UNREADABLE as exc:  # any unusable copy is thrown away and fetched again
            log.info("peoplevox WSDL cache: the stored copy is not used (%s); fetching it again",
                     type(exc).__name__)
            _discard(path)
            return None
        with self._lock:
            self._memory[url] = _Entry(document, digest, fetched_at)
        return CachedWsdl(document, digest, fetched=False)

    def _write(self, url: str, main: bytes, imports: dict[str, bytes], digest: str, now: float) -> None:
        record = {"format": FORMAT, "url_sha256": url_key(url), "fetched_at": now, "sha256": digest,
                  "wsdl": base64.b64encode(main).decode("ascii"),
                  "imports": {name: base64.b64encode(data).decode("ascii") for name, data in imports.items()}}
        path = self.path(url)
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("peoplevox WSDL cache: cannot keep a copy in %s: %s", path.parent, exc)
            _discard(temporary)


def _decode(record: Any, url: str) -> tuple[bytes, dict[str, bytes], str, float]:
    """The WSDL bytes, imports, digest and fetch time of a stored record; ``ValueError`` when it is not valid."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError("unknown format")
    if record.get("url_sha256") != url_key(url):
        raise ValueError("the copy is of another URL")
    try:
        main = base64.b64decode(str(record["wsdl"]), validate=True)
        imports = {str(name): base64.b64decode(str(data), validate=True)
                   for name, data in dict(record.get("imports") or {}).items()}
        fetched_at = float(record["fetched_at"])
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"unreadable fields: {type(exc).__name__}") from None
    digest = str(record.get("sha256") or "")
    if not main or digest != digest_of(main, imports):
        raise ValueError("the digest does not match the content")
    return main, imports, digest, fetched_at


def _ours(path: Path) -> bool:
    """A file another user wrote (e.g. in a shared temp folder) is not trusted."""
    return not hasattr(os, "getuid") or path.stat().st_uid == os.getuid()


def _discard(path: Path) -> None:
    """Delete ``path`` if it is ours; never raises."""
    try:
        if path.exists() and _ours(path):
            path.unlink()
    except OSError:
        pass


#: The cache every client of this process uses unless it is given another one.
SHARED = WsdlCache()
