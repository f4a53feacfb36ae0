"""Solutions to the exercises of notebooks/01-method-call-to-network-call.ipynb."""

# %% Exercise 01.1: predict an order's time from one hop's time
def predict_order_ms(hop_ms: float) -> float:
    # The trace showed six calls, each waiting for the one before (nested ones included).
    return 6 * hop_ms
