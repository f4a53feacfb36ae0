"""Talk to the lab's API gateway: tokens from the lab's issuer, clients that carry them, Envoy's stats.

    from labs.clients import gateway
    issuer = gateway.issuer()                        # this kernel's signing key (ES256) and its kid
    token = issuer.token("u1", client_id="mobile")   # a valid JWT for the gateway, 5 minutes
    api = gateway.client(lab, token)                 # httpx.Client on the gateway, Bearer token set
    api.get("/v1/concerts/c1").json()
    gateway.stats(lab, "gateway", "per_client")      # Envoy's counters whose name contains that

Layer: clients. The notebook writes the token itself with PyJWT (it is the lesson's mechanism);
`Issuer.token` is the same few lines for the cells that only need *a* token.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..components.gateway.envoy import EnvoyRejected
from ..components.gateway.keys import ALGORITHM, AUDIENCE, ISSUER, session_keys
from ..runtime import LabError, args

__all__ = ["ALGORITHM", "AUDIENCE", "ISSUER", "EnvoyRejected", "GatewayDown", "Issuer", "client", "issuer",
           "require_up", "stats"]
GATEWAYS = ("gateway", "gateway-2", "edge")


@dataclass(frozen=True)
class Issuer:
    """The lab's token issuer: what an identity provider (Keycloak, Auth0, Cognito) would hold."""
    kid: str
    private_key: bytes  # PEM; never leaves this machine, never committed
    issuer: str = ISSUER
    audience: str = AUDIENCE
    algorithm: str = ALGORITHM

    def token(self, sub: str, client_id: str | None = None, ttl_s: float = 300, **claims: Any) -> str:
        """A signed JWT for `sub` that the gateway accepts for `ttl_s` seconds."""
        import jwt

        args.text("sub", sub)
        args.number("ttl_s", ttl_s, -86400, 86400)
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now,
                   "exp": now + int(ttl_s), **claims}
        if client_id is not None:
            payload["client_id"] = args.text("client_id", client_id)
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid})


def issuer() -> Issuer:
    """This kernel's issuer (its keys are made with the first gateway and die with the kernel)."""
    keys = session_keys()
    return Issuer(kid=keys.kid, private_key=keys.private_pem)


def _gateway_name(name: str) -> str:
    return args.choice("name", name, GATEWAYS)


class GatewayDown(LabError):
    """The gateway does not answer at all (killed, or not started); the message says how to bring it back."""


def _down(name: str, url: str) -> GatewayDown:
    return GatewayDown(f"{name} at {url} does not answer (was it killed?); labs.start({name!r}) brings it "
                       f"back on the same address")


class _Watched(httpx.HTTPTransport):
    """A refused connection to the gateway says what to do about it, not just "connection refused"."""

    def __init__(self, name: str, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name, self.url = name, url

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.ConnectError:
            raise _down(self.name, self.url) from None


def require_up(lab: Any, name: str = "gateway") -> str:
    """The gateway's base URL, or GatewayDown when nothing answers there."""
    url = lab.endpoint(_gateway_name(name))["http"]
    try:
        httpx.get(url + "/health", timeout=3)
    except httpx.TransportError:
        raise _down(name, url) from None
    return url


def client(lab: Any, token: str | None = None, name: str = "gateway", timeout: float = 5.0,
           **kwargs: Any) -> httpx.Client:
    """An httpx.Client for the gateway's REST API, sending `Authorization: Bearer <token>`."""
    headers = dict(kwargs.pop("headers", {}) or {})
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    name = _gateway_name(name)
    url = lab.endpoint(name)["http"]
    return httpx.Client(base_url=url, headers=headers, transport=_Watched(name, url),
                        timeout=args.positive_seconds("timeout", timeout, 300), **kwargs)


def stats(lab: Any, name: str = "gateway", contains: str = "") -> dict[str, int]:
    """Envoy's counters and gauges (admin /stats) whose name contains `contains`, as {name: value}."""
    name = _gateway_name(name)
    admin = lab.endpoint(name)["admin"]
    text = httpx.get(f"{admin}/stats", params={"filter": contains} if contains else None, timeout=5)
    found = {}
    for line in text.raise_for_status().text.splitlines():
        key, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            found[key] = int(value)
    return found
