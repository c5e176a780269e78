"""Invitations: the e-mails and calendar entries that tell people about their rooms."""
