"""Google's ID token issuer, stood in for: the sandbox signs tokens like the ones
Cloud Scheduler sends, and serves its public certificate the way
https://www.googleapis.com/oauth2/v1/certs serves Google's ({key id: PEM}).
Point PAGERSTATUS_OIDC_CERTS_URL at /_sandbox/oidc/certs to make the function
trust it."""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta

GOOGLE_ISSUER = "https://accounts.google.com"


class OidcIssuer:
    """One RSA key, made on first use (a 2048-bit key takes a moment).

    certs() counts the times it was asked, so that tests see how often a function
    fetched the certificates; they are served with Cache-Control max-age=max_age,
    as Google serves its own (for hours).
    """

    key_id = "pagerstatus-sandbox-1"
    max_age = 3600

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._private_pem: bytes | None = None
        self._certificate_pem: str | None = None
        self.certs_fetches = 0

    def certs(self) -> dict[str, str]:
        self._ensure_key()
        with self._lock:
            self.certs_fetches += 1
        return {self.key_id: self._certificate_pem}

    def mint(self, audience: str, email: str, lifetime_seconds: int = 3600, issuer: str = GOOGLE_ISSUER,
             email_verified: bool = True) -> str:
        from google.auth import crypt, jwt

        self._ensure_key()
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "email": email, "email_verified": email_verified,
                  "sub": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)),
                  "iat": now, "exp": now + lifetime_seconds}
        signer = crypt.RSASigner.from_string(self._private_pem, key_id=self.key_id)
        return jwt.encode(signer, claims).decode("ascii")

    def _ensure_key(self) -> None:
        with self._lock:
            if self._private_pem is not None:
                return
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.x509.oid import NameOID

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pagerstatus sandbox OIDC")])
            now = datetime.now(UTC)
            certificate = (
                x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                .sign(key, hashes.SHA256())
            )
            self._certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
            self._private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption())
