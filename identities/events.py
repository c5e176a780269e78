"""What identities tell the apps above them, so they never have to import those apps."""

from django.dispatch import Signal

# Sent by identity_delete() inside its transaction, before the identity is marked deleted, with
# `actor` and `identity`. A receiver that raises refuses the deletion (the transaction rolls
# back). rooms takes the person out of every room here (rooms.services.identity_leave_rooms).
identity_deleting = Signal()
