"""Lesson 02: make a flaky call reliable without duplicating its side effect, where the service
offers no idempotency key: the notifications service stores every POST it receives. The lesson
showed the key on orders; here the client has to find out for itself whether a lost call landed.

Layer: exercises.
"""
from __future__ import annotations

import uuid
from collections import Counter

import httpx

from ..lessons import fallacies
from ..clients import chaos
from ..tools.check import NotYet, register_exercise

MESSAGES = 12
USER = "u5"
SEED = 11  # a fixed fault schedule: every learner's function meets the same lost requests and answers


@register_exercise("02.1", "make a flaky call reliable without sending twice", answer="send_once",
                   needs=("notifications", "chaos"))
def check_send_once(send_once, lab) -> str:
    if not callable(send_once):
        raise NotYet("define a function `send_once(client, user_id, message)` that returns the stored "
                     "notification as a dict")
    run = uuid.uuid4().hex[:8]
    messages = [f"ticket {i} is confirmed ({run})" for i in range(MESSAGES)]
    proxy = chaos.proxy(lab, "notifications", name="notifications-exercise-02", seed=SEED)
    proxy.add("reset_peer", timeout=0, toxicity=0.2, name="request lost")
    proxy.add("limit_data", bytes=10, toxicity=0.2, name="answer lost")
    returned, raised = [], []
    try:
        with fallacies.new_connection_per_call(proxy.url_for()) as client:
            for message in messages:
                try:
                    returned.append(send_once(client, USER, message))
                except Exception as exc:  # the learner's code may raise anything: report it
                    raised.append(exc)
    finally:
        stats = proxy.stats()
        proxy.clear()
    with httpx.Client(base_url=lab.endpoint("notifications")["http"], timeout=10) as direct:
        inbox = direct.get("/notifications", params={"user_id": USER}).raise_for_status().json()
    stored = Counter(n["message"] for n in inbox if n["message"] in messages)
    twice = sum(1 for m in messages if stored[m] > 1)
    never = sum(1 for m in messages if stored[m] == 0)
    if raised:
        kinds = sorted({type(e).__name__ for e in raised})
        landed = sum(1 for m in messages if stored[m])
        raise NotYet(f"{len(raised)} of {MESSAGES} calls raised ({', '.join(kinds)}), yet {landed} messages "
                     f"were stored: a broken connection does not say whether the message arrived. Catch "
                     "httpx.TransportError and find out")
    if twice:
        raise NotYet(f"{twice} of {MESSAGES} messages were stored twice or more: a retry after a lost "
                     "answer sent the message again. Before sending again, ask the service (GET "
                     "/notifications?user_id=...) whether the message is already there: reading is safe "
                     "to repeat")
    if never:
        raise NotYet(f"{never} of {MESSAGES} messages were never stored: when the request was lost, send it "
                     "again")
    if not all(isinstance(n, dict) and n.get("message") in messages and "id" in n for n in returned):
        raise NotYet("return the stored notification: the JSON of the 201 answer, or the matching entry "
                     "of the inbox, a dict with an 'id'")
    return (f"{MESSAGES} messages sent through {stats['resets']} lost requests and {stats['limited']} lost "
            f"answers: each stored exactly once.")
