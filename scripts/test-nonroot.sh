#!/usr/bin/env bash
# Binder runs the course as an unprivileged user with no root at run time. When the test run
# is root (as CI is), run lesson 00 once more as an ordinary user, from that user's own venv:
# RabbitMQ, Redis and the Kafka-protocol broker must all start for it (and the GraphQL gateway). (make
# test-binder does this for every lesson, in a real browser and a Binder-sized box; this is the quick
# check without a browser.)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test-nonroot: this run is already unprivileged ($(id -un)); nothing more to do"; exit 0
fi
if [ "${LABS_SKIP_NONROOT:-0}" = 1 ] || ! command -v runuser >/dev/null || [ ! -x /usr/bin/python3 ]; then
  echo "test-nonroot: skipped (LABS_SKIP_NONROOT=1, or no runuser / /usr/bin/python3 here)"; exit 0
fi
. scripts/learner-env.sh
LABS_PROGRESS=0 learner_env /tmp/labs-nonroot
echo "test-nonroot: lesson 00 as user $LEARNER"
as_learner bash -euo pipefail -c "cd $LEARNER_REPO && $LEARNER_PYTHON -m labs doctor \
  && LABS_PROGRESS=0 $LEARNER_PYTHON -m pytest -p no:cacheprovider --nbval-lax notebooks/00-welcome.ipynb -q"
