#!/usr/bin/env bash
# Checks that a runtime package list names exactly the Debian packages that ship the shared
# libraries a binary loads: `ldd BINARY`, each library mapped to its package with `dpkg -S`.
#
# usage: deploy/check-runtime-packages.sh BINARY [LIST]    (LIST: deploy/runtime-packages.txt)
#
# LIST has one package a line; `#` starts a comment. A package the binary needs for something
# other than a library (the CA store, say) is marked `# not-a-library: why`, and is then exempt
# from the "not needed" check. Exit 0 when the two agree; 1, naming each difference, when a
# library's package is missing from LIST or LIST has a package no library comes from; 2 on bad
# usage or a library that cannot be found or mapped. Run it on the machine (or in the image
# stage) that built the binary: it needs the libraries installed and dpkg's database.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=${1:-}
list=${2:-$here/runtime-packages.txt}
if [ -z "$binary" ] || [ ! -x "$binary" ]; then echo "usage: $0 BINARY [LIST]" >&2; exit 2; fi
[ -f "$list" ] || { echo "check-runtime-packages: $list: no such file" >&2; exit 2; }

libs=$(ldd "$binary") || { echo "check-runtime-packages: ldd $binary failed" >&2; exit 2; }
if grep -q 'not found' <<<"$libs"; then
  echo "check-runtime-packages: $binary has unresolved libraries:" >&2
  grep 'not found' <<<"$libs" >&2
  exit 2
fi
# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)";
# the vDSO has no file.
paths=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$libs" | sort -u)
# Debian 12 is usr-merged: ldd says /lib/x86_64-linux-gnu/libz.so.1 where dpkg may have
# registered /usr/lib/..., and a library is often a symlink to a versioned file. Each spelling is
# asked of dpkg in one call (one read of its database), the first one it knows wins.
candidates() {
  local path=$1 real c
  real=$(readlink -f "$path")
  for c in "$path" "$real"; do
    echo "$c"
    case "$c" in /usr/*) echo "${c#/usr}" ;; *) echo "/usr$c" ;; esac
  done
}
declare -A owner_of=()
# shellcheck disable=SC2046  # one path per word
owners=$(dpkg-query -S $(for p in $paths; do candidates "$p"; done) 2>/dev/null || true)
while IFS= read -r line; do
  [ -n "$line" ] || continue
  # "libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3"; a path of several packages lists them
  # comma-separated before the colon.
  [[ $line == diversion\ * ]] && continue
  pkgs=${line%%: /*}
  owner_of[${line#*: }]=$(cut -d, -f1 <<<"$pkgs" | sed 's/:.*//; s/^ *//')
done <<<"$owners"
declare -A needed=()
status=0
for p in $paths; do
  pkg=""
  for c in $(candidates "$p"); do
    if [ -n "${owner_of[$c]:-}" ]; then pkg=${owner_of[$c]}; break; fi
  done
  if [ -n "$pkg" ]; then
    needed[$pkg]+="${needed[$pkg]:+ }$(basename "$p")"
  else
    echo "check-runtime-packages: no Debian package owns $p" >&2
    status=2
  fi
done
[ "$status" = 0 ] || exit "$status"

declare -A listed=() exempt=()
while IFS= read -r line || [ -n "$line" ]; do
  pkg=$(sed 's/#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$line")
  [ -n "$pkg" ] || continue
  [[ "$pkg" =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || { echo "check-runtime-packages: $list: '$pkg' is not a package name" >&2; exit 2; }
  listed[$pkg]=1
  if [[ "$line" == *"# not-a-library:"* ]]; then exempt[$pkg]=1; fi
done <"$list"

for pkg in $(printf '%s\n' "${!needed[@]}" | sort); do
  if [ -z "${listed[$pkg]:-}" ]; then
    echo "missing from $list: $pkg (ships ${needed[$pkg]})"
    status=1
  fi
done
for pkg in $(printf '%s\n' "${!listed[@]}" | sort); do
  if [ -z "${needed[$pkg]:-}" ] && [ -z "${exempt[$pkg]:-}" ]; then
    echo "not needed, remove from $list: $pkg (no library of $(basename "$binary") comes from it)"
    status=1
  fi
done
if [ "$status" = 0 ]; then
  echo "runtime packages: ok (${#needed[@]} library packages, ${#exempt[@]} other)"
fi
exit "$status"
