#!/usr/bin/env bash
# Render vmgui's hicolor PNG icons from the SVG sources (Debian: librsvg2-bin's rsvg-convert).
#
#   bash resources/icons/render.sh
#
# vmgui.svg is the icon; vmgui-16.svg is its variant drawn on the 16 px grid, used for 16x16.
# The rendered PNGs are committed, so building the package does not need rsvg-convert. The SVG is
# also copied to vmgui/data/vmgui.svg, where the running app finds its window icon.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SIZES=(16 22 24 32 48 64 128 256 512)

command -v rsvg-convert >/dev/null || {
  echo "rsvg-convert not found: apt-get install librsvg2-bin" >&2
  exit 1
}

for size in "${SIZES[@]}"; do
  src="$HERE/vmgui.svg"
  if [ "$size" -eq 16 ]; then src="$HERE/vmgui-16.svg"; fi
  out="$HERE/hicolor/${size}x${size}/apps/vmgui.png"
  mkdir -p "$(dirname "$out")"
  rsvg-convert --width "$size" --height "$size" --format png --output "$out" "$src"
  echo "$out"
done
cp "$HERE/vmgui.svg" "$ROOT/vmgui/data/vmgui.svg"
echo "$ROOT/vmgui/data/vmgui.svg"
