#!/usr/bin/env bash
# Static security checks of terraform/ with checkov, offline.
#
#   scripts/checkov.sh             install checkov if needed, then scan terraform/
#   scripts/checkov.sh --install   only make sure the pinned checkov is installed
#   scripts/checkov.sh ARGS...     scan with extra checkov arguments, e.g. --check CKV_GCP_29
#
# checkov lives in its own virtualenv (.venv-checkov): its dependency tree is large and
# pins versions that would fight the function's requirements in .venv.
#
# Exit status: 0 clean, 1 failed checks (checkov's own status), 3 checkov could not be installed.
set -euo pipefail

CHECKOV_VERSION="3.3.30"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.installed-checkov-$CHECKOV_VERSION"

install() {
    if [[ -f "$MARKER" && -x "$VENV/bin/checkov" ]]; then
        return 0
    fi
    echo "checkov.sh: installing checkov==$CHECKOV_VERSION into $VENV (about a minute)" >&2
    if ! { [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"; } \
        || ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "checkov==$CHECKOV_VERSION"; then
        echo "checkov.sh: could not install checkov==$CHECKOV_VERSION into $VENV." >&2
        echo "  It needs $PYTHON with the venv module (Debian: apt-get install python3-venv)" >&2
        echo "  and access to PyPI. Retry with: rm -rf '$VENV' && scripts/checkov.sh --install" >&2
        exit 3
    fi
    rm -f "$VENV"/.installed-checkov-*
    touch "$MARKER"
}

install
if [[ "${1:-}" == "--install" ]]; then
    exit 0
fi

cd "$ROOT"
# --skip-download: no calls to Prisma Cloud (no API key, works offline).
# --download-external-modules false: the only modules are local (terraform/modules/).
exec "$VENV/bin/checkov" \
    --directory terraform \
    --framework terraform \
    --quiet \
    --compact \
    --skip-download \
    --download-external-modules false \
    "$@"
