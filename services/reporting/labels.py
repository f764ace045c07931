"""Words of the reports in Norwegian Bokmål (nb), Nynorsk (nn) and English (en). Pure: no I/O.

A CSV header is a column's label in the asked language, or its fixed id (``id``) for machines.
Plurals follow CLDR's rule for nb, nn and en: *one* for exactly 1, *other* for every other number
(0 included), https://www.unicode.org/cldr/charts/latest/supplemental/language_plural_rules.html.
"""

from __future__ import annotations

from typing import Final, Literal

Language = Literal["nb", "nn", "en"]
HeaderLanguage = Literal["nb", "nn", "en", "id"]
LANGUAGES: Final = ("nb", "nn", "en")

_GROUPS: Final[dict[str, dict[Language, str]]] = {
    "newcomer": {"nb": "nykommere", "nn": "nykomarar", "en": "newcomers"},
    "resident": {"nb": "fastboende", "nn": "fastbuande", "en": "residents"},
    "total": {"nb": "alle", "nn": "alle", "en": "all"},
}
_MEASURES: Final[dict[str, dict[Language, str]]] = {
    "signed_up": {"nb": "påmeldt", "nn": "påmeld", "en": "signed up"},
    "confirmed": {"nb": "bekreftet", "nn": "stadfesta", "en": "confirmed"},
    "waitlisted": {"nb": "på venteliste", "nn": "på venteliste", "en": "waitlisted"},
    "promoted": {"nb": "flyttet fra venteliste", "nn": "flytta frå venteliste", "en": "promoted"},
    "cancelled": {"nb": "avmeldt", "nn": "avmeld", "en": "cancelled"},
    "attended": {"nb": "møtt", "nn": "møtt", "en": "attended"},
    "no_show": {"nb": "ikke møtt", "nn": "ikkje møtt", "en": "no-show"},
}
_CHANNELS: Final[dict[str, dict[Language, str]]] = {
    "email": {"nb": "e-post", "nn": "e-post", "en": "e-mail"},
    "sms": {"nb": "SMS", "nn": "SMS", "en": "SMS"},
}
_OUTCOMES: Final[dict[str, dict[Language, str]]] = {
    "sent": {"nb": "sendt", "nn": "sendt", "en": "sent"},
    "failed": {"nb": "feilet", "nn": "feila", "en": "failed"},
}
_COLUMNS: Final[dict[str, dict[Language, str]]] = {
    "row": {"nb": "rad", "nn": "rad", "en": "row"},
    "meeting_id": {"nb": "møte-id", "nn": "møte-id", "en": "meeting id"},
    "title": {"nb": "tittel", "nn": "tittel", "en": "title"},
    "date": {"nb": "dato", "nn": "dato", "en": "date"},
    "format": {"nb": "format", "nn": "format", "en": "format"},
    "status": {"nb": "status", "nn": "status", "en": "status"},
    "tenant": {"nb": "kommune (id)", "nn": "kommune (id)", "en": "municipality (id)"},
    "name": {"nb": "navn", "nn": "namn", "en": "name"},
    "municipality_number": {"nb": "kommunenummer", "nn": "kommunenummer", "en": "municipality number"},
    "month": {"nb": "måned", "nn": "månad", "en": "month"},
    "meetings": {"nb": "møter", "nn": "møte", "en": "meetings"},
    "meetings_held": {"nb": "møter holdt", "nn": "møte haldne", "en": "meetings held"},
    "meetings_cancelled": {"nb": "møter avlyst", "nn": "møte avlyste", "en": "meetings cancelled"},
    "pairs": {"nb": "par", "nn": "par", "en": "pairs"},
    "trios": {"nb": "trioer", "nn": "trioar", "en": "trios"},
    "feedback_responses": {"nb": "svar på tilbakemelding", "nn": "svar på tilbakemelding", "en": "feedback answers"},
    "feedback_new_connection": {"nb": "fikk ny kontakt", "nn": "fekk ny kontakt", "en": "made a new connection"},
    "feedback_would_recommend": {"nb": "vil anbefale", "nn": "vil tilrå", "en": "would recommend"},
    "reach_answered": {
        "nb": "fastboende møtt som svarte om første gang",
        "nn": "fastbuande møtt som svara om første gong",
        "en": "attending residents who answered if first time",
    },
    "reach_first_time": {
        "nb": "fastboende møtt for første gang",
        "nn": "fastbuande møtt for første gong",
        "en": "attending residents here for the first time",
    },
    "attendance_rate": {"nb": "oppmøteandel", "nn": "oppmøtedel", "en": "attendance rate"},
    "mean_rating": {"nb": "snittkarakter (1-5)", "nn": "snittkarakter (1-5)", "en": "mean rating (1-5)"},
    "new_connection_share": {"nb": "andel ny kontakt", "nn": "del ny kontakt", "en": "new connection share"},
    "would_recommend_share": {"nb": "andel vil anbefale", "nn": "del vil tilrå", "en": "would recommend share"},
    "reach_share": {"nb": "andel første gang", "nn": "del første gong", "en": "first-time share"},
}


def column(name: str, lang: HeaderLanguage) -> str:
    """A column's header: its label in ``lang``, or the id itself for ``lang="id"``."""
    if lang == "id":
        return name
    if name in _COLUMNS:
        return _COLUMNS[name][lang]
    group, _, rest = name.partition("_")
    if group in _GROUPS and rest in _MEASURES:
        return f"{_GROUPS[group][lang]} {_MEASURES[rest][lang]}"
    channel, _, outcome = name.partition("_")
    if channel in _CHANNELS and outcome in _OUTCOMES:
        return f"{_CHANNELS[channel][lang]} {_OUTCOMES[outcome][lang]}"
    raise KeyError(f"no label for the column {name!r}")


def header(names: tuple[str, ...] | list[str], lang: HeaderLanguage) -> list[str]:
    return [column(name, lang) for name in names]


_COUNTED: Final[dict[str, dict[Language, tuple[str, str]]]] = {  # (one, other)
    "meeting": {"nb": ("møte", "møter"), "nn": ("møte", "møte"), "en": ("meeting", "meetings")},
    "person": {"nb": ("person", "personer"), "nn": ("person", "personar"), "en": ("person", "people")},
    "municipality": {
        "nb": ("kommune", "kommuner"),
        "nn": ("kommune", "kommunar"),
        "en": ("municipality", "municipalities"),
    },
}


def counted(n: int, noun: str, lang: Language = "en") -> str:
    """``n`` and the noun in the right number: "1 meeting", "0 meetings", "2 møter"."""
    one, other = _COUNTED[noun][lang]
    return f"{n} {one if n == 1 else other}"


_HELD: Final[dict[Language, tuple[str, str]]] = {
    "nb": ("{held} av {total} holdt", "{held} holdt"),
    "nn": ("{held} av {total} haldne", "{held} haldne"),
    "en": ("{held} of {total} held", "{held} held"),
}


def meetings_held(held: int, total: int, lang: Language = "en") -> str:
    """ "1 of 2 meetings held", "1 meeting held": the noun agrees with the number it follows."""
    if total != held:
        return _HELD[lang][0].format(held=held, total=counted(total, "meeting", lang))
    return _HELD[lang][1].format(held=counted(held, "meeting", lang))


# --- the dashboards' words, as gettext msgids (shared/i18n.py's catalogues, as the pages of registration) ----


def N_(message: str) -> str:
    """Marks a msgid for the catalogues (``pybabel extract -k N_``) where it is translated later."""
    return message


# Each chart: its title, and its series as (fixed id in ``data-series``, the name shown).
CHART_TITLES: Final[dict[str, str]] = {
    "meetings_held": N_("Meetings held per month"),
    "participants": N_("Participants by group (attended)"),
    "attendance_rate": N_("Attendance rate (attended of those recorded)"),
    "feedback": N_("Feedback: mean rating (1-5)"),
    "reach": N_("Reach: attending residents here for the first time"),
    "new_connections": N_("New connections (people who made one)"),
}
SERIES: Final[dict[str, str]] = {
    "held": N_("meetings held"),
    "newcomers": N_("newcomers"),
    "residents": N_("residents"),
    "attendance rate": N_("attendance rate"),
    "mean rating": N_("mean rating"),
    "first-time share": N_("first-time share"),
    "new connections": N_("new connections"),
}
MEETING_STATUS: Final[dict[str, str]] = {
    "draft": N_("Draft"),
    "published": N_("Open for sign-up"),
    "registration_closed": N_("Sign-up closed"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
FORMATS: Final[dict[str, str]] = {
    "standard": N_("Standard"),
    "50-meets-50": N_("50 meets 50"),
    "youth": N_("Youth"),
    "professionals": N_("Professionals"),
    "family": N_("Family"),
}


def language_of(language: str) -> Language:
    """``language`` when the reports have words in it (nb, nn, en), else nb."""
    return language if language in LANGUAGES else "nb"  # type: ignore[return-value]


UNKNOWN: Final = N_("unknown")  # a share or count of answers to a question nobody answered
