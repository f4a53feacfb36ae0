"""Solutions to the exercises of notebooks/03-sync-vs-async.ipynb."""

# %% Exercise 03.1: a timeout, a retry policy and a breaker within a budget
import httpx
import pybreaker
import tenacity


def protect(get_user):
    # The breaker sits inside the retries: each attempt counts, and an open breaker fails the call
    # at once (CircuitBreakerError is not an httpx error, so it is not retried). Outside, every
    # trial call would bring its own retries to a dependency that is down.
    breaker = pybreaker.CircuitBreaker(fail_max=8, reset_timeout=0.3)
    retry = tenacity.Retrying(stop=tenacity.stop_after_attempt(4),
                              wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.05),
                              retry=tenacity.retry_if_exception_type(httpx.HTTPError), reraise=True)
    return lambda: retry(breaker.call, get_user, 0.15)  # 150 ms: a loopback answer takes a few
