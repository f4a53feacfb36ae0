"""labs.runtime.args: one voice for refusing bad arguments, with the allowed range in the message."""
import math

import pytest

from labs.runtime import args


@pytest.mark.parametrize("value", [0, 11, 2.0, True, "3", None])
def test_whole_refuses_what_is_not_a_whole_number_in_range(value):
    with pytest.raises(ValueError, match=r"^n must be a whole number from 1 to 10, got "):
        args.whole("n", value, 1, 10)


def test_each_check_returns_the_value_so_it_can_be_used_in_place():
    assert args.whole("n", 3, 1, 10) == 3
    assert args.number("p", 1, 0, 1) == 1.0 and isinstance(args.number("p", 1, 0, 1), float)
    assert args.seconds("t", 0, 0, 5) == 0.0
    assert args.positive_seconds("t", 0.5, 5) == 0.5
    assert args.choice("s", "up", ("up", "down")) == "up"
    assert args.text("name", "m1") == "m1"


@pytest.mark.parametrize("check, fragment", [
    (lambda: args.number("error_rate", 1.5, 0, 1, " (a fraction)"), "error_rate must be a number from 0 to 1 (a fraction)"),
    (lambda: args.number("p", math.nan, 0, 1), "p must be a number from 0 to 1"),
    (lambda: args.seconds("timeout", -1, 0, 600), "timeout must be a number of seconds from 0 to 600, got -1"),
    (lambda: args.seconds("timeout", math.inf), "from 0 to 600"),
    (lambda: args.positive_seconds("wait_s", 0, 30), "wait_s must be a number of seconds above 0 and up to 30"),
    (lambda: args.choice("stream", "sideways", ("upstream", "downstream")),
     "stream must be one of upstream, downstream; got 'sideways'"),
    (lambda: args.text("group", ""), "group must be a non-empty string of at most 200 characters"),
    (lambda: args.text("group", "x" * 201), "at most 200 characters"),
])
def test_messages_name_the_allowed_values(check, fragment):
    with pytest.raises(ValueError) as raised:
        check()
    assert fragment in str(raised.value)
