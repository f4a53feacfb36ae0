"""Solutions to the exercises of notebooks/01-method-call-to-network-call.ipynb."""

# %% Exercise 01.1: predict the cost of a call chain from one hop, then measure it
from labs import bench


def predict_then_measure(rest) -> dict:
    hop_ms = bench.measure(lambda: rest.get_user("u1"), n=100, label="one hop").median_ms
    predicted_ms = 6 * hop_ms  # the trace showed six calls, each waiting for the one before
    measured_ms = bench.measure(lambda: rest.place_order("u1", "c1"), n=100, label="one order").median_ms
    return {"hop_ms": hop_ms, "predicted_ms": predicted_ms, "measured_ms": measured_ms}
