"""What the invitations app keeps: each room's calendar counter and switch, each e-mail sent
(or to send) to a person, each user's calendar feed, and how far the audit trail was read."""

from django.conf import settings
from django.db import models

from outbox.fields import SyncRelation


class RoomCalendar(models.Model):
    """A room's calendar bookkeeping, by room id: rooms sit below this app and cannot hold it.

    `sequence` is the room's iCalendar SEQUENCE: bumped on every change that reaches someone's
    calendar, so a client replaces the copy it holds with the newer one. No row: sequence 0,
    invitations on.
    """

    room_id = models.BigIntegerField(primary_key=True)
    sequence = models.PositiveIntegerField(default=0)
    invitations_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        state = "on" if self.invitations_enabled else "off"
        return f"room {self.room_id}: sequence {self.sequence}, invitations {state}"


class Kind(models.TextChoices):
    REQUEST = "request", "Invitation"
    CANCEL = "cancel", "Cancellation"


class Status(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    # The operation id is recorded and the first send may have reached ACS: the content is
    # frozen, and every retry sends it again under the same operation id.
    SENDING = "sending", "Sending"
    SENT = "sent", "Accepted by ACS"
    FAILED = "failed", "Refused by ACS"
    # Superseded before it was sent (the person was added and removed again): nothing to say.
    WITHDRAWN = "withdrawn", "Not sent: nothing left to tell"


class Invitation(models.Model):
    """One e-mail to one person about one room: an invitation or a cancellation.

    What it says (role, title, window) is copied here when the change is seen, so the message
    can still be sent once the room's row is gone (a deleted room's cancellation), and so the
    next change is compared with what the person was last told. Rows waiting to be sent take
    in the changes that follow (one e-mail for several changes); once sending, a row is frozen.
    Pushed by the outbox as kind "invitation" (invitations.delivery_push).
    """

    # By id, not foreign key: the cancellation outlives the room's row (as the audit does).
    room_id = models.BigIntegerField()
    identity = models.ForeignKey(
        "identities.Identity", on_delete=models.CASCADE, related_name="invitations"
    )
    kind = models.CharField(max_length=8, choices=Kind)
    sequence = models.PositiveIntegerField()
    role = models.CharField(max_length=16, blank=True)
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    # Series occurrences: the series, for RELATED-TO in the calendar entry.
    series_id = models.BigIntegerField(null=True, blank=True)
    # The zone the e-mail writes the window in (the room owner's, else the portal's).
    time_zone = models.CharField(max_length=64, blank=True)
    to_address = models.EmailField()
    to_name = models.CharField(max_length=200, blank=True)
    # "resend" when a person asked for it (requested_by), "change" when a change caused it.
    reason = models.CharField(max_length=8, default="change")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    # Generated once, before the first send, and sent with every retry: ACS Email sends one
    # message per operation id however often it is asked.
    operation_id = models.CharField(max_length=64, blank=True)
    acs_status = models.CharField(max_length=32, blank=True)
    acs_error = models.TextField(blank=True)
    acs_message_id = models.CharField(max_length=128, blank=True)
    acs_request_id = models.CharField(max_length=64, blank=True)
    acs_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Where the e-mail stands with the outbox (tries, next try, last error).
    sync = SyncRelation("invitation")

    class Meta:
        ordering = ["-pk"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["room_id", "identity", "-id"], name="invitation_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.to_address} to room {self.room_id}"


class FeedToken(models.Model):
    """A user's calendar subscription: the secret's SHA-256 only; the secret is shown once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"calendar feed of user {self.user_id}"


class AuditCursor(models.Model):
    """The last audit event the invitations scan has read (one row)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"audit read up to #{self.last_event_id}"
