"""What Binder builds from: environment.yml (tests/test_packaging.py keeps it equal to pyproject), apt.txt
and postBuild, which must work without root; and the README's launch URL. `make test-binder` runs the
lessons themselves in a Binder-sized box."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_post_build_needs_no_root_and_is_valid_bash():
    text = (ROOT / "postBuild").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for word in ("sudo", "apt-get", "apt ", "npm install -g", "npm i -g", "--global"):
        assert word not in code, f"postBuild runs `{word}`: Binder runs it without root; use apt.txt or a folder of the repo"
    assert subprocess.run(["bash", "-n", str(ROOT / "postBuild")]).returncode == 0


def test_apt_txt_is_one_package_name_a_line():
    for line in (ROOT / "apt.txt").read_text().splitlines():
        assert not line.strip() or line.startswith("#") or re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", line.strip()), line


def test_the_readme_gives_the_binder_launch_url_of_an_existing_lesson():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"https://mybinder\.org/v2/gh/[^/\s]+/[^/\s]+/HEAD\?urlpath=lab/tree/(notebooks/[^\s`)]+\.ipynb)", readme)
    assert match, "README: the Binder launch URL (or badge) is missing"
    assert (ROOT / match.group(1)).is_file()
