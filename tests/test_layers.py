"""The layer rule (pyproject.toml's import-linter contract) holds, and it bites on an upward import."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def lint(where: Path) -> subprocess.CompletedProcess:
    # import-linter reads the contract from pyproject.toml in the working directory and imports the
    # package from sys.path: PYTHONPATH makes it analyse the copy, not the installed checkout.
    return subprocess.run(LINT, cwd=where, env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_layers():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "KEPT" in result.stdout


def test_the_contract_fails_when_the_runtime_imports_a_lesson(tmp_path):
    shutil.copytree(ROOT / "labs", tmp_path / "labs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    ports = tmp_path / "labs" / "runtime" / "ports.py"
    ports.write_text(ports.read_text() + "\nfrom ..lessons import queues  # an upward import\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "labs.runtime.ports -> labs.lessons.queues" in result.stdout, result.stdout[-2000:]
