"""Signed Communication Identity access tokens (RS256 JWTs) and their verification."""

from __future__ import annotations

import base64
import hashlib
import json
import threading

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .store import Store

# The recorded tokens carry this constant scp claim.
SCP = 1792


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def stored_rsa_key(store: Store, name: str) -> rsa.RSAPrivateKey:
    """The RSA key kept in the state under `name`, made on first use; restarts and other
    processes on the same state file get the same one (INSERT OR IGNORE: the first stored wins)."""
    pem = store.get_meta(name)
    if pem is None:
        fresh = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fresh_pem = fresh.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        with store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (name, fresh_pem))
        pem = store.get_meta(name) or fresh_pem
    key = serialization.load_pem_private_key(pem.encode("ascii"), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"The stored key {name!r} is not an RSA key.")
    return key


class Signer:
    """An RSA key kept in the store's meta table, so every process sharing the state signs alike."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None

    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = stored_rsa_key(self.store, "signing_key")
            return self._key

    def _header(self) -> dict:
        public_der = (
            self.key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        thumb = hashlib.sha1(public_der).digest()  # noqa: S324 - x5t is a SHA-1 thumbprint
        return {"alg": "RS256", "kid": thumb.hex().upper(), "x5t": b64url(thumb), "typ": "JWT"}

    def sign(self, claims: dict) -> str:
        header = b64url(json.dumps(self._header(), separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = self.key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{b64url(signature)}"

    def verify(self, token: str) -> tuple[str, dict | None]:
        """('ok', claims) | ('malformed', None) | ('bad signature', claims or None)."""
        parts = token.split(".")
        if len(parts) != 3:
            return "malformed", None
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            return "malformed", None
        if not isinstance(claims, dict) or not isinstance(header, dict):
            return "malformed", None
        if header.get("alg") != "RS256":
            return "bad signature", claims
        try:
            self.key().public_key().verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return "bad signature", claims
        return "ok", claims
