#!/usr/bin/env bash
# Check the Debian package for real: build it, install it with apt, run it, remove it.
#
#   bash packaging/deb/check.sh              # build, then check the new .deb
#   bash packaging/deb/check.sh --no-build   # check dist/vmgui_<version>_<arch>.deb as it is
#
# On Debian 12 as root (or with sudo). Installs with `apt-get install -y ./dist/vmgui_*.deb`
# (a vmgui package already installed is purged first), runs `vmgui --version`,
# `vmgui-cli --version` and `vmgui-cli list --connect test:///default`, starts the installed
# app as an unprivileged user (nobody) on Xvfb against libvirt's test driver (read-only) with
# private XDG directories, waits for its window, takes a screenshot, and checks the window and
# the screenshot. Then `apt-get remove --purge -y vmgui` and checks that every file went.
# Prints the package size, the install time and the time to the first window.
# Leaves dist/check/: screenshot.png (the screen), window.png (vmgui's window), app.log,
# report.txt. Exit status 0 only when every check passed. VMGUI_CHECK_RUN_SECONDS (10) is how
# long the app runs before it is stopped; VMGUI_LINTIAN=1 adds lintian to the build;
# VMGUI_CHECK_KEEP_INSTALLED=1 keeps the package installed when a step stops the check early.
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${VMGUI_DIST:-$ROOT/dist}"
CHECK_DIR="$OUT/check"
URI="test:///default"
CHECK_PACKAGES=(xvfb xauth imagemagick xdotool x11-utils)
APT=(apt-get -q -o DPkg::Lock::Timeout=300)

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { printf '\033[1m==> [%3ds] %s\033[0m\n' "$SECONDS" "$*"; }
FAILURES=0
pass() { printf '  ok    %s\n' "$*" | tee -a "$CHECK_DIR/report.txt"; }
fail() {
  printf '  FAIL  %s\n' "$*" | tee -a "$CHECK_DIR/report.txt"
  FAILURES=$((FAILURES + 1))
}
note() { printf '  %s\n' "$*" | tee -a "$CHECK_DIR/report.txt"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

TMP="$(mktemp -d /tmp/vmgui-check.XXXXXX)"
XVFB_PID=""
APP_PID=""
INSTALLED_HERE=0
cleanup() {
  local status=$?
  local pid
  for pid in "$APP_PID" "$XVFB_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  if [ "$INSTALLED_HERE" = 1 ] && [ "${VMGUI_CHECK_KEEP_INSTALLED:-0}" != 1 ]; then
    echo "check.sh: stopped early: purging the vmgui package it installed" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" remove --purge -y vmgui \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT

install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing what the check needs: ${missing[*]}"
    "${SUDO[@]}" "${APT[@]}" update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      "${APT[@]}" install -y --no-install-recommends "${missing[@]}"
  fi
}

# The first free X display number from 90 on.
free_display() {
  local n
  for n in $(seq 90 130); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then
      echo "$n"
      return 0
    fi
  done
  return 1
}

# The app runs as an unprivileged user (nobody) when the check runs as root. setpriv and env
# exec, so the PID of a command started in the background is the app's own.
AS_USER=()
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  AS_USER=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi

# Run by the system's python3 -IS, like the launchers.
SMOKE='
import importlib, pkgutil, sys
sys.path.append("/usr/lib/vmgui")
import vmgui
names = [m.name for m in pkgutil.walk_packages(vmgui.__path__, "vmgui.")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication
app = QApplication([])
plot = pg.PlotWidget()
x = np.linspace(0.0, 10.0, 200)
plot.plot(x, np.sin(x))
plot.resize(320, 200)
plot.show()
app.processEvents()
image = plot.grab().toImage()
assert not image.isNull() and image.width() == 320
print(f"smoke ok: {len(names)} vmgui modules import; pyqtgraph {pg.__version__} draws with numpy {np.__version__}")
'

main() {
  local build=1
  case "${1:-}" in
    --no-build) build=0 ;;
    "") ;;
    *)
      echo "usage: bash packaging/deb/check.sh [--no-build]" >&2
      exit 2
      ;;
  esac
  rm -rf "$CHECK_DIR"
  mkdir -p "$CHECK_DIR"
  : >"$CHECK_DIR/report.txt"

  install_missing "${CHECK_PACKAGES[@]}"
  if [ "$build" = 1 ]; then
    say "Building the package"
    # lintian adds a minute or two; build.sh alone runs it. VMGUI_LINTIAN=1 runs it here too.
    VMGUI_LINTIAN="${VMGUI_LINTIAN:-0}" bash "$HERE/build.sh"
  fi
  local version arch deb pep440
  version="$(/usr/bin/python3 "$HERE/debmeta.py" version "$ROOT")"
  pep440="$(/usr/bin/python3 -c 'import ast, sys
for n in ast.parse(open(sys.argv[1]).read()).body:
    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__version__":
        print(n.value.value)' "$ROOT/vmgui/__init__.py")"
  arch="$(dpkg --print-architecture)"
  deb="$OUT/vmgui_${version}_${arch}.deb"
  [ -f "$deb" ] || {
    echo "check.sh: $deb not found (run without --no-build)" >&2
    exit 1
  }

  say "Installing $deb with apt"
  if dpkg-query -W -f='${Status}' vmgui 2>/dev/null | grep -q "install ok installed"; then
    note "vmgui $(dpkg-query -W -f='${Version}' vmgui) was installed: purging it first"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" remove --purge -y vmgui >/dev/null
  fi
  "${SUDO[@]}" "${APT[@]}" update >/dev/null
  # apt wants a path with a slash to treat the argument as a file.
  local t0 t1 install_s
  t0="$(now)"
  INSTALLED_HERE=1
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y "$deb" \
    >"$CHECK_DIR/apt-install.log" 2>&1 || {
    cat "$CHECK_DIR/apt-install.log" >&2
    echo "check.sh: apt-get install failed" >&2
    exit 1
  }
  t1="$(now)"
  install_s="$(elapsed "$t0" "$t1")"
  note "package: $(basename "$deb"), $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)"
  note "installed size: $(dpkg-deb -f "$deb" Installed-Size) KiB"
  note "install time (apt-get install -y of the .deb): ${install_s} s"
  local others
  others="$(grep -E '^Setting up ' "$CHECK_DIR/apt-install.log" | grep -v 'Setting up vmgui ' \
    | sed -E 's/^Setting up ([^ ]+).*/\1/' | tr '\n' ' ' || true)"
  note "other packages apt installed with it: ${others:-none}"

  say "Installed files"
  local path
  for path in /usr/bin/vmgui /usr/bin/vmgui-cli /usr/lib/vmgui/vmgui/app.py \
    /usr/share/applications/vmgui.desktop /usr/share/metainfo/io.github.vmgui.metainfo.xml \
    /usr/share/icons/hicolor/scalable/apps/vmgui.svg /usr/share/doc/vmgui/copyright \
    /usr/share/man/man1/vmgui.1.gz; do
    if [ -e "$path" ]; then pass "$path"; else fail "$path missing"; fi
  done
  local size
  for size in 16 22 24 32 48 64 128 256 512; do
    path="/usr/share/icons/hicolor/${size}x${size}/apps/vmgui.png"
    [ -f "$path" ] || fail "$path missing"
  done
  pass "hicolor icons 16..512 and scalable"
  if [ -n "$(find /usr/lib/vmgui/vmgui -name '*.cpython-*.pyc' -print -quit)" ]; then
    pass "postinst byte-compiled the private modules"
  else
    fail "no byte code under /usr/lib/vmgui (postinst)"
  fi

  say "Every bundled shared object resolves (ldd)"
  local elf unresolved=() count=0
  while IFS= read -r elf; do
    count=$((count + 1))
    if LC_ALL=C ldd "$elf" 2>&1 | grep -q 'not found'; then
      unresolved+=("${elf#/usr/lib/vmgui/}: $(LC_ALL=C ldd "$elf" 2>&1 | grep 'not found' \
        | awk '{print $1}' | sort -u | tr '\n' ' ')")
    fi
  done < <(/usr/bin/python3 "$HERE/debmeta.py" elf-files /usr/lib/vmgui)
  if [ "$count" -eq 0 ]; then
    fail "no shared objects found under /usr/lib/vmgui"
  elif [ "${#unresolved[@]}" -eq 0 ]; then
    pass "all $count shared objects under /usr/lib/vmgui resolve (no 'not found' in ldd)"
  else
    fail "shared objects with missing libraries (not in Depends): ${unresolved[*]}"
  fi

  say "Running the installed commands"
  local clean_env=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$TMP/home")
  mkdir -p "$TMP/home"
  chmod 0777 "$TMP" "$TMP/home"
  local out
  out="$("${clean_env[@]}" vmgui --version 2>&1)" || true
  if [ "$out" = "vmgui $pep440" ]; then pass "vmgui --version: $out"; else fail "vmgui --version: $out"; fi
  out="$("${clean_env[@]}" vmgui-cli --version 2>&1)" || true
  if [ "$out" = "vmgui-cli $pep440" ]; then
    pass "vmgui-cli --version: $out"
  else
    fail "vmgui-cli --version: $out"
  fi
  out="$("${AS_USER[@]}" "${clean_env[@]}" vmgui-cli list --connect "$URI" 2>&1)" || true
  if grep -qE '^test +running' <<<"$out"; then
    pass "vmgui-cli list --connect $URI lists the guest 'test' (libvirt-python works)"
  else
    fail "vmgui-cli list --connect $URI: $out"
  fi

  # Every vmgui module imports from the bundle, and pyqtgraph draws (the window does not show
  # charts until a guest is selected): what the trimming kept is enough.
  out="$("${AS_USER[@]}" "${clean_env[@]}" QT_QPA_PLATFORM=offscreen \
    XDG_RUNTIME_DIR="$TMP/home" /usr/bin/python3 -IS -c "$SMOKE" 2>&1)" || true
  if grep -q '^smoke ok' <<<"$out"; then
    pass "bundle: ${out#smoke ok: }"
  else
    fail "bundle smoke test: $out"
  fi

  say "Launching the installed app on Xvfb"
  local display
  display="$(free_display)"
  Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp -ac >"$CHECK_DIR/xvfb.log" 2>&1 &
  XVFB_PID=$!

  for _ in $(seq 1 100); do
    [ -S "/tmp/.X11-unix/X$display" ] && break
    sleep 0.1
  done
  [ -S "/tmp/.X11-unix/X$display" ] || {
    echo "check.sh: Xvfb :$display did not start" >&2
    exit 1
  }
  local xdg="$TMP/xdg"
  mkdir -p "$xdg"/{config,cache,data,state,runtime}
  chmod 0700 "$xdg/runtime"
  if [ "${#AS_USER[@]}" -gt 0 ]; then chown -R nobody "$xdg"; fi
  local app_env=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$TMP/home" DISPLAY=":$display"
    XDG_CONFIG_HOME="$xdg/config" XDG_CACHE_HOME="$xdg/cache" XDG_DATA_HOME="$xdg/data"
    XDG_STATE_HOME="$xdg/state" XDG_RUNTIME_DIR="$xdg/runtime")
  t0="$(now)"
  "${AS_USER[@]}" "${app_env[@]}" vmgui --connect "$URI" >"$CHECK_DIR/app.log" 2>&1 &
  APP_PID=$!
  local wid=""
  for _ in $(seq 1 300); do
    wid="$(DISPLAY=":$display" xdotool search --onlyvisible --class vmgui 2>/dev/null | head -n1)" \
      || true
    [ -n "$wid" ] && break
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.1
  done
  t1="$(now)"
  if [ -n "$wid" ]; then
    pass "window mapped $(elapsed "$t0" "$t1") s after launch (process start to visible window)"
  else
    fail "no vmgui window within 30 s"
  fi
  # Let the host connect, the guests list and the window paint; the app keeps running (stats
  # polling, signals) for a while to catch crashes that only come with time.
  sleep "${VMGUI_CHECK_RUN_SECONDS:-10}"
  if kill -0 "$APP_PID" 2>/dev/null; then
    pass "the app is still running"
  else
    fail "the app exited: see $CHECK_DIR/app.log"
  fi
  import -display ":$display" -window root "$CHECK_DIR/screenshot.png"
  if [ -n "$wid" ]; then
    import -display ":$display" -window "$wid" "$CHECK_DIR/window.png" || true
    local title wmclass icon
    title="$(DISPLAY=":$display" xdotool getwindowname "$wid" 2>/dev/null || true)"
    wmclass="$(DISPLAY=":$display" xprop -id "$wid" WM_CLASS 2>/dev/null | cut -d= -f2- || true)"
    note "window title: $title; WM_CLASS:$wmclass"
    if grep -q '"vmgui"' <<<"$wmclass"; then
      pass "WM_CLASS names vmgui (matches StartupWMClass in vmgui.desktop)"
    else
      fail "WM_CLASS is$wmclass, not vmgui"
    fi
    # xprop's output is large; head closes the pipe early, so xprop may die of SIGPIPE (141):
    # that is expected, not a failure (pipefail would otherwise stop the script here).
    icon="$(DISPLAY=":$display" xprop -id "$wid" -notype _NET_WM_ICON 2>/dev/null \
      | head -c 200)" || true
    if grep -q "not found" <<<"$icon" || [ -z "$icon" ]; then
      fail "window icon: not set (_NET_WM_ICON absent)"
    else
      pass "window icon set (_NET_WM_ICON present)"
    fi
  fi
  local colours spread
  colours="$(identify -format '%k' "$CHECK_DIR/screenshot.png")"
  spread="$(convert "$CHECK_DIR/screenshot.png" -colorspace Gray -format '%[fx:standard_deviation]' info:)"
  if [ "$colours" -gt 16 ] && awk -v s="$spread" 'BEGIN { exit !(s > 0.02) }'; then
    pass "screenshot is not blank ($colours colours, grey deviation $spread)"
  else
    fail "screenshot looks blank ($colours colours, grey deviation $spread)"
  fi
  if grep -qE 'Traceback|Could not load the Qt platform plugin|CRITICAL' "$CHECK_DIR/app.log"; then
    fail "the app log has errors: see $CHECK_DIR/app.log"
  else
    pass "the app log has no traceback or Qt plugin error"
  fi
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
    kill "$APP_PID"
    for _ in $(seq 1 50); do
      kill -0 "$APP_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$APP_PID" 2>/dev/null; then
      fail "the app did not stop within 5 s of SIGTERM"
      kill -9 "$APP_PID" 2>/dev/null || true
    else
      pass "the app stopped on SIGTERM"
    fi
  fi
  APP_PID=""
  kill "$XVFB_PID" 2>/dev/null || true
  wait "$XVFB_PID" 2>/dev/null || true
  XVFB_PID=""

  say "Removing the package"
  t0="$(now)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" remove --purge -y vmgui \
    >"$CHECK_DIR/apt-remove.log" 2>&1
  t1="$(now)"
  INSTALLED_HERE=0
  note "remove --purge time: $(elapsed "$t0" "$t1") s"
  local left=()
  for path in /usr/lib/vmgui /usr/bin/vmgui /usr/bin/vmgui-cli /usr/share/doc/vmgui \
    /usr/share/applications/vmgui.desktop /usr/share/metainfo/io.github.vmgui.metainfo.xml \
    /usr/share/icons/hicolor/scalable/apps/vmgui.svg /usr/share/man/man1/vmgui.1.gz \
    /usr/share/lintian/overrides/vmgui /usr/share/icons/hicolor/*/apps/vmgui.png; do
    [ -e "$path" ] && left+=("$path")
  done
  if [ "${#left[@]}" -eq 0 ]; then
    pass "every installed file is gone (/usr/lib/vmgui, /usr/bin/vmgui, desktop files, icons)"
  else
    fail "left behind: ${left[*]}"
  fi
  if dpkg-query -W -f='${Status}' vmgui 2>/dev/null | grep -q "installed"; then
    fail "dpkg still knows vmgui: $(dpkg-query -W -f='${Status}' vmgui)"
  else
    pass "dpkg no longer knows vmgui"
  fi

  say "Result"
  note "screenshot: $CHECK_DIR/screenshot.png (window: $CHECK_DIR/window.png)"
  if [ "$FAILURES" -eq 0 ]; then
    echo "check.sh: all checks passed" | tee -a "$CHECK_DIR/report.txt"
  else
    echo "check.sh: $FAILURES check(s) failed" | tee -a "$CHECK_DIR/report.txt"
    exit 1
  fi
}

main "$@"
