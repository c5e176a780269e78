"""The room page's invitations panel and the invitations page: switch, preview, resend."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from identities.services import NewPerson
from invitations.models import Invitation, RoomCalendar, Status
from joining.models import JoinLink
from portal.models import AuditEvent
from rooms import services
from rooms.models import Participant

pytestmark = pytest.mark.django_db

ADA = ("Ada Lovelace", "ada@example.com")


@pytest.fixture
def room(scheduler):
    start = timezone.now() + timedelta(days=1)
    return services.room_create(
        actor=scheduler,
        title="Review <script>alert(1)</script>",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[
            services.ParticipantEntry(NewPerson(*ADA)),
            services.ParticipantEntry(NewPerson("No Mail", "")),
        ],
    )


def _ada(room) -> Participant:
    return Participant.objects.get(room=room, identity__email=ADA[1])


def test_the_room_page_offers_the_file_and_for_schedulers_the_switch(client, room, scheduler):
    client.force_login(scheduler)
    page = client.get(reverse("rooms:detail", args=[room.pk])).text
    assert reverse("invitations:room_calendar", args=[room.pk]) in page
    assert reverse("invitations:toggle", args=[room.pk]) in page
    assert reverse("invitations:room", args=[room.pk]) in page


def test_an_auditor_sees_the_file_but_no_switch(client, room, auditor):
    client.force_login(auditor)
    page = client.get(reverse("rooms:detail", args=[room.pk])).text
    assert reverse("invitations:room_calendar", args=[room.pk]) in page
    assert reverse("invitations:toggle", args=[room.pk]) not in page


def test_turning_invitations_off_and_on_is_recorded(client, room, scheduler):
    client.force_login(scheduler)
    url = reverse("invitations:toggle", args=[room.pk])
    response = client.post(url, {"enabled": "off"})
    assert response.status_code == 302
    assert RoomCalendar.objects.get(room_id=room.pk).invitations_enabled is False
    assert "Turn invitations on" in client.get(reverse("rooms:detail", args=[room.pk])).text
    client.post(url, {"enabled": "on"})
    assert RoomCalendar.objects.get(room_id=room.pk).invitations_enabled is True
    actions = list(
        AuditEvent.objects.filter(room_id=room.pk, action__contains="invitations_turned")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["portal.room.invitations_turned_off", "portal.room.invitations_turned_on"]


def test_a_nonsense_switch_changes_nothing(client, room, scheduler):
    client.force_login(scheduler)
    response = client.post(reverse("invitations:toggle", args=[room.pk]), {"enabled": "maybe"})
    assert response.status_code == 302
    assert not RoomCalendar.objects.filter(room_id=room.pk, invitations_enabled=False).exists()


@pytest.mark.parametrize(
    ("name", "args"),
    [("toggle", ()), ("resend", ("participant",))],
)
def test_changes_are_post_only_and_not_for_auditors(client, room, auditor, scheduler, name, args):
    values = [room.pk, *(_ada(room).pk for _ in args)]
    url = reverse(f"invitations:{name}", args=values)
    client.force_login(scheduler)
    assert client.get(url).status_code == 405
    client.force_login(auditor)
    assert client.post(url, {"enabled": "off"}).status_code == 403
    assert not Invitation.objects.filter(reason="resend").exists()
    assert not RoomCalendar.objects.filter(invitations_enabled=False).exists()


def test_the_invitations_page_and_preview_are_not_for_auditors(client, room, auditor):
    client.force_login(auditor)
    assert client.get(reverse("invitations:room", args=[room.pk])).status_code == 403
    preview = reverse("invitations:preview", args=[room.pk, _ada(room).pk])
    assert client.get(preview).status_code == 403


def test_the_preview_shows_the_email_and_sends_nothing(client, room, scheduler, inbox):
    client.force_login(scheduler)
    response = client.get(reverse("invitations:preview", args=[room.pk, _ada(room).pk]))
    assert response.status_code == 200
    assert "Invitation: Review &lt;script&gt;alert(1)&lt;/script&gt;, " in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "Your role: Attendee" in response.text
    assert "BEGIN:VCALENDAR" in response.text
    assert inbox() == []
    assert not Invitation.objects.exists()
    assert not JoinLink.objects.exists()


def test_a_preview_of_someone_in_another_room_is_404(client, room, scheduler):
    other = services.room_create(actor=scheduler, title="Other")
    client.force_login(scheduler)
    url = reverse("invitations:preview", args=[other.pk, _ada(room).pk])
    assert client.get(url).status_code == 404


def test_resend_queues_one_more_email(client, room, scheduler, deliver, inbox):
    deliver()
    client.force_login(scheduler)
    response = client.post(reverse("invitations:resend", args=[room.pk, _ada(room).pk]))
    assert response.status_code == 302
    resent = Invitation.objects.get(reason="resend")
    assert resent.requested_by == scheduler
    assert resent.status == Status.PENDING
    assert AuditEvent.objects.filter(action="portal.invitation.resend_requested").count() == 1


def test_resend_to_someone_without_an_address_says_so(client, room, scheduler):
    client.force_login(scheduler)
    nobody = Participant.objects.get(room=room, identity__email="")
    response = client.post(reverse("invitations:resend", args=[room.pk, nobody.pk]), follow=True)
    assert "No Mail has no e-mail address." in response.text
    assert not Invitation.objects.exists()


def test_resend_while_invitations_are_off_sends_nothing(client, room, scheduler):
    client.force_login(scheduler)
    client.post(reverse("invitations:toggle", args=[room.pk]), {"enabled": "off"})
    response = client.post(
        reverse("invitations:resend", args=[room.pk, _ada(room).pk]), follow=True
    )
    assert "Invitations are turned off for this room." in response.text
    assert not Invitation.objects.exists()


def test_the_page_and_the_history_show_what_acs_answered(client, room, scheduler, deliver):
    deliver()
    sent = Invitation.objects.get()
    client.force_login(scheduler)
    page = client.get(reverse("invitations:room", args=[room.pk])).text
    assert "Accepted by ACS" in page
    assert sent.operation_id in page
    assert "No e-mail address" in page
    history = client.get(reverse("rooms:history", args=[room.pk])).text
    assert "invitation sent" in history.lower()
    assert sent.operation_id in history
