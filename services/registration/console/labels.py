"""The words the console shows for the platform's codes (statuses, groups, seat sides), as gettext msgids:
templates translate them with ``_()`` in the page's language."""

from __future__ import annotations

from typing import Any

from services.registration.pages.signup_form import N_

MEETING_STATUS = {
    "draft": N_("Draft"),
    "published": N_("Open for sign-up"),
    "registration_closed": N_("Sign-up closed"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}

REGISTRATION_STATUS = {
    "confirmed": N_("Has a place"),
    "waitlisted": N_("On the waiting list"),
    "cancelled": N_("Cancelled their place"),
    "attended": N_("Came"),
    "no_show": N_("Did not come"),
}

GROUPS = {"newcomer": N_("Newcomers"), "resident": N_("Residents")}
GROUP_ONE = {"newcomer": N_("newcomer"), "resident": N_("resident")}
# Seen from the host's end of the long table.
SIDES = {"left": N_("left side"), "right": N_("right side")}

ACTIONS = {
    "publish": N_("Publish"),
    "close": N_("Close sign-up"),
    "complete": N_("Mark as completed"),
    "cancel": N_("Cancel the meeting"),
}

TEMPLATE_GLOBALS: dict[str, Any] = {
    "meeting_status": MEETING_STATUS,
    "registration_status": REGISTRATION_STATUS,
    "groups": GROUPS,
    "group_one": GROUP_ONE,
    "sides": SIDES,
    "action_labels": ACTIONS,
}
