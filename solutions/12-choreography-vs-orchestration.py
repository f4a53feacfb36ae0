"""Solutions to the exercises of notebooks/12-choreography-vs-orchestration.ipynb."""

# %% Exercise 12.1: undo the charge when the ticket cannot be delivered
from labs.lessons.sagas import Step

# The charge was the pivot only while nothing after it could fail for good. Now delivery can, so the
# charge needs a way back: a refund. The orchestrator undoes the steps already done last one first,
# so a bounced ticket gets refund (payments), then release (concerts), then REJECTED.
order_saga = [
    Step("reserve a seat", "concerts", "reserve", compensation="release"),
    Step("charge", "payments", "charge", compensation="refund"),
    Step("deliver the ticket", "notifications", "deliver"),
]
