# Sourced by scripts/test-binder.sh and scripts/test-nonroot.sh (as root): an unprivileged learner, as
# on Binder, with a clean copy of the course as git sees it and a venv of its own.
#
#   learner_env WORKDIR      sets LEARNER, LEARNER_REPO, LEARNER_PYTHON; defines as_learner CMD...
#
# The venv is the repo's .venv copied (seconds) when the learner can run its interpreter, else made
# with pip (a minute or two); kept between runs until pyproject.toml changes.
learner_env() {
  local work=$1
  LEARNER=labs-learner
  id -u "$LEARNER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$LEARNER"
  mkdir -p "$work"
  rm -rf "$work/repo" && mkdir -p "$work/repo"
  git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$work/repo"
  chown -R "$LEARNER" "$work"
  LEARNER_REPO=$work/repo
  LEARNER_PYTHON=$work/venv/bin/python
  as_learner() { runuser -u "$LEARNER" -- env -i HOME="/home/$LEARNER" PATH=/usr/local/bin:/usr/bin:/bin \
                   LANG=C.UTF-8 LABS_PROGRESS="${LABS_PROGRESS:-1}" "$@"; }
  if [ -f "$work/venv/.stamp" ] && [ ! pyproject.toml -nt "$work/venv/.stamp" ]; then
    as_learner "$LEARNER_PYTHON" -m pip install -q --no-deps -e "$LEARNER_REPO" >/dev/null 2>&1
    learner_post_build "$work"
    return
  fi
  local started=$SECONDS
  rm -rf "$work/venv"
  if [ -x .venv/bin/python ] && cp -a .venv "$work/venv" 2>/dev/null && chown -R "$LEARNER" "$work/venv" \
     && as_learner "$LEARNER_PYTHON" -c "import jupyterlab" 2>/dev/null; then
    as_learner "$LEARNER_PYTHON" -m pip install -q --no-deps -e "$LEARNER_REPO" >/dev/null 2>&1
    echo "learner-env: the repo's venv copied for $LEARNER in $((SECONDS - started)) s"
  else
    rm -rf "$work/venv"
    as_learner bash -c "/usr/bin/python3 -m venv $work/venv && $LEARNER_PYTHON -m pip install -q --upgrade pip \
      && cd $LEARNER_REPO && $LEARNER_PYTHON -m pip install -q -e '.[test]'" >"$work/pip.log" 2>&1 \
      || { tail -30 "$work/pip.log"; return 1; }
    echo "learner-env: a venv for $LEARNER made with pip in $((SECONDS - started)) s ($(du -sm "$work/venv" | cut -f1) MiB)"
  fi
  touch "$work/venv/.stamp"
  learner_post_build "$work"
}

# As Binder does after installing environment.yml: apt.txt's packages (root installs them, as Binder's
# build does) and postBuild, run by the learner with the environment's python first on PATH (what the
# lessons add there, e.g. npm packages into folders of the repo, must install without root).
learner_post_build() {
  local work=$1 missing=()
  for pkg in $(grep -v '^\s*#' apt.txt 2>/dev/null); do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "learner-env: apt.txt packages missing here: ${missing[*]}; installing them (as Binder's build would)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [ -f "$LEARNER_REPO/postBuild" ] || return 0
  as_learner env PATH="$work/venv/bin:/usr/local/bin:/usr/bin:/bin" bash -c "cd $LEARNER_REPO && bash -euo pipefail postBuild" \
    >"$work/postBuild.log" 2>&1 || { tail -20 "$work/postBuild.log"; echo "learner-env: postBuild failed as $LEARNER"; return 1; }
}
