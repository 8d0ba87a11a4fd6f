#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# Written by `grader gradescope build` for @IMAGE@ (Python @PYTHON_VERSION@).
# Everything goes into a virtual environment, so the system Python stays untouched (and
# Ubuntu 24.04's "externally managed environment" rule does not apply).
set -euo pipefail
ROOT="${DIFFGRADE_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
PYTHON="${DIFFGRADE_PYTHON:-python3}"
# CPU-only torch: the containers have no GPU. Set TORCH_INDEX to another wheel index, or to
# an empty value to take torch from the default index alone.
TORCH_INDEX="${TORCH_INDEX-@TORCH_INDEX@}"
# Extra options for `python -m venv` (the project's tests use --system-site-packages).
VENV_OPTIONS="${DIFFGRADE_VENV_OPTIONS:-}"

# Ubuntu's python3 needs python3-venv for `python3 -m venv`: install it only when missing.
if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
"$PYTHON" -c 'import sys; have = "%d.%d" % sys.version_info[:2]; have == "@PYTHON_VERSION@" or print(
  "setup.sh: warning: this autograder was built for @IMAGE@ (Python @PYTHON_VERSION@) but this image has "
  "Python " + have + "; rebuild it with grader gradescope build --image for this image", file=sys.stderr)'

# shellcheck disable=SC2086  # VENV_OPTIONS is a list of options
"$PYTHON" -m venv $VENV_OPTIONS "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps "$SOURCE"/@WHEEL@
# Student code runs as an unprivileged user, which must be able to run this Python.
chmod -R a+rX "$VENV"
"$VENV/bin/grader" --help >/dev/null
echo "setup.sh: the grader is installed in $VENV"
