"""The GSM 03.38 (GSM-7) alphabet: how many characters an SMS text takes, and how many parts it needs.

A single SMS holds 160 GSM-7 characters; characters of the extension table count twice; one
character outside the alphabet turns the whole message into UCS-2 (70 per part).
"""

from __future__ import annotations

BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = frozenset("^{}\\[~]|€\f")
SINGLE_PART = 160
PART_WITH_HEADER = 153


def length(text: str) -> int | None:
    """The length in GSM-7 septets, or None when the text needs UCS-2."""
    total = 0
    for ch in text:
        if ch in BASIC:
            total += 1
        elif ch in EXTENSION:
            total += 2
        else:
            return None
    return total


def outside(text: str) -> str:
    """The characters of ``text`` that GSM-7 cannot carry."""
    return "".join(sorted({ch for ch in text if ch not in BASIC and ch not in EXTENSION}))


def parts(text: str) -> int:
    septets = length(text)
    if septets is None:
        return 1 if len(text) <= 70 else -(-len(text) // 67)
    return 1 if septets <= SINGLE_PART else -(-septets // PART_WITH_HEADER)
