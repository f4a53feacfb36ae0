"""The lab's token issuer keys: one EC key pair per lab session, its public half as a JWKS for Envoy.

    from labs.components.gateway import keys
    issuer = keys.session_keys()     # made on first use, in a temp dir that dies with the kernel
    issuer.private_pem               # PEM bytes: what signs tokens (labs.clients.gateway.Issuer)
    issuer.jwks_path                 # {"keys": [...]}: what the gateway's jwt_authn verifies with

Layer: components. Nothing here is committed or fixed: every kernel makes its own key (P-256, ES256),
so a token minted in one lab means nothing to another. Every gateway replica of the session reads
the same JWKS, so a token is good at either replica (lesson 08's two replicas behind a balancer).
"""
from __future__ import annotations

import base64
import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ISSUER = "https://issuer.labs.local"  # the `iss` the gateway accepts
AUDIENCE = "ticketing"                 # the `aud` the gateway accepts
ALGORITHM = "ES256"

_lock = threading.Lock()
_keys: "IssuerKeys | None" = None


@dataclass(frozen=True)
class IssuerKeys:
    kid: str
    private_pem: bytes
    jwks_path: Path

    @property
    def jwks(self) -> dict:
        return json.loads(self.jwks_path.read_text())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_keys(directory: Path) -> IssuerKeys:
    """A fresh P-256 key pair in `directory`: issuer.pem (private, mode 0600) and jwks.json (public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    kid = _b64url(numbers.x.to_bytes(32, "big"))[:12]
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key_path = directory / "issuer.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(pem)
    jwk = {"kty": "EC", "crv": "P-256", "alg": ALGORITHM, "use": "sig", "kid": kid,
           "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))}
    jwks_path = directory / "jwks.json"
    jwks_path.write_text(json.dumps({"keys": [jwk]}, indent=1))
    return IssuerKeys(kid, pem, jwks_path)


def session_keys() -> IssuerKeys:
    """This kernel's issuer keys, made on first use in a directory the session removes at its end."""
    global _keys
    with _lock:
        if _keys is None or not _keys.jwks_path.exists():
            from ...runtime.lab import session_reaper
            from ...runtime.paths import state_root

            directory = Path(tempfile.mkdtemp(prefix="issuer-", dir=state_root()))
            session_reaper().remove_dir_later(str(directory))
            _keys = make_keys(directory)
        return _keys
