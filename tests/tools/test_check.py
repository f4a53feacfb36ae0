import pytest

from labs import check


def test_claim_prints_the_measured_value_in_one_green_line(capsys):
    assert check.claim("the call took under 5 ms", 1.25, at_most=5, unit="ms") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "✔ the call took under 5 ms" in out and "1.25 ms" in out


@pytest.mark.parametrize("kwargs, measured", [
    ({"equals": 2}, 101), ({"at_least": 10}, 3), ({"at_most": 1}, 2.5), ({"between": (1, 2)}, 3),
    ({"holds": lambda v: v.startswith("a")}, "b"), ({}, 0), ({"at_most": 1}, float("nan")),
    ({"at_most": 1}, "not a number"),
])
def test_claim_raises_with_measured_and_expected(kwargs, measured):
    with pytest.raises(check.ClaimNotShown) as err:
        check.claim("something holds", measured, **kwargs)
    assert "something holds" in str(err.value) and "measured" in str(err.value)


def test_claim_needs_a_statement():
    with pytest.raises(ValueError):
        check.claim("", 1)


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(ValueError, match="00.1"):
        check.exercise("99.9", lambda: None)


def test_an_exception_in_learner_code_is_a_not_yet_with_the_reason():
    passed, message = check.run_exercise("00.1", lambda lab: 1 / 0, lab=None)
    assert not passed and "ZeroDivisionError" in message


def test_the_line_named_is_in_the_learners_code_not_in_the_library_that_raised():
    import json

    def answer(lab):
        return json.loads("not json")  # json raises deep inside itself; the learner wrote this line

    passed, message = check.run_exercise("00.1", answer, lab=None)
    assert not passed and f"(line {answer.__code__.co_firstlineno + 1})" in message, message
