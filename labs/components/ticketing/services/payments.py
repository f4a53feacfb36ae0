"""The payments service: charges a user by asking the users service to debit the balance.

Its REST API calls users over REST and its gRPC API calls users over gRPC, so each transport is
used all the way down.

Layer: components.
"""
from __future__ import annotations

from pydantic import Field

from ....protos import ticketing_pb2 as pb
from ....protos import ticketing_pb2_grpc as pb_grpc
from ..domain import Payment, PaymentLedger, PaymentService
from ..remote import GrpcUsers, RestUsers, as_message
from .common import Amount, Body, Dependencies, Id, Service, errors, new_app, rpc


class Charge(Body):
    user_id: Id = Field(examples=["u1"])
    amount: Amount = Field(examples=[40])
    reference: Id = Field(examples=["r1"], description="what the payment is for, e.g. a reservation id")


class PaymentsServicer(pb_grpc.PaymentsServicer):
    service = "payments"

    def __init__(self, payments: PaymentService):
        self.payments = payments

    @rpc
    def Charge(self, request, context):
        return as_message(pb.Payment, self.payments.charge(request.user_id, request.amount, request.reference))


def build(dependencies: Dependencies) -> Service:
    ledger = PaymentLedger()  # one ledger, whichever transport the charge came in on
    over_rest = PaymentService(ledger, users=RestUsers(dependencies.rest("users")))
    over_grpc = PaymentService(ledger, users=GrpcUsers(dependencies.grpc("users")))
    app = new_app("payments", "Charges, paid from the users' balances", reset=ledger.reset)

    @app.post("/payments", status_code=201, responses=errors(404, 409, 503), tags=["payments"])
    def charge(body: Charge) -> Payment:
        """Debit the user's balance (via the users service), then record the payment."""
        return over_rest.charge(body.user_id, body.amount, body.reference)

    servicer = PaymentsServicer(over_grpc)
    return Service("payments", app,
                   [(pb_grpc.add_PaymentsServicer_to_server, servicer, "ticketing.v1.Payments")], dependencies)
