"""What the admin tests share: signing in, making rooms, the admin's room form and actions."""

from datetime import timedelta

from django.utils import timezone

from identities.services import NewPerson
from rooms import services
from rooms.models import Room
from tests.conftest import PASSWORD


def _login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def _room(actor, title: str = "Board meeting", people=()) -> Room:
    start = timezone.now() + timedelta(hours=1)
    return services.room_create(
        actor=actor,
        title=title,
        valid_from=start,
        valid_until=start + timedelta(hours=2),
        participants=[
            services.ParticipantEntry(NewPerson(name, email), role) for name, email, role in people
        ],
    )


def _split(value) -> tuple[str, str]:
    local = timezone.localtime(value)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def _room_form(room: Room | None = None, **changes) -> dict:
    """What the admin's room form posts: the room's fields, then the changes, and no inline rows."""
    start = timezone.now() + timedelta(hours=1)
    values = {
        "title": room.title if room else "Planning",
        "notes": room.notes if room else "",
        "valid_from": room.valid_from if room else start,
        "valid_until": room.valid_until if room else start + timedelta(hours=1),
        "pstn_dial_out_enabled": room.pstn_dial_out_enabled if room else False,
    }
    values.update(changes)
    data = {
        "title": values["title"],
        "notes": values["notes"],
        "participants-TOTAL_FORMS": "0",
        "participants-INITIAL_FORMS": "0",
        "participants-MIN_NUM_FORMS": "0",
        "participants-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for name in ("valid_from", "valid_until"):
        data[f"{name}_0"], data[f"{name}_1"] = _split(values[name])
    if values["pstn_dial_out_enabled"]:
        data["pstn_dial_out_enabled"] = "on"
    if room is not None:
        data["expected_version"] = str(room.version)
    return data


def _action(client, url: str, action: str, objects) -> object:
    return client.post(
        url,
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects]},
        follow=True,
    )
