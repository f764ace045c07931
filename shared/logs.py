"""Structured JSON logs; ``tenant_id``, ``meeting_id`` and ``correlation_id`` ride along when known."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

bind = structlog.contextvars.bind_contextvars
clear = structlog.contextvars.clear_contextvars


# Secrets that must never reach a log line, whoever logs them: a query string's value (a manage link
# carries its token there), and a bearer token or manage token written out as a header.
_QUERY_VALUE = re.compile(r"(?<=[?&])([^=&\s\"']+)=[^&\s\"']*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_TOKEN_HEADER = re.compile(r"(?i)\b(authorization|x-manage-token)(['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+")


def redact(text: str) -> str:
    """``text`` without query-string values and tokens (``?token=[redacted]``, ``Bearer [redacted]``)."""
    if not any(mark in text for mark in ("=", "earer", "EARER", "uthorization", "anage-")):
        return text
    text = _QUERY_VALUE.sub(r"\1=[redacted]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    return _TOKEN_HEADER.sub(r"\1\2[redacted]", text)


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colour codes
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


# FastStream's own loggers: each gets a coloured plain-text handler of its own that does not propagate, so
# its lines would sit between our JSON lines. ``configure`` takes them over; the broker logs to BROKER_LOGGER.
FASTSTREAM_LOGGERS = ("faststream", "faststream.access", "faststream.access.kafka")
BROKER_LOGGER = "faststream.access.kafka"


def broker_logger() -> logging.Logger:
    """The logger to give a FastStream broker (``KafkaBroker(logger=...)``): it writes through the root
    handler, so its lines are JSON like ours, without colours."""
    logger = logging.getLogger(BROKER_LOGGER)
    logger.handlers.clear()
    logger.propagate = True
    return logger


def configure(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _, __, event: {**event, "service": service},
            _redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in FASTSTREAM_LOGGERS:
        taken_over = logging.getLogger(name)
        taken_over.handlers.clear()
        taken_over.propagate = True
        taken_over.setLevel(logging.NOTSET)
    # httpx logs every URL it requests at INFO, query string and all.
    for noisy in ("aiokafka", "faststream", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
