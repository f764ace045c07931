"""A local SMTP server that keeps every mail it receives as an .eml file (for ``make up``)."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from deploy.local.supervision import serve_until_stopped


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_mail_sink(folder: Path, port: int) -> Controller:
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_SaveToFolder(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> None:
    """``python -m deploy.local.mailsink FOLDER PORT``: the mail sink as a process of its own, until SIGTERM."""
    folder, port = (argv if argv is not None else sys.argv[1:])[:2]
    controller = Controller(_SaveToFolder(Path(folder)), hostname="127.0.0.1", port=int(port))
    Path(folder).mkdir(parents=True, exist_ok=True)
    serve_until_stopped(controller.start, controller.stop)


if __name__ == "__main__":
    main()
