#!/usr/bin/env bash
# Run every vmgui benchmark under Xvfb and print their tables (see tests/benchmarks/README.md).
#
# Needs root on Debian 12 with libvirtd running (qemu:///system). Installs missing tools with
# apt-get (xvfb, qemu-utils; virt-manager if installable), builds the tiny guest image, starts
# Xvfb, runs bench_startup, bench_events and bench_listing, then stops Xvfb and removes the
# image directory (VMGUI_BENCH_KEEP_IMAGE=1 keeps it).
#
# Environment: PYTHON (default .venv/bin/python), VMGUI_BENCH_DISPLAY (default: a free display
# number chosen by Xvfb -displayfd, so concurrent runs never share a server),
# VMGUI_BENCH_IMAGES (default /var/lib/libvirt/images/vmgui-bench), VMGUI_BENCH_LOG (a copy of
# the output, default /tmp/vmgui-bench-<date>.log). Extra arguments go to bench_startup.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export VMGUI_BENCH_IMAGES="${VMGUI_BENCH_IMAGES:-/var/lib/libvirt/images/vmgui-bench}"
LOG="${VMGUI_BENCH_LOG:-/tmp/vmgui-bench-$(date +%Y%m%d-%H%M%S).log}"

log() { echo "run_all: $*" >&2; }

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $apt_updated -eq 0 ]]; then
        apt-get update -qq
        apt_updated=1
    fi
    log "installing $2"
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need Xvfb xvfb
need qemu-img qemu-utils
need remote-viewer virt-viewer  # bench_console compares with it
if ! need virt-manager virt-manager; then
    log "virt-manager is not installable here; bench_startup measures vmgui alone"
fi

bash tests/integration/tinyguest/build.sh "$VMGUI_BENCH_IMAGES" >&2

XVFB_PID=""
cleanup() {
    if [[ -n "$XVFB_PID" ]]; then
        kill "$XVFB_PID" 2>/dev/null || true
        wait "$XVFB_PID" 2>/dev/null || true
    fi
    if [[ "${VMGUI_BENCH_KEEP_IMAGE:-0}" != 1 ]]; then
        rm -rf -- "$VMGUI_BENCH_IMAGES"
    fi
}
trap cleanup EXIT

DISPLAY_FILE="$(mktemp)"
if [[ -n "${VMGUI_BENCH_DISPLAY:-}" ]]; then
    Xvfb "$VMGUI_BENCH_DISPLAY" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    echo "${VMGUI_BENCH_DISPLAY#:}" >"$DISPLAY_FILE"
else
    Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$DISPLAY_FILE" >/dev/null 2>&1 &
fi
XVFB_PID=$!
for _ in $(seq 100); do
    [[ -s "$DISPLAY_FILE" ]] && break
    sleep 0.1
done
export DISPLAY=":$(head -n1 "$DISPLAY_FILE")"
rm -f -- "$DISPLAY_FILE"
for _ in $(seq 50); do
    "$PYTHON" -c "import sys; from tests.benchmarks.benchlib import display_reachable as r; \
sys.exit(0 if r('$DISPLAY') else 1)" && break
    sleep 0.1
done
unset QT_QPA_PLATFORM

log "output also goes to $LOG"
run() {  # one benchmark; a failure is reported and the others still run
    local status=0
    "$PYTHON" -m "tests.benchmarks.$1" "${@:2}" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "run_all: $1 exited with status $status"
        failed=1
    fi
}
{
    failed=0
    echo "# vmgui benchmarks, $(date -Is), $(nproc) cores, $(uname -r), DISPLAY=$DISPLAY (Xvfb)"
    run bench_startup "$@"
    run bench_events
    run bench_listing
    exit "$failed"
} 2>&1 | tee "$LOG"
