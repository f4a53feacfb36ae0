"""One source of dependencies (pyproject.toml); environment.yml must list exactly the same."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["dependencies"]) | set(project["optional-dependencies"]["test"])


def _environment_pip_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s*- pip:\s*$", line))
    reqs = set()
    for line in lines[start + 1:]:
        m = re.match(r"\s+- (\S.*)$", line)
        if m:
            reqs.add(m.group(1).strip())
        elif line.strip() and not line.strip().startswith("#"):
            break
    return reqs


def test_environment_yml_matches_pyproject():
    in_pyproject, in_env = _pyproject_requirements(), _environment_pip_requirements()
    assert in_env == in_pyproject, (
        f"environment.yml drifted from pyproject.toml: only in pyproject {sorted(in_pyproject - in_env)}, "
        f"only in environment.yml {sorted(in_env - in_pyproject)}")


def test_binder_files_name_the_os_packages_the_brokers_need():
    apt = (ROOT / "apt.txt").read_text().split()
    assert {"rabbitmq-server", "redis-server"} <= set(apt)


def test_notebooks_are_committed_without_outputs():
    import nbformat
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{path.name} has outputs in cells {dirty}: run nbstripout"


def test_lessons_only_use_the_public_api():
    """Notebooks import `labs` and its tools; never the runtime's internals."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = path.read_text()
        assert "labs.runtime" not in text and "subprocess" not in text, f"{path.name} reaches into internals"


def test_layers_never_import_upward():
    layer = {"runtime": 1, "components": 2, "tools": 3, "exercises": 3}
    for path in (ROOT / "labs").rglob("*.py"):
        parts = path.relative_to(ROOT / "labs").parts
        own = layer.get(parts[0]) if len(parts) > 1 else None
        if own is None:
            continue
        for match in re.finditer(r"from \.+(\w+)|import labs\.(\w+)", path.read_text()):
            target = match.group(1) or match.group(2)
            if target in layer:
                assert layer[target] <= own, f"{path.relative_to(ROOT)} imports upward from {target}"
