"""Solutions to the exercises of notebooks/10-event-brokers.ipynb."""

# %% Exercise 10.1: add a subscriber without touching the publisher
def subscribe_inventory(ch) -> str:
    queue = "orders.completed.inventory"
    ch.queue_declare(queue, durable=True)  # durable, not exclusive: it outlives inventory's connection
    ch.queue_bind(queue, "orders.completed")  # the fanout exchange now copies every event here too
    return queue
