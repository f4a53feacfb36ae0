"""Lesson 12's views of a saga from the outside: who reacts to what, the messages a traced saga sent, its
latencies, and "where is order 42 now?" asked of every place that might know.

Layer: lessons (labs.lessons.sagas for the running shop, pandas and matplotlib for tables and plots).

    from labs.lessons import saga_views
    saga_views.reactions("choreography")            # service, listens to, does, publishes
    saga_views.messages(run.spans)                  # Counter({"orchestrator": 3, "customer": 1, ...})
    saga_views.message_flow(run.spans)              # [("customer", "order.place"), ...] in publish order
    saga_views.plot_latencies({"choreography": [...], "orchestration": [...]})
    saga_views.where_is(shop, "o-42")               # one row per place you must look in
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from typing import Iterable

from ..clients import rabbit
from ..components.sagas import flows
from ..components.sagas.store import rows
from ..runtime import args
from .sagas import ORDER_SAGA, STYLES, Shop, _order_id


def reactions(style: str):
    """Who does what, as a pandas DataFrame: the choreography's event table, or the orchestrator's saga."""
    import pandas as pd
    if args.choice("style", style, STYLES) == "orchestration":
        return pd.DataFrame([{"step": n + 1, "name": s.name, "command": f"cmd.{s.participant}.{s.action}",
                              "reply": f"reply.{s.participant}.{s.action}",
                              "compensation": f"cmd.{s.participant}.{s.compensation}" if s.compensation else "none"}
                             for n, s in enumerate(ORDER_SAGA)]).set_index("step")
    rows = [{"service": "orders", "listens to": "order.place", "does": "records the order (PENDING)",
             "publishes": "order.placed"}]
    for service, events in flows.CHOREOGRAPHY.items():
        for listens, (action, ok, failed) in events.items():
            rows.append({"service": service, "listens to": listens, "does": action,
                         "publishes": ok if ok == failed else f"{ok} / {failed}"})
    rows.append({"service": "orders", "listens to": ", ".join(flows.ORDERS_ENDINGS),
                 "does": "ends the order (CONFIRMED / REJECTED)", "publishes": "nothing"})
    return pd.DataFrame(rows).set_index("service")


def plot_latencies(took: dict[str, list[float]], title: str = "one saga at a time"):
    """Each style's saga latencies (ms) as a box plot with the points on it."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3))
    labels = list(took)
    data = [[1e3 * s for s in took[k]] for k in labels]
    ax.boxplot(data, vert=False, showfliers=False, widths=0.5)
    for row, values in enumerate(data, start=1):
        ax.plot(values, [row + 0.25 * ((i % 7) / 7 - 0.43) for i in range(len(values))], ".", alpha=0.5)
    ax.set_yticks(range(1, len(labels) + 1),
                  [f"{k}\nmedian {statistics.median(v):.1f} ms" for k, v in zip(labels, data)])
    ax.set_xlabel("ms from order.place to the order's end")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def messages(spans: Iterable[dict]) -> Counter:
    """Messages published in a traced run, per publisher (the customer's order.place included)."""
    return Counter(s["caller"] for s in spans if str(s.get("operation", "")).startswith("publish"))


def message_flow(spans: Iterable[dict]) -> list[tuple[str, str]]:
    """(publisher, routing key) of each message of a traced run, in the order they were published."""
    return [(s["caller"], s["operation"].split(" ", 1)[1]) for s in spans
            if str(s.get("operation", "")).startswith("publish")]


# ---------------------------------------------------------------- "where is order 42 now?"


def where_is(shop: Shop, order: dict | str):
    """Every place you must look in to say where an order's saga stands, and what each one says
    (a pandas DataFrame: place, kind, answer). The orchestrator answers alone; in choreography the
    answer is spread over each service's database and each service's queue."""
    import pandas as pd

    order_id = _order_id(order)
    found = []
    if shop.style == "orchestration":
        row = rows(shop.db("orchestrator"), "SELECT state, waiting_for, since, history FROM sagas WHERE order_id = ?",
                   (order_id,))
        if not row:
            found.append(("orchestrator", "database", "no such saga"))
        else:
            state, waiting, since, history = row[0]
            if waiting:
                step, action = waiting.split(":")
                target = shop.saga[int(step)]
                answer = (f"{state}: waiting {time.time() - since:.1f} s for {target['participant']} to {action} "
                          f"(step {int(step) + 1} of {len(shop.saga)}, {target['name']!r})")
            else:
                answer = state
            found.append(("orchestrator", "database", f"{answer}; history: {json.loads(history)[-1][1]}"))
    else:
        story = shop.story(order_id)
        found += [("orders", "database", f"order {story['orders'] or 'unknown'}"),
                  ("concerts", "database", f"seat {', '.join(story['concerts']) or 'none'}"),
                  ("payments", "database", f"charge {', '.join(story['payments']) or 'none'}"),
                  ("notifications", "database", f"{story['notifications']} ticket(s) sent")]
        for service, queue in shop.queues.items():
            ready, _ = rabbit.queue_depth(shop.url, queue) or (0, 0)
            found.append((f"{service} queue", "queue",
                          f"{ready} message(s) waiting" + (", for which order it cannot say" if ready else "")))
    return pd.DataFrame(found, columns=["place", "kind", f"what it says about {order_id}"])
