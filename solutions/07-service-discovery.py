"""Solutions to the exercises of notebooks/07-service-discovery.ipynb."""

# %% Exercise 07.1: a concerts client that survives an instance moving
import httpx

from labs.clients import registry


class ConcertsClient:
    """Asks the registry, keeps asking (a watch), and gives a failed call one more try elsewhere."""

    def __init__(self, etcd):
        # The addresses under /services/concerts/, kept current by a watch: a moved instance
        # leaves (its key is deleted) and comes back under its new address (a new key).
        self.pool = registry.WatchedPool(etcd, "concerts")
        self.http = httpx.Client(timeout=1.0)

    def get(self, path: str) -> httpx.Response:
        # One retry, on the next instance: it covers the few milliseconds between an instance
        # going and the watch telling us.
        for attempt in (1, 2):
            try:
                response = self.http.get(self.pool.next() + path)
                if response.status_code < 500 or attempt == 2:
                    return response
            except httpx.TransportError:
                if attempt == 2:
                    raise

    def close(self) -> None:
        self.pool.close()
        self.http.close()
