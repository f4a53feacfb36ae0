"""Remote collaborators: the domain's ports (domain.UsersPort, ...) implemented by network calls.

`RestUsers` and `GrpcUsers` have the same methods as the local `UserStore`, so `OrderService`
runs unchanged whether its collaborators are in the process, behind HTTP or behind gRPC. Both
kinds turn the wire's errors back into the domain's (`NotFound`, `Conflict`, `Invalid`,
`Unavailable`), so a caller handles failures the same way whatever the transport.

Clients and channels are built once and kept: a new httpx.Client costs ~50 ms (its TLS
context), a new gRPC channel a TCP and HTTP/2 handshake. Calls are traced (labs.tracing).

Layer: components.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, fields
from typing import Any, Callable, TypeVar
from urllib.parse import quote

import grpc
import httpx

from ...protos import ticketing_pb2 as pb
from ...protos import ticketing_pb2_grpc as pb_grpc
from ... import tracing
from .domain import (Concert, Conflict, DomainError, Invalid, Notification, NotFound, Order, Payment,
                     Reservation, Unavailable, User)

T = TypeVar("T")
TIMEOUT = 5.0  # seconds; a loopback call takes milliseconds, so this only bounds a hung service

# gRPC trailing metadata that carries what an HTTP error body carries (reason, failing service).
REASON_KEY = "x-labs-reason"
SERVICE_KEY = "x-labs-service"


def from_fields(cls: type[T], source: Any) -> T:
    """A domain dataclass from a JSON dict or a protobuf message with the same field names."""
    get = source.get if isinstance(source, dict) else lambda name: getattr(source, name)
    return cls(**{f.name: get(f.name) for f in fields(cls)})  # type: ignore[call-arg]


def as_message(message_cls: Callable[..., T], value: Any) -> T:
    """A protobuf message from a domain dataclass with the same field names."""
    return message_cls(**asdict(value))


def _segment(value: str) -> str:
    # An id goes into the URL path: quote everything so "../admin" cannot reach another route.
    return quote(str(value), safe="")


# ---- REST ----------------------------------------------------------------------------------------

_tls_lock = threading.Lock()
_tls_context = None


def shared_tls_context():
    """httpx's default TLS context, built once per process. httpx builds one per client, loading the
    CA bundle each time (~60 ms, before any request, even for http:// URLs): orders has four links,
    so that alone made it start ~0.25 s later (0.5-1 s on a busy machine)."""
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = httpx.create_ssl_context()
        return _tls_context


class RestLink:
    """A kept-alive HTTP client to one service; JSON in, JSON out, domain errors out."""

    def __init__(self, caller: str, callee: str, base_url: str, timeout: float = TIMEOUT):
        self.callee = callee
        self.client = tracing.traced_httpx_client(caller, callee, base_url, timeout=timeout,
                                                  verify=shared_tls_context())

    def call(self, method: str, path: str, json: Any = None, params: dict | None = None,
             headers: dict[str, str] | None = None) -> Any:
        try:
            response = self.client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, timed out: the service is not there
            raise Unavailable(self.callee, f"{self.callee} is unavailable: {exc or type(exc).__name__}") from None
        if response.is_success:
            return response.json()
        raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        detail = body.get("detail")
        if isinstance(detail, list):  # FastAPI's 422: a list of {loc, msg, type}
            detail = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in detail
                               if isinstance(e, dict))
        detail = str(detail or f"{self.callee} answered {response.status_code}")
        reason = body.get("error")
        status = response.status_code
        if status == 404:
            return NotFound(detail, reason)
        if status == 409:
            return Conflict(detail, reason)
        if status in (400, 422):
            return Invalid(detail)
        if status >= 500:  # down (503, passed on from further downstream) or broken: either way unusable
            return Unavailable(body.get("service") or self.callee, detail)
        # Anything else means this client and the service disagree about the API: a bug, not a
        # condition to handle, so it must surface as one.
        return RuntimeError(f"{self.callee} answered {status} to {response.request.method} "
                            f"{response.request.url.path}: {detail}")

    def reset(self) -> None:
        self.call("POST", "/admin/reset")

    def close(self) -> None:
        self.client.close()


class RestUsers:
    def __init__(self, link: RestLink):
        self.link = link

    def get_user(self, user_id: str) -> User:
        return from_fields(User, self.link.call("GET", f"/users/{_segment(user_id)}"))

    def debit(self, user_id: str, amount: int) -> User:
        return from_fields(User, self.link.call("POST", f"/users/{_segment(user_id)}/debit", {"amount": amount}))


class RestConcerts:
    def __init__(self, link: RestLink):
        self.link = link

    def get_concert(self, concert_id: str) -> Concert:
        return from_fields(Concert, self.link.call("GET", f"/concerts/{_segment(concert_id)}"))

    def reserve(self, concert_id: str, user_id: str) -> Reservation:
        body = self.link.call("POST", f"/concerts/{_segment(concert_id)}/reservations", {"user_id": user_id})
        return from_fields(Reservation, body)

    def release(self, concert_id: str, reservation_id: str) -> Concert:
        path = f"/concerts/{_segment(concert_id)}/reservations/{_segment(reservation_id)}"
        return from_fields(Concert, self.link.call("DELETE", path))


class RestPayments:
    def __init__(self, link: RestLink):
        self.link = link

    def charge(self, user_id: str, amount: int, reference: str) -> Payment:
        body = self.link.call("POST", "/payments", {"user_id": user_id, "amount": amount, "reference": reference})
        return from_fields(Payment, body)


class RestNotifications:
    def __init__(self, link: RestLink):
        self.link = link

    def notify(self, user_id: str, message: str) -> Notification:
        return from_fields(Notification, self.link.call("POST", "/notifications",
                                                        {"user_id": user_id, "message": message}))

    def list_notifications(self, user_id: str | None = None) -> list[Notification]:
        body = self.link.call("GET", "/notifications", params={"user_id": user_id} if user_id else None)
        return [from_fields(Notification, n) for n in body]


class RestOrders:
    def __init__(self, link: RestLink):
        self.link = link

    def place_order(self, user_id: str, concert_id: str, idempotency_key: str | None = None) -> Order:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return from_fields(Order, self.link.call("POST", "/orders", {"user_id": user_id, "concert_id": concert_id},
                                                 headers=headers))

    def get_order(self, order_id: str) -> Order:
        return from_fields(Order, self.link.call("GET", f"/orders/{_segment(order_id)}"))


# ---- gRPC ----------------------------------------------------------------------------------------

class GrpcLink:
    """A kept-alive channel to one service, and stubs on it; domain errors out."""

    def __init__(self, caller: str, callee: str, target: str, timeout: float = TIMEOUT):
        self.caller, self.callee, self.target, self.timeout = caller, callee, target, timeout
        self._lock = threading.Lock()
        self._channel = tracing.traced_grpc_channel(caller, callee, target)
        self._stubs: dict[type, Any] = {}

    def stub(self, stub_cls: type) -> Any:
        with self._lock:
            if stub_cls not in self._stubs:
                self._stubs[stub_cls] = stub_cls(self._channel)
            return self._stubs[stub_cls]

    def call(self, stub_cls: type, method: str, request: Any, metadata: list[tuple[str, str]] | None = None) -> Any:
        try:
            return getattr(self.stub(stub_cls), method)(request, timeout=self.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> DomainError:
        code, detail = exc.code(), exc.details() or str(exc.code())
        trailers = dict(exc.trailing_metadata() or ())
        reason = trailers.get(REASON_KEY)
        if code == grpc.StatusCode.NOT_FOUND:
            return NotFound(detail, reason)
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return Conflict(detail, reason)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return Invalid(detail)
        if code == grpc.StatusCode.UNAVAILABLE and SERVICE_KEY not in trailers:
            # The callee itself could not be reached. A channel backs off between reconnection
            # attempts (1 s, 1.6 s, 2.6 s, ...), so after a restart it would go on failing for
            # seconds; a fresh channel connects at once.
            self._renew_channel()
            return Unavailable(self.callee, f"{self.callee} is unavailable: {detail}")
        # Passed on from further downstream (orders saying "payments is unavailable"), or a bug
        # in the callee (INTERNAL): either way the callee cannot serve this call.
        return Unavailable(trailers.get(SERVICE_KEY) or self.callee, detail)

    def _renew_channel(self) -> None:
        with self._lock:
            old, self._channel = self._channel, tracing.traced_grpc_channel(self.caller, self.callee, self.target)
            self._stubs.clear()
        old.close()

    def close(self) -> None:
        with self._lock:
            self._channel.close()


class GrpcUsers:
    def __init__(self, link: GrpcLink):
        self.link = link

    def get_user(self, user_id: str) -> User:
        reply = self.link.call(pb_grpc.UsersStub, "GetUser", pb.GetUserRequest(user_id=user_id))
        return from_fields(User, reply)

    def debit(self, user_id: str, amount: int) -> User:
        reply = self.link.call(pb_grpc.UsersStub, "Debit", pb.DebitRequest(user_id=user_id, amount=amount))
        return from_fields(User, reply)


class GrpcConcerts:
    def __init__(self, link: GrpcLink):
        self.link = link

    def get_concert(self, concert_id: str) -> Concert:
        request = pb.GetConcertRequest(concert_id=concert_id)
        return from_fields(Concert, self.link.call(pb_grpc.ConcertsStub, "GetConcert", request))

    def reserve(self, concert_id: str, user_id: str) -> Reservation:
        request = pb.ReserveRequest(concert_id=concert_id, user_id=user_id)
        return from_fields(Reservation, self.link.call(pb_grpc.ConcertsStub, "Reserve", request))

    def release(self, concert_id: str, reservation_id: str) -> Concert:
        request = pb.ReleaseRequest(concert_id=concert_id, reservation_id=reservation_id)
        return from_fields(Concert, self.link.call(pb_grpc.ConcertsStub, "Release", request))


class GrpcPayments:
    def __init__(self, link: GrpcLink):
        self.link = link

    def charge(self, user_id: str, amount: int, reference: str) -> Payment:
        request = pb.ChargeRequest(user_id=user_id, amount=amount, reference=reference)
        return from_fields(Payment, self.link.call(pb_grpc.PaymentsStub, "Charge", request))


class GrpcNotifications:
    def __init__(self, link: GrpcLink):
        self.link = link

    def notify(self, user_id: str, message: str) -> Notification:
        request = pb.NotifyRequest(user_id=user_id, message=message)
        return from_fields(Notification, self.link.call(pb_grpc.NotificationsStub, "Notify", request))

    def list_notifications(self, user_id: str | None = None) -> list[Notification]:
        request = pb.ListNotificationsRequest(user_id=user_id or "")
        reply = self.link.call(pb_grpc.NotificationsStub, "List", request)
        return [from_fields(Notification, n) for n in reply.notifications]


class GrpcOrders:
    def __init__(self, link: GrpcLink):
        self.link = link

    def place_order(self, user_id: str, concert_id: str, idempotency_key: str | None = None) -> Order:
        request = pb.PlaceOrderRequest(user_id=user_id, concert_id=concert_id)
        metadata = [("idempotency-key", idempotency_key)] if idempotency_key is not None else None
        return from_fields(Order, self.link.call(pb_grpc.OrdersStub, "PlaceOrder", request, metadata))

    def get_order(self, order_id: str) -> Order:
        request = pb.GetOrderRequest(order_id=order_id)
        return from_fields(Order, self.link.call(pb_grpc.OrdersStub, "GetOrder", request))
