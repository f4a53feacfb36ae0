#!/usr/bin/env bash
# Codespaces / dev containers, at every start: the lab's pre-flight (what is missing, and the fix),
# or the doctor where this checkout predates the pre-flight. Never fails the start: it reports.
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || { echo "post-start: no .venv yet; run: make setup"; exit 0; }
if "$python" -m labs --help 2>/dev/null | grep -qw preflight; then
  "$python" -m labs preflight || true
else
  "$python" -m labs doctor || true
fi
echo "post-start: start JupyterLab with: make lab   (LABS_BACKEND=docker runs the components in Docker)"
