"""The participant pages in a real browser: Debian's chromium driven by Playwright (async API, on the
session's event loop), against the whole platform of tests/conftest.py (one per module) and its SMTP sink.

Journeys run in a context with JavaScript off: no participant task may need it. axe-core needs script, and
with JavaScript off ``axe.run`` never settles (``page.evaluate`` itself does work there, but the page's
timers and promises do not run), so each checked page is opened a second time in a JavaScript-enabled
context of the same size, at the same URL with the same cookies, served the very document the journey saw
(the main request answered with the captured HTML, its stylesheets fetched from the service as usual).

Every checked page is also written as a full-page PNG to var/screenshots/participant/<size>/<NN-page-state>.png
(the console's pages to var/screenshots/console/; overwritten by the next run; nothing is deleted, so runs side
by side do not take each other's pictures). A visitor may be given other sizes (``also``): each checked page is
then photographed and audited at those sizes too, the same document in JavaScript-enabled twins of that size.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright

from deploy.local.platform import PlatformConfig
from tests.registration_support import RegistrationApi, Tenant
from tests.support import RecordingSmtpHandler, eventually, mail_text

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots" / "participant"
CONSOLE_SCREENSHOTS = ROOT / "var" / "screenshots" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Phone: an ordinary modern phone held upright; desktop: a small laptop.
SIZES: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_axe = Axe()
_written: list[Path] = []
summary_lines: list[str] = []  # lines a test wants in the run's terminal summary (e.g. how long a journey took)


def chromium_path() -> str:
    """Debian's chromium, or a failure that says how to get it (Playwright's own download is never used)."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not on PATH: the browser tests drive Debian's chromium. Run `make test` (its"
            " system-packages target installs it) or `sudo apt-get install chromium`.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless chromium for the whole session."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    """Every journey runs at phone size and at desktop size."""
    return str(request.param)


async def wider_than_screen(page: Page) -> str:
    """What makes the page wider than the screen, so that it scrolls sideways (WCAG 1.4.10, Reflow), or ""
    when nothing does: the widest element sticking out, by tag, id and class. A region that scrolls on its
    own (a wide table in a scrolling box) does not count."""
    return str(
        await page.evaluate(
            """() => {
                const screen = document.documentElement.clientWidth;
                if (document.documentElement.scrollWidth <= screen + 1) return "";
                let worst = null, right = screen;
                for (const e of document.body.querySelectorAll("*")) {
                    const r = e.getBoundingClientRect().right;
                    if (r > right + 1) { worst = e; right = r; }
                }
                const what = worst ? worst.tagName.toLowerCase() + (worst.id ? "#" + worst.id : "")
                    + (worst.className && typeof worst.className === "string"
                        ? "." + worst.className.trim().split(/\\s+/).join(".") : "") : "?";
                const wide = document.documentElement.scrollWidth;
                return `${wide} px wide on a ${screen} px screen (${what} reaches ${Math.round(right)} px)`;
            }"""
        )
    )


def axe_report(violations: list[dict[str, Any]]) -> str:
    """Readable axe violations: rule id, impact, the elements (CSS targets) and the rule's help text and link."""
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(str(t) for t in node.get("target", [])) for node in v.get("nodes", []))
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} [{targets}] {v.get('helpUrl', '')}")
    return "\n".join(lines)


@dataclass
class Visitor:
    """One person's browser at one size: a JavaScript-free context for the journey, and a JavaScript-enabled
    twin for axe. ``check`` audits and photographs the page the journey is on (into ``folder``/<size>/, and
    at the sizes in ``also`` as well)."""

    browser: Browser
    size: str
    base: str
    locale: str = "nb-NO"
    folder: Path = SCREENSHOTS
    also: tuple[str, ...] = ()
    reflow: bool = False  # also check that no page is wider than the screen (WCAG 1.4.10)
    context: BrowserContext = field(init=False)
    page: Page = field(init=False)
    _audit: BrowserContext = field(init=False)
    _twins: dict[str, BrowserContext] = field(init=False, default_factory=dict)

    async def start(self) -> None:
        options = {**SIZES[self.size], "locale": self.locale}
        self.context = await self.browser.new_context(java_script_enabled=False, base_url=self.base, **options)
        self.context.set_default_timeout(15_000)
        self.page = await self.context.new_page()
        self._audit = await self.browser.new_context(java_script_enabled=True, base_url=self.base, **options)
        for other in self.also:
            twin_options = {**SIZES[other], "locale": self.locale}
            self._twins[other] = await self.browser.new_context(
                java_script_enabled=True, base_url=self.base, **twin_options
            )

    async def close(self) -> None:
        await self.context.close()
        await self._audit.close()
        for twin in self._twins.values():
            await twin.close()

    async def goto(self, url: str, status: int = 200) -> Response:
        """Open ``url`` (a path on registration, or a whole link) and expect ``status``."""
        response = await self.page.goto(url)
        assert response is not None
        assert response.status == status, f"{url}: {response.status}\n{(await self.page.content())[:3000]}"
        return response

    async def submit(self, button: str = "button[type=submit]", status: int = 200) -> Response:
        """Press a submit button and wait for the page it leads to (after redirects); expect ``status``."""
        async with self.page.expect_navigation() as navigation:
            await self.page.locator(button).click()
        response = await navigation.value
        assert response is not None
        assert response.status == status, f"{response.url}: {response.status}\n{(await self.page.content())[:3000]}"
        return response

    async def follow(self, link: str, status: int = 200) -> Response:
        """Click a link (a selector) and wait for the page it leads to; expect ``status``."""
        return await self.submit(link, status)

    async def check(self, name: str) -> None:
        """The page as it is now: its shape (one <h1>, one <main>, html lang and dir), 0 axe violations at
        WCAG 2.1 AA, and a full-page screenshot named ``name`` (``NN-page-state``); the same at each size
        in ``also`` (photographed in the JavaScript-enabled twin, as most coordinators' browsers are)."""
        page = self.page
        assert await page.locator("h1").count() == 1, f"{name}: not exactly one <h1>"
        assert await page.locator("main").count() == 1, f"{name}: not exactly one <main>"
        assert await page.get_attribute("html", "lang"), f"{name}: <html> without lang"
        assert await page.get_attribute("html", "dir") in ("ltr", "rtl"), f"{name}: <html> without dir"
        url, html = page.url, await page.content()

        async def photographed(shot: Page, size: str) -> None:
            path = self.folder / size / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            await shot.screenshot(path=str(path), full_page=True)
            _written.append(path)

        async def audited(context: BrowserContext, size: str) -> str:
            async with self._served(context, url, html) as twin:
                if size != self.size:
                    await photographed(twin, size)
                result = await _axe.run(twin, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
                wider = await wider_than_screen(twin) if self.reflow else ""
            violations = list(result.response["violations"])
            found = f"{name} ({size}, {url}): axe found violations:\n{axe_report(violations)}" if violations else ""
            return "\n".join(f for f in (found, wider and f"{name} ({size}, {url}): {wider}") if f)

        # The sizes side by side: each in its own context, so the browser works on them at once.
        _, *found = await asyncio.gather(
            photographed(page, self.size),
            audited(self._audit, self.size),
            *(audited(context, other) for other, context in self._twins.items()),
        )
        assert not any(found), "\n".join(f for f in found if f)

    async def audit(self) -> list[dict[str, Any]]:
        """axe-core's violations (WCAG 2.1 A and AA rules) of the document on the journey's page."""
        async with self._served(self._audit, self.page.url, await self.page.content()) as twin:
            result = await _axe.run(twin, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
        return list(result.response["violations"])

    @contextlib.asynccontextmanager
    async def _served(self, context: BrowserContext, url: str, html: str) -> AsyncIterator[Page]:
        """A page of ``context`` (given the journey's cookies) showing ``html`` at ``url``: the main request
        answered with that document, everything it links to fetched from the service as usual."""
        await context.clear_cookies()
        await context.add_cookies(await self.context.cookies())  # type: ignore[arg-type]
        twin = await context.new_page()
        try:
            document = re.escape(url.split("#")[0])
            await twin.route(
                re.compile(f"^{document}$"),
                lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
            )
            await twin.goto(url)
            yield twin
        finally:
            await twin.close()

    async def text(self, selector: str) -> str:
        """The visible text of the one element matching ``selector``."""
        return " ".join((await self.page.locator(selector).inner_text()).split())

    async def lang(self) -> str:
        return str(await self.page.get_attribute("html", "lang"))


VisitorFactory = Callable[..., Awaitable["Visitor"]]


@pytest.fixture
async def visit(browser: Browser, platform: PlatformConfig, size: str) -> AsyncIterator[VisitorFactory]:
    """Makes visitors at this test's size (``await visit()``; by default their browser asks for Norwegian
    bokmål, Accept-Language nb-NO); their contexts are closed after the test."""
    made: list[Visitor] = []

    async def make(locale: str = "nb-NO") -> Visitor:
        visitor = Visitor(browser, size, platform.url("registration"), locale)
        await visitor.start()
        made.append(visitor)
        return visitor

    yield make
    for visitor in made:
        await visitor.close()


@dataclass
class Site:
    """The platform as a coordinator sets it up (JSON API) and as the mail sink sees it."""

    platform: PlatformConfig
    smtp: RecordingSmtpHandler
    api: RegistrationApi
    http: httpx.AsyncClient

    async def tenant(self) -> Tenant:
        """A new tenant named as a municipality is (the pages and their screenshots show the name), with
        a contact address for its participants."""
        tenant = await self.api.tenant(self.http)
        named = await self.http.patch(
            f"{self.api.base}/tenants/{tenant.slug}",
            headers=self.api.operator,
            json={"name": "Testby kommune", "contact_email": "folkmoterfolk@testby.kommune.no"},
        )
        assert named.status_code == 200, named.text
        return tenant

    async def meeting(self, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
        """A published meeting of ``tenant`` (the coordinator's view: with its invitation code)."""
        meeting_id = await self.api.meeting(self.http, tenant, **overrides)
        got = await self.http.get(f"{self.api.base}/meetings/{meeting_id}", headers=tenant.headers)
        assert got.status_code == 200, got.text
        return dict(got.json())

    async def link_in_mail(self, address: str, pattern: str, after: int = 0) -> str:
        """The first link matching ``pattern`` (a regex for the path, e.g. ``/confirm/``) in a mail to
        ``address``, among the mails to it after the first ``after``; waits for the mail to arrive."""

        async def found() -> str | None:
            for mail in self.mails_to(address)[after:]:
                hit = re.search(rf"(https?://\S+{pattern}\S*)", mail_text(mail.message))
                if hit:
                    return hit.group(1)
            return None

        return await eventually(found, timeout_s=30)

    def mails_to(self, address: str) -> list[Any]:
        with self.smtp.lock:
            return [m for m in self.smtp.mails if address in m.to]

    async def mail_saying(self, address: str, words: str) -> str:
        """The text of the first mail to ``address`` that says ``words``; waits for it."""

        async def found() -> str | None:
            return next((t for m in self.mails_to(address) if words in (t := mail_text(m.message))), None)

        return await eventually(found, timeout_s=30)


@pytest.fixture(scope="module")
async def site(platform: PlatformConfig, smtp: tuple[int, RecordingSmtpHandler]) -> AsyncIterator[Site]:
    async with httpx.AsyncClient(timeout=15) as http:
        yield Site(platform, smtp[1], RegistrationApi(platform), http)


def unique_address(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@browser.example.no"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where the screenshots went, and the lines tests asked for (``summary_lines``), once per run."""
    for folder, kind in ((SCREENSHOTS, "participant"), (CONSOLE_SCREENSHOTS, "console")):
        written = [p for p in _written if p.is_relative_to(folder)]
        if written:
            where = folder.relative_to(ROOT)
            terminalreporter.write_line(f"{kind} page screenshots ({len(written)}): {where}/<size>/")
    for line in summary_lines:
        terminalreporter.write_line(line)
