#!/usr/bin/env bash
# CI for the Debian package: builds zkr_<version>_<arch>.deb from packaging/
# around a built zkr binary (with dpkg-deb, no cargo-deb to compile), checks
# it with lintian and its systemd units with systemd-analyze verify (offline:
# no running systemd needed), then unpacks it and starts the packaged binary
# with the packaged configuration the way zkr.service does, on a temporary
# data directory and a random loopback port, until /readyz answers, and
# zkr-worker.service's command beside it until its /metrics answers.
# Usage: .ci/package.sh [path/to/zkr] [output dir]
#   (builds target/debug/zkr if not given; the binary is stripped into the
#   package, so a debug build of this workspace, whose dependencies are
#   optimised, is a working package too)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
echo; echo "=== Debian package: build, lintian, systemd-analyze verify, start"

if [ "$(id -u)" = 0 ]; then
  need=()
  command -v lintian >/dev/null || need+=(lintian)
  command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v strip >/dev/null || need+=(binutils)
  command -v curl >/dev/null || need+=(curl)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
  fi
fi

ZKR_BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/zkr}
[ -x "$ZKR_BIN" ] || cargo build -p zkr --bin zkr
ZKR_BIN=$(realpath "$ZKR_BIN")
work=$(mktemp -d)
out=${2:-$work}
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
root=$work/root
p=packaging

# The file tree, as installed.
install -D -m 0755 "$ZKR_BIN" "$root/usr/bin/zkr"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/zkr"
install -D -m 0644 $p/zkr.toml "$root/etc/zkr/zkr.toml"
install -D -m 0644 $p/zkr.service "$root/usr/lib/systemd/system/zkr.service"
install -D -m 0644 $p/zkr-worker.service "$root/usr/lib/systemd/system/zkr-worker.service"
install -d "$root/usr/share/man/man1" "$root/usr/share/doc/zkr"
gzip -9n < $p/zkr.1 > "$root/usr/share/man/man1/zkr.1.gz"
install -m 0644 $p/debian/copyright "$root/usr/share/doc/zkr/copyright"
sed "s/@VERSION@/$version/" $p/debian/changelog | gzip -9n > "$root/usr/share/doc/zkr/changelog.gz"
chmod 0644 "$root"/usr/share/man/man1/zkr.1.gz "$root"/usr/share/doc/zkr/*

# Control files: the shared-library dependencies as dpkg-shlibdeps finds them.
mkdir -p "$work/shlibs/debian" "$root/DEBIAN"
printf 'Source: zkr\n\nPackage: zkr\nArchitecture: any\n' > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$root/usr/bin/zkr" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
    -e "s/@SHLIBS@/$shlibs/" $p/debian/control.in > "$root/DEBIAN/control"
install -m 0644 $p/debian/conffiles "$root/DEBIAN/conffiles"
install -m 0755 $p/debian/postinst "$root/DEBIAN/postinst"

deb=$out/zkr_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built $deb ($(du -h "$deb" | cut -f1)), depends: $shlibs"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

echo "--- lintian"
# Warnings fail too (the package has no lintian overrides).
lintian --fail-on error,warning --info --display-level '>=warning' "$deb"

echo "--- unpacked"
x=$work/x
dpkg-deb -x "$deb" "$x"
for f in usr/bin/zkr etc/zkr/zkr.toml usr/lib/systemd/system/zkr.service \
         usr/lib/systemd/system/zkr-worker.service; do
  [ -e "$x/$f" ] || { echo "missing from the package: /$f" >&2; exit 1; }
done
dpkg-deb --ctrl-tarfile "$deb" | tar -tf - | grep -qx './conffiles'
[ "$(dpkg-deb -f "$deb" Package)" = zkr ]

echo "--- systemd-analyze verify"
# verify checks that ExecStart's binary exists, and --root would also hide
# systemd's own targets: check copies of the units that start the unpacked
# binary, each directive otherwise as packaged.
mkdir "$work/units"
for unit in zkr.service zkr-worker.service; do
  sed "s|^ExecStart=/usr/bin/zkr|ExecStart=$x/usr/bin/zkr|" \
    "$x/usr/lib/systemd/system/$unit" > "$work/units/$unit"
  systemd-analyze verify --man=no "$work/units/$unit"
  systemd-analyze security --offline=true "$work/units/$unit" | tail -n1
done

echo "--- start the packaged binary as zkr.service and zkr-worker.service do"
data=$work/data
cache=$work/cache
mkdir -m 0700 "$data" "$cache"
# Starts unit $1's ExecStart with its Environment, with the installed paths
# pointing into the unpacked tree, the state directory into a temporary one
# (ZKR_DATA_DIR, the environment layer over the file) and listeners on
# loopback ports the kernel picks (port 0; zkr prints the one it got).
start_unit() {
  local unit=$x/usr/lib/systemd/system/$1 exec_start env_lines cmd envs
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  env_lines=$(sed -n 's/^Environment=//p' "$unit")
  [ -n "$exec_start" ] && [ -n "$env_lines" ]
  read -r -a cmd <<< "${exec_start//\/usr\/bin\//$x/usr/bin/}"
  read -r -a envs <<< "${env_lines//\/etc\/zkr\//$x/etc/zkr/}"
  envs=("${envs[@]//\/var\/cache\/zkr/$cache}")
  env -i PATH=/usr/bin:/bin HOME="$data" "${envs[@]}" ZKR_DATA_DIR="$data" \
    ZKR_LISTEN=127.0.0.1:0 ZKR_WORKER_METRICS_LISTEN=127.0.0.1:0 ZKR_LOG=warn \
    "${@:2}" "${cmd[@]}" > "$work/$1.log" 2>&1 &
  pids+=("$!")
}
# Waits until unit $1's log names an address ($2: the line's start) whose
# $3 answers; prints the log.
wait_ready() {
  local base="" i
  for i in $(seq 1 600); do
    base=$(sed -n "s|^$2 \\(http://127\\.0\\.0\\.1:[0-9]*\\).*|\\1|p" "$work/$1.log")
    if [ -n "$base" ] && curl -fsS "$base$3" > "$work/$1.out" 2>/dev/null; then
      echo "$1: $base$3 answers; its log:"
      sed 's/^/  | /' "$work/$1.log" | head -n 30
      return 0
    fi
    sleep 0.2
  done
  echo "$1 did not become ready" >&2
  cat "$work/$1.log" >&2
  return 1
}
pids=()
# The shipped configuration makes no keys (they come from a ceremony), and
# a worker refuses to start on a pool that records none: the API node here
# stands in for a pool with keys by making small development ones (depth
# 4, which the worker is given too).
start_unit zkr.service ZKR_SETUP_MISSING_KEYS=true ZKR_REGISTRY_DEPTH=4
wait_ready zkr.service "listening on" /readyz
# A worker on the same (SQLite) database, with its own metrics listener.
start_unit zkr-worker.service ZKR_REGISTRY_DEPTH=4
wait_ready zkr-worker.service "metrics on" /metrics
grep -q '^zkr_build_info{role="worker"' "$work/zkr-worker.service.out"
[ "$(stat -c %a "$data")" = 700 ]
for pid in "${pids[@]}"; do kill -TERM "$pid"; done
for pid in "${pids[@]}"; do
  wait "$pid" || { echo "a packaged zkr did not stop cleanly" >&2; cat "$work"/*.log >&2; exit 1; }
done
pids=()
echo "package CI: $(( $(date +%s) - t0 ))s"
