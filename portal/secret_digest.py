"""How the portal keeps a secret it hands out (API tokens, calendar feeds, join links): only
its SHA-256, looked up by that digest, so a database leak yields no usable secret."""

import hashlib


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
