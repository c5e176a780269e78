"""Identity services: create, tokens shown once, revoke, delete; permissions and refusals."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from identities import services
from identities.models import Identity
from identities.sync import push_identity
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms.models import Participant
from tests.conftest import run_tasks
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import ParticipantFactory

pytestmark = pytest.mark.django_db


def test_a_new_identity_gets_its_acs_user_after_commit(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        identity = services.identity_create(
            actor=scheduler, display_name="  Grace   Hopper ", email="Grace@Example.com"
        )
    run_tasks()
    identity.refresh_from_db()
    assert (identity.display_name, identity.email) == ("Grace Hopper", "grace@example.com")
    assert identity.raw_id.startswith("8:acs:")
    assert identity.sync.state == SyncState.SYNCED
    assert AuditEvent.objects.filter(action="acs.identity.created").exists()


def test_a_second_identity_with_the_same_email_is_refused(scheduler):
    services.identity_create(actor=scheduler, display_name="A", email="a@example.com")
    with pytest.raises(ValidationError, match="exists already"):
        services.identity_create(actor=scheduler, display_name="B", email="A@example.com")
    assert Identity.objects.count() == 1


def test_auditors_cannot_create_identities(auditor):
    with pytest.raises(PermissionDenied, match="identities.add_identity"):
        services.identity_create(actor=auditor, display_name="X")
    assert not Identity.objects.exists()


def test_a_token_is_returned_once_and_only_its_scopes_and_expiry_are_kept(emulator, role_admin):
    identity = IdentityFactory()
    issued = services.identity_issue_token(
        actor=role_admin, identity=identity, scopes=["chat", "voip"], minutes=60
    )
    assert emulator.token_status(issued.token)["valid"] is True
    identity.refresh_from_db()
    assert identity.token_scopes == ["chat", "voip"]
    assert identity.token_expires_at == issued.expires_on
    event = AuditEvent.objects.get(action="portal.identity.token_issued")
    everything = repr(
        list(AuditEvent.objects.values_list("changes", "acs_outcome", "target_label"))
    )
    assert issued.token not in everything
    assert event.changes["scopes"]["after"] == ["chat", "voip"]


@pytest.mark.parametrize(
    ("scopes", "minutes", "field"),
    [([], 60, "scopes"), (["teleport"], 60, "scopes"), (["chat"], 59, "minutes"),
     (["chat"], 1441, "minutes")],
)  # fmt: skip
def test_a_bad_token_request_is_refused_before_acs_is_called(
    emulator, role_admin, scopes, minutes, field
):
    identity = IdentityFactory()
    with pytest.raises(ValidationError) as caught:
        services.identity_issue_token(
            actor=role_admin, identity=identity, scopes=scopes, minutes=minutes
        )
    assert field in caught.value.message_dict
    assert emulator.requests()["counts"].get("Identity_IssueAccessToken", 0) == 0


def test_schedulers_cannot_issue_tokens(emulator, scheduler):
    with pytest.raises(PermissionDenied, match="identities.issue_token"):
        services.identity_issue_token(
            actor=scheduler, identity=IdentityFactory(), scopes=["chat"], minutes=60
        )


def test_revoking_makes_earlier_tokens_invalid_in_acs(emulator, role_admin):
    identity = IdentityFactory()
    issued = services.identity_issue_token(
        actor=role_admin, identity=identity, scopes=["voip"], minutes=120
    )
    services.identity_revoke_tokens(actor=role_admin, identity=identity)
    status = emulator.token_status(issued.token)
    assert status["valid"] is False
    identity.refresh_from_db()
    assert identity.tokens_revoked_at is not None
    assert identity.token_scopes == []


def test_revoking_while_acs_is_down_changes_nothing_and_says_so(emulator, role_admin):
    identity = IdentityFactory()
    push_identity(identity.pk)
    emulator.set_faults(error_rates={503: 1.0})
    with pytest.raises(ValidationError, match="nothing was changed"):
        services.identity_revoke_tokens(actor=role_admin, identity=identity)
    identity.refresh_from_db()
    assert identity.tokens_revoked_at is None
    assert AuditEvent.objects.filter(action="acs.identity.revoke_failed").exists()


def test_deleting_an_identity_takes_it_out_of_every_room_then_out_of_acs(
    emulator, role_admin, django_capture_on_commit_callbacks
):
    first = ParticipantFactory()
    second = ParticipantFactory(identity=first.identity)
    push_identity(first.identity.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.identity_delete(actor=role_admin, identity=first.identity)
    assert not Participant.objects.filter(pk__in=[first.pk, second.pk]).exists()
    run_tasks()
    identity = Identity.objects.get(pk=first.identity.pk)
    assert identity.deleted_at is not None
    assert identity.sync.state == SyncState.SYNCED
    assert emulator.requests()["counts"].get("Identity_Delete") == 1
    removed = AuditEvent.objects.filter(action="portal.participant.removed")
    assert {e.room_id for e in removed} == {first.room_id, second.room_id}


def test_schedulers_cannot_delete_identities(scheduler):
    identity = IdentityFactory()
    with pytest.raises(PermissionDenied):
        services.identity_delete(actor=scheduler, identity=identity)
    identity.refresh_from_db()
    assert identity.deleted_at is None


# ------------------------------------------------------------------ one live identity per e-mail


def test_an_email_is_one_live_identitys_in_the_database_whatever_its_case():
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    Identity.objects.create(display_name="Ann", email="Ann@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.create(display_name="Ann again", email="ann@example.com")
    # A deleted identity's e-mail is free again, and people without one are many.
    Identity.objects.filter(email="Ann@Example.com").update(deleted_at=timezone.now())
    Identity.objects.create(display_name="Ann, back", email="ann@example.com")
    Identity.objects.create(display_name="No mail")
    Identity.objects.create(display_name="No mail either")


def test_an_existing_email_in_another_case_is_refused_as_a_validation_error(scheduler):
    # Stored as typed by something other than the services (an import, older data).
    Identity.objects.create(display_name="Ann", email="Ann@Example.com")
    with pytest.raises(ValidationError, match="exists already"):
        services.identity_create(actor=scheduler, display_name="Ann B", email="ann@example.com")
    found = services.identity_find_or_create(
        actor=scheduler, person=services.NewPerson("Ann", "ANN@example.com")
    )
    assert found.email == "Ann@Example.com"
    assert Identity.objects.count() == 1


def test_losing_the_race_for_an_email_is_a_validation_error_not_a_500(scheduler, monkeypatch):
    """The other request commits its identity between this one's check and its insert."""
    real = services._live_with_email
    checks = []

    def check_then_lose(email):
        checks.append(email)
        if len(checks) == 1:
            Identity.objects.create(display_name="Winner", email="ANN@example.com")
            return None  # what the check saw, an instant before
        return real(email)

    monkeypatch.setattr(services, "_live_with_email", check_then_lose)
    with pytest.raises(ValidationError, match="exists already"):
        services.identity_create(actor=scheduler, display_name="Ann", email="ann@example.com")
    Identity.objects.all().delete()
    checks.clear()
    found = services.identity_find_or_create(
        actor=scheduler, person=services.NewPerson("Ann", "ann@example.com")
    )
    assert found.display_name == "Winner"
    assert Identity.objects.count() == 1
    assert not AuditEvent.objects.filter(action="portal.identity.created").exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_new_person_added_to_ten_rooms_at_once_is_one_identity_and_one_acs_user(
    emulator, scheduler
):
    """Ten requests, each on its own connection, started together (real concurrency on
    PostgreSQL; SQLite runs them one after another)."""
    import threading
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from rooms import services as room_services
    from rooms.models import Room
    from rooms.sync import push_room

    start = timezone.now() + timedelta(hours=1)
    rooms = [
        Room.objects.create(
            title=f"Room {n}",
            owner=scheduler,
            valid_from=start,
            valid_until=start + timedelta(hours=1),
        )
        for n in range(10)
    ]
    emails = ["ann@example.com", "Ann@Example.com", "ANN@EXAMPLE.COM", " ann@example.com "]
    barrier = threading.Barrier(len(rooms))
    errors: list = []

    def add(index: int, room: Room) -> None:
        try:
            barrier.wait()
            room_services.participants_add(
                actor=scheduler,
                room=room,
                entries=[
                    room_services.ParticipantEntry(
                        services.NewPerson("Ann Example", emails[index % len(emails)])
                    )
                ],
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=item) for item in enumerate(rooms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    [ann] = Identity.objects.all()
    assert ann.email == "ann@example.com"
    assert Participant.objects.filter(identity=ann).count() == 10
    for room in rooms:
        push_room(room.pk)
    ann.refresh_from_db()
    from tests.resilience.conftest import acs_users

    assert list(acs_users(emulator)) == [ann.raw_id]


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_live_duplicates_and_names_them():
    import importlib

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    name = "0004_identity_email_once_and_create_repeatability"
    migration = importlib.import_module(f"identities.migrations.{name}")
    before = [("identities", "0003_tombstone_index")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("identities", "Identity")
    ann = old.objects.create(display_name="Ann", email="ann@example.com")
    other = old.objects.create(display_name="Another Ann", email="Ann@Example.com")
    old.objects.create(display_name="Gone", email="ann@example.com", deleted_at=timezone.now())
    old.objects.create(display_name="Bob", email="bob@example.com")
    try:
        executor = MigrationExecutor(connection)
        with pytest.raises(migration.DuplicateIdentities) as refused:
            executor.migrate([("identities", name)])
        message = str(refused.value)
        assert f"ann@example.com: identities {ann.pk}, {other.pk}" in message
        assert "bob@example.com" not in message
        assert "does not merge people" in message
        # Nothing was changed: the e-mails are as they were.
        assert old.objects.filter(pk=other.pk, email="Ann@Example.com").exists()
    finally:
        # As a person would: give the second Ann her own e-mail, then migrate again.
        old.objects.filter(pk=other.pk).update(email="ann.other@example.com")
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Identity.objects.get(pk=other.pk).email == "ann.other@example.com"
