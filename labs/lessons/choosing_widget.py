"""Lesson 13's chart as a widget: one question at a time, Back, Start over, the path drawn as you go.

    from labs.lessons import choosing_widget
    chart = choosing_widget.ChartWidget()      # reads your evidence (labs.evidence()) once
    chart                                      # displays: question, Yes / No, Back, Start over, diagram
    chart.answer("yes"); chart.back(); chart.restart()   # what the buttons do (also from code)
    chart.answer("maybe")                      # ValueError naming "yes" and "no", shown in the widget too

The logic is labs.lessons.choosing.Walk; the texts and your figures come from choosing_content.
The diagram is mermaid markdown in an Output widget, which JupyterLab (>= 4.1) draws; the outcome's
card is markdown too, so its links open the lessons' notebooks inside JupyterLab.

Layer: lessons. ipywidgets is imported when a widget is built, not when this module is imported.
"""
from __future__ import annotations

import html
from typing import Any

from ..tools.evidence import Evidence, read
from . import choosing_content as content
from .choosing import QUESTIONS, Diagram, Walk, WalkEnded


class ChartWidget:
    """The decision chart, walked with buttons; `.walk` is the plain logic underneath."""

    def __init__(self, walk: Walk | None = None, evidence: Evidence | None = None):
        import ipywidgets as w

        self.walk = walk if walk is not None else Walk()
        self.evidence = evidence if evidence is not None else read()
        self.step = w.HTML()
        self.question = w.HTML()
        self.hint = w.HTML()
        self.error = w.HTML()
        self.yes = w.Button(description="Yes", button_style="success", tooltip="answer yes")
        self.no = w.Button(description="No", button_style="danger", tooltip="answer no")
        self.back_button = w.Button(description="Back", icon="arrow-left", tooltip="undo the last answer")
        self.restart_button = w.Button(description="Start over", icon="refresh", tooltip="clear every answer")
        self.yes.on_click(lambda _: self._safely(self.answer, "yes"))
        self.no.on_click(lambda _: self._safely(self.answer, "no"))
        self.back_button.on_click(lambda _: self._safely(self.back))
        self.restart_button.on_click(lambda _: self._safely(self.restart))
        for button in (self.yes, self.no, self.back_button, self.restart_button):
            button.add_class("labs-chart-button")
        self.diagram = w.Output(layout=w.Layout(min_height="420px"))
        self.card = w.Output()
        buttons = w.HBox([self.yes, self.no, self.back_button, self.restart_button])
        left = w.VBox([self.step, self.question, self.hint, buttons, self.error, self.card],
                      layout=w.Layout(width="46%", padding="0 12px 0 0"))
        self.box = w.HBox([left, w.VBox([self.diagram], layout=w.Layout(width="54%"))])
        self.box.add_class("labs-decision-chart")
        self._render()

    # ---- what the buttons do

    def answer(self, value: Any) -> str:
        """Answer the current question: "yes" or "no". Anything else is refused (ValueError)."""
        try:
            node = self.walk.answer(value)
        except ValueError as exc:
            self._refuse(exc)
            raise
        self._render()
        return node

    def back(self) -> str:
        try:
            node = self.walk.back()
        except ValueError as exc:
            self._refuse(exc)
            raise
        self._render()
        return node

    def restart(self) -> str:
        node = self.walk.restart()
        self._render()
        return node

    def _safely(self, action, *arguments) -> None:
        try:
            action(*arguments)
        except ValueError:
            pass  # already shown in the widget's error line

    def _refuse(self, exc: Exception) -> None:
        self.error.value = f"<span style='color:#b00020'>✘ {html.escape(str(exc))}</span>"

    # ---- drawing

    def _render(self) -> None:
        from IPython.display import Markdown, clear_output, display

        walk = self.walk
        self.error.value = ""
        said = " → ".join(f"{QUESTIONS[q].short} <b>{'yes' if a else 'no'}</b>" for q, a in walk.answers)
        self.step.value = f"<small>{said or 'Start: two services need to talk.'}</small>"
        question = walk.question
        if question is not None:
            self.question.value = f"<h4 style='margin:6px 0'>{html.escape(question.text)}</h4>"
            self.hint.value = f"<small style='color:#555'>{html.escape(question.hint)}</small>"
        else:
            self.question.value = (f"<h4 style='margin:6px 0'>Answer: "
                                   f"{html.escape(content.OUTCOMES[walk.outcome].title)}</h4>")
            self.hint.value = ""
        self.yes.disabled = self.no.disabled = walk.finished
        self.back_button.disabled = self.restart_button.disabled = not walk.answers
        with self.diagram:
            clear_output(wait=True)
            display(Diagram(walk.mermaid()))
        with self.card:
            clear_output(wait=True)
            if walk.finished:
                display(Markdown(content.card(walk.outcome, self.evidence)))

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.box)

    def __repr__(self) -> str:
        return f"<decision chart: {self.walk!r}>"


__all__ = ["ChartWidget", "WalkEnded"]
