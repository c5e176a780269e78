"""A test-only URLconf: a page that includes the call panel, and token endpoints for each answer.

tests/browser/test_join_call.py serves it with @pytest.mark.urls, so the panel is tested on its
contract (the include's context, the token JSON) apart from the join page that uses it.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

EMULATOR_NOTICE = (
    "This portal runs on the ACS emulator: the call itself needs a real Azure Communication "
    "Services resource. Your device check and your join token worked."
)
REFUSED = "This invitation has expired: ask the organiser for a new link."

# What the join page's token endpoint answers, by scenario.
ANSWERS: dict[str, tuple[int, dict]] = {
    "emulated": (
        200,
        {
            "token": "emulated-token",
            "expires_on": "2026-12-01T10:00:00+00:00",
            "user_id": "8:acs:emulator_00000000-0000-0000-0000-000000000001",
            "room_id": "99000000000000001",
            "emulated": True,
            "notice": EMULATOR_NOTICE,
        },
    ),
    "refused": (403, {"error": REFUSED}),
    # A real answer whose token is not a JWT: the SDK refuses it without any network.
    "real": (
        200,
        {
            "token": "not-a-jwt",
            "expires_on": "2026-12-01T10:00:00+00:00",
            "user_id": "8:acs:00000000-0000-0000-0000-000000000002",
            "room_id": "99000000000000002",
            "emulated": False,
            "notice": "",
        },
    ),
}

PAGE = (
    "{% load static %}<!DOCTYPE html>\n"
    '<html lang="en"><head><meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>Call panel</title>\n"
    '<link rel="icon" href="{% static \'favicon.svg\' %}" type="image/svg+xml">\n'
    '<link rel="stylesheet" href="{% static \'css/portal.css\' %}">\n'
    '</head><body><main id="main">\n'
    # The include as the join page writes it; a template tag cannot span lines.
    '{% include "joining/_call.html" with token_url=token_url role_label="Presenter" '
    'display_name="Ada Lovelace" %}\n'
    "</main></body></html>"
)


def _scenario(name: str) -> str:
    if name not in ANSWERS:
        raise Http404(name)
    return name


# Participants are not portal users: the join page is open, and so is this one.
@login_not_required
@require_GET
def call_page(request: HttpRequest, scenario: str) -> HttpResponse:
    token_url = reverse("harness_token", args=[_scenario(scenario)])
    html = engines["django"].from_string(PAGE).render({"token_url": token_url}, request)
    return HttpResponse(html)


@login_not_required
@require_POST
def token(request: HttpRequest, scenario: str) -> JsonResponse:
    status, body = ANSWERS[_scenario(scenario)]
    return JsonResponse(body, status=status)


urlpatterns = [
    path("call/<str:scenario>/", call_page, name="harness_call"),
    path("call/<str:scenario>/token/", token, name="harness_token"),
]
