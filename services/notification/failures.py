"""How a delivery attempt can fail: worth another try later, or not."""

from __future__ import annotations


class TemporaryFailure(Exception):
    """Worth retrying later: SMTP 4xx, gateway 5xx, a timeout, a refused connection."""


class PermanentFailure(Exception):
    """Retrying cannot help: an unknown mailbox, an invalid phone number."""
