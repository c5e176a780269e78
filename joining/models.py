"""A participant's personal join link, kept as a hash: the database alone cannot rebuild it."""

from django.conf import settings
from django.db import models


class JoinLink(models.Model):
    """The one live join link of a participant (room + identity).

    The URL's secret is HMAC(SECRET_KEY, nonce) (joining.links.secret_of): the row keeps the
    nonce, so the portal can write the link into an e-mail at any time, and the secret's
    SHA-256, which a visit is looked up by. Neither gives the link without SECRET_KEY.
    Revoking deletes the row. It goes with its participant however the participant goes (a
    removal, a roster change, an identity leaving its rooms, the room's row going): every such
    path deletes through the ORM, whose CASCADE takes the link along; a raw DELETE would break
    the foreign key instead of leaving a live link behind. A deleted room's links stay until
    its row goes, and lead nowhere meanwhile (joining.links.find).
    """

    participant = models.OneToOneField(
        "rooms.Participant", on_delete=models.CASCADE, related_name="join_link"
    )
    nonce = models.CharField(max_length=43, unique=True)
    # hex SHA-256 of the URL secret: the visit's lookup, by an index.
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Staff see and change links on the room page, under the participants' permissions.
        default_permissions = ()

    def __str__(self) -> str:
        return f"Join link of participant {self.participant_id}"
