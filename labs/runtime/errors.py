"""Errors the runtime raises. Each message names the component and what to do next.

Layer: runtime.
"""


class LabError(RuntimeError):
    """Base class for every error the lab raises on purpose."""


class UnknownComponent(LabError, ValueError):
    def __init__(self, name: object, choices: list[str]):
        self.name, self.choices = name, choices
        super().__init__(f"unknown component {name!r}; choose from: {', '.join(choices)}")


class MissingPrerequisite(LabError):
    """A program a component needs is not installed; the message carries the fix."""


class StartError(LabError):
    def __init__(self, name: str, reason: str, log_tail: str = "", log_path: str = ""):
        self.component, self.reason, self.log_tail = name, reason, log_tail
        text = f"{name} failed to start: {reason}"
        if log_tail:
            where = f" ({log_path})" if log_path else ""
            text += f"\n--- last lines of the {name} log{where} ---\n{log_tail.rstrip()}"
        text += "\nRun `python -m labs doctor` to check the prerequisites."
        super().__init__(text)
