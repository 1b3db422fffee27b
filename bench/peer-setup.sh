#!/usr/bin/env bash
# Sets up the chroot that runs bench/peer.py (the transformers peer; docs/bench.md, "The transformers peer"):
# a Debian testing (forky) root at $PEER_ROOT (default /work/forky, outside the repo) with Debian's
# transformers 5.12 / torch 2.14 packages, and read-only bind mounts of the bench cache (/bench) and this
# repo's bench/ folder (/bench-src). Needs root and Debian's package mirror. Idempotent: each step is skipped
# when done; rerun it after a reboot to restore the mounts. Not part of `npm run bench` or CI.
set -euo pipefail
ROOT=${PEER_ROOT:-/work/forky}
BENCH_CACHE=${IMGTOKENS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imgtokens-bench}
SRC=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  command -v debootstrap >/dev/null || { apt-get update && apt-get install -y debootstrap; }
  # the host's configured Debian mirror; bookworm's debootstrap has no script named forky, sid's serves testing
  MIRROR=${PEER_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)}
  debootstrap --variant=minbase forky "$ROOT" "$MIRROR" /usr/share/debootstrap/scripts/sid
fi
echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99no-valid-until"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
if ! chroot "$ROOT" python3 -c 'import transformers, torch, torchvision' 2>/dev/null; then
  chroot "$ROOT" apt-get update
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3-transformers python3-torch python3-torchvision python3-tokenizers python3-safetensors \
    python3-pil python3-numpy libopenblas0-pthread
fi
bind_ro() { # bind_ro SRC DEST: read-only bind mount, once
  mkdir -p "$2"
  mountpoint -q "$2" || { mount --bind "$1" "$2" && mount -o remount,bind,ro "$2"; }
}
bind_ro "$BENCH_CACHE" "$ROOT/bench"
bind_ro "$SRC" "$ROOT/bench-src"
chroot "$ROOT" python3 -c "import transformers, torch; print('transformers', transformers.__version__, 'torch', torch.__version__)"
