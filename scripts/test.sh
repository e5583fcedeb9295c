#!/bin/sh
# Builds triad and runs the whole test suite.
#   scripts/test.sh              Release build in build/
#   SANITIZE=1 scripts/test.sh   AddressSanitizer + UndefinedBehaviorSanitizer build in build-san/
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ "${SANITIZE:-0}" = 1 ]; then
    dir=build-san
    flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRIAD_SANITIZE=ON"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
    dir=build
    flags="-DCMAKE_BUILD_TYPE=Release"
fi
# shellcheck disable=SC2086
cmake -S . -B "$dir" $flags
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
