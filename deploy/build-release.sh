#!/usr/bin/env bash
# Builds the Release `signgate` binary alone (no tests, no benchmarks) with CMake and Ninja, and
# stages the install tree a package or an image is made from:
#
#   STAGE/usr/local/bin/signgate                      the binary, stripped
#   STAGE/etc/signgate/signgate.yaml                  the example config (deploy/signgate.example.yaml)
#   STAGE/usr/local/share/doc/signgate/               README.md, the example config, the systemd unit
#   STAGE/var/log/signgate/                           empty: where a file audit log goes
#
# Then it checks that deploy/runtime-packages.txt names exactly the Debian packages of the shared
# libraries the binary links (deploy/check-runtime-packages.sh).
#
# usage: deploy/build-release.sh --stage DIR [--build-dir DIR | --prebuilt DIR] [--configure-only]
#                                [--no-package-check]
#   --build-dir DIR   where CMake builds (default: build-release/ in the source tree)
#   --prebuilt DIR    take DIR/signgate from a Release build tree that already exists instead of
#                     building (what the tests do, so they do not compile for minutes)
#   --configure-only  configure the build tree and stop (no compiling, nothing staged)
# environment:
#   SIGNGATE_COMMIT   the commit `signgate --version` reports (CMake's -DSIGNGATE_COMMIT). Without
#                     it CMake asks git, which a Docker build context without .git cannot answer
#                     ("unknown").
#   JOBS              parallel compile jobs (default: nproc)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
stage=""
build_dir="$src/build-release"
prebuilt=""
configure_only=0
package_check=1

die() { echo "build-release: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=${2:?--stage needs a directory}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --prebuilt) prebuilt=${2:?--prebuilt needs a build directory}; shift 2 ;;
    --configure-only) configure_only=1; shift ;;
    --no-package-check) package_check=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ "$configure_only" = 1 ] || [ -n "$stage" ] || die "--stage DIR is required (see --help)"

if [ -n "$prebuilt" ]; then
  [ "$configure_only" = 0 ] || die "--prebuilt and --configure-only do not go together"
  binary="$prebuilt/signgate"
  [ -x "$binary" ] || die "$binary: no signgate binary there (build it first, or drop --prebuilt)"
  # A Debug or sanitizer tree would ship a slow binary that links libasan: refuse it.
  cache="$prebuilt/CMakeCache.txt"
  [ -f "$cache" ] || die "$cache: missing, so the build type cannot be checked"
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$cache" || die "$prebuilt is not a Release build tree"
  if grep -q '^SIGNGATE_SANITIZE:BOOL=ON' "$cache"; then die "$prebuilt is a sanitizer build"; fi
else
  command -v cmake >/dev/null || die "cmake is not installed"
  command -v ninja >/dev/null || die "ninja is not installed (Debian: ninja-build)"
  cmake_commit=()
  if [ -n "${SIGNGATE_COMMIT:-}" ]; then
    [[ "$SIGNGATE_COMMIT" =~ ^[0-9A-Za-z._-]{1,64}$ ]] || die "SIGNGATE_COMMIT='$SIGNGATE_COMMIT' is not a commit id"
    cmake_commit=(-DSIGNGATE_COMMIT="$(printf '%.12s' "$SIGNGATE_COMMIT")")  # as `git rev-parse --short=12` gives it
  fi
  # SIGNGATE_TESTS=OFF: the gateway alone, so neither GoogleTest nor the test sources are needed.
  cmake -S "$src" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGNGATE_TESTS=OFF \
    -DSIGNGATE_BENCH=OFF -DSIGNGATE_SANITIZE=OFF -DSIGNGATE_FUZZ=OFF "${cmake_commit[@]}"
  [ "$configure_only" = 0 ] || exit 0
  # Only the binary: the unit and integration test executables are not compiled.
  cmake --build "$build_dir" --target signgate -j "${JOBS:-$(nproc)}"
  binary="$build_dir/signgate"
fi

mkdir -p "$stage"
install -d "$stage/usr/local/bin" "$stage/etc/signgate" "$stage/usr/local/share/doc/signgate" \
  "$stage/var/log/signgate"
# A stripped copy; the build tree keeps its symbols.
install -m 0755 "$binary" "$stage/usr/local/bin/signgate"
strip --strip-unneeded "$stage/usr/local/bin/signgate"
install -m 0644 "$here/signgate.example.yaml" "$stage/etc/signgate/signgate.yaml"
install -m 0644 "$here/signgate.example.yaml" "$src/README.md" "$src/LICENSE" "$src/CHANGELOG.md" "$here/systemd/signgate.service" \
  "$stage/usr/local/share/doc/signgate/"
"$stage/usr/local/bin/signgate" --version

if [ "$package_check" = 1 ]; then
  "$here/check-runtime-packages.sh" "$stage/usr/local/bin/signgate" "$here/runtime-packages.txt"
fi
echo "build-release: staged $stage"
