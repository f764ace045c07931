"""Abuse limits around registration's public entry points (sign-up, confirmation and erasure links, manage
tokens, bearer tokens): each function counts what the rules in ``shared/ratelimit.py`` count and then
calls the use case. Raises ``TooManyRequests`` (429 with Retry-After) besides what the use case raises.

Failed attempts (a wrong link, token or code) are counted per client address and per target; a target
whose window is used up is refused for everyone until the window ends, so guessing cannot continue from
many addresses either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from services.registration import domain
from services.registration.schemas import SignUpIn
from services.registration.usecases import participants, signups
from services.registration.views import MeetingView
from shared.errors import Forbidden, NotFound
from shared.ratelimit import AbuseLimits, Rule, client_key
from shared.service import runtime_of

T = TypeVar("T")


async def abuse_limits(request: Request) -> AbuseLimits:
    """The service's abuse limits, made on first use from its settings and database pool.

    The requests that arrive while they are being made wait for that one attempt and share its outcome:
    when the database is unavailable, all of them get its error at once (answered 503), rather than
    each trying in turn, and the next request tries again."""
    state = request.app.state
    limits: AbuseLimits | None = getattr(state, "abuse_limits", None)
    if limits is not None:
        return limits
    pending: asyncio.Future[AbuseLimits] | None = getattr(state, "abuse_limits_making", None)
    if pending is None:
        runtime = runtime_of(request)
        pending = asyncio.ensure_future(AbuseLimits.from_settings(runtime.settings, runtime.db))
        state.abuse_limits_making = pending
    making: asyncio.Future[AbuseLimits] = pending
    try:
        made = await asyncio.shield(making)
    finally:
        if making.done() and getattr(state, "abuse_limits_making", None) is making:
            state.abuse_limits_making = None
            if not making.cancelled() and making.exception() is None:
                state.abuse_limits = making.result()
    return made


def client_of(request: Request) -> str:
    """Whom to count a request under: the client's address (the proxy's view when it is trusted)."""
    return client_key(request.client.host if request.client else None)


async def _failures_limited(
    request: Request,
    per_client: Rule,
    per_target: Rule,
    target: object,
    attempt: Callable[[], Awaitable[T]],
    failures: tuple[type[Exception], ...] = (NotFound,),
) -> T:
    limits, client = await abuse_limits(request), client_of(request)
    await limits.check(per_client, client)
    await limits.check(per_target, target)
    try:
        return await attempt()
    except failures:
        await limits.fail(per_client, client)
        await limits.fail(per_target, target)
        raise


async def public_sign_up(request: Request, meeting_id: uuid.UUID, body: SignUpIn) -> signups.Requested:
    """A sign-up without a coordinator token, limited per client address, per meeting and per contact
    (each sends a message), and, for newcomers, by wrong invitation codes per client and per meeting."""
    limits, client = await abuse_limits(request), client_of(request)
    await limits.hit(Rule.SIGNUP_PER_CLIENT, client)
    await limits.hit(Rule.SIGNUP_PER_MEETING, meeting_id)
    email, phone = domain.proven_contact(body.email, body.phone)
    contact = email or phone
    # Checked first, counted only once a message goes out: a sign-up that is refused (no such meeting, a
    # wrong code) must not use up someone else's contact.
    await limits.check(Rule.SIGNUP_PER_CONTACT, contact)
    runtime = runtime_of(request)
    if body.group != "newcomer":
        requested = await signups.request(runtime.db, meeting_id, body)
    else:
        requested = await _failures_limited(
            request,
            Rule.INVITATION_FAILURES_PER_CLIENT,
            Rule.INVITATION_FAILURES_PER_MEETING,
            meeting_id,
            lambda: signups.request(runtime.db, meeting_id, body),
            failures=(Forbidden,),
        )
    await limits.fail(Rule.SIGNUP_PER_CONTACT, contact)
    return requested


async def confirm_sign_up(request: Request, signup_id: uuid.UUID, token: str) -> signups.Confirmed:
    """A confirmation link used; wrong links are limited per client and per sign-up."""
    db = runtime_of(request).db
    return await _failures_limited(
        request,
        Rule.CONFIRM_FAILURES_PER_CLIENT,
        Rule.CONFIRM_FAILURES_PER_TARGET,
        signup_id,
        lambda: signups.confirm(db, signup_id, token),
    )


async def signup_for_link(request: Request, signup_id: uuid.UUID, token: str) -> MeetingView:
    """The meeting of the sign-up behind a confirmation link (for its page); wrong links count as for
    ``confirm_sign_up``."""
    db = runtime_of(request).db
    return await _failures_limited(
        request,
        Rule.CONFIRM_FAILURES_PER_CLIENT,
        Rule.CONFIRM_FAILURES_PER_TARGET,
        signup_id,
        lambda: signups.signup_for_link(db, signup_id, token),
    )


async def request_erasure(request: Request, manage_token: str, participant_id: uuid.UUID) -> uuid.UUID:
    """A manage token asks for erasure; wrong tokens are limited per client and per participant."""
    db = runtime_of(request).db
    return await _failures_limited(
        request,
        Rule.MANAGE_FAILURES_PER_CLIENT,
        Rule.MANAGE_FAILURES_PER_TARGET,
        participant_id,
        lambda: participants.request_erasure(db, manage_token, participant_id),
    )


async def confirm_erasure(request: Request, request_id: uuid.UUID, token: str, *, only_check: bool = False) -> None:
    """The erasure link used (or, with ``only_check``, looked at); wrong links are limited like
    confirmation links."""
    db = runtime_of(request).db
    use = participants.check_erasure_link if only_check else participants.confirm_erasure
    await _failures_limited(
        request,
        Rule.CONFIRM_FAILURES_PER_CLIENT,
        Rule.CONFIRM_FAILURES_PER_TARGET,
        request_id,
        lambda: use(db, request_id, token),
    )


async def with_manage_token(request: Request, registration_id: uuid.UUID, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` (a use case given a manage token for ``registration_id``), counting a NotFound
    (the token did not fit) against the client and the registration."""
    return await _failures_limited(
        request, Rule.MANAGE_FAILURES_PER_CLIENT, Rule.MANAGE_FAILURES_PER_TARGET, registration_id, attempt
    )


async def check_bearer(request: Request) -> None:
    """Refuse a client that sent too many unknown bearer tokens (before looking the next one up)."""
    await (await abuse_limits(request)).check(Rule.BEARER_FAILURES_PER_CLIENT, client_of(request))


async def bearer_failed(request: Request) -> None:
    """Count an unknown bearer token against the client (``check_bearer`` refuses it once too many)."""
    await (await abuse_limits(request)).fail(Rule.BEARER_FAILURES_PER_CLIENT, client_of(request))


async def invitation_checked(request: Request, meeting_id: uuid.UUID, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` (a page opened with an invitation code), counting a Forbidden (a wrong code) like a
    wrong code in a sign-up: per client and per meeting, so the page is no way round those limits."""
    return await _failures_limited(
        request,
        Rule.INVITATION_FAILURES_PER_CLIENT,
        Rule.INVITATION_FAILURES_PER_MEETING,
        meeting_id,
        attempt,
        failures=(Forbidden,),
    )
