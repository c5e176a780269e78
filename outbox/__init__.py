"""The sync engine: ACS bookkeeping in one table, claim/renew/confirm/fail, the one scheduler."""
