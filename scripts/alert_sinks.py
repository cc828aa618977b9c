"""Local stand-ins for the alert channels of the demo: an SMTP sink and a Slack-webhook recorder.

Both listen on 127.0.0.1 and append what they receive to JSON-lines files, so a failed task's e-mail (subject
and text) and Slack alerts can be read in ``.airflow/alerts/``. Usage:
``python scripts/alert_sinks.py DIR SMTP_PORT HTTP_PORT``.
"""

from __future__ import annotations

import html
import json
import re
import signal
import sys
import threading
import time
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


class MailSink:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.content)
        _append(self.path, {"at": time.time(), "from": envelope.mail_from, "to": envelope.rcpt_tos,
                            "subject": message.get("Subject", ""), "body": _text_of(message)})
        return "250 Message accepted"


def _text_of(message: Message) -> str:
    """The readable text of an alert e-mail: its first text part, HTML tags dropped and entities decoded."""
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        raw = payload.decode(part.get_content_charset() or "utf-8", "replace") if isinstance(payload, bytes) else ""
        return html.unescape(re.sub(r"<[^>]+>", "", raw)).strip()
    return ""


def slack_handler(path: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            _append(path, {"at": time.time(), "path": self.path, "body": body})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    return Handler


def main(folder: str, smtp_port: int, http_port: int) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    mail = Controller(MailSink(out / "email.jsonl"), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    slack = ThreadingHTTPServer(("127.0.0.1", http_port), slack_handler(out / "slack.jsonl"))
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    slack.shutdown()
    mail.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
