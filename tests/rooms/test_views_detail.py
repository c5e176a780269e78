"""The room page and its history: what each group sees, paging, and a constant query count."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from identities.models import Identity
from portal.models import AuditEvent
from rooms import services
from rooms.models import MAX_ROOM_LIFETIME, Participant, Role
from rooms.views.detail import PEOPLE_PAGE
from tests.rooms.factories import RoomFactory, town_hall

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(role_admin):
    # Made by a role admin: only role admins may add someone as a Presenter.
    return town_hall(
        role_admin,
        [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com", "Presenter")],
        pstn_dial_out_enabled=True,
        notes="Bring the quarterly numbers.",
    )


def _page(client, user, room):
    client.force_login(user)
    response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _post_forms(html: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*>', html)


def test_it_shows_the_rooms_facts(client, scheduler, room):
    html = _page(client, scheduler, room)
    assert "<title>Town hall · ACS Rooms portal</title>" in html
    assert "Bring the quarterly numbers." in html
    assert "Allowed" in html  # PSTN dial-out
    assert "sam.scheduler" in html  # the owner
    assert "Not created in ACS yet" in html
    assert '<time datetime="' in html
    assert "Ada Lovelace" in html and "alan@example.com" in html


def test_it_shows_the_room_actions_a_scheduler_may_use(client, scheduler, room):
    html = _page(client, scheduler, room)
    assert reverse("rooms:edit", args=[room.pk]) in html
    assert reverse("rooms:delete", args=[room.pk]) in html
    # Duplicate is a link to the copy's form: it creates nothing.
    assert f'<a class="button" href="/rooms/new/?copy={room.pk}">Duplicate</a>' in html
    assert f'action="{reverse("rooms:extend", args=[room.pk])}"' in html
    assert f'name="version" value="{room.version}"' in html


@pytest.mark.parametrize(
    ("start", "end", "state", "label"),
    [(-1, 1, "live", "Live"), (1, 2, "upcoming", "Upcoming"), (-3, -1, "expired", "Ended")],
)
def test_it_shows_whether_the_room_is_live_upcoming_or_ended(
    client, scheduler, start, end, state, label
):
    now = timezone.now()
    made = RoomFactory(
        valid_from=now + timedelta(hours=start), valid_until=now + timedelta(hours=end)
    )
    html = _page(client, scheduler, made)
    head = html.split('class="page-head room-head"', 1)[1]
    assert (
        f'<span class="badge badge-{state} window-state">'
        f'<span class="visually-hidden">Window: </span>{label}</span>'
    ) in head


def test_it_offers_no_extension_for_a_room_that_has_ended(client, scheduler):
    now = timezone.now()
    ended = RoomFactory(valid_from=now - timedelta(days=2), valid_until=now - timedelta(days=1))
    html = _page(client, scheduler, ended)
    assert "Extend by 7 days" not in html
    assert reverse("rooms:extend", args=[ended.pk]) not in html
    # Editing and copying still make sense for it.
    assert reverse("rooms:edit", args=[ended.pk]) in html
    assert f"/rooms/new/?copy={ended.pk}" in html


def test_it_offers_no_extension_for_a_room_at_the_180_day_limit(client, scheduler):
    start = timezone.now() + timedelta(hours=1)
    longest = RoomFactory(valid_from=start, valid_until=start + MAX_ROOM_LIFETIME)
    html = _page(client, scheduler, longest)
    assert "Extend by 7 days" not in html


def test_it_offers_an_extension_for_a_room_that_can_have_one(client, scheduler, room):
    assert "Extend by 7 days" in _page(client, scheduler, room)


def test_it_shows_a_scheduler_the_role_as_text_without_a_picker(client, scheduler, room):
    html = _page(client, scheduler, room)
    assert reverse("rooms:role", args=[room.pk, room.participants.first().pk]) not in html
    assert 'id="bulk-role"' not in html
    # Schedulers may still remove people, so the bulk bar offers only that.
    assert "Remove selected" in html


def test_it_gives_a_role_admin_a_labelled_role_picker_per_row(client, role_admin, room):
    html = _page(client, role_admin, room)
    ada = Participant.objects.get(identity__email="ada@example.com")
    assert (
        f'<label for="role-{ada.pk}" class="visually-hidden">Role of Ada Lovelace</label>' in html
    )
    assert 'hx-trigger="commit-role"' in html and 'hx-target="closest tr"' in html
    assert 'data-select-all="participant"' in html
    assert html.count('class="small nojs-only">Save</button>') == 2


def test_it_explains_what_each_role_may_do(client, auditor, room):
    html = _page(client, auditor, room)
    assert "What each role may do in a call" in html
    for role in Role.labels:
        assert f"<dt>{role}</dt>" in html
    assert "cannot share the screen" in html


def test_an_auditor_sees_no_control_that_changes_anything(client, auditor, room):
    html = _page(client, auditor, room)
    forms = _post_forms(html)
    assert len(forms) == 1 and reverse("logout") in forms[0]
    assert "<select" not in html
    assert "hx-post" not in html
    assert 'type="checkbox"' not in html
    for name in ("edit", "delete", "participants_add", "participants_import"):
        assert reverse(f"rooms:{name}", args=[room.pk]) not in html


def test_it_shows_the_rooms_history_newest_first_with_before_and_after(client, role_admin, room):
    ada = Participant.objects.get(identity__email="ada@example.com")
    services.participant_role_change(actor=role_admin, participant=ada, role=Role.CONSUMER)
    html = _page(client, role_admin, room)
    history = html[html.index('id="history"') :]
    assert '<ol class="timeline">' in history
    assert history.index("Participant role changed") < history.index("Room created")
    assert '<span class="before">Attendee</span>' in history
    assert '<span class="after">Consumer</span>' in history


def test_it_shows_twenty_events_and_a_link_to_more(client, scheduler, room):
    for n in range(25):
        services.room_update(
            actor=scheduler, room=room, expected_version=room.version, notes=f"v{n}"
        )
        room.refresh_from_db()
    html = _page(client, scheduler, room)
    history = html[html.index('id="history"') :]
    assert history.count('class="event-head"') == 20
    newest = list(AuditEvent.objects.filter(room_id=room.pk).order_by("-at", "-pk"))
    more = f"{reverse('rooms:history', args=[room.pk])}?before={newest[19].pk}"
    assert f'href="{more}"' in history and f'hx-get="{more}"' in history


def test_show_more_returns_only_the_older_events_for_htmx(client, scheduler, room):
    for n in range(25):
        services.room_update(
            actor=scheduler, room=room, expected_version=room.version, notes=f"v{n}"
        )
        room.refresh_from_db()
    events = list(AuditEvent.objects.filter(room_id=room.pk).order_by("-at", "-pk"))
    client.force_login(scheduler)
    url = reverse("rooms:history", args=[room.pk])
    response = client.get(f"{url}?before={events[19].pk}", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('class="event-head"') == len(events) - 20
    assert "Show more" not in html
    assert "Room created" in html


def test_the_history_page_works_without_javascript(client, auditor, room):
    client.force_login(auditor)
    response = client.get(reverse("rooms:history", args=[room.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>History of Town hall · ACS Rooms portal</title>" in html
    assert "Room created" in html


def test_the_history_needs_the_audit_permission(client, django_user_model, room):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="x")
    user.user_permissions.add(Permission.objects.get(codename="view_room"))
    client.force_login(user)
    response = client.get(reverse("rooms:history", args=[room.pk]))
    assert response.status_code == 403
    assert "portal.view_auditevent" in response.content.decode()
    assert (
        'id="history"' not in client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    )


def test_a_room_that_never_was_is_not_found(client, scheduler):
    client.force_login(scheduler)
    assert client.get(reverse("rooms:detail", args=[987654])).status_code == 404
    assert client.get(reverse("rooms:history", args=[987654])).status_code == 404


def test_a_user_without_view_room_is_refused(client, django_user_model, room):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 403
    assert "rooms.view_room" in response.content.decode()


def _room_with(count: int):
    room = RoomFactory()
    identities = Identity.objects.bulk_create(
        Identity(display_name=f"Person {n:03}", email=f"p{n}-{room.pk}@example.com", raw_id=None)
        for n in range(count)
    )
    Participant.objects.bulk_create(Participant(room=room, identity=i) for i in identities)
    return room


def _queries(client, room) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_number_of_people(client, role_admin):
    client.force_login(role_admin)
    small, large, larger = _room_with(5), _room_with(250), _room_with(500)
    _queries(client, small)  # warm caches that are not per page (content types, sessions)
    # A table with more people than one page of rows counts them: one query more, whatever
    # the number.
    assert _queries(client, small) + 1 == _queries(client, large) == _queries(client, larger)
    assert larger.participants.count() == 500


def test_a_large_room_shows_its_people_a_page_at_a_time(client, role_admin):
    client.force_login(role_admin)
    room = _room_with(PEOPLE_PAGE * 2 + 5)
    names = list(
        room.participants.order_by("identity__display_name", "pk").values_list(
            "identity__display_name", flat=True
        )
    )

    page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert page.count('name="participant"') == PEOPLE_PAGE
    assert f'id="participant-count">{PEOPLE_PAGE * 2 + 5}<' in page
    more = reverse("rooms:people", args=[room.pk]) + f"?from={PEOPLE_PAGE}"
    assert f'hx-get="{more}"' in page

    # htmx asks for the next rows: they come with the button for the ones after them.
    second = client.get(more, headers={"HX-Request": "true"}).content.decode()
    assert second.count('name="participant"') == PEOPLE_PAGE
    assert f"?from={PEOPLE_PAGE * 2}" in second
    assert escape(names[PEOPLE_PAGE]) in second and escape(names[PEOPLE_PAGE - 1]) not in second
    last = client.get(
        reverse("rooms:people", args=[room.pk]) + f"?from={PEOPLE_PAGE * 2}",
        headers={"HX-Request": "true"},
    ).content.decode()
    assert last.count('name="participant"') == 5
    assert "Show more people" not in last

    # Without JavaScript the link opens the room page at those rows.
    answer = client.get(more)
    assert answer.status_code == 302
    assert answer["Location"].endswith(f"?people_from={PEOPLE_PAGE}#participants")
    shown = client.get(answer["Location"]).content.decode()
    assert shown.count('name="participant"') == PEOPLE_PAGE
    assert escape(names[PEOPLE_PAGE]) in shown


@pytest.mark.parametrize("value", ["-5", "abc", "7", "99999999999", ""])
def test_a_bad_people_offset_shows_the_first_rows(client, role_admin, value):
    client.force_login(role_admin)
    room = _room_with(3)
    answer = client.get(
        reverse("rooms:people", args=[room.pk]) + f"?from={value}", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert answer.content.decode().count('name="participant"') == 3


def test_get_is_refused_on_every_view_that_changes_something(client, role_admin, room):
    client.force_login(role_admin)
    participant = room.participants.first()
    for url in (
        reverse("rooms:role", args=[room.pk, participant.pk]),
        reverse("rooms:participant_remove", args=[room.pk, participant.pk]),
        reverse("rooms:participants_bulk", args=[room.pk]),
    ):
        assert client.get(url).status_code == 405, url
