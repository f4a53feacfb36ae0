"""Solutions to the exercises of notebooks/02-eight-fallacies.ipynb."""

# %% Exercise 02.1: make a flaky call reliable without charging twice
import uuid

import httpx


def reliable_order(client: httpx.Client, attempts: int = 10) -> dict:
    key = str(uuid.uuid4())  # one key per order, the same for every attempt at it
    for attempt in range(attempts):
        try:
            response = client.post("/orders", json={"user_id": "u1", "concert_id": "c1"},
                                   headers={"Idempotency-Key": key})
        except httpx.TransportError:
            continue  # lost on the way there or back: safe to send again, the key makes it one order
        response.raise_for_status()
        return response.json()
    raise RuntimeError(f"no answer after {attempts} attempts")
