"""Lesson 00: the component -> lesson table says which lessons use each component, and the
notebooks agree: a lesson that starts (or proxies through) a component is listed for it, and a
listed lesson does use it. Lessons not written yet are not checked until their notebook exists."""
import re
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SERVICES = ("users", "concerts", "orders", "payments", "notifications")  # one row of the table


def table() -> dict[tuple[str, ...], set[str]]:
    """{components of a row: lessons} from the markdown table in lesson 00 ("01 to 05" is a
    range). The five services share a row: a lesson that uses any of them is listed there."""
    nb = nbformat.read(NOTEBOOKS / "00-welcome.ipynb", as_version=4)
    text = next(c.source for c in nb.cells if c.cell_type == "markdown" and "| component |" in c.source)
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        lessons = set()
        for part in cells[2].split(","):  # "01 to 08, 13"
            span = re.fullmatch(r"\s*(\d\d) to (\d\d)\s*", part)
            lessons |= ({f"{n:02d}" for n in range(int(span[1]), int(span[2]) + 1)} if span
                        else set(re.findall(r"\d\d", part)))
        rows[tuple(re.findall(r"`([\w-]+)`", cells[0]))] = lessons
    return rows


def uses(source: str) -> set[str]:
    """Components a lesson's code cells start, reach by endpoint or put a chaos proxy in front of,
    with everything those require (orders starts the four services it calls, a gateway the
    services behind it), as labs.start would."""
    import labs  # noqa: F401  (registers every component)
    from labs.runtime.component import component_names, get_spec

    named = set()
    for args in re.findall(r"labs\.start\(([^)]*)\)", source):
        named |= set(re.findall(r"[\"'](\w[\w-]*)[\"']", args))
    named |= set(re.findall(r"endpoint\([\"'](\w[\w-]*)[\"']\)", source))
    if re.search(r"\bchaos\.(proxy|server)\(", source):
        named.add("chaos")
    started, todo = set(), [n for n in named if n in component_names()]
    while todo:
        name = todo.pop()
        if name not in started:
            started.add(name)
            todo.extend(get_spec(name).requires)
    return started


def test_the_component_table_matches_what_the_lessons_start():
    rows = table()
    assert {SERVICES, ("rabbitmq",), ("redis",), ("kafka",), ("chaos",)} <= set(rows)
    code: dict[str, list[str]] = {}  # a lesson and its "going further" part (05 and 05b) are one lesson
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]*-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code.setdefault(path.name[:2], []).extend(c.source for c in nb.cells if c.cell_type == "code")
    for lesson, sources in code.items():
        if lesson == "00":  # the welcome lesson starts everything
            continue
        used = uses("\n".join(sources))
        for components, lessons in rows.items():
            uses_it = bool(used & set(components))
            assert uses_it == (lesson in lessons), (
                f"lesson 00's table {'lists' if lesson in lessons else 'does not list'} {lesson} for "
                f"{', '.join(components)}, but lesson {lesson} {'uses' if uses_it else 'does not use'} it")
