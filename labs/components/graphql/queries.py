"""The GraphQL documents the lab knows in advance: the gateway's readiness query, and the persisted
queries it serves by hash (what a client build would register with a real gateway).

    ORDER_SCREEN                   the order screen of lesson 04 as one query ($id: ID!)
    persisted_id(ORDER_SCREEN)     its sha256, the id a client sends instead of the text
    PERSISTED                      {sha256: document} for every persisted query

Layer: components.
"""
from __future__ import annotations

import hashlib

# Everything the order confirmation screen shows: the order's id, status and amount, the user's
# name, the concert's title and its seats left (lesson 04 fetched them in three REST requests).
ORDER_SCREEN = """query OrderScreen($id: ID!) {
  order(id: $id) {
    id
    status
    amount
    user { name }
    concert { title seatsLeft }
  }
}"""

# Ready means composed and answering through both subgraphs, not merely listening.
READY_QUERY = "{ order(id: \"o1\") { id user { id name } } }"


def persisted_id(document: str) -> str:
    """The id of a persisted query: the sha256 of its exact text, in hex (Apollo's APQ convention)."""
    if not isinstance(document, str) or not document.strip():
        raise ValueError(f"document must be a non-empty GraphQL document, got {document!r}")
    return hashlib.sha256(document.encode()).hexdigest()


PERSISTED = {persisted_id(doc): doc for doc in (ORDER_SCREEN,)}
