#!/usr/bin/env bash
# Build the vmgui Debian package from this checkout.
#
#   bash packaging/deb/build.sh            # -> dist/vmgui_<version>_<arch>.deb
#
# The package carries vmgui and its Python dependencies as private modules in /usr/lib/vmgui
# (pip install --target, run by a throw-away venv of Debian's own /usr/bin/python3.11, never
# pyenv's). The launchers /usr/bin/vmgui and /usr/bin/vmgui-cli run Debian's /usr/bin/python3
# with -I -S: no PYTHON* variables, no user or system site-packages, then /usr/lib/vmgui on
# sys.path, so the distribution's Python packages are never mixed in. libvirt-python is compiled
# here against the system's libvirt. The build fails if any file names the build directory.
# Depends is what dpkg-shlibdeps finds in the bundled libraries plus the fixed list below.
#
# Needs on the build machine: python3-venv python3-dev gcc pkg-config libvirt-dev dpkg-dev, and the
# system libraries the bundled Qt links against that dpkg-shlibdeps must find to compute Depends
# (the Wayland client libraries of Qt's Wayland platform plugin) — all installed when missing, as
# root or with sudo — and PyPI. Environment:
#   VMGUI_DIST=DIR              where the .deb goes (default: dist/ in the checkout)
#   VMGUI_MAINTAINER="N <A>"    the Maintainer field
#   VMGUI_DEB_CONSTRAINTS=FILE  pip constraints (default packaging/deb/constraints.txt; empty: none)
#   VMGUI_LINTIAN=0             skip lintian (run by default when it is installed)
#   VMGUI_KEEP_WORK=1           keep the temporary build directory
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PREFIX=/usr/lib/vmgui
PY=/usr/bin/python3.11
OUT="${VMGUI_DIST:-$ROOT/dist}"
MAINTAINER="${VMGUI_MAINTAINER:-vmgui developers <packaging@vmgui.invalid>}"
CONSTRAINTS="${VMGUI_DEB_CONSTRAINTS-$HERE/constraints.txt}"
BUILD_DEPS=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev dpkg-dev
  # Qt's Wayland platform plugin (libqwayland.so, libQt6WaylandClient.so.6, wayland-* plugins)
  # needs these; without them dpkg-shlibdeps cannot resolve the plugin and the build stops.
  # Debian 12's default GNOME session is Wayland: the plugin stays, so does the dependency.
  libwayland-client0 libwayland-cursor0 libwayland-egl1)
# Always required at run time, whatever dpkg-shlibdeps finds: Python 3.11 (the bundled extension
# modules are built for it: the same pair dh_python3 writes), the libvirt client library, and
# the libraries Qt's xcb and Wayland plugins need (DESIGN.md).
STATIC_DEPENDS=(
  'python3 (>= 3.11~)' 'python3 (<< 3.12~)' libvirt0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  libwayland-client0 libwayland-cursor0 libwayland-egl1
)

say() { printf '\033[1m==> [%3ds] %s\033[0m\n' "$SECONDS" "$*"; }
die() {
  echo "build.sh: $*" >&2
  exit 1
}

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

install_build_deps() {
  local missing=() pkg
  for pkg in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing build dependencies: ${missing[*]}"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# What the app never loads: Qt Quick/QML, Designer, Help, SQL, embedded (eglfs, linuxfb, vnc)
# platforms, the Wayland compositor, developer tools, headers, type stubs, examples and tests.
# Paths are relative to /usr/lib/vmgui. check.sh runs the installed app to prove nothing needed
# went. (Third-party binaries are not stripped: strip breaks numpy's patchelf'ed OpenBLAS.)
PRUNE=(
  'PySide6/Qt/qml' 'PySide6/Qt/metatypes' 'PySide6/Qt/libexec'
  'PySide6/include' 'PySide6/typesystems' 'PySide6/glue' 'PySide6/doc' 'PySide6/lib'
  'PySide6/scripts' 'PySide6/*.pyi' 'PySide6/__feature__.pyi'
  'PySide6/assistant' 'PySide6/designer' 'PySide6/linguist' 'PySide6/lrelease'
  'PySide6/lupdate' 'PySide6/qmlformat' 'PySide6/qmllint' 'PySide6/qmlls' 'PySide6/svgtoqml'
  'PySide6/libpyside6qml.abi3.so.*'
  'PySide6/Qt'{Designer,Help,LabsStyleKit,Qml,QmlFeatures,Quick,QuickControls2,QuickTest}'.abi3.so'
  'PySide6/Qt'{QuickWidgets,Sql,UiTools}'.abi3.so'
  'PySide6/Qt/lib/libQt6'{Designer,DesignerComponents,Help,Labs,Lottie,Qml,Quick,Sql,UiTools}'*'
  'PySide6/Qt/lib/libQt6'{WaylandCompositor,WaylandEglCompositorHwIntegration}'*'
  'PySide6/Qt/lib/libQt6'{EglFSDeviceIntegration,EglFsKmsSupport}'*'
  'PySide6/Qt/plugins/'{designer,qmltooling,sqldrivers,vectorimageformats,egldeviceintegrations}
  'PySide6/Qt/plugins/wayland-graphics-integration-server'
  'PySide6/Qt/plugins/platforms/lib'{qeglfs,qlinuxfb,qminimalegl,qvkkhrdisplay,qvnc}'.so'
  'PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so'
  'PySide6/Qt/plugins/printsupport' 'PySide6/Qt/plugins/imageformats/libqpdf.so'
  # Optional plugins whose system libraries are not in Depends (GTK 3 for the GTK platform
  # theme): pruned, so that every bundled shared object resolves once the package is installed
  # (check.sh asserts it). Qt then uses its own Fusion look and Qt file dialogs.
  'PySide6/Qt/plugins/platformthemes/libqgtk3.so'
  'numpy/*/tests' 'numpy/tests' 'numpy/_pyinstaller' 'numpy/_core/include' 'numpy/_core/lib'
  'numpy/random/lib' 'numpy/f2py' 'numpy/distutils' 'numpy/testing/print_coercion_tables.py'
  'pyqtgraph/examples' 'bin'
)

prune_bundle() {
  local site="$1" pattern path
  shopt -s nullglob
  for pattern in "${PRUNE[@]}"; do
    # shellcheck disable=SC2206  # the pattern is meant to glob
    local matches=("$site"/$pattern)
    for path in "${matches[@]}"; do rm -rf "$path"; done
  done
  # Qt translations: only Qt's own base catalogues (vmgui loads none of the tools' catalogues).
  for path in "$site"/PySide6/Qt/translations/*.qm; do
    case "$(basename "$path")" in qtbase_*) ;; *) rm -f "$path" ;; esac
  done
  shopt -u nullglob
  # A Qt plugin that needs a Qt library no longer here (a QML-only one, say) goes too.
  local plugin needed
  while IFS= read -r plugin; do
    for needed in $(readelf -d "$plugin" | sed -nE 's/.*NEEDED.*\[(libQt6[^]]*)\].*/\1/p'); do
      if [ ! -e "$site/PySide6/Qt/lib/$needed" ]; then
        echo "  dropping ${plugin#"$site"/} (needs $needed)"
        rm -f "$plugin"
        break
      fi
    done
  done < <(find "$site/PySide6/Qt/plugins" -name '*.so')
  find "$site/PySide6/Qt/plugins" -depth -type d -empty -delete
  find "$site" -depth -type d -name __pycache__ -exec rm -rf {} +
  find "$site" -type f -name '*.py[co]' -delete
}

main() {
  install_build_deps
  [ -x "$PY" ] || die "$PY not found (Debian 12's python3.11)"
  local pyver
  pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [ "$pyver" = 3.11 ] || die "$PY is Python $pyver; the package is made for Debian 12's 3.11"

  local version arch epoch
  version="$("$PY" "$HERE/debmeta.py" version "$ROOT")"
  arch="$(dpkg --print-architecture)"
  epoch="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
  local deb="$OUT/vmgui_${version}_${arch}.deb"
  say "Building vmgui $version for $arch with $("$PY" --version)"

  WORK="$(mktemp -d /tmp/vmgui-deb.XXXXXX)"
  if [ "${VMGUI_KEEP_WORK:-0}" = 1 ]; then
    say "Keeping the work directory $WORK"
  else
    trap 'rm -rf "$WORK"' EXIT
  fi
  # The staging root is laid out as dpkg-shlibdeps expects a package build tree (debian/vmgui
  # with a DEBIAN/ directory), so that it resolves the bundled libraries' $ORIGIN RPATHs.
  local pkgtree="$WORK/pkg" stage="$WORK/pkg/debian/vmgui"
  local site="$stage$PREFIX"
  mkdir -p "$pkgtree/debian"
  mkdir -m 0755 "$stage" "$stage/DEBIAN"
  printf 'Source: vmgui\n\nPackage: vmgui\nArchitecture: any\n' >"$pkgtree/debian/control"

  # Only what the wheel is built from, so nothing is written into the checkout.
  local src="$WORK/src" item
  mkdir "$src"
  for item in pyproject.toml setup.py setup.cfg MANIFEST.in README.md LICENSE COPYING vmgui; do
    [ -e "$ROOT/$item" ] && cp -a "$ROOT/$item" "$src/"
  done
  find "$src" -depth -type d -name __pycache__ -exec rm -rf {} +

  local pip_c=()
  [ -n "$CONSTRAINTS" ] && pip_c=(--constraint "$CONSTRAINTS")

  say "Compiling libvirt-python against libvirt $(pkg-config --modversion libvirt)"
  "$PY" -m venv "$WORK/tools"
  local pip=("$WORK/tools/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install -q --upgrade pip
  "${pip[@]}" wheel -q --no-cache-dir --no-deps --no-binary libvirt-python "${pip_c[@]}" \
    --wheel-dir "$WORK/wheels" libvirt-python
  local libvirt_wheel
  libvirt_wheel="$(basename "$WORK"/wheels/libvirt_python-*.whl)"

  say "Installing vmgui and its dependencies into $PREFIX (staged)"
  mkdir -p "$site"
  "${pip[@]}" install -q --no-compile --prefer-binary --no-warn-script-location \
    --target "$site" --find-links "$WORK/wheels" "${pip_c[@]}" "$src"
  local run=("$PY" -I -S -B -c "import sys; sys.path.append('$site'); exec(sys.argv[1])")
  local got
  got="$("${run[@]}" 'import importlib.metadata as m; print(m.version("libvirt-python"))')"
  case "$libvirt_wheel" in
    "libvirt_python-$got-"*) ;;
    *) die "installed libvirt-python $got is not the one compiled here ($libvirt_wheel)" ;;
  esac

  say "Trimming the bundle"
  prune_bundle "$site"
  rm -f "$site"/*.dist-info/direct_url.json
  # Nothing in here is run directly: the launchers are in /usr/bin.
  find "$site" -type f -exec chmod 0644 {} +
  find "$site" -type d -exec chmod 0755 {} +
  local strip_me
  while IFS= read -r strip_me; do
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$strip_me"
  done < <(find "$site" -maxdepth 1 -name 'libvirtmod*.so')
  if grep -rlF "$WORK" "$stage" >/dev/null; then
    grep -rlF "$WORK" "$stage" | head >&2
    die "files above still name the build directory $WORK"
  fi
  # Sanity: the staged modules import on the system's Python (no byte code left behind).
  "${run[@]}" 'import vmgui.app, vmgui.cli, libvirt, PySide6.QtWidgets, numpy, pyqtgraph'

  say "Desktop integration, documentation, launchers"
  local share="$stage/usr/share" res="$ROOT/resources" png size
  install -D -m 0644 "$res/vmgui.desktop" "$share/applications/vmgui.desktop"
  install -D -m 0644 "$res/io.github.vmgui.metainfo.xml" \
    "$share/metainfo/io.github.vmgui.metainfo.xml"
  install -D -m 0644 "$res/icons/vmgui.svg" "$share/icons/hicolor/scalable/apps/vmgui.svg"
  for png in "$res"/icons/hicolor/*/apps/vmgui.png; do
    size="$(basename "$(dirname "$(dirname "$png")")")"
    install -D -m 0644 "$png" "$share/icons/hicolor/$size/apps/vmgui.png"
  done
  mkdir -p "$share/man/man1" "$share/doc/vmgui" "$share/lintian/overrides" "$stage/usr/bin"
  write_launcher "$stage/usr/bin/vmgui" vmgui.app
  write_launcher "$stage/usr/bin/vmgui-cli" vmgui.cli
  for item in vmgui vmgui-cli; do
    gzip -9n <"$HERE/man/$item.1" >"$share/man/man1/$item.1.gz"
  done
  "$PY" "$HERE/debmeta.py" copyright "$HERE/copyright.in" "$site" "$PREFIX" \
    >"$share/doc/vmgui/copyright"
  "$PY" "$HERE/debmeta.py" bundled "$site" >"$share/doc/vmgui/bundled-python-packages.txt"
  "$PY" "$HERE/debmeta.py" changelog "$version" "$MAINTAINER" "$epoch" \
    | gzip -9n >"$share/doc/vmgui/changelog.gz"
  install -m 0644 "$HERE/lintian-overrides" "$share/lintian/overrides/vmgui"

  say "Computing Depends (dpkg-shlibdeps)"
  local elfs=()
  mapfile -t elfs < <("$PY" "$HERE/debmeta.py" elf-files "$site")
  local shlibs
  # Its warnings are about upstream's binaries (unused links, plugin symbols): kept in a log.
  if ! shlibs="$(cd "$pkgtree" && dpkg-shlibdeps -O --ignore-missing-info "${elfs[@]}" \
    2>"$WORK/shlibdeps.log")"; then
    cat "$WORK/shlibdeps.log" >&2
    die "dpkg-shlibdeps failed: a bundled library needs one that is neither bundled nor installed"
  fi
  local depends
  depends="$("$PY" "$HERE/debmeta.py" depends "$shlibs" "${STATIC_DEPENDS[@]}")"

  say "Writing DEBIAN/"
  find "$stage" -exec touch --no-dereference --date="@$epoch" {} +
  "$PY" "$HERE/debmeta.py" control "$HERE/control.in" \
    "VERSION=$version" "ARCH=$arch" "MAINTAINER=$MAINTAINER" "DEPENDS=$depends" \
    "INSTALLED_SIZE=$("$PY" "$HERE/debmeta.py" installed-size "$stage")" \
    >"$stage/DEBIAN/control"
  for item in postinst prerm postrm; do install -m 0755 "$HERE/$item" "$stage/DEBIAN/$item"; done
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 md5sum | sed 's|  \./|  |') >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

  say "dpkg-deb --build"
  mkdir -p "$OUT"
  rm -f "$deb"
  SOURCE_DATE_EPOCH="$epoch" dpkg-deb --root-owner-group -Zxz --threads-max="$(nproc)" \
    --build "$stage" "$deb" >/dev/null

  validate "$stage" "$deb"
  say "Built $deb"
  printf '  package size:   %s (%s bytes)\n' "$(du -h "$deb" | cut -f1)" "$(stat -c %s "$deb")"
  printf '  installed size: %s KiB\n' "$(dpkg-deb -f "$deb" Installed-Size)"
  printf '  Depends: %s\n' "$(dpkg-deb -f "$deb" Depends)"
}

# A launcher: Debian's python3, isolated (-I: no PYTHON* variables, no user site; -S: no
# system site-packages), with the private modules on sys.path.
write_launcher() {
  local path="$1" module="$2"
  cat >"$path" <<EOF
#!/usr/bin/python3 -IS
"""${path##*/}: runs vmgui from its private modules in $PREFIX."""

import sys

sys.path.append("$PREFIX")

from $module import main  # noqa: E402

sys.exit(main())
EOF
  chmod 0755 "$path"
}

# Validators, when installed: their findings are printed, and saved beside the .deb for lintian.
validate() {
  local stage="$1" deb="$2"
  if command -v desktop-file-validate >/dev/null; then
    say "desktop-file-validate"
    desktop-file-validate "$stage/usr/share/applications/vmgui.desktop" && echo "  no findings"
  fi
  if command -v appstreamcli >/dev/null; then
    say "appstreamcli validate-tree --no-net"
    appstreamcli validate-tree --no-net "$stage"
  fi
  if [ "${VMGUI_LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null; then
    say "lintian (findings also in ${deb%.deb}.lintian.txt)"
    lintian --display-info --tag-display-limit 0 "$deb" >"${deb%.deb}.lintian.txt" 2>&1 \
      || true
    if [ -s "${deb%.deb}.lintian.txt" ]; then cat "${deb%.deb}.lintian.txt"; else echo "  clean"; fi
  fi
}

main "$@"
