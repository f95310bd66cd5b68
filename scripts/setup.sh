#!/usr/bin/env bash
# vmgui set-up on Debian 12 / Ubuntu: installs what is missing, then runs the app or the tests.
#
#   bash scripts/setup.sh run     # set up and launch vmgui (local hypervisor, else a demo host)
#   bash scripts/setup.sh test    # set up and run every check CI runs (what .ci/run calls)
#
# Works as root or as a user with sudo. Idempotent: a second run installs nothing new.
set -euo pipefail

MODE="${1:-run}"
shift || true
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VMGUI_VENV:-$ROOT/.venv}"
TINY_DIR="${VMGUI_TINY_DIR:-/var/tmp/vmgui-tiny-guest}"

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# System packages -------------------------------------------------------------------------
APP_PACKAGES=(
  python3 python3-venv python3-dev gcc pkg-config libvirt-dev libvirt-clients
  libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base osinfo-db
  # Qt's xcb platform plugin needs these on a real display
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  # ... and its Wayland plugin (Debian 12's default GNOME session is Wayland)
  libwayland-client0 libwayland-cursor0 libwayland-egl1
)
TEST_PACKAGES=(
  xvfb xauth imagemagick
  # the tiny real guest (tests/integration/tinyguest/build.sh)
  busybox-static syslinux syslinux-common mtools dosfstools cpio xz-utils
  # mkpasswd: an independent SHA-512 crypt to check vmgui's cloud-init password hashing
  whois
  # validators for the desktop integration and the packaging scripts
  desktop-file-utils appstream shellcheck
  # real services the tests start themselves (tests/services): an sshd on loopback, a Secret
  # Service in a private D-Bus session
  openssh-server openssh-client gnome-keyring libsecret-tools dbus-daemon dbus-bin
  # a TLS libvirt host (openssl makes its certificates) and SASL SCRAM-SHA-256 over it
  openssl sasl2-bin libsasl2-modules
  # UEFI firmware: the "no internal snapshot of a running UEFI guest" refusal is tested for real
  ovmf
)

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing Debian packages: ${missing[*]}"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# libvirt daemons -------------------------------------------------------------------------
start_libvirtd() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    "${SUDO[@]}" systemctl start virtlogd.socket libvirtd.socket libvirtd.service 2>/dev/null \
      || "${SUDO[@]}" systemctl start libvirtd || true
  fi
  if ! pgrep -x virtlogd >/dev/null; then "${SUDO[@]}" virtlogd -d; fi
  # Whether *this* machine's daemon answers (pgrep would also see a test's second host, which
  # runs its own libvirtd in another mount namespace).
  if ! "${SUDO[@]}" timeout 10 virsh -q -c qemu:///system version >/dev/null 2>&1; then
    "${SUDO[@]}" libvirtd -d
  fi
  for _ in $(seq 1 50); do
    [ -S /run/libvirt/libvirt-sock ] && return 0
    sleep 0.2
  done
  echo "libvirtd did not create /run/libvirt/libvirt-sock" >&2
  return 1
}

# Python environment ----------------------------------------------------------------------
setup_venv() {
  local extra="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtual environment in $VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  say "Installing vmgui$extra into $VENV"
  "$VENV/bin/python" -m pip install -q -e "$ROOT$extra"
}

case "$MODE" in
  run)
    install_packages "${APP_PACKAGES[@]}"
    start_libvirtd || say "libvirtd is not running: vmgui will offer its demo host"
    setup_venv ""
    say "Starting vmgui"
    exec "$VENV/bin/vmgui" "$@"
    ;;
  test)
    install_packages "${APP_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    # /dev/kvm at 0600 makes libvirt re-probe qemu on every define (44 s measured); guests in
    # the tests are emulated (TCG) anyway.
    if [ -e /dev/kvm ]; then "${SUDO[@]}" chmod 0666 /dev/kvm; fi
    start_libvirtd
    setup_venv "[dev]"
    say "Building the tiny test guest in $TINY_DIR"
    "${SUDO[@]}" bash "$ROOT/tests/integration/tinyguest/build.sh" "$TINY_DIR"
    cd "$ROOT"
    say "ruff"
    "$VENV/bin/ruff" check vmgui tests
    "$VENV/bin/ruff" format --check vmgui tests
    say "mypy --strict"
    "$VENV/bin/mypy"
    say "import contracts"
    "$VENV/bin/lint-imports"
    if [ "${VMGUI_DEB_CHECK:-0}" = 1 ]; then
      say "Debian package: build, install, run on Xvfb, purge (packaging/deb/check.sh)"
      bash "$ROOT/packaging/deb/check.sh"
    fi
    say "pytest"
    export VMGUI_TINY_IMAGE="$TINY_DIR/tiny.qcow2"
    export QT_QPA_PLATFORM=offscreen
    set +e
    "${SUDO[@]}" env "PATH=$PATH" VMGUI_TINY_IMAGE="$VMGUI_TINY_IMAGE" \
      QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
      echo "pytest collected no tests: failing" >&2
      exit 1
    fi
    exit "$status"
    ;;
  *)
    echo "usage: bash scripts/setup.sh run|test [args]" >&2
    exit 2
    ;;
esac
