#!/usr/bin/env bash
# Codespaces / dev containers, once when the container is created (the slow part, prebuilt by
# Codespaces prebuilds): the OS packages and the venv (make setup, with the image's passwordless sudo),
# and the docker backend's images, so LABS_BACKEND=docker starts in seconds later.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
if docker info >/dev/null 2>&1; then
  docker compose -f docker/compose.yaml pull --quiet rabbitmq redis kafka chaos || true
  docker compose -f docker/compose.yaml build users || true
fi
