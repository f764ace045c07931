"""What every participant page shares: the templates (one Jinja2 environment per language, gettext from
``shared.i18n``), the page's language (switch, cookie, Accept-Language), the CSRF token of its forms, and
the route class that answers a database outage, a refused form and the language switch as pages.

While the database cannot be reached, every page answers 503 with ``Retry-After`` and a plain page that
says so (the API answers problem+json instead)."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from babel import Locale, UnknownLocaleError
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.registration.pages import csrf
from services.registration.pages.signup_form import N_
from shared import i18n, localtime, vocabulary
from shared.db import CONNECTION_ERRORS, is_connection_error
from shared.http import log_database_unavailable, retry_after_s

TEMPLATES = Path(__file__).parent.parent / "templates"
# Each catalogue translates this msgid as its writing direction, "ltr" or "rtl" (shared/i18n.py reads it).
DIRECTION_MSGID = N_("ltr")


def environment(language: str) -> Environment:
    """The templates with ``language``'s translations installed (``jinja2.ext.i18n``, new-style gettext:
    ``_("... %(n)s", n=1)`` is escaped like any other value), made once per language and catalogue folder."""
    return _environment(language, i18n.LOCALE_DIR)


@lru_cache
def _environment(language: str, directory: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_translations(i18n.catalogues(directory).get(language).translations, newstyle=True)  # type: ignore[attr-defined]
    return env


# The switch's short names where a language's own name is long («norsk bokmål», «norsk nynorsk»): on a
# phone the switch stays one even row.
_SHORT_NAMES = {"nb": "Bokmål", "nn": "Nynorsk"}


def autonym(language: str) -> str:
    """A language's name in itself, short, for the switch («Bokmål», «Nynorsk», «English»); the code when
    Babel does not know it."""
    if language in _SHORT_NAMES:
        return _SHORT_NAMES[language]
    try:
        name = Locale.parse(language).get_display_name(language)
    except (UnknownLocaleError, ValueError):
        return language
    return name[:1].upper() + name[1:] if name else language


# (name id, locale id) in Babel for a vocabulary language id where the two differ: ``nb`` in the vocabulary
# is Norwegian in general (not bokmål), Kurmanji is Babel's Kurdish (``ku``), Tagalog is written in Babel's
# Filipino locale. Babel has no Dari (``prs``): its label is shown alone.
_BABEL_LANGUAGE = {"nb": ("no", "nb"), "kmr": ("ku", "ku"), "tl": ("tl", "fil")}


def endonym(item_id: str) -> tuple[str, str, str] | None:
    """(the language's name in itself, its ``lang`` tag, its direction ``ltr``/``rtl``) for a vocabulary
    language id such as ``ar`` → («العربية», ``ar``, ``rtl``), or None when Babel has no name for it."""
    name_id, locale_id = _BABEL_LANGUAGE.get(item_id, (item_id, item_id))
    try:
        locale = Locale.parse(locale_id)
    except (UnknownLocaleError, ValueError):
        return None
    name = locale.languages.get(name_id)
    if not name:
        return None
    return name, item_id, "rtl" if locale.text_direction == "rtl" else "ltr"


# Norwegian puts æ, ø, å, in that order, after z and every other letter (code-point order: å, æ, ø).
_NORWEGIAN_ORDER: dict[str, str | int | None] = {"æ": "\uffff1", "ø": "\uffff2", "å": "\uffff3"}


def _sort_key(text: str, language: str) -> str:
    """A sort key for ``text`` in ``language``: case ignored; in Norwegian, æ, ø, å after z."""
    key = text.casefold()
    if language in ("nb", "nn"):
        key = key.translate(str.maketrans(_NORWEGIAN_ORDER))
    return key


def spoken_languages(language: str) -> list[dict[str, str]]:
    """The vocabulary's spoken languages for the form, sorted by their name in the page's ``language``,
    each {``id``, ``label`` (capitalised), ``endonym``, ``lang``, ``dir``}; the endonym is left out ("")
    when it is the label itself (English on an English page)."""
    items = []
    for item in vocabulary.vocabulary()["languages"]:
        label = vocabulary_label("languages", item["id"], language)
        label = label[:1].upper() + label[1:]
        own = endonym(item["id"])
        name, tag, direction = own if own is not None else ("", item["id"], "ltr")
        if name.casefold() == label.casefold():
            name = ""
        items.append({"id": item["id"], "label": label, "endonym": name, "lang": tag, "dir": direction})
    return sorted(items, key=lambda i: _sort_key(i["label"], language))


def language_of(request: Request) -> str:
    """The page's language: the ``fmf_lang`` cookie, else Accept-Language, else nb (``i18n.choose``)."""
    return i18n.choose(
        None, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"), i18n.catalogues().languages
    )


def _switch_rank(code: str) -> tuple[int, str]:
    """The switch's order: the two written Norwegian standards first, then the other languages by code."""
    return ({"nb": 0, "nn": 1}.get(code, 2), code)


def _switch_links(request: Request) -> list[dict[str, str]]:
    """One link per language: the same page with ``?lang=`` (its other query parameters kept)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "stale")]
    return [
        {"code": code, "name": autonym(code), "href": f"{request.url.path}?{urlencode([*query, ('lang', code)])}"}
        for code in sorted(i18n.catalogues().languages, key=_switch_rank)
    ]


def vocabulary_label(category: str, item_id: str, language: str) -> str:
    """The vocabulary's own label of ``item_id`` in ``language`` (nb's when it has none in that language)."""
    for item in vocabulary.vocabulary()[category]:
        if isinstance(item, dict) and item["id"] == item_id:
            return str(item.get(language) or item.get(i18n.DEFAULT) or item_id)
    return item_id


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    language: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in the request's language, with what the base layout needs (language,
    direction, the switch, the CSRF token, the tenant when given) and ``context``."""
    language = language or language_of(request)
    context.setdefault("stale", request.query_params.get("stale") == "1")

    def when(meeting: Any, year: bool = False) -> str:
        return localtime.meeting_when(
            meeting.starts_at, meeting.duration_minutes, meeting.timezone, language, year=year
        )

    html = (
        environment(language)
        .get_template(template)
        .render(
            lang=language,
            dir=i18n.direction(language),
            languages=_switch_links(request),
            csrf_token=csrf.form_token(request),
            when=when,
            label=lambda category, item_id: vocabulary_label(category, item_id, language),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    csrf.set_cookie(request, response)
    return response


def unavailable_page(request: Request, retry_after: int) -> HTMLResponse:
    """The page shown while the database cannot be reached: 503 with ``Retry-After`` (seconds)."""
    return render(request, "unavailable.html", 503, {"Retry-After": str(retry_after)}, retry_after=retry_after)


def _without_lang(request: Request) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


# Route endpoints that show their own form again, with the input kept, when its CSRF token is refused
# (``shows_refused_form``); every other refused post goes back to its page (``back_after_refusal``).
_SHOWS_REFUSED_FORM: set[Callable[..., Any]] = set()


def shows_refused_form(endpoint: Callable[..., Any]) -> None:
    """Let ``endpoint`` handle a post whose CSRF token was refused (``csrf_refused(request)`` is then true):
    it must not act on it, only show the form again."""
    _SHOWS_REFUSED_FORM.add(endpoint)


def csrf_refused(request: Request) -> bool:
    """Whether this post's CSRF token was refused (see ``shows_refused_form``)."""
    return bool(getattr(request.state, "csrf_refused", False))


# A manage-page action goes back to the manage page; every other form's page is at its own address.
_ACTION = re.compile(r"^(/manage/[0-9a-fA-F-]{36})/(cancel|feedback|contact)$")


def back_after_refusal(request: Request, form: dict[str, str]) -> Response:
    """A post refused for its CSRF token (nothing done): 303 back to the form's page, which says the form
    was out of date (``?stale=1``); the plain "try again" page (403) when the post names no link token."""
    token = form.get("token", "")
    if not token or len(token) > 128:
        return render(request, "csrf_refused.html", 403)
    action = _ACTION.match(request.url.path)
    page = action.group(1) if action else request.url.path
    return RedirectResponse(f"{page}?{urlencode({'token': token, 'stale': '1'})}", status_code=303)


class PageRoute(APIRoute):
    """A participant page: ``?lang=`` sets the language cookie and redirects to the page without it; a
    form post without a valid CSRF token is never acted on: the sign-up form is shown again with its input
    kept, any other form's page is shown again, each saying the form was out of date; a database outage,
    wherever it surfaces (abuse limits, the use case), is answered with ``unavailable_page``, not
    problem+json."""

    def refused(self, request: Request, form: dict[str, str]) -> Response:
        """The answer to a post whose CSRF token was refused (nothing was done): ``back_after_refusal``."""
        return back_after_refusal(request, form)

    def malformed(self, request: Request) -> Response:
        """The answer to an address with a part that cannot be read (no token, a cut-off id): a page a
        person can act on (400), not JSON."""
        return render(request, "link_problem.html", 400, problem="not_found")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            switch = request.query_params.get("lang")
            if request.method == "GET" and switch is not None:
                response = RedirectResponse(_without_lang(request), status_code=303)
                if switch in i18n.catalogues().languages:
                    response.set_cookie(i18n.COOKIE, switch, max_age=i18n.COOKIE_MAX_AGE_S, samesite="lax", path="/")
                return response
            try:
                if request.method == "POST":
                    try:
                        form = await form_of(request)
                    except UnreadableForm:
                        return render(request, "csrf_refused.html", 400)
                    try:
                        csrf.check(request, form)
                    except csrf.CsrfRefused:
                        if self.endpoint not in _SHOWS_REFUSED_FORM:
                            return self.refused(request, form)
                        request.state.csrf_refused = True
                return await handler(request)
            except RequestValidationError:
                # A link missing a part (no token, a cut-off id): the page a person can act on, not JSON.
                return self.malformed(request)
            except UnreadableForm:
                return render(request, "csrf_refused.html", 400)
            except CONNECTION_ERRORS as exc:
                if not is_connection_error(exc):
                    raise
                log_database_unavailable(request, exc)
                return unavailable_page(request, retry_after_s(request))

        return page


class UnreadableForm(Exception):
    """A form post that is not UTF-8 (a browser always sends the page's UTF-8): answered 400, nothing done."""


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The posted form (``application/x-www-form-urlencoded``) with every value of each field (checkbox
    groups). Raises ``UnreadableForm`` when the body or a decoded value is not valid UTF-8: a replaced
    character would be stored as the person's name or sent to as their address."""
    try:
        return parse_qs((await request.body()).decode(), errors="strict")
    except UnicodeDecodeError as exc:
        raise UnreadableForm from exc


async def form_of(request: Request) -> dict[str, str]:
    """The posted form, the last value of each field. Raises ``UnreadableForm`` (see ``form_lists``)."""
    return {k: v[-1] for k, v in (await form_lists(request)).items()}
