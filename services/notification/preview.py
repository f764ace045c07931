"""Render every message in every language and channel into files, for reviewers and translators.

    python -m services.notification.preview [--out var/preview] [--no-link]

Writes ``<out>/<language>/<kind>.email.txt`` and ``<kind>.sms.txt``, and ``<out>/index.txt`` with
the length of each SMS in GSM-7 characters and SMS parts.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.notification import domain, gsm7, messages, templates
from services.notification.messages import Facts, MeetingView, TenantView
from services.notification.templates import Channel, Rendered

SAMPLE_MEETING = MeetingView(
    title="Kaffe og prat",
    starts_at=datetime(2027, 3, 2, 9, 0, tzinfo=UTC),  # 10:00 in Oslo
    duration_minutes=105,
    timezone="Europe/Oslo",
    venue={"name": "Arendal bibliotek", "address": "Torvet 6, 4836 Arendal", "kind": "library"},
)
SAMPLE_TENANT = TenantView("Arendal kommune", "folkmoterfolk@arendal.kommune.no", "+4737013000")
SAMPLE_REGISTRATION = uuid.UUID("3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b")
SAMPLE_TOKEN = "q8Zr3kVb1sT0yWm5Xn2Lp7Hc4Ja9Gd6Fe0Ui3Oo8Kw"  # as long as a real manage token
SAMPLE_BASE_URL = "https://pamelding.folkmoterfolk.no"
SAMPLE_SIGNUP = uuid.UUID("8d1e6f20-5b3c-4a7d-9e2f-0a1b2c3d4e5f")
SAMPLE_ERASURE_REQUEST = uuid.UUID("c4a9e2d7-1f3b-4c6e-8a5d-7b9c0d1e2f3a")
SAMPLE_CONFIRM_TOKEN = "Zt4Qm8Rk2Vx6Bn0Wc5Hy9Lp3Js7Df1Ga8Ue2Io6Pk"  # as long as a real confirmation token
SAMPLE_EXPIRES_AT = datetime(2027, 2, 24, 17, 30, tzinfo=UTC)  # 18:30 in Oslo
SAMPLE_DETAILS: dict[str, dict[str, Any]] = {
    domain.PAIRS_PUBLISHED: {"seat": 7, "pair_number": 4, "interests": ["football", "cooking"]},
    domain.SEAT_CHANGED: {"seat": 12, "pair_number": 6, "interests": ["music"], "partners": 2},  # moved into a trio
    domain.WAITLIST_ENDED: {"when": "closed"},
    domain.REGISTRATION_WAITLISTED: {"waitlist_position": 3},
    domain.MEETING_CHANGED: {
        "changes": ["time", "place"],
        "was": {
            "starts_at": "2027-03-01T09:00:00+00:00",
            "duration_minutes": 105,
            "venue": {"name": "Frivilligsentralen", "address": "Langbryggen 11, 4841 Arendal"},
        },
    },
}


def sample(kind: str, language: str, *, with_link: bool = True) -> Facts:
    """The facts of a typical message of ``kind``; ``with_link=False`` leaves out its link's token."""
    confirming = kind in domain.WITH_CONFIRM_LINK
    return Facts(
        kind=kind,
        name="Amina",
        language=language,
        meeting=None if kind in (domain.ERASURE_CONFIRMED, domain.CONFIRM_ERASURE) else SAMPLE_MEETING,
        registration_id=None if confirming else SAMPLE_REGISTRATION,
        manage_token=SAMPLE_TOKEN if with_link and kind in domain.WITH_MANAGE_LINK else None,
        signup_id=SAMPLE_SIGNUP if kind == domain.CONFIRM_SIGNUP else None,
        erasure_request_id=SAMPLE_ERASURE_REQUEST if kind == domain.CONFIRM_ERASURE else None,
        confirm_token=SAMPLE_CONFIRM_TOKEN if with_link and confirming else None,
        link_expires_at=SAMPLE_EXPIRES_AT if confirming else None,
        details=SAMPLE_DETAILS.get(kind, {}),
        tenant=SAMPLE_TENANT,
    )


def channels(kind: str) -> list[Channel]:
    found: list[Channel] = ["email", "sms"]
    return [c for c in found if templates.has_template(kind, c)]


def render_all(*, with_link: bool = True) -> dict[tuple[str, str, Channel], Rendered]:
    return {
        (language, kind, channel): messages.render(
            sample(kind, language, with_link=with_link), channel, SAMPLE_BASE_URL
        )
        for language in templates.LANGUAGES
        for kind in domain.KINDS
        for channel in channels(kind)
    }


def write(out: Path, rendered: dict[tuple[str, str, Channel], Rendered]) -> list[Path]:
    written = []
    index = ["SMS lengths (GSM-7 characters; one SMS holds 160):", ""]
    for (language, kind, channel), message in sorted(rendered.items()):
        path = out / language / f"{kind}.{channel}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        if channel == "email":
            path.write_text(f"Subject: {message.subject}\n\n{message.body}", encoding="utf-8")
        else:
            path.write_text(message.body + "\n", encoding="utf-8")
            septets = gsm7.length(message.body)
            size = f"{septets} chars" if septets is not None else f"not GSM-7: {gsm7.outside(message.body)!r}"
            index.append(f"{language}/{kind}: {size}, {gsm7.parts(message.body)} part(s)")
        written.append(path)
    (out / "index.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notification.preview", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("var/preview"), help="folder to write into")
    parser.add_argument("--no-link", action="store_true", help="render as if no manage link were known")
    args = parser.parse_args(argv)
    written = write(args.out, render_all(with_link=not args.no_link))
    print(f"wrote {len(written)} messages to {args.out}/ (see {args.out / 'index.txt'} for SMS lengths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
