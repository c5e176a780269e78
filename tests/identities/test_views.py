"""Identity pages: list and search, create, the identity's page, tokens shown once, delete."""

import re
import time
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identities import services, views
from identities.models import Identity
from identities.sync import push_identity
from portal import audit
from portal.models import AuditEvent
from rooms.models import Participant, Role
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db

LIST = reverse("identities:list")
CREATE = reverse("identities:create")


def detail(identity) -> str:
    return reverse("identities:detail", args=[identity.pk])


def issue_url(identity) -> str:
    return reverse("identities:issue_token", args=[identity.pk])


def revoke_url(identity) -> str:
    return reverse("identities:revoke_tokens", args=[identity.pk])


def delete_url(identity) -> str:
    return reverse("identities:delete", args=[identity.pk])


@pytest.fixture
def as_scheduler(client, scheduler):
    client.force_login(scheduler)
    return client


@pytest.fixture
def as_role_admin(client, role_admin):
    client.force_login(role_admin)
    return client


@pytest.fixture
def as_auditor(client, auditor):
    client.force_login(auditor)
    return client


def token_in(response) -> str:
    match = re.search(r'<textarea[^>]*id="token"[^>]*>([^<]+)</textarea>', response.text)
    assert match, "the page shows no token"
    return match.group(1).strip()


def error_beside(response, field: str) -> str:
    """The text of the error list rendered under a field of a form."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.text)
    assert match, f"no error beside {field}"
    return unescape(match.group(1))


# --------------------------------------------------------------------------------------- list


def test_the_list_shows_each_identitys_details(as_auditor):
    identity = IdentityFactory(display_name="Grace Hopper", raw_id="8:acs:grace")
    ParticipantFactory.create_batch(2, identity=identity)
    IdentityFactory(display_name="Alan Turing", email="", raw_id=None)
    response = as_auditor.get(LIST)
    assert response.status_code == 200
    html = response.text
    assert f'href="{detail(identity)}"' in html
    assert "8:acs:grace" in html
    assert "not created yet" in html
    assert '<td class="num" data-label="Rooms">2</td>' in html
    assert "badge-pending" in html


@pytest.mark.parametrize("search", ["hopper", "GRACE@NAVY", "8:acs:abc"])
def test_the_list_finds_an_identity_by_name_email_or_acs_id(as_auditor, search):
    IdentityFactory(display_name="Grace Hopper", email="grace@navy.mil", raw_id="8:acs:abc-1")
    IdentityFactory(display_name="Alan Turing", email="alan@example.com", raw_id="8:acs:def-2")
    response = as_auditor.get(LIST, {"q": search})
    assert "Grace Hopper" in response.text
    assert "Alan Turing" not in response.text
    assert 'value="' + search + '"' in response.text


def test_the_list_hides_deleted_identities_unless_asked(as_auditor):
    IdentityFactory(display_name="Still here")
    IdentityFactory(display_name="Long gone", deleted_at=timezone.now())
    assert "Long gone" not in as_auditor.get(LIST).text
    shown = as_auditor.get(LIST, {"deleted": "1"}).text
    assert "Long gone" in shown
    assert "badge-deleted" in shown


def test_the_list_shows_25_identities_a_page_and_keeps_the_search_in_page_links(as_auditor):
    for n in range(30):
        IdentityFactory(display_name=f"Match {n:02}")
    IdentityFactory(display_name="Other")
    first = as_auditor.get(LIST, {"q": "match"})
    assert first.text.count('<td class="name cell-title"><a href="/identities/') == 25
    assert "Page 1 of 2" in first.text
    assert 'href="?q=match&amp;page=2"' in first.text
    second = as_auditor.get(LIST, {"q": "match", "page": "2"})
    assert "Match 29" in second.text
    assert "Match 00" not in second.text


def test_the_list_answers_htmx_with_the_results_only(as_auditor):
    IdentityFactory(display_name="Grace Hopper")
    response = as_auditor.get(LIST, {"q": "grace"}, headers={"HX-Request": "true"})
    assert "Grace Hopper" in response.text
    assert "<html" not in response.text
    assert 'id="q"' not in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_the_list_answers_an_htmx_history_restore_with_the_whole_page(as_auditor):
    response = as_auditor.get(
        LIST, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.text


def test_the_list_takes_as_many_queries_for_60_identities_as_for_5(client, auditor):
    def queries_for_page() -> int:
        client.force_login(auditor)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    for _ in range(5):
        ParticipantFactory()
    few = queries_for_page()
    for _ in range(55):
        ParticipantFactory()
    assert queries_for_page() == few


def test_the_new_identity_button_shows_only_to_those_who_may_create(client, scheduler, auditor):
    client.force_login(scheduler)
    assert f'href="{CREATE}"' in client.get(LIST).text
    client.force_login(auditor)
    assert f'href="{CREATE}"' not in client.get(LIST).text


# ------------------------------------------------------------------------------------- create


def test_a_scheduler_creates_an_identity_and_lands_on_its_page(as_scheduler):
    assert as_scheduler.get(CREATE).status_code == 200
    response = as_scheduler.post(CREATE, {"display_name": "Ada Lovelace", "email": "ada@x.org"})
    identity = Identity.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == detail(identity)
    assert (identity.display_name, identity.email) == ("Ada Lovelace", "ada@x.org")
    page = as_scheduler.get(response.headers["Location"])
    assert "Created Ada Lovelace" in page.text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"display_name": "   ", "email": ""}, "display_name", services.NAME_REQUIRED),
        ({"display_name": "Ada", "email": "not-an-address"}, "email", "is not a valid e-mail"),
        ({"display_name": "Ada", "email": "TAKEN@example.com"}, "email", "exists already"),
    ],
)
def test_a_bad_new_identity_is_refused_beside_the_field_and_changes_nothing(
    as_scheduler, data, field, message
):
    IdentityFactory(display_name="First", email="taken@example.com")
    response = as_scheduler.post(CREATE, data)
    assert response.status_code == 200
    assert message in error_beside(response, field)
    assert Identity.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_an_auditor_may_not_create_identities(as_auditor):
    response = as_auditor.post(CREATE, {"display_name": "Ada"})
    assert response.status_code == 403
    assert "identities.add_identity" in response.text
    assert as_auditor.get(CREATE).status_code == 403
    assert not Identity.objects.exists()


# ------------------------------------------------------------------------------------- detail


def test_the_identity_page_shows_its_details_rooms_and_history(as_role_admin, role_admin):
    identity = services.identity_create(
        actor=role_admin, display_name="Grace Hopper", email="grace@navy.mil"
    )
    Identity.objects.filter(pk=identity.pk).update(raw_id="8:acs:grace")
    room = RoomFactory(title="Compiler review")
    ParticipantFactory(identity=identity, room=room, role=Role.PRESENTER)
    ParticipantFactory(identity=identity, room=RoomFactory(title="Gone", deleted_at=timezone.now()))
    response = as_role_admin.get(detail(identity))
    html = response.text
    assert response.status_code == 200
    assert '<code id="raw-id" class="raw-id">8:acs:grace</code>' in html
    assert 'data-copy="#raw-id"' in html
    assert f'href="{reverse("rooms:detail", args=[room.pk])}">Compiler review</a>' in html
    assert "Presenter" in html
    assert "Gone" not in html
    assert 'class="timeline"' in html
    assert "Identity created" in html


def test_a_deleted_identity_page_is_marked_and_offers_no_actions(as_role_admin):
    identity = IdentityFactory(deleted_at=timezone.now())
    response = as_role_admin.get(detail(identity))
    assert response.status_code == 200
    assert "badge-deleted" in response.text
    for url in (issue_url(identity), revoke_url(identity), delete_url(identity)):
        assert url not in response.text
    assert as_role_admin.get(delete_url(identity)).status_code == 404
    assert as_role_admin.post(issue_url(identity), {"scopes": ["chat"]}).status_code == 404


def test_the_identity_page_shows_repeated_identical_failures_as_one_line(as_auditor):
    identity = IdentityFactory(display_name="Grace Hopper")
    for _ in range(3):
        audit.record(
            action="acs.identity.created_failed",
            target=identity,
            acs_outcome={"operation": "create_user", "status": 503, "error": "ACS is down"},
        )
    html = as_auditor.get(detail(identity)).text
    assert "ACS: identity created (failed) ×3" in html
    assert html.count("ACS is down") == 1


def test_an_unknown_identity_is_404(as_auditor):
    assert as_auditor.get(reverse("identities:detail", args=[999999])).status_code == 404


# -------------------------------------------------------------------------------------- token


def _issue(client, identity, data=None):
    """POST the issue form, as the identity page does, and follow the redirect to the token."""
    return client.post(
        issue_url(identity), data or {"scopes": ["chat", "voip"], "minutes": "60"}, follow=True
    )


def _issued_in_acs(emulator) -> int:
    return emulator.requests()["counts"].get("Identity_IssueAccessToken", 0)


def test_a_token_is_shown_once_valid_in_acs_and_kept_nowhere(emulator, as_role_admin):
    identity = IdentityFactory(display_name="Grace Hopper")
    posted = as_role_admin.post(issue_url(identity), {"scopes": ["chat", "voip"], "minutes": "60"})
    # POST, redirect, GET: the token is issued by the POST and shown by the GET it redirects to.
    assert posted.status_code == 302
    assert posted["Location"] == issue_url(identity)
    response = as_role_admin.get(posted["Location"])
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "Copy it now: it is shown once and never again" in response.text
    assert 'data-copy="#token"' in response.text
    token = token_in(response)
    status = emulator.token_status(token)
    assert status["valid"] is True
    assert sorted(status["scopes"]) == ["chat", "voip"]

    identity.refresh_from_db()
    assert identity.raw_id in response.text
    assert identity.token_scopes == ["chat", "voip"]
    assert token not in repr(list(Identity.objects.values()))
    kept = repr(list(AuditEvent.objects.values_list("changes", "acs_outcome", "target_label")))
    assert token not in kept
    # Between the POST and the GET neither half alone is the token, and neither is the URL.
    assert all(token not in s.get_decoded().__repr__() for s in Session.objects.all())
    assert token not in str(posted.cookies) and token not in posted["Location"]
    assert token not in str(response.cookies)
    assert all(token not in str(m) for m in get_messages(response.wsgi_request))

    later = as_role_admin.get(detail(identity))
    assert token not in later.text
    assert "chat voip" in later.text


def test_reloading_the_token_page_shows_no_token_and_issues_none(emulator, as_role_admin):
    identity = IdentityFactory(display_name="Grace Hopper")
    first = _issue(as_role_admin, identity)
    token = token_in(first)
    assert _issued_in_acs(emulator) == 1

    reloaded = as_role_admin.get(issue_url(identity))

    assert reloaded.status_code == 200
    assert token not in reloaded.text
    assert 'id="token"' not in reloaded.text
    assert "This token was shown already" in reloaded.text
    assert "Reloading the page issued no new token" in reloaded.text
    # It offers a new one, with what the last one was issued with.
    assert f'action="{issue_url(identity)}"' in reloaded.text
    assert "Issue a new token" in reloaded.text
    assert re.search(r'<option value="60" selected>', reloaded.text)
    assert _issued_in_acs(emulator) == 1
    assert all(token not in s.get_decoded().__repr__() for s in Session.objects.all())


def test_a_new_token_can_be_issued_from_the_shown_already_page(emulator, as_role_admin):
    identity = IdentityFactory()
    first = token_in(_issue(as_role_admin, identity))
    as_role_admin.get(issue_url(identity))

    second = token_in(_issue(as_role_admin, identity, {"scopes": ["voip"], "minutes": "240"}))

    assert second != first
    assert _issued_in_acs(emulator) == 2
    assert emulator.token_status(second)["scopes"] == ["voip"]


def test_the_token_page_shows_nothing_without_its_cookie_half(emulator, as_role_admin):
    identity = IdentityFactory()
    posted = as_role_admin.post(issue_url(identity), {"scopes": ["chat"], "minutes": "60"})
    # Another browser with the same session (or one that dropped the cookie) gets no token.
    del as_role_admin.cookies[views.TOKEN_PAD_COOKIE]
    response = as_role_admin.get(posted["Location"])
    assert 'id="token"' not in response.text
    assert "This token was shown already" in response.text


def test_the_token_page_shows_nothing_after_five_minutes(emulator, as_role_admin, monkeypatch):
    identity = IdentityFactory()
    posted = as_role_admin.post(issue_url(identity), {"scopes": ["chat"], "minutes": "60"})
    later = time.time() + views.TOKEN_SHOW_WITHIN + 1
    monkeypatch.setattr(views.time, "time", lambda: later)
    response = as_role_admin.get(posted["Location"])
    assert 'id="token"' not in response.text


def test_the_token_of_one_identity_is_not_shown_on_anothers_page(emulator, as_role_admin):
    first, other = IdentityFactory(), IdentityFactory()
    as_role_admin.post(issue_url(first), {"scopes": ["chat"], "minutes": "60"})
    response = as_role_admin.get(issue_url(other))
    assert 'id="token"' not in response.text
    assert "No new token to show" in response.text


def test_the_token_page_without_an_issue_offers_one(emulator, as_role_admin):
    identity = IdentityFactory()
    response = as_role_admin.get(issue_url(identity))
    assert response.status_code == 200
    assert "No new token to show" in response.text
    assert "Issue a new token" in response.text
    assert _issued_in_acs(emulator) == 0


def test_the_token_page_names_its_expiry_with_the_zone(emulator, client, role_admin):
    client.force_login(role_admin)
    client.cookies["portal_tz"] = "Europe/Paris"
    response = _issue(client, IdentityFactory(), {"scopes": ["voip"], "minutes": "480"})
    assert re.search(r"<time [^>]*>[^<]+ CES?T</time>", response.text)
    assert "UTC" in response.text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"minutes": "60"}, "scopes", services.SCOPES_REQUIRED),
        ({"scopes": ["chat"], "minutes": "59"}, "minutes", services.MINUTES_RANGE),
        ({"scopes": ["chat"], "minutes": "soon"}, "minutes", services.MINUTES_RANGE),
        ({"scopes": ["teleport"], "minutes": "60"}, "scopes", "teleport"),
    ],
)
def test_a_bad_token_request_is_refused_beside_the_field_on_the_identity_page(
    emulator, as_role_admin, data, field, message
):
    identity = IdentityFactory()
    response = as_role_admin.post(issue_url(identity), data)
    assert response.status_code == 200
    assert message in error_beside(response, field)
    assert 'id="token"' not in response.text
    identity.refresh_from_db()
    assert identity.tokens_issued_at is None
    assert emulator.requests()["counts"].get("Identity_IssueAccessToken", 0) == 0


def test_acs_failing_to_issue_a_token_is_explained_and_changes_nothing(emulator, as_role_admin):
    identity = IdentityFactory()
    push_identity(identity.pk)
    emulator.set_faults(error_rates={503: 1.0})
    response = as_role_admin.post(issue_url(identity), {"scopes": ["chat"], "minutes": "60"})
    assert response.status_code == 200
    assert "nothing was changed" in response.text
    identity.refresh_from_db()
    assert identity.tokens_issued_at is None


def test_revoking_makes_the_tokens_invalid_in_acs(emulator, as_role_admin, role_admin):
    identity = IdentityFactory(display_name="Grace Hopper")
    issued = services.identity_issue_token(
        actor=role_admin, identity=identity, scopes=["chat"], minutes=60
    )
    response = as_role_admin.post(revoke_url(identity), follow=True)
    assert response.redirect_chain == [(detail(identity), 302)]
    assert "Revoked every access token issued to Grace Hopper" in response.text
    assert emulator.token_status(issued.token)["valid"] is False
    identity.refresh_from_db()
    assert identity.tokens_revoked_at is not None


# ------------------------------------------------------------------------------------- delete


def test_the_delete_confirmation_lists_every_room_the_identity_leaves(as_role_admin):
    identity = IdentityFactory(display_name="Grace Hopper")
    rooms = [
        ParticipantFactory(identity=identity, room=RoomFactory(title=title), role=role).room
        for title, role in [("Standup", Role.ATTENDEE), ("Review", Role.PRESENTER)]
    ]
    response = as_role_admin.get(delete_url(identity))
    assert response.status_code == 200
    for room in rooms:
        assert f'href="{reverse("rooms:detail", args=[room.pk])}">{room.title}</a>' in response.text
    assert "Presenter" in response.text
    assert "ACS deletes this person's user and every access token" in response.text


def test_deleting_an_identity_removes_it_from_its_rooms(as_role_admin):
    identity = IdentityFactory(display_name="Grace Hopper")
    ParticipantFactory.create_batch(2, identity=identity)
    response = as_role_admin.post(delete_url(identity), follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Deleted Grace Hopper; removed from 2 rooms" in response.text
    assert not Participant.objects.filter(identity=identity).exists()
    identity.refresh_from_db()
    assert identity.deleted_at is not None


# -------------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("url", "permission"),
    [
        (issue_url, "identities.issue_token"),
        (revoke_url, "identities.revoke_tokens"),
        (delete_url, "identities.delete_identity"),
    ],
)
def test_a_scheduler_may_not_issue_revoke_or_delete(as_scheduler, url, permission):
    identity = IdentityFactory()
    response = as_scheduler.post(url(identity), {"scopes": ["chat"], "minutes": "60"})
    assert response.status_code == 403
    assert permission in response.text
    identity.refresh_from_db()
    assert (identity.deleted_at, identity.tokens_issued_at, identity.tokens_revoked_at) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize("user", ["scheduler", "auditor"])
def test_those_who_may_not_manage_tokens_see_no_such_controls(client, request, user):
    client.force_login(request.getfixturevalue(user))
    identity = IdentityFactory()
    html = client.get(detail(identity)).text
    for url in (issue_url(identity), revoke_url(identity), delete_url(identity)):
        assert url not in html
    assert "Issue token" not in html


def test_a_role_admin_sees_every_control(as_role_admin):
    identity = IdentityFactory()
    html = as_role_admin.get(detail(identity)).text
    for url in (issue_url(identity), revoke_url(identity), delete_url(identity)):
        assert url in html
    assert 'name="scopes" value="chat" id="id_scopes_0" checked' in html


def test_revoking_is_post_only(as_role_admin):
    assert as_role_admin.get(revoke_url(IdentityFactory())).status_code == 405


def test_the_token_page_answers_get_and_post_only(as_role_admin):
    assert as_role_admin.put(issue_url(IdentityFactory())).status_code == 405


def test_a_scheduler_may_not_open_the_token_page(as_scheduler):
    refused = as_scheduler.get(issue_url(IdentityFactory()))
    assert refused.status_code == 403
    assert "identities.issue_token" in refused.text
