"""Claim checks (a lesson proves what it says) and exercise checks (the learner's code, run live).

A claim check prints one green line with the measured value, or raises `ClaimNotShown`
explaining what was measured and what was expected: a notebook that stops proving its
point fails its run.

An exercise check never stops a Run All: in a learner's notebook an unsolved or wrong answer
prints "not yet" with the reason. Set LABS_STRICT_EXERCISES=1 (the solution-form test run
does) to make it raise instead.

Every claim that passes is also kept as the learner's evidence (labs.tools.evidence: one line in
the user's data directory, tagged with the lesson of the notebook the kernel runs); lesson 13 shows
it again. `check.lesson("09")` names the lesson where the front end does not tell the kernel.

Layer: tools. The checkers themselves (labs.exercises) register here with `register_exercise`.
"""
from __future__ import annotations

import math
import os
import sys
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import evidence as _evidence

GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[0m"
WIDTH = 100  # a claim line wraps here, between words
_UNSET = object()


class ClaimNotShown(AssertionError):
    """A lesson's claim did not hold on this run's measurement."""


class ExerciseFailed(AssertionError):
    """Raised only in strict mode, when an exercise's check does not pass."""


class NotYet(AssertionError):
    """Raised by an exercise checker to say what is still wrong, in words for the learner."""


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = repr(value) if isinstance(value, str) else str(_rounded(value))
    return f"{text} {unit}".rstrip()


def _rounded(value: Any) -> Any:
    """Floats inside lists, tuples and dicts to 3 significant digits: a measured 0.29649267800004964
    says no more than 0.296, and reads worse."""
    if isinstance(value, float):
        return float(f"{value:.3g}")
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def claim(statement: str, measured: Any, *, equals: Any = _UNSET, at_least: float | None = None,
          at_most: float | None = None, between: tuple[float, float] | None = None,
          holds: Callable[[Any], bool] | None = None, unit: str = "", hint: str = "") -> None:
    """Assert that `measured` supports `statement` and print it in one green line.

        check.claim("the broker answered", seconds, at_most=5, unit="s")
        check.claim("the DataLoader made 2 backend queries", queries, equals=2)
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim needs a statement: the sentence the measurement proves")
    expectations: list[tuple[str, bool]] = []
    if equals is not _UNSET:
        expectations.append((f"== {_fmt(equals, unit)}", measured == equals))
    number = isinstance(measured, (int, float)) and not isinstance(measured, bool)
    for label, bound, test in (("≥", at_least, lambda m, b: m >= b), ("≤", at_most, lambda m, b: m <= b)):
        if bound is not None:
            ok = number and not math.isnan(measured) and test(measured, bound)
            expectations.append((f"{label} {_fmt(bound, unit)}", ok))
    if between is not None:
        lo, hi = between
        ok = number and lo <= measured <= hi
        expectations.append((f"between {_fmt(lo, unit)} and {_fmt(hi, unit)}", ok))
    if holds is not None:
        expectations.append(("the condition", bool(holds(measured))))
    if not expectations:  # a bare claim: the measured value itself must be truthy
        expectations.append(("true", bool(measured)))
    failed = [label for label, ok in expectations if not ok]
    shown = "" if isinstance(measured, bool) else f" (measured: {_fmt(measured, unit)})"
    if failed:
        text = (f"✘ not shown: {statement}\n  measured {_fmt(measured, unit)}, expected {' and '.join(failed)}")
        if hint:
            text += f"\n  {hint}"
        raise ClaimNotShown(text)
    # Wrapped at word boundaries to the width of a notebook's code (100 characters): a long line
    # left to the browser is broken wherever the output area ends, often in the middle of a word.
    print(GREEN + textwrap.fill(f"✔ {statement}{shown}", WIDTH, subsequent_indent="  ",
                                break_long_words=False, break_on_hyphens=False) + RESET)
    try:
        _evidence.record(statement, measured, unit)
    except Exception:  # noqa: BLE001  (keeping evidence must never fail a claim that held)
        pass


def lesson(number: Any) -> str:
    """Say which lesson this notebook is, so its claims are kept as that lesson's evidence; only
    needed where the front end does not tell the kernel its notebook (JupyterLab and VS Code do).

        check.lesson("09")
    """
    return _evidence.set_lesson(number)


@dataclass
class Exercise:
    id: str
    title: str
    answer: str  # the name the learner's cell defines, e.g. "redis_version"
    needs: tuple[str, ...]  # lab components the check talks to
    checker: Callable[[Any, Any], str]  # (answer, lab) -> what was measured; raises NotYet


_exercises: dict[str, Exercise] = {}


def register_exercise(id: str, title: str, answer: str, needs: tuple[str, ...] = ()):
    """Decorator for a checker `(learner_answer, lab) -> str` that raises NotYet when wrong."""
    def wrap(fn: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
        _exercises[id] = Exercise(id, title, answer, tuple(needs), fn)
        return fn
    return wrap


_loader: list[Callable[[], Any]] = []


def set_exercise_loader(load: Callable[[], Any]) -> None:
    """How to import the exercise checkers (labs/__init__ sets it: they sit in a layer above this one)."""
    _loader[:] = [load]


def exercises() -> dict[str, Exercise]:
    if _loader:
        _loader.pop()()  # imports labs.exercises once, which registers every lesson's checkers
    return dict(_exercises)


def run_exercise(id: str, answer: Any, lab: Any = None) -> tuple[bool, str]:
    """Run one exercise's checker; return (passed, message). Never raises for a wrong answer."""
    known = exercises()
    if id not in known:
        raise ValueError(f"unknown exercise {id!r}; known: {', '.join(sorted(known))}")
    ex = known[id]
    if lab is not None:
        missing = [n for n in ex.needs if n not in getattr(lab, "names", [])]
        if missing:
            raise ValueError(f"exercise {id} needs {', '.join(missing)} in the lab you pass")
    try:
        return True, ex.checker(answer, lab)
    except NotImplementedError:
        return False, f"`{ex.answer}` still raises NotImplementedError: replace that line with your code"
    except NotYet as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"your code raised {type(exc).__name__}: {exc} (line {_learner_line(exc)})"


def _learner_line(exc: BaseException) -> int | None:
    """The line in the learner's own code where it went wrong: the deepest frame that is neither the
    lab's package nor an installed library (a raise inside httpx is not where the learner can look)."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = str(Path(__file__).resolve().parents[1])
    own = [f for f in frames if not f.filename.startswith(here) and "-packages" not in f.filename
           and not f.filename.startswith(sys.prefix) and not f.filename.startswith(sys.base_prefix)]
    return (own or frames)[-1].lineno if frames else None


def exercise(id: str, answer: Any, lab: Any = None) -> None:
    """Check the learner's answer to exercise `id` against live components; print the verdict.

    Returns nothing, so the cell shows only the verdict; use `run_exercise` for (passed, message)."""
    passed, message = run_exercise(id, answer, lab)
    title = exercises()[id].title
    if passed:
        print(f"{GREEN}✔ exercise {id} ({title}): solved. {message}{RESET}")
    else:
        print(f"{YELLOW}… exercise {id} ({title}): not yet. {message}{RESET}")
        if os.environ.get("LABS_STRICT_EXERCISES") == "1":
            raise ExerciseFailed(f"exercise {id} did not pass: {message}")
