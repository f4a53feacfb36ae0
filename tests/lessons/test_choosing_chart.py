"""Lesson 13's decision chart: every path against the essay's chart, the walk's rules, the widget."""
from pathlib import Path

import pytest

from labs.lessons import choosing, choosing_content as content
from labs.tools.evidence import Entry, Evidence

ROOT = Path(__file__).resolve().parents[2]

# The essay's "communication method decision flowchart", transcribed: its boxes (by the ids the
# essay's mermaid source uses) and its arrows with their labels. Five questions, six outcomes.
ARTICLE_QUESTIONS = {
    "Q1": "Is immediate response required?",
    "Q2": "Is it internal inter-service communication?",
    "Q3": "Is high performance required?",
    "Q4": "Do multiple services need to process the same event?",
    "Q5": "Is event reprocessing/persistence needed?",
}
ARTICLE_OUTCOMES = {"REST": "REST API", "REST2": "REST API", "gRPC": "gRPC", "MessageQueue": "Message Queue",
                    "EventBroker": "Event Broker", "Kafka": "Kafka"}
ARTICLE_EDGES = {
    ("Start", "Yes", "Q1"),
    ("Q1", "Yes", "Sync"), ("Q1", "No", "Async"),
    ("Sync", "", "Q2"),
    ("Q2", "Yes", "Q3"), ("Q2", "No", "REST"),
    ("Q3", "Yes", "gRPC"), ("Q3", "No", "REST2"),
    ("Async", "", "Q4"),
    ("Q4", "Yes", "Q5"), ("Q4", "No", "MessageQueue"),
    ("Q5", "Yes", "Kafka"), ("Q5", "No", "EventBroker"),
}
# The same question in the course's words: each must still ask the essay's question.
SAME_MEANING = {"Q1": "answer", "Q2": "inside", "Q3": "speed", "Q4": "several services", "Q5": "kept"}


def article_walk(answers):
    """Follow the transcribed chart (not the course's code) with yes/no answers; return the boxes."""
    node, boxes, answers = "Start", [], list(answers)
    while node not in ARTICLE_OUTCOMES:
        boxes.append(node)
        label = ("Yes" if answers.pop(0) else "No") if node in ARTICLE_QUESTIONS else \
            ("Yes" if node == "Start" else "")
        node = next(t for s, l, t in ARTICLE_EDGES if s == node and l == label)
    assert not answers, "answers left over after reaching an outcome"
    return boxes + [node]


def test_the_chart_has_the_articles_questions_outcomes_and_edges():
    assert set(choosing.QUESTIONS) == set(ARTICLE_QUESTIONS)
    assert {(e.source, e.label, e.target) for e in choosing.EDGES} == ARTICLE_EDGES
    assert set(choosing.OUTCOME_IDS) == set(ARTICLE_OUTCOMES) == set(content.OUTCOMES)
    for question_id, word in SAME_MEANING.items():
        assert word in choosing.QUESTIONS[question_id].text.lower()
    for outcome_id, name in ARTICLE_OUTCOMES.items():
        assert name.split()[0].lower() in choosing.OUTCOME_LABELS[outcome_id].lower()


def test_every_path_reaches_one_outcome_exactly_as_the_article_chart_does():
    paths = choosing.every_path()
    reached = []
    for answers in paths:
        walk = choosing.Walk().follow(a for _, a in answers)
        assert walk.path() == article_walk([a for _, a in answers])
        assert [q for q, _ in answers] == [b for b in walk.path() if b in ARTICLE_QUESTIONS]
        reached.append(walk.outcome)
    assert sorted(reached) == sorted(ARTICLE_OUTCOMES)  # six paths, each outcome once
    assert len(paths) == 6


def test_every_path_and_its_diagram_highlight_the_taken_branch():
    for answers in choosing.every_path():
        walk = choosing.Walk().follow(a for _, a in answers)
        source = walk.mermaid()
        taken = [str(choosing.EDGES.index(e)) for e in walk.edges_taken()]
        assert f"linkStyle {','.join(taken)} " in source
        assert f"class {walk.outcome} here" in source
        assert source.count("-->") == len(choosing.EDGES)  # the whole chart, every time


def test_the_walk_goes_back_and_starts_over():
    walk = choosing.Walk()
    assert walk.node == "Q1" and walk.question.id == "Q1" and walk.path() == ["Start", "Q1"]
    walk.answer("no")
    assert walk.node == "Q4" and walk.path() == ["Start", "Q1", "Async", "Q4"]
    walk.answer(True)
    walk.answer("Y")
    assert walk.outcome == "Kafka" and walk.finished
    assert walk.back() == "Q5" and not walk.finished
    walk.answer("n")
    assert walk.outcome == "EventBroker"
    assert walk.restart() == "Q1" and walk.answers == []
    assert "class Q1 here" in walk.mermaid() and "linkStyle 0 " in walk.mermaid()


def test_bad_answers_are_refused_naming_yes_and_no():
    walk = choosing.Walk()
    for bad in ("maybe", "", None, 1, 0, "yess"):
        with pytest.raises(ValueError, match='answer "yes" or "no"'):
            walk.answer(bad)
    assert walk.answers == []
    with pytest.raises(ValueError, match="nothing to go back to"):
        walk.back()
    walk.follow(["yes", "no"])
    with pytest.raises(choosing.WalkEnded, match="already ended at REST: use back"):
        walk.answer("yes")


def test_every_outcome_links_to_lessons_that_exist():
    assert set(content.LESSONS) == {f"{n:02d}" for n in range(14)}
    for number, (file, _) in content.LESSONS.items():
        assert file.startswith(number + "-")
        if number != "13" or (ROOT / "notebooks" / file).exists():
            assert (ROOT / "notebooks" / file).exists(), file
    for outcome in content.OUTCOMES.values():
        text = content.card(outcome.id)
        assert f"](../notebooks/{content.LESSONS[outcome.lessons[0]][0]})" in text
        assert "When not to choose it" in text and len(outcome.when_not) >= 3
        assert f"nothing recorded from lesson {outcome.lessons[0]} yet" in text


def entry(lesson, claim, measured, when="2026-12-01T10:00:00+00:00", unit=""):
    return Entry(lesson, claim, measured, unit, when)


def test_an_outcome_shows_the_learners_own_figures_from_its_lesson():
    ev = Evidence([
        entry("09", "the three consumers shared the work", 30),
        entry("09", "durable queue + persistent messages + confirms: 0 lost across the restart", 3),
        entry("09", "durable queue + persistent messages + confirms: 0 lost across the restart", 0,
              when="2026-12-02T10:00:00+00:00"),
        entry("10", "every subscriber received all 30 events", [30, 30, 30]),
    ])
    text = content.card("MessageQueue", ev)
    assert "your run of lesson 09 (2026-12-02)" in text
    lost = text.index("0 lost across the restart (measured: 0)")
    assert lost < text.index("shared the work")  # the keyword "lost" ranks it first
    assert "(measured: 3)" not in text  # only the last run of a claim
    assert "nothing recorded from lesson 09" not in text
    assert "every subscriber" not in text  # lesson 10 belongs to another outcome
    assert "your run of lesson 10" in content.card("EventBroker", ev)
    assert "nothing recorded from lesson 11 yet: run [11-kafka-the-log.ipynb]" in content.card("Kafka", ev)
    with pytest.raises(ValueError, match="unknown outcome 'SOAP'; one of REST, REST2"):
        content.card("SOAP")


def test_the_widget_walks_with_its_buttons_and_refuses_bad_input():
    from labs.lessons.choosing_widget import ChartWidget

    chart = ChartWidget(evidence=Evidence([entry("05", "gRPC unary is faster than REST", 2.1, unit="x")]))
    assert chart.back_button.disabled and not chart.yes.disabled
    for button in (chart.yes, chart.yes, chart.yes):  # immediate, internal, fast: gRPC
        button.click()
    assert chart.walk.outcome == "gRPC" and chart.yes.disabled and chart.no.disabled
    assert "Answer: gRPC" in chart.question.value
    chart.back_button.click()
    assert chart.walk.node == "Q3"
    with pytest.raises(ValueError, match='answer "yes" or "no"'):
        chart.answer("perhaps")
    assert "answer &quot;yes&quot; or &quot;no&quot;" in chart.error.value
    chart.no.click()
    assert chart.walk.outcome == "REST2" and chart.error.value == ""
    chart.restart_button.click()
    assert chart.walk.answers == [] and chart.back_button.disabled


def _flowchart_chunk():
    import sys
    static = Path(sys.prefix) / "share" / "jupyter" / "lab" / "static"
    for path in sorted(static.glob("*.js")) if static.is_dir() else ():
        if path.stat().st_size < 1_000_000 and b'"FlowDB"' in path.read_bytes():
            return path
    return None


def test_every_paths_diagram_parses_with_jupyterlabs_own_mermaid():
    """The mermaid JupyterLab ships (the one that draws it) accepts each highlighted chart; a
    highlight of an arrow that does not exist is refused, so the check can fail."""
    import json
    import shutil
    import subprocess

    node, chunk = shutil.which("node"), _flowchart_chunk()
    if node is None or chunk is None:
        pytest.skip("node or JupyterLab's mermaid flowchart bundle is not here")

    def parse(text):
        done = subprocess.run([node, str(ROOT / "tests" / "fixtures" / "mermaid_flowchart_check.js"), str(chunk)],
                              input=text, capture_output=True, text=True, timeout=60)
        if done.returncode == 2:
            pytest.skip("this JupyterLab bundles mermaid differently")
        return json.loads(done.stdout)

    for answers in [()] + choosing.every_path():
        walk = choosing.Walk().follow(a for _, a in answers)
        assert parse(walk.mermaid()) == {"ok": True, "vertices": 14, "edges": 13}, walk
    broken = choosing.Walk().follow(["yes"]).mermaid().replace("linkStyle 0,1", "linkStyle 0,99")
    assert parse(broken)["ok"] is False
