#!/usr/bin/env bash
# The two commands of the README's quick start, and nothing else:
#   packaging/dev.sh run   install what is missing, build (dev), run the main job
#   packaging/dev.sh test  install what is missing, build, run every suite:
#                          all under dev and under asan (ASan+UBSan), the
#                          concurrency and plugin suites under tsan.
# Both are idempotent: packages are installed only when missing, builds are
# incremental. Extra arguments after `run` go to the keel runner.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

jobs="$(nproc 2>/dev/null || echo 2)"

build() { # preset
  if [ ! -f "build/$1/CMakeCache.txt" ]; then
    cmake --preset "$1" >/dev/null
  fi
  cmake --build --preset "$1" -j"$jobs"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  run)
    packaging/install-deps.sh
    build dev >/dev/null
    exec build/dev/bin/keel "$@"
    ;;
  test)
    packaging/install-deps.sh
    total_pass=0; total_fail=0; status=0
    # preset, ctest label filter ('' = every test)
    for spec in "dev:" "asan:" "tsan:concurrency|plugin"; do
      preset="${spec%%:*}"; labels="${spec#*:}"
      echo "== keel: build $preset"
      build "$preset" | grep -E 'error|warning|Error' || true
      [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "== keel: build $preset failed"; status=1; continue; }
      echo "== keel: ctest $preset${labels:+ (labels: $labels)}"
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
    echo "== keel: all presets (dev, asan, tsan)"
    echo "$total_pass passed, $total_fail failed"
    exit "$status"
    ;;
  *)
    echo "usage: packaging/dev.sh run [keel args...] | packaging/dev.sh test" >&2
    exit 2
    ;;
esac
