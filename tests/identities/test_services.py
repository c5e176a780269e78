"""Identity services: create, tokens shown once, revoke, delete; permissions and refusals."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from identities import services
from identities.models import Identity
from identities.sync import push_identity
from portal.models import AuditEvent
from portal.sync import SyncState
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
    assert identity.sync_state == SyncState.SYNCED
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
    assert identity.sync_state == SyncState.SYNCED
    assert emulator.requests()["counts"].get("Identity_Delete") == 1
    removed = AuditEvent.objects.filter(action="portal.participant.removed")
    assert {e.room_id for e in removed} == {first.room_id, second.room_id}


def test_schedulers_cannot_delete_identities(scheduler):
    identity = IdentityFactory()
    with pytest.raises(PermissionDenied):
        services.identity_delete(actor=scheduler, identity=identity)
    identity.refresh_from_db()
    assert identity.deleted_at is None
