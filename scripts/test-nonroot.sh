#!/usr/bin/env bash
# Binder runs the course as an unprivileged user with no root at run time. When the test run
# is root (as CI is), run lesson 00 once more as an ordinary user, from that user's own venv:
# RabbitMQ, Redis and the Kafka-protocol broker must all start for it (and the GraphQL gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test-nonroot: this run is already unprivileged ($(id -un)); nothing more to do"; exit 0
fi
if [ "${LABS_SKIP_NONROOT:-0}" = 1 ] || ! command -v runuser >/dev/null || [ ! -x /usr/bin/python3 ]; then
  echo "test-nonroot: skipped (LABS_SKIP_NONROOT=1, or no runuser / /usr/bin/python3 here)"; exit 0
fi
learner=labs-learner
work=/tmp/labs-nonroot
id -u "$learner" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$learner"
mkdir -p "$work"
rm -rf "$work/repo" && mkdir -p "$work/repo"
git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$work/repo"
chown -R "$learner" "$work"
echo "test-nonroot: lesson 00 as user $learner"
runuser -u "$learner" -- env -i HOME="/home/$learner" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
  LABS_PROGRESS=0 bash -euo pipefail -c "
    cd $work/repo
    [ -x $work/venv/bin/python ] || /usr/bin/python3 -m venv $work/venv
    if [ ! -f $work/venv/.stamp ] || [ pyproject.toml -nt $work/venv/.stamp ]; then
      { $work/venv/bin/python -m pip install --upgrade pip && $work/venv/bin/python -m pip install -e '.[test]'; } \
        >$work/pip.log 2>&1 || { tail -30 $work/pip.log; exit 1; }
      touch $work/venv/.stamp
    fi
    $work/venv/bin/python -m labs npm install  # the pinned npm packages (lesson 06, 08)
    $work/venv/bin/python -m labs doctor
    $work/venv/bin/python -m pytest -p no:cacheprovider --nbval-lax notebooks/00-welcome.ipynb -q"
