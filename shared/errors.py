"""Errors a use case raises; the HTTP layer turns them into problem+json responses."""

from __future__ import annotations


class NotFound(LookupError):
    status = 404


class Conflict(RuntimeError):
    status = 409


class Unprocessable(ValueError):
    status = 422


class Forbidden(PermissionError):
    status = 403


class TooManyRequests(RuntimeError):
    """An abuse limit refused the request (``shared/ratelimit.py``): answered 429 with ``Retry-After``.

    ``str(exc)`` is the detail shown to the person, saying when to try again."""

    status = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, int(retry_after_s))


AppError = NotFound | Conflict | Unprocessable | Forbidden | TooManyRequests
