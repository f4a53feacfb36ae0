"""Solutions to the exercises of notebooks/02-eight-fallacies.ipynb."""

# %% Exercise 02.1: send a notification exactly once through a flaky link
import httpx


def send_once(client: httpx.Client, user_id: str, message: str, attempts: int = 10) -> dict:
    def stored() -> dict | None:
        """The notification, if the service has it: a read, safe to repeat until it gets through."""
        for _ in range(attempts):
            try:
                inbox = client.get("/notifications", params={"user_id": user_id})
                inbox.raise_for_status()
                return next((n for n in inbox.json() if n["message"] == message), None)
            except httpx.TransportError:
                continue
        raise RuntimeError(f"could not read the inbox in {attempts} attempts")

    for _ in range(attempts):
        try:
            response = client.post("/notifications", json={"user_id": user_id, "message": message})
            response.raise_for_status()
            return response.json()
        except httpx.TransportError:  # lost on the way there, or the answer lost: which one?
            found = stored()
            if found is not None:
                return found  # it arrived; only the answer was lost
    raise RuntimeError(f"not sent after {attempts} attempts")
