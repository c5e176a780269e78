"""Every admin page renders for whom it should; the audit trail is read-only to all."""

import pytest
from django.contrib import admin
from django.urls import reverse

from portal.models import AuditEvent
from rooms.models import Role
from tests.admin_helpers import _login, _room, _room_form

pytestmark = pytest.mark.django_db

ROOM_ADD = reverse("admin:rooms_room_add")
ROOM_LIST = reverse("admin:rooms_room_changelist")
PARTICIPANT_LIST = reverse("admin:rooms_participant_changelist")
IDENTITY_LIST = reverse("admin:identities_identity_changelist")
EVENT_LIST = reverse("admin:portal_auditevent_changelist")


# ------------------------------------------------------------------------- every page renders


@pytest.fixture
def some_of_everything(role_admin):
    room = _room(role_admin, people=[("Ada Lovelace", "ada@example.com", Role.PRESENTER)])
    return room


READ_ONLY = {
    "portal.auditevent",
    "django_tasks_database.dbtaskresult",
    # django-axes' records of sign-ins.
    "axes.accessattempt",
    "axes.accessfailurelog",
    "axes.accesslog",
    # A series changes on its own page, where each change names the occurrences it reaches.
    "rooms.series",
}


def _registered():
    return [
        pytest.param(model._meta.app_label, model._meta.model_name, id=model._meta.label_lower)
        for model in sorted(admin.site._registry, key=lambda model: model._meta.label_lower)
    ]


@pytest.mark.parametrize(("app", "model"), _registered())
def test_every_changelist_and_add_page_renders_for_the_superuser(
    client, superuser, some_of_everything, app, model
):
    _login(client, superuser)
    listing = client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert listing.status_code == 200
    adding = client.get(reverse(f"admin:{app}_{model}_add"))
    # The audit trail, the task queue's results and sign-in records: nobody adds them by hand.
    expected = 403 if f"{app}.{model}" in READ_ONLY else 200
    assert adding.status_code == expected


@pytest.mark.parametrize("user", ["superuser", "role_admin", "scheduler", "auditor"])
def test_the_change_pages_render_for_every_group(client, request, some_of_everything, user):
    room = some_of_everything
    participant = room.participants.get()
    _login(client, request.getfixturevalue(user))
    for name, pk in (
        ("rooms_room", room.pk),
        ("rooms_participant", participant.pk),
        ("identities_identity", participant.identity_id),
        ("portal_auditevent", AuditEvent.objects.first().pk),
    ):
        response = client.get(reverse(f"admin:{name}_change", args=[pk]))
        assert response.status_code == 200, name
    assert "Ada Lovelace" in client.get(reverse("admin:rooms_room_change", args=[room.pk])).text


def test_the_admin_names_the_portal(client, superuser):
    assert "ACS Rooms portal admin" in _login(client, superuser).get("/admin/").text


# ---------------------------------------------------------------------- rooms through services

# ---------------------------------------------------------------------------- participants

# ------------------------------------------------------------------------------ identities

# ------------------------------------------------------------------------------ audit trail


def test_audit_events_cannot_be_changed_or_deleted_even_by_the_superuser(client, superuser):
    _room(superuser)
    event = AuditEvent.objects.get()
    _login(client, superuser)
    change = reverse("admin:portal_auditevent_change", args=[event.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert "portal.room.created" in page.text
    assert "&quot;after&quot;: &quot;Board meeting&quot;" in page.text  # changes pretty-printed
    assert client.post(change, {"action": "x"}).status_code == 403
    delete = reverse("admin:portal_auditevent_delete", args=[event.pk])
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in client.get(EVENT_LIST).text
    assert AuditEvent.objects.get().hash == event.hash


# ---------------------------------------------------------------------------------- auditor


@pytest.mark.parametrize("url", [ROOM_LIST, PARTICIPANT_LIST, IDENTITY_LIST, EVENT_LIST])
def test_an_auditor_can_read_every_changelist(client, auditor, some_of_everything, url):
    assert _login(client, auditor).get(url).status_code == 200


def test_an_auditor_can_add_change_or_delete_nothing(client, auditor, some_of_everything):
    room = some_of_everything
    participant = room.participants.get()
    identity = participant.identity
    _login(client, auditor)
    for name in ("rooms_room", "rooms_participant", "identities_identity"):
        assert client.get(reverse(f"admin:{name}_add")).status_code == 403
    assert client.post(ROOM_ADD, _room_form()).status_code == 403
    room_change = reverse("admin:rooms_room_change", args=[room.pk])
    assert client.get(room_change).status_code == 200  # view only
    assert client.post(room_change, _room_form(room, title="Audited")).status_code == 403
    for name, pk in (
        ("rooms_room", room.pk),
        ("rooms_participant", participant.pk),
        ("identities_identity", identity.pk),
    ):
        assert client.post(reverse(f"admin:{name}_delete", args=[pk])).status_code == 403
    room.refresh_from_db()
    assert (room.title, room.deleted_at) == ("Board meeting", None)
    listing = client.get(ROOM_LIST).text
    assert "retry_sync" not in listing
    assert "resync_from_acs" not in listing


def test_the_trail_in_the_admin_names_the_sync_worker_as_the_pages_do(client, superuser):
    from portal import audit

    audit.record(
        action="portal.room.sync_requested", target=None, target_type="rooms.room", target_id="1"
    )
    client.force_login(superuser)
    page = client.get(EVENT_LIST).content.decode()
    assert "the sync worker" in page
    assert ">system<" not in page
