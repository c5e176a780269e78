"""ACS user identities: the portal's copy of each ACS user and what it knows of its tokens."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from outbox.fields import SyncRelation


class TokenScope(models.TextChoices):
    CHAT = "chat", "Chat"
    VOIP = "voip", "VoIP (calls)"
    CHAT_JOIN = "chat.join", "Join chats"
    CHAT_JOIN_LIMITED = "chat.join.limited", "Join chats (limited)"
    VOIP_JOIN = "voip.join", "Join calls"


class Identity(models.Model):
    # Blank until ACS has created the user: ACS chooses the id.
    raw_id = models.CharField("ACS id", max_length=255, unique=True, null=True, blank=True)
    display_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, db_index=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="acs_identity",
    )
    token_scopes = models.JSONField(default=list, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    tokens_issued_at = models.DateTimeField(null=True, blank=True)
    tokens_revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)
    # Set when the portal deleted the identity; the row stays for the history.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Where the identity stands with ACS (outbox.models.Entry); the outbox writes it.
    sync = SyncRelation("identity")

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["display_name", "pk"]
        indexes = [
            models.Index(
                fields=["deleted_at"],
                condition=models.Q(deleted_at__isnull=False),
                name="identity_tombstones",
            ),
            # The list's order (display name, then id) over live identities: a page reads this
            # in order, not every identity sorted (PostgreSQL, 20,000: 46 -> 19 ms).
            models.Index(
                fields=["display_name", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="identity_live_by_name",
            ),
        ]
        constraints = [
            # One live identity per e-mail, whatever its case: adding the same new person to
            # ten rooms at once must find one identity, not make ten.
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(email=""),
                name="identity_live_email_once",
                violation_error_message="An identity with this e-mail exists already.",
            ),
        ]
        permissions = [
            ("issue_token", "Can issue access tokens"),
            ("revoke_tokens", "Can revoke access tokens"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>" if self.email else self.display_name
