"""Solutions to the exercises of notebooks/09-message-queues.ipynb."""

# %% Exercise 09.1: make the payments consumer idempotent
# Marking the payment as charged and taking the money happen in one Lua script, so Redis runs them as
# one step: no crash can fall between them, and a second delivery finds the mark and changes nothing.
CHARGE_ONCE = """
if redis.call('SET', KEYS[1], 'charged', 'NX') then
    return redis.call('DECRBY', KEYS[2], ARGV[1])
end
return false
"""


def charge(db, payment: dict) -> None:
    """payment = {"payment_id": "p-...", "user": "u1", "amount": 30}; the balance is at "balance:<user>"."""
    db.eval(CHARGE_ONCE, 2, f"charged:{payment['payment_id']}", f"balance:{payment['user']}", payment["amount"])
