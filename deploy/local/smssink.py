"""A local SMS gateway that keeps every SMS it is sent as a text file (for ``make up``).

It takes the requests of ``services/notification/sms.py`` exactly as they are sent to a real gateway:
``POST`` with the JSON ``{"to", "from", "text", "reference"}``, ``Authorization: Bearer <key>`` (not
checked here) and ``Idempotency-Key``. Each SMS becomes ``<time>-<reference>.txt`` in the folder; a
repeated Idempotency-Key is answered as accepted again without a second file, as a gateway would.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from deploy.local.supervision import serve_until_stopped

PATH = "/sms"
MAX_BODY = 64 * 1024


class SmsSink:
    def __init__(self, folder: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self._seen: dict[str, str] = {}  # Idempotency-Key -> the id it was given
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sms-sink", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> SmsSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def keep(self, sms: dict[str, Any], idempotency_key: str | None) -> tuple[str, bool]:
        """Write the SMS to a file; return its id and whether it is new."""
        with self._lock:
            if idempotency_key and idempotency_key in self._seen:
                return self._seen[idempotency_key], False
            sms_id = uuid.uuid4().hex[:12]
            reference = re.sub(r"[^A-Za-z0-9_-]", "_", str(sms.get("reference") or sms_id))[:64]
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{reference}.txt"
            lines = [
                f"To: {sms['to']}",
                f"From: {sms.get('from', '')}",
                f"Reference: {sms.get('reference', '')}",
                f"Date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
                "",
                str(sms["text"]),
            ]
            (self.folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            if idempotency_key:
                self._seen[idempotency_key] = sms_id
            return sms_id, True


def _handler_for(sink: SmsSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != PATH:
                return self._answer(404, {"error": f"POST SMS to {PATH}"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, {"error": "too large"})
            try:
                sms = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                return self._answer(400, {"error": "the body is not JSON"})
            if not isinstance(sms, dict) or not sms.get("to") or not isinstance(sms.get("text"), str):
                return self._answer(422, {"error": 'expected {"to", "from", "text", "reference"}'})
            sms_id, _ = sink.keep(sms, self.headers.get("Idempotency-Key"))
            return self._answer(200, {"id": sms_id, "status": "accepted"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # the files are the record
            pass

    return Handler


def start_sms_sink(folder: Path, port: int = 0) -> SmsSink:
    return SmsSink(folder, port).start()


def main(argv: list[str] | None = None) -> None:
    """``python -m deploy.local.smssink FOLDER PORT``: the SMS sink as a process of its own, until SIGTERM."""
    folder, port = (argv if argv is not None else sys.argv[1:])[:2]
    sink = SmsSink(Path(folder), int(port))
    serve_until_stopped(sink.start, sink.stop)


if __name__ == "__main__":
    main()
