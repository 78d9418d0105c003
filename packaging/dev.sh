#!/usr/bin/env bash
# The two commands of the README's quick start, and nothing else:
#   packaging/dev.sh run   install what is missing, build (dev), run the main job
#   packaging/dev.sh test  install what is missing, build, run every suite:
#                          all under dev and under asan (ASan+UBSan), the
#                          concurrency and plugin suites under tsan.
# Both are idempotent: packages are installed only when missing, builds are
# incremental. Each step says what it does on a "== keel:" line, and a
# build shows each file it compiles, so a first run is never silent for
# minutes. Extra arguments after `run` go to the keel runner.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

jobs="$(nproc 2>/dev/null || echo 2)"

say() { echo "== keel: $*"; }

# Shows what a build does (files compiled and linked, with make's percentage,
# and every warning and error) without the lines it prints for each target
# that is already up to date.
show_progress() {
  awk '/^\[ *[0-9]+%\] Built target / || /Scanning dependencies of target/ ||
       /Consolidate compiler generated dependencies/ || /^make(\[[0-9]+\])?: (Entering|Leaving)/ { next }
       { print; fflush(); n++ }
       END { if (n == 0) print "   (up to date)" }'
}

build() { # preset
  if [ ! -f "build/$1/CMakeCache.txt" ]; then
    say "configuring build/$1 (cmake --preset $1)"
    cmake --preset "$1" | sed 's/^/   /'
  fi
  say "building build/$1 with $jobs jobs (cmake --build --preset $1)"
  cmake --build --preset "$1" -j"$jobs" 2>&1 | show_progress
}

deps() {
  say "checking the Debian packages keel needs (packaging/install-deps.sh)"
  packaging/install-deps.sh
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  run)
    deps
    build dev
    say "running build/dev/bin/keel $*"
    exec build/dev/bin/keel "$@"
    ;;
  test)
    deps
    total_pass=0; total_fail=0; status=0
    # preset, ctest label filter ('' = every test)
    for spec in "dev:" "asan:" "tsan:concurrency|plugin"; do
      preset="${spec%%:*}"; labels="${spec#*:}"
      if ! build "$preset"; then
        say "build $preset failed"; status=1; total_fail=$((total_fail + 1)); continue
      fi
      say "ctest $preset${labels:+ (labels: $labels)}"
      log="build/$preset/ctest-summary.log"
      args=(--test-dir "build/$preset" --output-on-failure -j"$jobs" --timeout 900)
      [ -n "$labels" ] && args+=(-L "$labels")
      set +e
      ctest "${args[@]}" 2>&1 | tee "$log"
      rc=${PIPESTATUS[0]}
      set -e
      line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
      if [ -n "$line" ]; then
        total="$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")"
        failed="$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")"
        total_pass=$((total_pass + total - failed)); total_fail=$((total_fail + failed))
      else
        total_fail=$((total_fail + 1))
      fi
      [ "$rc" -eq 0 ] || status=1
    done
    say "all presets (dev, asan, tsan)"
    echo "$total_pass passed, $total_fail failed"
    exit "$status"
    ;;
  *)
    echo "usage: packaging/dev.sh run [keel args...] | packaging/dev.sh test" >&2
    exit 2
    ;;
esac
