"""Lesson 04: design an endpoint that gives a screen everything it shows in one request.

Layer: exercises.
"""
from __future__ import annotations

from ..tools.check import NotYet, register_exercise

SCREEN_PATH = "/screens/orders/{order_id}"
NAIVE_REQUESTS = 3  # the order, then its user and its concert


@register_exercise("04.1", "one request for the order screen", answer="make_screen_api", needs=("orders",))
def check_screen_api(make_screen_api, lab) -> str:
    import httpx
    from fastapi import FastAPI

    from ..lessons import rest
    from ..clients.ticketing import RestTicketing

    if not callable(make_screen_api):
        raise NotYet("define a function `make_screen_api(shop)` that returns a FastAPI app")
    with RestTicketing(lab) as shop:
        order = shop.place_order("u2", "c2")
        app = make_screen_api(shop)
        if not isinstance(app, FastAPI):
            raise NotYet(f"make_screen_api(shop) returned {type(app).__name__}, not a FastAPI app")
        crashes: list[BaseException] = []
        app.add_exception_handler(Exception, _remember(crashes))
        log = rest.RequestLog()
        with rest.serve_app(app, log_level="critical") as base_url, \
                httpx.Client(base_url=base_url, timeout=10, event_hooks={"response": [log.on_response]}) as screen:
            try:
                answer = screen.get(SCREEN_PATH.format(order_id=order.id))
                missing_order = screen.get(SCREEN_PATH.format(order_id="o999999"))
            except httpx.TransportError as err:
                crashes.append(err)
        if crashes:
            if isinstance(crashes[0], NotImplementedError):
                raise NotImplementedError
            raise NotYet(f"your endpoint raised {type(crashes[0]).__name__}: {crashes[0]}")
        user, concert = shop.get_user(order.user_id), shop.get_concert(order.concert_id)
    if answer.status_code != 200:
        raise NotYet(f"GET {SCREEN_PATH.format(order_id=order.id)} answered {answer.status_code}: "
                     f"{answer.text[:200]}")
    body = answer.json()
    if not isinstance(body, dict):
        raise NotYet(f"the screen's answer must be a JSON object, got {type(body).__name__}")
    expected = {"order_id": order.id, "status": order.status, "amount": order.amount, "user_name": user.name,
                "concert_title": concert.title, "seats_left": concert.seats_left}
    wrong = {k: body.get(k, "(missing)") for k, v in expected.items() if body.get(k) != v}
    # What the screen would still have to fetch itself: the user, the concert, or both.
    still_needed = {"user_name": "the user", "concert_title": "the concert", "seats_left": "the concert"}
    extra_requests = len({still_needed[k] for k in wrong if k in still_needed})
    if wrong:
        raise NotYet(f"these fields are missing or wrong: {wrong}; expected {expected}. Without them the screen "
                     f"needs {1 + extra_requests} requests, not 1")
    if missing_order.status_code != 404:
        raise NotYet(f"a screen for an order that does not exist (o999999) answered {missing_order.status_code}; "
                     "answer 404, so a client can tell 'no such order' from a broken server")
    requests = log.requests - 1  # the 404 probe is the check's own
    if requests != 1:
        raise NotYet(f"the screen took {requests} requests, not 1")
    return (f"the order screen took {requests} request instead of {NAIVE_REQUESTS} "
            f"({answer.headers.get('content-length', len(answer.content))} bytes), and a missing order is a 404.")


def _remember(crashes: list):
    """An exception handler for the learner's app: answers 500 and keeps the exception, so the check
    can say what went wrong instead of printing a server traceback."""
    from fastapi.responses import JSONResponse

    def handler(request, exc: Exception):
        crashes.append(exc)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, 500)

    return handler
