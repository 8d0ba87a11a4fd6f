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
# an empty value to take torch from the default index alone (the larger CUDA build). An index that
# does not answer within 15 s is left out, with a message, and torch comes from the default index.
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
if [ -n "$TORCH_INDEX" ] && ! "$VENV/bin/python" - "$TORCH_INDEX" <<'PY'
import os, sys, urllib.parse, urllib.request
index = sys.argv[1]
url = index.rstrip("/") + "/torch/"
try:
    if urllib.parse.urlparse(url).scheme == "file":
        if not os.path.isdir(urllib.request.url2pathname(urllib.parse.urlparse(url).path)):
            raise OSError("no such folder")
    else:
        urllib.request.urlopen(url, timeout=15).close()
except Exception as e:
    print(f"setup.sh: the torch index {index} cannot be reached ({e})", file=sys.stderr)
    sys.exit(1)
PY
then
  echo "setup.sh: installing torch from the default index instead (the CUDA build: larger and slower to" \
    "install). Set TORCH_INDEX to a reachable CPU wheel index, or TORCH_INDEX= to skip this check." >&2
  TORCH_INDEX=""
fi
"$VENV/bin/python" -m pip install --quiet ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX" --timeout 30 --retries 2} \
  -r "$SOURCE/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps "$SOURCE"/@WHEEL@
# Student code runs as an unprivileged user, which must be able to run this Python.
chmod -R a+rX "$VENV"
"$VENV/bin/grader" --help >/dev/null
echo "setup.sh: the grader is installed in $VENV"
