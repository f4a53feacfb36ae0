"""One saga service as a process: consume its queue, handle each message in one transaction, publish what
that caused (through the outbox, or straight after the commit), acknowledge. Faults are scheduled in.

Layer: components (a child of the kernel, started by labs.lessons.sagas with labs.runtime.child.Child).

    python -m labs.components.sagas.service '<json config>'

config: service, style, amqp, exchange, db, outbox (bool), dedupe (bool), saga (orchestrator only),
prefetch, faults {"crash": [[order_id, action], ...], "lost_ack": [...], "resend": [...]}.

The order of the work for one delivery is the lesson:

    with outbox:     commit(state + outbox rows)  [crash]  ack  relay: publish, mark sent
    without outbox:  commit(state)                [crash]  publish  ack          (a dual write)

A crash at [crash] (a scheduled fault: the service stops there and is SIGKILLed) costs nothing with the
outbox: the rows are committed and the next incarnation's relay publishes them. Without it the
messages existed only in memory: the broker redelivers the unacknowledged message, and the inbox,
which already holds its id, skips it, so the event is never published (without the inbox the action
runs twice instead).

Other faults: "lost_ack" gives a handled message back to the broker instead of acknowledging it (as
a connection lost before the ack would), so it is delivered again; "resend" publishes the outgoing
messages twice (as a publisher does whose confirm did not come back). The orchestrator, started
again, first sends once more every command its unfinished sagas wait for.

Once its queue has been empty for a moment after some work the service says "idle" (with how many
deliveries it has handled): all services idle and all queues empty is how the shop knows that no
message is still on its way, before the checker reads the final state.
"""
from __future__ import annotations

import json
import signal
import sys
import time
import traceback

from ... import tracing
from ...runtime.child import say
from . import bus, domain, flows
from .store import Outgoing, Store

CRASH_WAIT_S = 3600.0  # at a crash point the service waits here until the parent SIGKILLs it


class Service:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.name = config["service"]
        self.style = config["style"]
        self.store = Store(config["db"], outbox=config.get("outbox", True), dedupe=config.get("dedupe", True))
        schema = "orchestrator" if self.name == "orchestrator" else self.name
        self.store.create(domain.SCHEMAS[schema], domain.seed_rows(self.name))
        self.orchestrator = flows.Orchestrator(config["saga"]) if self.name == "orchestrator" else None
        self.react = self.orchestrator.react if self.orchestrator else flows.reaction(self.name, self.style)
        faults = config.get("faults") or {}
        self.crash = {tuple(f) for f in faults.get("crash", [])}
        self.lost_ack = {tuple(f) for f in faults.get("lost_ack", [])}
        self.resend = {tuple(f) for f in faults.get("resend", [])}
        self.resend_ids: set[str] = set()
        self.queue = f"{config['exchange']}.{self.name}"
        self.link: bus.Link | None = None
        self.handled = 0
        self.busy = True  # until it first finds its queue empty: then it says "idle"

    # ---- publishing

    def publish(self, item: Outgoing, trace: str | None) -> None:
        copies = 2 if item.body["msg_id"] in self.resend_ids else 1
        for _ in range(copies):
            self.link.publish(item.routing_key, item.body, trace=trace)

    def relay(self) -> int:
        """The outbox relay: publish every row not yet sent (with confirms), then mark it sent.
        A crash between the two sends the row again after the restart: consumers dedupe."""
        sent = 0
        for row in self.store.pending():
            self.publish(Outgoing(row.routing_key, row.body), row.trace)
            self.store.mark_sent(row.seq)
            sent += 1
        return sent

    # ---- one delivery

    def deliver(self, method, props, body: bytes) -> None:
        try:
            message, ctx = self.link.consumed(method, props, body)
            key = (message.get("order", {}).get("order_id") or message.get("order_id"),
                   flows.action_of(self.name, self.style, message))
            header = bus.header_of(ctx)
            out = self.store.handle(message, self.react, trace=header)
        except Exception:
            # a message it cannot read or handle (or a bug): say so, and drop the message rather than
            # take it again and again
            say("error", routing_key=method.routing_key, error=traceback.format_exc(limit=3))
            self.link.inbound.basic_reject(method.delivery_tag, requeue=False)
            return
        first = not method.redelivered
        if out is None:  # the inbox knew its id: nothing was done (said, so the lesson can show it)
            say("duplicate", msg_id=message["msg_id"], redelivered=bool(method.redelivered))
        if key in self.resend and out:
            self.resend_ids.update(item.body["msg_id"] for item in out)
        if key in self.crash and first:
            say("crash-point", service=self.name, order_id=key[0], action=key[1], outbox=self.store.outbox)
            time.sleep(CRASH_WAIT_S)
        if not self.store.outbox:  # the dual write's second half
            for item in out or []:
                self.publish(item, header)
        if key in self.lost_ack and first:
            self.link.requeue(method)
        else:
            self.link.ack(method)
        self.handled += 1
        if self.store.outbox:
            self.relay()

    # ---- the loop

    def start(self) -> None:
        self.link = bus.Link(self.config["amqp"], self.config["exchange"], self.name,
                             prefetch=self.config.get("prefetch", 50))
        resent = 0
        if self.orchestrator is not None:
            with self.store.db:
                again = self.orchestrator.resume(self.store.db)
                if self.store.outbox:
                    self.store.write_outbox(again, None)
            if not self.store.outbox:
                for item in again:
                    self.publish(item, None)
            resent = len(again)
        left_over = self.relay()
        say("ready", service=self.name, outbox_left=left_over, resent=resent)

    def run(self) -> None:
        while True:
            try:
                if self.link is None:
                    self.start()
                for method, props, body in self.link.deliveries(self.queue):
                    if method is not None:
                        self.busy = True
                        self.deliver(method, props, body)
                        continue
                    if self.store.outbox:
                        self.relay()  # rows a previous incarnation left behind
                    if self.busy:  # said once per burst: Shop.settle reads it to know the shop is quiet
                        self.busy = False
                        say("idle", handled=self.handled)
            except bus.BROKER_GONE as exc:
                if self.link is not None:
                    self.link.close()
                    self.link = None
                say("broker-lost", error=f"{type(exc).__name__}: {exc}")
                # start() reconnects (retrying for bus.RECONNECT_S) or raises BrokerGone


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m labs.components.sagas.service '<json config>'")
    config = json.loads(argv[0])
    tracing.set_component(config["service"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    service = Service(config)
    try:
        service.run()
    except bus.BrokerGone as exc:
        print(str(exc), file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1:])
