"""A child for tests/runtime/test_child.py: `python -m tests.runtime.child_speaker talk|fail|linger`."""
import signal
import sys
import time

from labs.runtime.child import say

mode = sys.argv[1]
if mode == "talk":
    say("ready", n=1)
    print("not json, kept as a line", flush=True)
    say("done", n=2)
elif mode == "fail":
    print("Traceback (most recent call last):\nOSError: the database is gone", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "linger":
    signal.signal(signal.SIGTERM, lambda *_: (say("said goodbye"), sys.exit(0)))
    say("ready")
    time.sleep(120)
