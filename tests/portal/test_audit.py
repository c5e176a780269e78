"""record() writes scrubbed, hash-chained events that the ORM can never change or delete."""

import datetime
import decimal
import io
import json
import uuid
import zoneinfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection, transaction

from portal.audit import REDACTED, diff, json_safe, record, snapshot
from portal.models import GENESIS_HASH, AppendOnlyError, AuditChainHead, AuditEvent
from rooms.models import Participant, Room

pytestmark = pytest.mark.django_db

A_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI4OmFjczoxIiwiZXhwIjoxfQ.c2lnbmF0dXJl"


def _verify() -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out, stderr=out)
    return out.getvalue()


def test_it_records_the_action_target_actor_and_changes(scheduler):
    group = Group.objects.get(name="Schedulers")

    event = record(
        action="portal.group.renamed",
        target=group,
        actor=scheduler,
        changes={"name": {"before": "Old", "after": "Schedulers"}},
        acs_outcome={"status": 200},
        room_id=42,
        request_id="req-1",
    )

    event = AuditEvent.objects.get(pk=event.pk)
    assert event.action == "portal.group.renamed"
    assert (event.target_type, event.target_id, event.target_label) == (
        "auth.group",
        str(group.pk),
        "Schedulers",
    )
    assert (event.actor_id, event.actor_label) == (scheduler.pk, "sam.scheduler")
    assert event.changes == {"name": {"before": "Old", "after": "Schedulers"}}
    assert event.acs_outcome == {"status": 200}
    assert (event.room_id, event.request_id) == (42, "req-1")
    assert event.at is not None


def test_it_names_the_system_as_actor_when_there_is_none():
    event = record(action="acs.room.pushed", target=None, target_type="rooms.room", target_id="7")

    assert event.actor_id is None
    assert event.actor_label == "system"
    assert (event.target_type, event.target_id, event.target_label) == ("rooms.room", "7", "")
    assert (event.changes, event.acs_outcome, event.request_id) == ({}, {}, "")


def test_it_lets_explicit_target_fields_override_the_instance(scheduler):
    event = record(
        action="portal.user.signed_in", target=scheduler, target_label="Sam", target_id="x"
    )

    assert (event.target_type, event.target_id, event.target_label) == ("auth.user", "x", "Sam")


def test_it_files_a_room_and_its_participants_under_the_room():
    room_event = record(action="portal.room.created", target=Room(pk=5, title="Standup"))
    participant_event = record(
        action="portal.participant.role_changed",
        target=Participant(pk=9, room_id=5),
        target_label="Ada in Standup",
    )

    assert (room_event.target_type, room_event.room_id) == ("rooms.room", 5)
    assert room_event.target_label == "Standup"
    assert (participant_event.target_type, participant_event.room_id) == ("rooms.participant", 5)


def test_it_refuses_an_unsaved_target():
    with pytest.raises(ValueError, match="saved target"):
        record(action="portal.group.created", target=Group(name="New"))


@pytest.mark.parametrize("action", ["created", "portal.created", "Portal.Room.Created", ""])
def test_it_refuses_an_action_that_is_not_a_dotted_code(action):
    with pytest.raises(ValueError, match="not a code"):
        record(action=action, target=None, target_type="rooms.room", target_id="1")
    assert not AuditEvent.objects.exists()


def test_it_refuses_an_event_without_a_target():
    with pytest.raises(ValueError, match="needs a target"):
        record(action="portal.room.created", target=None)


def test_it_chains_each_event_to_the_previous_one():
    first, second, third = (
        record(action="portal.room.created", target=None, target_type="rooms.room", target_id=n)
        for n in "123"
    )

    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    head = AuditChainHead.objects.get()
    assert (head.hash, head.last_event_id, head.length) == (third.hash, third.pk, 3)


def test_it_hashes_the_content_and_the_previous_hash():
    event = record(action="portal.room.created", target=None, target_type="rooms.room", target_id=1)

    assert event.hash == event.compute_hash()
    event.action = "portal.room.deleted"
    assert event.compute_hash() != event.hash
    event.action, event.prev_hash = "portal.room.created", "f" * 64
    assert event.compute_hash() != event.hash


def test_the_hash_survives_a_round_trip_through_the_database(scheduler):
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    event = record(
        action="portal.room.updated",
        target=scheduler,
        actor=scheduler,
        changes={
            "valid_from": {
                "before": datetime.datetime(2026, 3, 29, 1, 30, tzinfo=paris),
                "after": datetime.datetime(2026, 3, 29, 3, 30, 0, 123456, tzinfo=paris),
            },
            "price": decimal.Decimal("10.50"),
            "ratio": 1e20,
            "request": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "tags": ("b", "a"),
            "title": "Café ✓",
            "nested": {"z": 1, "a": [None, True, 2**60]},
        },
    )

    stored = AuditEvent.objects.get(pk=event.pk)

    assert stored.compute_hash() == stored.hash == event.hash
    assert stored.changes["valid_from"] == {
        "before": "2026-03-29T00:30:00.000000+00:00",
        "after": "2026-03-29T01:30:00.123456+00:00",
    }
    assert stored.changes["price"] == "10.50"
    assert stored.changes["ratio"] == "1e+20"
    assert stored.changes["request"] == "12345678-1234-5678-1234-567812345678"
    assert stored.changes["tags"] == ["b", "a"]
    assert "Audit trail intact: 1 events" in _verify()


def test_it_refuses_values_it_cannot_record_faithfully():
    with pytest.raises(TypeError, match="Cannot record a object"):
        record(
            action="portal.room.created",
            target=None,
            target_type="rooms.room",
            target_id="1",
            changes={"thing": object()},
        )


def test_diff_keeps_only_the_changed_fields():
    before = {"title": "Standup", "notes": "", "role": "Attendee", "gone": 1}
    after = {"title": "Stand-up", "notes": "", "role": "Presenter", "new": 2}

    assert diff(before, after) == {
        "gone": {"before": 1, "after": None},
        "new": {"before": None, "after": 2},
        "role": {"before": "Attendee", "after": "Presenter"},
        "title": {"before": "Standup", "after": "Stand-up"},
    }


def test_diff_compares_and_returns_json_safe_values():
    utc = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    same_instant = utc.astimezone(zoneinfo.ZoneInfo("America/New_York"))

    assert diff({"at": utc}, {"at": same_instant}) == {}
    assert diff({"at": utc}, {"at": utc + datetime.timedelta(hours=1)}) == {
        "at": {
            "before": "2026-01-01T12:00:00.000000+00:00",
            "after": "2026-01-01T13:00:00.000000+00:00",
        }
    }
    assert diff({}, {}) == {}


def test_json_safe_turns_durations_dates_and_sets_into_stable_text():
    assert json_safe(
        {
            "d": datetime.date(2026, 1, 2),
            "t": datetime.timedelta(minutes=5),
            "s": {"b", "a"},
        }
    ) == {"d": "2026-01-02", "s": ["a", "b"], "t": "P0DT00H05M00S"}


def test_snapshot_reads_fields_and_foreign_keys_as_ids(scheduler):
    assert snapshot(scheduler, ["username", "is_staff", "last_login"]) == {
        "username": "sam.scheduler",
        "is_staff": True,
        "last_login": None,
    }


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "accessToken",
        "accesskey",
        "access_key",
        "secret",
        "password",
        "authorization",
        "Authorization",
        "connection_string",
        "refresh_token",
        "client_secret",
    ],
)
def test_it_redacts_values_under_secret_names(key):
    event = record(
        action="acs.identity.token_issued",
        target=None,
        target_type="identities.identity",
        target_id="1",
        changes={key: "s3cr3t-value", "nested": [{key: {"before": "a", "after": "b"}}]},
        acs_outcome={"response": {key: "s3cr3t-value", "status": 201}},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.changes == {key: REDACTED, "nested": [{key: REDACTED}]}
    assert stored.acs_outcome == {"response": {key: REDACTED, "status": 201}}
    assert stored.compute_hash() == stored.hash


def test_it_redacts_any_string_that_carries_a_jwt_or_an_access_key():
    event = record(
        action="acs.identity.token_issued",
        target=None,
        target_type="identities.identity",
        target_id="1",
        changes={"issued": A_JWT, "header": f"Bearer {A_JWT}"},
        acs_outcome={
            "error": ["sent endpoint=https://x.example/;accesskey=c2VjcmV0 and failed"],
        },
    )

    assert event.changes == {"issued": REDACTED, "header": REDACTED}
    assert event.acs_outcome == {"error": [REDACTED]}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT changes, acs_outcome FROM portal_auditevent WHERE id = %s", [event.pk]
        )
        raw = json.dumps(cursor.fetchone(), default=str)
    assert "eyJ" not in raw
    assert "c2VjcmV0" not in raw


def test_it_keeps_ordinary_fields_that_merely_mention_tokens():
    changes = {"tokens_revoked": True, "expires_on": "2026-01-01", "role": "Presenter"}

    event = record(
        action="acs.identity.tokens_revoked",
        target=None,
        target_type="identities.identity",
        target_id="1",
        changes=changes,
    )

    assert event.changes == changes


def _event(**changes) -> AuditEvent:
    return record(
        action="portal.room.created",
        target=None,
        target_type="rooms.room",
        target_id="1",
        changes=changes,
    )


def _save_existing(event):
    event.action = "portal.room.deleted"
    event.save()


def _create_beside_record(event):
    AuditEvent.objects.create(
        at=event.at, action="portal.room.created", target_type="x", target_id="1", hash="f" * 64
    )


def _bulk_create_beside_record(event):
    AuditEvent.objects.bulk_create(
        [AuditEvent(at=event.at, action="x.y.z", target_type="x", target_id="1", hash="e" * 64)]
    )


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_save_existing, id="instance save"),
        pytest.param(lambda event: event.delete(), id="instance delete"),
        pytest.param(
            lambda event: AuditEvent.objects.filter(pk=event.pk).update(action="x.y.z"),
            id="queryset update",
        ),
        pytest.param(lambda event: AuditEvent.objects.all().delete(), id="queryset delete"),
        pytest.param(
            lambda event: AuditEvent.objects.bulk_update([event], ["action"]), id="bulk update"
        ),
        pytest.param(
            lambda event: AuditEvent.objects.update_or_create(
                pk=event.pk, defaults={"action": "x.y.z"}
            ),
            id="update_or_create",
        ),
        pytest.param(_create_beside_record, id="create outside record"),
        pytest.param(_bulk_create_beside_record, id="bulk_create outside record"),
    ],
)
def test_the_orm_can_neither_change_nor_delete_nor_slip_in_an_event(tamper):
    event = _event(title={"before": "a", "after": "b"})

    with pytest.raises(AppendOnlyError, match="append-only"):
        tamper(AuditEvent.objects.get(pk=event.pk))

    assert list(AuditEvent.objects.values_list("pk", "action", "hash")) == [
        (event.pk, "portal.room.created", event.hash)
    ]
    assert "Audit trail intact: 1 events" in _verify()


def test_no_group_or_user_may_be_granted_change_or_delete_of_events(superuser):
    codenames = set(
        Permission.objects.filter(content_type__app_label="portal").values_list(
            "codename", flat=True
        )
    )
    assert "view_auditevent" in codenames
    assert not codenames & {"add_auditevent", "change_auditevent", "delete_auditevent"}


def test_deleting_the_actor_keeps_the_event_and_the_chain_valid(scheduler):
    event = record(action="portal.room.created", target=scheduler, actor=scheduler)
    record(action="portal.room.updated", target=None, target_type="rooms.room", target_id="1")
    actor_pk = scheduler.pk

    scheduler.delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_label) == (actor_pk, "sam.scheduler")
    assert stored.compute_hash() == stored.hash
    assert "Audit trail intact: 2 events" in _verify()


def test_an_event_rolls_back_with_the_callers_transaction():
    kept = _event()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        _event(title={"before": "a", "after": "b"})
        raise Abort

    after = _event()
    assert AuditEvent.objects.count() == 2
    assert after.prev_hash == kept.hash
    assert AuditChainHead.objects.get().length == 2


def test_it_rebuilds_a_missing_chain_head_from_the_last_event():
    first = _event()
    # A flush empties every table; a lost head row is rebuilt from the events that remain.
    AuditChainHead.objects.all().delete()

    second = _event()

    assert second.prev_hash == first.hash
    assert AuditChainHead.objects.get().length == 2
    assert "Audit trail intact: 2 events" in _verify()
