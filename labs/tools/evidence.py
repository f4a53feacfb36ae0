"""The learner's own evidence: every claim that passed, one JSON line each, kept between sessions.

    import labs
    labs.evidence()                      # every recorded line, oldest first (an Evidence list)
    labs.evidence("09").latest()         # lesson 09's claims, the last measurement of each
    labs.evidence().table()              # a pandas DataFrame: lesson, claim, measured, unit, when

    from labs.tools import evidence
    evidence.path()                      # where the lines are kept
    evidence.current_lesson()            # "09": the lesson of the notebook this kernel runs
    evidence.clear()                     # forget everything (also: `python -m labs evidence --clear`)

`check.claim` calls `record(...)` after a claim passed: one line {"lesson", "claim", "measured",
"unit", "when"} appended to a file in the user's data directory, never in the repository
(platformdirs: `~/.local/share/msa-labs/evidence.jsonl` on Linux, honouring XDG_DATA_HOME;
`~/Library/Application Support/msa-labs/` on macOS). LABS_EVIDENCE_FILE names another file;
LABS_EVIDENCE_FILE=off records nothing. No network, no account.

Which lesson? The notebook the kernel runs, in this order:
  1. `check.lesson("09")`, said explicitly in the kernel (the fallback for any front end);
  2. the Jupyter session's path: jupyter_server starts each notebook's kernel with
     JPY_SESSION_NAME=<notebook path>, and ipykernel copies it into `__session__` (JupyterLab,
     Notebook 7, Binder, Codespaces' browser JupyterLab);
  3. VS Code's `__vsc_ipynb_file__`, which its Jupyter extension sets in the kernel's namespace.
A notebook whose file name does not start with two digits ("Untitled.ipynb"), a script, a test or
nbval (which starts kernels without a session) has no lesson, and its claims are not recorded.
A lesson is never guessed from the working directory: every lesson runs in notebooks/.

Reading never raises for a bad file: a line that is not JSON, not a complete record, or cut off
mid-write is skipped, with one warning saying how many and where. Several kernels may append at once:
each record is a single write() of one line to a file opened in append mode.

Layer: tools (standard library, plus platformdirs for the directory; pandas only for `table()`).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

ENV_FILE = "LABS_EVIDENCE_FILE"
OFF = "off"
APP_NAME = "msa-labs"
FILE_NAME = "evidence.jsonl"
LESSON = re.compile(r"^\d{2}$")
_NOTEBOOK_LESSON = re.compile(r"^(\d{2})-")
MAX_TEXT = 300          # a claim's sentence and a measured value's text are kept this long at most
_explicit: list[str] = []  # the lesson `check.lesson(...)` named in this process


class EvidenceWarning(UserWarning):
    """Some lines of the evidence file could not be read and were skipped."""


@dataclass(frozen=True)
class Entry:
    """One claim that passed: which lesson, what it said, what was measured, when."""
    lesson: str
    claim: str
    measured: Any
    unit: str
    when: str  # ISO 8601, UTC

    def figure(self) -> str:
        """The measured value with its unit, as a person reads it ("0.25 s", "(90, 0)")."""
        value = self.measured
        if isinstance(value, float):
            text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        elif isinstance(value, bool) or value is None:
            text = "yes" if value else "no" if value is not None else "-"
        elif isinstance(value, int):
            text = f"{value:,}"
        elif isinstance(value, list):
            text = "(" + ", ".join(map(str, value)) + ")"
        else:
            text = str(value)
        return f"{text} {self.unit}".rstrip()


class Evidence(list):
    """A list of Entry, oldest first, with the few views the course needs."""

    def lessons(self) -> list[str]:
        return sorted({e.lesson for e in self})

    def for_lesson(self, lesson: str) -> "Evidence":
        lesson = check_lesson(lesson)
        return Evidence(e for e in self if e.lesson == lesson)

    def latest(self) -> "Evidence":
        """The last measurement of each (lesson, claim): a lesson run three times counts once."""
        last: dict[tuple[str, str], Entry] = {}
        for entry in self:
            last.pop((entry.lesson, entry.claim), None)  # re-insert: keeps the order of the last run
            last[(entry.lesson, entry.claim)] = entry
        return Evidence(last.values())

    def table(self):
        import pandas as pd
        return pd.DataFrame([{**asdict(e), "measured": e.figure()} for e in self],
                            columns=["lesson", "claim", "measured", "unit", "when"])

    def __repr__(self) -> str:
        lessons = self.lessons()
        return (f"<evidence: {len(self)} claim{'s' * (len(self) != 1)} from "
                f"{len(lessons)} lesson{'s' * (len(lessons) != 1)}{': ' + ', '.join(lessons) if lessons else ''}>")


# ---- where ----------------------------------------------------------------------------------------

def path() -> Path | None:
    """The evidence file, or None when LABS_EVIDENCE_FILE=off."""
    named = os.environ.get(ENV_FILE, "").strip()
    if named.lower() == OFF:
        return None
    if named:
        return Path(named).expanduser()
    import platformdirs  # honours XDG_DATA_HOME on Linux
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / FILE_NAME


# ---- which lesson ---------------------------------------------------------------------------------

def check_lesson(lesson: Any) -> str:
    """"09" from "09", 9 or "9"; ValueError naming the form for anything else."""
    if isinstance(lesson, int) and not isinstance(lesson, bool) and 0 <= lesson <= 99:
        return f"{lesson:02d}"
    if isinstance(lesson, str) and re.fullmatch(r"\d{1,2}", lesson.strip()):
        return f"{int(lesson):02d}"
    raise ValueError(f"a lesson is its two-digit number, from \"00\" to \"99\" (e.g. \"09\"); got {lesson!r}")


def set_lesson(lesson: Any) -> str:
    """Say which lesson this kernel runs (for front ends that do not tell the kernel its notebook)."""
    _explicit[:] = [check_lesson(lesson)]
    return _explicit[0]


def lesson_of(notebook: Any) -> str | None:
    """"09" for ".../notebooks/09-message-queues.ipynb"; None when the name has no lesson number."""
    if not isinstance(notebook, (str, os.PathLike)) or not str(notebook):
        return None
    found = _NOTEBOOK_LESSON.match(Path(str(notebook)).name)
    return found.group(1) if found else None


def _kernel_namespace() -> dict:
    ipython = sys.modules.get("IPython")  # never import IPython just to ask
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(shell, "user_ns", None) or {}


def notebook_path() -> str | None:
    """The notebook this kernel runs, as the front end told the kernel (None when it did not)."""
    namespace = _kernel_namespace()
    for candidate in (namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME"),
                      namespace.get("__vsc_ipynb_file__")):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            return candidate
    return None


def current_lesson() -> str | None:
    """The lesson whose claims this kernel records: `check.lesson(...)`, else the notebook's number."""
    if _explicit:
        return _explicit[0]
    return lesson_of(notebook_path())


# ---- writing --------------------------------------------------------------------------------------

def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a measured value: numbers, text, lists; anything else as its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value[:MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return _plain(value.item(), depth)  # a numpy scalar
    if isinstance(value, (list, tuple)) and depth < 2 and len(value) <= 20:
        return [_plain(v, depth + 1) for v in value]
    return str(value)[:MAX_TEXT]


def record(statement: str, measured: Any, unit: str = "", lesson: str | None = None) -> Entry | None:
    """Append one passed claim for `lesson` (default: the current one). Returns the entry, or None
    when nothing was recorded (no lesson known, or LABS_EVIDENCE_FILE=off). Never raises for an
    unwritable file: a claim that passed must not fail because its evidence could not be kept."""
    lesson = check_lesson(lesson) if lesson is not None else current_lesson()
    where = path()
    if lesson is None or where is None:
        return None
    entry = Entry(lesson, str(statement)[:MAX_TEXT], _plain(measured), str(unit)[:40],
                  _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    line = json.dumps(asdict(entry), ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        with open(where, "a", encoding="utf-8") as f:
            f.write(line)  # one write of one line: appends from several kernels do not interleave
    except OSError as exc:
        warnings.warn(f"could not keep this claim as evidence in {where}: {exc}", EvidenceWarning, stacklevel=2)
        return None
    return entry


# ---- reading --------------------------------------------------------------------------------------

def _entry(data: Any) -> Entry:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    lesson, claim, unit, when = (data.get(k) for k in ("lesson", "claim", "unit", "when"))
    if not isinstance(lesson, str) or not LESSON.match(lesson):
        raise ValueError(f"lesson {lesson!r} is not two digits")
    if not isinstance(claim, str) or not claim or "measured" not in data:
        raise ValueError("no claim or no measured value")
    if not isinstance(unit, str) or not isinstance(when, str):
        raise ValueError("unit and when must be text")
    _dt.datetime.fromisoformat(when)  # ValueError for a mangled time
    return Entry(lesson, claim, data["measured"], unit, when)


def parse(lines: Iterable[str], source: str = "evidence") -> tuple[Evidence, list[str]]:
    """(entries, problems): every line that is a complete record, and one note per line that is not."""
    found, problems = Evidence(), []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not line.endswith("\n"):
            problems.append(f"line {number}: cut off mid-write")
            continue
        try:
            found.append(_entry(json.loads(line)))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            problems.append(f"line {number}: {str(exc)[:80]}")
    return found, problems


def read(lesson: Any = None) -> Evidence:
    """Every recorded claim (of `lesson`, when given), oldest first. A missing file is no evidence
    yet; unreadable lines are skipped with one EvidenceWarning."""
    wanted = check_lesson(lesson) if lesson is not None else None
    where = path()
    if where is None or not where.exists():
        return Evidence()
    try:
        with open(where, encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
    except OSError as exc:
        warnings.warn(f"could not read the evidence file {where}: {exc}", EvidenceWarning, stacklevel=2)
        return Evidence()
    found, problems = parse(text.splitlines(keepends=True), str(where))
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        warnings.warn(f"skipped {len(problems)} unreadable line{'s' * (len(problems) != 1)} of {where} "
                      f"({shown}); `python -m labs evidence --clear` starts afresh", EvidenceWarning, stacklevel=2)
    return found.for_lesson(wanted) if wanted else found


def clear() -> int:
    """Forget every recorded claim; returns how many lines there were."""
    where = path()
    if where is None or not where.exists():
        return 0
    with open(where, encoding="utf-8", errors="replace") as f:
        count = sum(1 for line in f if line.strip())
    where.unlink()
    return count
