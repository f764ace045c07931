"""The languages of the pages and messages: gettext catalogues through Babel, one per language.

Each language is a folder ``shared/locale/<language>/LC_MESSAGES/messages.po``; adding a language (ar, ti,
uk, so ...) is adding that folder, nothing else. The catalogues are compiled in-process when first used
(``read_po`` → ``write_mo`` → ``babel.support.Translations``), so there is no build step and no ``.mo``
file in the repository. Each catalogue says its writing direction by translating the msgid ``ltr``
(``ltr`` or ``rtl``).

Which language a page is in: the ``?lang=`` switch (kept in the ``fmf_lang`` cookie), else the browser's
``Accept-Language`` (Babel's ``negotiate_locale``), else nb. Code outside a request (the messages) takes a
language's gettext functions from ``translations(language)``.

Translators (README, "Pages"): ``pybabel extract -F babel.cfg -k N_ -o messages.pot .`` then
``pybabel update -i messages.pot -d shared/locale`` refreshes every catalogue from the templates and the page
code; translate the new entries in each ``messages.po``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "nb"
COOKIE = "fmf_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600  # one year
DOMAIN = "messages"
# Tags a browser may send for a language we have under another name: Norwegian without a written standard.
_ALIASES = {"no": "nb"}


@dataclass(frozen=True)
class Catalogue:
    """One language's translations and its writing direction (``ltr`` or ``rtl``)."""

    language: str
    direction: str
    translations: Translations


def compile_po(po: Path, language: str) -> Translations:
    """The ``.po`` file compiled in memory into gettext translations. Raises what Babel raises for a
    malformed file."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


class Catalogues:
    """Every catalogue found under ``directory`` (one folder per language)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.by_language: dict[str, Catalogue] = {}
        for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po.parent.parent.name
            translations = compile_po(po, language)
            direction = "rtl" if translations.gettext("ltr").strip() == "rtl" else "ltr"
            self.by_language[language] = Catalogue(language, direction, translations)
        if DEFAULT not in self.by_language:
            raise RuntimeError(f"no {DEFAULT} catalogue under {directory}")

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages present, nb first, then by code."""
        return (DEFAULT, *sorted(code for code in self.by_language if code != DEFAULT))

    def get(self, language: str) -> Catalogue:
        """The catalogue of ``language``, or nb's when there is none."""
        return self.by_language.get(language) or self.by_language[DEFAULT]


def catalogues(directory: Path | None = None) -> Catalogues:
    """The catalogues under ``directory`` (default: ``LOCALE_DIR``, ``shared/locale``), compiled once per
    process and folder."""
    return _catalogues(directory or LOCALE_DIR)


@lru_cache
def _catalogues(directory: Path) -> Catalogues:
    return Catalogues(directory)


def translations(language: str) -> Translations:
    """The gettext translations of ``language`` (nb's when it has no catalogue), for code outside a request:
    ``t = translations("nn"); t.gettext("...")``."""
    return catalogues().get(language).translations


def direction(language: str) -> str:
    """``ltr`` or ``rtl``: how ``language`` is written, as its catalogue says."""
    return catalogues().get(language).direction


def accepted(header: str | None) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (q=0 left out): "nn-NO,nn;q=0.9,
    en;q=0.5" → ["nn-NO", "nn", "en"]. A malformed part is skipped."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose(switch: str | None, cookie: str | None, accept_language: str | None, available: tuple[str, ...]) -> str:
    """The page's language: a ``?lang=`` switch, else the ``fmf_lang`` cookie, else the best match of the
    ``Accept-Language`` header, else nb. Only ``available`` languages are ever chosen."""
    for wanted in (switch, cookie):
        if wanted in available:
            return wanted
    preferred = [_ALIASES.get(tag.lower().split("-")[0], tag) for tag in accepted(accept_language)]
    return negotiate_locale(preferred, list(available), sep="-") or DEFAULT
