"""The pairs after sign-up closes: the proposal with its reasons, swap, lock, publish; the long table drawn for
print, name cards and the host's script.

Each change is a command to matching (``usecases/pairs.py``); the page waits a few seconds for the new version
(``pairs.wait_for_plan``) and then shows it, saying what changed and how the score moved. Reasons are worded
here from matching's codes (``Pair.why``, ``Unpaired.why``) and the vocabulary's labels, in the page's
language; a plan made before the codes existed shows matching's English sentences.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from gettext import NullTranslations
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.registration.console.web import ConsoleRoute, Coordinator, render
from services.registration.pages import web
from services.registration.pages.signup_form import N_
from services.registration.pages.web import form_of
from services.registration.schemas import LockIn, PublishPairsIn, SwapIn
from services.registration.usecases import pairs
from services.registration.usecases.pairs import PlanConflict, PlanUnprocessable
from services.registration.views import MeetingView
from shared import i18n, localtime
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

REASONS = {
    "shared_interests": N_("Shared interests: %(items)s"),
    "same_occupation": N_("Both work in %(items)s"),
    "same_situation": N_("Same situation: %(items)s"),
    "common_languages": N_("Both speak %(items)s"),
    "close_in_age": N_("Close in age"),
}
_REASON_CATEGORY = {
    "shared_interests": "interests",
    "same_occupation": "occupation_fields",
    "same_situation": "occupation_fields",
    "common_languages": "languages",
}
THIRD_MEMBER = N_("Third person: %(reason)s")
EXTRA_MEMBER = N_("Extra person %(n)s: %(reason)s")

UNPAIRED = {
    "no_one_in_other_group": N_("There is no one in the other group."),
    "paired_before_with_everyone": N_("Has been paired before with everyone who is free."),
    "same_gender_no_fit": N_("Wants a partner of the same gender, and no one in the other group fits."),
    "same_gender_no_gender": N_("Wants a partner of the same gender, but has not given their gender."),
    "others_want_same_gender": N_(
        "Everyone free in the other group wants a partner of the same gender, and no one fits."
    ),
    "groups_do_not_fit": N_("Everyone who fits is already in a pair with someone they cannot sit with."),
    "groups_full": N_("Every pair they could join has three people already."),
}

PROBLEMS = {
    "cannot_change_now": N_("The pairs can be changed only after sign-up has closed and before the meeting ends."),
    "no_plan": N_("There are no pairs yet. Wait a moment and reload the page."),
    "not_seated": N_("That person is no longer in the plan. Reload the page and choose again."),
    "two_groups": N_("Choose two newcomers or two residents, so that every pair keeps one of each."),
    "same_pair": N_("The two people sit in the same pair already. Choose people from two pairs."),
    "old_version": N_("The plan has changed since you opened the page. Look at the new version, then publish it."),
    "published_already": N_("This version is published already."),
    "choose_two": N_("Choose two people to swap."),
    "choose_one": N_("Choose a pair."),
}

AGENDA = {
    "welcome": N_("Welcome, and a round of introductions at the long table"),
    "call_out_pairs": N_("The host calls out the pairs, two by two; each pair sits down together"),
    "pair_talk": N_("Pair talk: one newcomer and one resident talk in private"),
    "sharing_round": N_("Sharing round: each pair tells the table a little of what they talked about"),
    "closing": N_("Closing: thanks, feedback, and a reminder that there is no obligation to keep in touch"),
}
DONE = ("swap", "lock", "unlock", "publish")
ROWS_PER_DRAWING = 5  # rows of the long table in one drawing: a band whose names read well on A4 landscape


# ------------------------------------------------------------------------------------------ wording


def _label(category: str, item_id: str, language: str) -> str:
    """A vocabulary label as a word in a sentence: lower case, except English language names ("Arabic")."""
    label = web.vocabulary_label(category, item_id, language)
    return label if language == "en" and category == "languages" else label[:1].lower() + label[1:]


def reason_words(reason: Mapping[str, Any], language: str, translations: NullTranslations) -> str:
    """One reason (``events.Reason`` as a dict: ``kind``, ``items``, ``member``) as a sentence in
    ``language``, e.g. «Felles interesser: matlaging, fotball» or «Tredje person: nær i alder». The items are
    the vocabulary's labels in that language; an unknown kind gives its code."""
    kind = str(reason.get("kind"))
    if kind not in REASONS:
        return kind
    category = _REASON_CATEGORY.get(kind)
    items = ", ".join(_label(category, str(i), language) for i in reason.get("items") or ()) if category else ""
    text = translations.gettext(REASONS[kind]) % {"items": items}
    member = reason.get("member")
    if not member:
        return text
    text = text[:1].lower() + text[1:]
    if member == "extra":
        return translations.gettext(THIRD_MEMBER) % {"reason": text}
    return translations.gettext(EXTRA_MEMBER) % {"n": str(member).removeprefix("extra_"), "reason": text}


def pair_reasons(pair: Mapping[str, Any], language: str, translations: NullTranslations) -> list[str]:
    """A pair's reasons in ``language`` (from ``why``); matching's English ``reasons`` for a plan made before
    the codes existed."""
    why = pair.get("why") or []
    if not why:
        return [str(r) for r in pair.get("reasons") or []]
    return [reason_words(r, language, translations) for r in why]


def unpaired_words(person: Mapping[str, Any], translations: NullTranslations) -> str:
    """Why someone has no pair, in the page's language (from ``why``: ``events.UnpairedReason`` as a dict);
    matching's English ``reason`` for a plan made before the codes existed."""
    why = person.get("why")
    if not why:
        return str(person.get("reason") or "")
    kind = why.get("kind")
    if kind in UNPAIRED:
        return translations.gettext(UNPAIRED[kind])
    parts = []
    if why.get("not_same_gender"):
        n = int(why["not_same_gender"])
        parts.append(
            translations.ngettext(
                "%(num)s is not of the gender they asked for", "%(num)s are not of the gender they asked for", n
            )
            % {"num": n}
        )
    if why.get("want_own_gender"):
        n = int(why["want_own_gender"])
        parts.append(
            translations.ngettext(
                "%(num)s wants a partner of their own gender", "%(num)s want a partner of their own gender", n
            )
            % {"num": n}
        )
    if why.get("paired_before"):
        n = int(why["paired_before"])
        parts.append(
            translations.ngettext("%(num)s was paired with them before", "%(num)s were paired with them before", n)
            % {"num": n}
        )
    return translations.gettext("No one in the other group fits: %(why)s.") % {"why": "; ".join(parts)}


def score_words(value: float, language: str) -> str:
    """A score with one decimal in the language's own way: «7,5» in Norwegian, "7.5" in English."""
    return format_decimal(value, format="0.0", locale="en" if language == "en" else "nb")


def first_name(name: str | None) -> str:
    """The first word of a name, for the table and the cards; "–" once the name is erased."""
    return name.split()[0] if name and name.split() else "–"


def names_together(names: Sequence[str], translations: NullTranslations) -> str:
    """«Amina og Kari», «Amina, Kari og Per» in the page's language."""
    if len(names) < 2:
        return "".join(names)
    return translations.gettext("%(some)s and %(last)s") % {"some": ", ".join(names[:-1]), "last": names[-1]}


# ------------------------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class DrawnSeat:
    seat: int
    side: str
    first_name: str
    group: str
    pair: int
    x: int
    y: int


@dataclass(frozen=True)
class Drawing:
    """One band of the long table: rows ``first_row``..``last_row`` (a row is two seats face to face), the
    seats to draw with their places in SVG units, each seat's pair number written on the table's edge in
    front of it (``labels``: x, y, pair number), the lines between pairs (``lines``: x1, y1, x2, y2; across
    the table between rows, or along a row whose two seats belong to two pairs, as after a trio), and
    whether the host's end is in this band. ``width`` is a full band's (every band is drawn at one scale);
    the table ends at ``table_end`` (SVG units)."""

    first_row: int
    last_row: int
    first_seat: int
    last_seat: int
    width: int
    table_end: int
    seats: tuple[DrawnSeat, ...]
    labels: tuple[tuple[int, int, int], ...]
    lines: tuple[tuple[int, int, int, int], ...]
    host_end: bool


ROW_WIDTH = 180
HOST_END = 90
TABLE_TOP = 120
TABLE_HEIGHT = 90
HEIGHT = 330
SEAT_HEIGHT = 60


def table_drawings(plan: Mapping[str, Any]) -> list[Drawing]:
    """The long table in bands of ``ROW_WIDTH``-wide rows, ``ROWS_PER_DRAWING`` rows each: row r holds seat
    2r-1 (the left side, drawn above the table) and seat 2r (the right side, below), seen from the host's
    end, which is at the start of the first band. Pure; ``plan`` is the named plan of ``pairs.seating_if_any``."""
    seats = sorted(
        ((m, p["number"]) for p in plan.get("pairs", []) for m in p["members"]), key=lambda mp: int(mp[0]["seat"])
    )
    if not seats:
        return []
    rows = (int(seats[-1][0]["seat"]) + 1) // 2
    pairs_in_row: dict[int, dict[str, int]] = {}
    for member, number in seats:
        pairs_in_row.setdefault((int(member["seat"]) + 1) // 2, {})[member["side"]] = number
    middle = TABLE_TOP + TABLE_HEIGHT // 2
    out = []
    for first in range(1, rows + 1, ROWS_PER_DRAWING):
        last = min(rows, first + ROWS_PER_DRAWING - 1)
        origin = HOST_END  # every band starts where the first one does, so that they line up
        drawn = []
        for member, number in seats:
            row = (int(member["seat"]) + 1) // 2
            if not first <= row <= last:
                continue
            left = member["side"] == "left"
            drawn.append(
                DrawnSeat(
                    seat=int(member["seat"]),
                    side=member["side"],
                    first_name=first_name(member.get("name")),
                    group=member["group"],
                    pair=number,
                    x=origin + (row - first) * ROW_WIDTH,
                    y=TABLE_TOP - SEAT_HEIGHT - 10 if left else TABLE_TOP + TABLE_HEIGHT + 10,
                )
            )
        labels = []
        lines = []
        for row in range(first, last + 1):
            x = origin + (row - first) * ROW_WIDTH
            here = pairs_in_row.get(row, {})
            if len(set(here.values())) == 1:  # partners face to face: one label across the table
                labels.append((x + ROW_WIDTH // 2, middle + 7, next(iter(here.values()))))
            else:
                for side, number in here.items():
                    y = TABLE_TOP + 28 if side == "left" else TABLE_TOP + TABLE_HEIGHT - 14
                    labels.append((x + ROW_WIDTH // 2, y, number))
            if len(set(here.values())) > 1:
                lines.append((x + 8, middle, x + ROW_WIDTH - 8, middle))
            following = pairs_in_row.get(row + 1, {})
            if row < last and following and not set(here.values()) & set(following.values()):
                lines.append((x + ROW_WIDTH, TABLE_TOP, x + ROW_WIDTH, TABLE_TOP + TABLE_HEIGHT))
        out.append(
            Drawing(
                first_row=first,
                last_row=last,
                first_seat=min(s.seat for s in drawn),
                last_seat=max(s.seat for s in drawn),
                # Every band as wide as a full one, so that all are drawn (and printed) at one scale.
                width=HOST_END + ROWS_PER_DRAWING * ROW_WIDTH + 20,
                table_end=origin + (last - first + 1) * ROW_WIDTH,
                seats=tuple(drawn),
                labels=tuple(labels),
                lines=tuple(lines),
                host_end=first == 1,
            )
        )
    return out


# --------------------------------------------------------------------------------------------- pages


def _translations(request: Request) -> tuple[str, NullTranslations]:
    language = web.language_of(request)
    return language, i18n.translations(language)


def _pairs_context(request: Request, plan: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the pairs page shows of a plan: per pair its reasons worded and whether it changed."""
    if plan is None:
        return {}
    language, translations = _translations(request)
    changed = {str(c) for c in plan.get("changed", [])}
    rows = []
    for pair in plan["pairs"]:
        members = pair["members"]
        rows.append(
            {
                "pair": pair,
                "newcomers": [m for m in members if m["group"] == "newcomer"],
                "residents": [m for m in members if m["group"] == "resident"],
                "reasons": pair_reasons(pair, language, translations),
                "changed": any(str(m["registration_id"]) in changed for m in members),
                "score": score_words(float(pair.get("score", 0.0)), language),
                "anchor": members[0]["registration_id"] if members else None,
            }
        )
    unpaired = [{"person": u, "why": unpaired_words(u, translations)} for u in plan.get("unpaired", [])]
    people = {
        g: sorted(
            ((m, p["number"]) for p in plan["pairs"] for m in p["members"] if m["group"] == g),
            key=lambda mp: (mp[1], int(mp[0]["seat"])),
        )
        for g in ("newcomer", "resident")
    }
    return {
        "rows": rows,
        "unpaired": unpaired,
        "people": people,
        "total": score_words(float(plan.get("total_score", 0.0)), language),
        "changed_pairs": sum(1 for r in rows if r["changed"]),
    }


def _outcome(request: Request, plan: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the last change did, from the redirect's query (``done``, ``from``: the version it was based on,
    ``score``: the total score before): arrived or still on its way."""
    done = request.query_params.get("done")
    if done not in DONE or plan is None:
        return None
    try:
        based_on = int(request.query_params.get("from", ""))
        before = float(request.query_params.get("score", ""))
    except ValueError:
        return None
    arrived = plan["version"] > based_on or (done == "publish" and plan["status"] == "published")
    language, _ = _translations(request)
    return {
        "done": done,
        "arrived": arrived,
        "before": score_words(before, language),
        "after": score_words(float(plan.get("total_score", 0.0)), language),
        "same_score": round(before, 1) == round(float(plan.get("total_score", 0.0)), 1),
    }


async def _pairs_page(
    request: Request, session: Coordinator, meeting_id: uuid.UUID, status_code: int = 200, problem: str | None = None
) -> Response:
    meeting, plan = await pairs.seating_if_any(runtime_of(request).db, session.principal, meeting_id)
    return render(
        request,
        "pairs.html",
        status_code,
        meeting=meeting,
        plan=plan,
        problem=problem,
        problems=PROBLEMS,
        outcome=None if problem else _outcome(request, plan),
        changeable=meeting.status.value == "registration_closed",
        **_pairs_context(request, plan),
    )


@router.get("/console/meetings/{meeting_id}/pairs")
async def pairs_page(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The proposed pairs in seat order with their reasons, scores and locks, the changed pairs marked, the
    unpaired people with why; the forms to swap, lock and publish. Before sign-up closes, says when pairs
    come."""
    return await _pairs_page(request, session, meeting_id)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


async def _after_command(
    request: Request, session: Coordinator, meeting_id: uuid.UUID, done: str, based_on: int, score: float
) -> Response:
    """Wait (bounded) for matching's new version, then 303 to the pairs page saying what happened."""
    await pairs.wait_for_plan(
        runtime_of(request).db, session.principal, meeting_id, based_on, published=done == "publish"
    )
    query = urlencode({"done": done, "from": based_on, "score": f"{score:.3f}"})
    return RedirectResponse(f"/console/meetings/{meeting_id}/pairs?{query}#outcome", status_code=303)


async def _current_score(request: Request, session: Coordinator, meeting_id: uuid.UUID) -> float:
    _, plan = await pairs.seating_if_any(runtime_of(request).db, session.principal, meeting_id)
    return float(plan.get("total_score", 0.0)) if plan else 0.0


@router.post("/console/meetings/{meeting_id}/pairs/swap")
async def swap(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Swap two people of one group (fields ``first`` and ``second``: registration ids); the page again with
    the problem in words when refused (400 for a missing choice, 409/422 from the use case)."""
    form = await form_of(request)
    a, b = _uuid(form.get("first")), _uuid(form.get("second"))
    if a is None or b is None or a == b:
        return await _pairs_page(request, session, meeting_id, 400, "choose_two")
    score = await _current_score(request, session, meeting_id)
    try:
        receipt = await pairs.swap(
            runtime_of(request).db, session.principal, meeting_id, SwapIn(registration_ids=(a, b))
        )
    except (PlanConflict, PlanUnprocessable) as exc:
        return await _pairs_page(request, session, meeting_id, exc.status, exc.code)
    return await _after_command(request, session, meeting_id, "swap", receipt.based_on_version, score)


@router.post("/console/meetings/{meeting_id}/pairs/lock")
async def lock(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Lock (``locked=1``) or unlock (``locked=0``) the pair of ``registration_id``."""
    form = await form_of(request)
    who = _uuid(form.get("registration_id"))
    if who is None or form.get("locked") not in ("0", "1"):
        return await _pairs_page(request, session, meeting_id, 400, "choose_one")
    locked = form["locked"] == "1"
    score = await _current_score(request, session, meeting_id)
    try:
        receipt = await pairs.lock(
            runtime_of(request).db, session.principal, meeting_id, LockIn(registration_id=who, locked=locked)
        )
    except (PlanConflict, PlanUnprocessable) as exc:
        return await _pairs_page(request, session, meeting_id, exc.status, exc.code)
    done = "lock" if locked else "unlock"
    return await _after_command(request, session, meeting_id, done, receipt.based_on_version, score)


@router.post("/console/meetings/{meeting_id}/pairs/publish")
async def publish(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Publish the version the coordinator saw (field ``version``): everyone is told their seat."""
    form = await form_of(request)
    version = _int(form.get("version"))
    if version is None or version < 1:
        return await _pairs_page(request, session, meeting_id, 409, "old_version")
    score = await _current_score(request, session, meeting_id)
    try:
        receipt = await pairs.publish_pairs(
            runtime_of(request).db, session.principal, meeting_id, PublishPairsIn(version=version)
        )
    except (PlanConflict, PlanUnprocessable) as exc:
        return await _pairs_page(request, session, meeting_id, exc.status, exc.code)
    return await _after_command(request, session, meeting_id, "publish", receipt.based_on_version, score)


async def _print_page(request: Request, session: Coordinator, meeting_id: uuid.UUID, template: str) -> Response:
    meeting, plan = await pairs.seating_if_any(runtime_of(request).db, session.principal, meeting_id)
    return table_page(request, template, meeting, plan)


def table_page(request: Request, template: str, meeting: MeetingView, plan: Mapping[str, Any] | None) -> HTMLResponse:
    """A printable page of the plan (``table.html``, ``cards.html``, ``script.html``) in the page's
    language; also the JSON API's ``?format=html`` answer."""
    language, translations = _translations(request)
    callouts = []
    cards = []
    if plan is not None:
        for pair in plan["pairs"]:
            newcomers_first = sorted(pair["members"], key=lambda m: (m["group"] != "newcomer", int(m["seat"])))
            names = [first_name(m.get("name")) for m in newcomers_first]
            callouts.append({"number": pair["number"], "names": names_together(names, translations)})
            cards += [
                {"member": m, "pair": pair["number"], "first": first_name(m.get("name"))} for m in pair["members"]
            ]
    agenda = [
        {
            "activity": item.activity,
            "words": AGENDA.get(item.activity, item.description),
            "starts": localtime.clock(localtime.local(item.starts, meeting.timezone), language),
            "ends": localtime.clock(localtime.local(item.ends, meeting.timezone), language),
        }
        for item in meeting.agenda
    ]
    return render(
        request,
        template,
        meeting=meeting,
        plan=plan,
        drawings=table_drawings(plan) if plan else [],
        callouts=callouts,
        cards=cards,
        agenda=agenda,
        geometry={"top": TABLE_TOP, "height": TABLE_HEIGHT, "row": ROW_WIDTH, "tall": HEIGHT, "host": HOST_END},
    )


@router.get("/console/meetings/{meeting_id}/table")
async def table(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The long table drawn (SVG), pairs face to face, the host's end marked; prints on A4 landscape."""
    return await _print_page(request, session, meeting_id, "table.html")


@router.get("/console/meetings/{meeting_id}/cards")
async def cards(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Name cards to print: one per person, first name large, pair and seat small."""
    return await _print_page(request, session, meeting_id, "cards.html")


@router.get("/console/meetings/{meeting_id}/script")
async def script(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The host's script: the running order with clock times and the pairs to call out in order."""
    return await _print_page(request, session, meeting_id, "script.html")
