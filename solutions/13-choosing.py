"""Solutions to the exercises of notebooks/13-choosing.ipynb."""

# %% Exercise 13.1: choose how each flow communicates, and say why
# The order's own questions are calls (gRPC: internal and on every order, one convention inside);
# everything that may happen a moment later is handed off; the seat changes go to a log because a
# rebuilt service needs them again; the phone gets one request through the gateway's BFF.
design = {
    "check_balance": ("gRPC", "the charge must not start before the answer; internal, on every order"),
    "reserve_seat": ("gRPC", "the customer must know the seat is theirs before paying"),
    "charge": ("gRPC", "the payment's result is shown to the customer at once"),
    "notify": ("queue", "one service does it once; a late e-mail is fine and the queue keeps it while "
                        "notifications is down"),
    "record_settlement": ("queue", "accounting can run seconds late and must not slow the order"),
    "seat_changes": ("Kafka", "three services read every change, and a rebuilt one must replay them"),
    "order_screen": {"style": "REST", "gateway": True,
                     "reason": "a phone on a slow network: one request to the BFF instead of three"},
}
