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


AppError = NotFound | Conflict | Unprocessable | Forbidden
