#!/bin/sh
# The word-allocation problem of a trained LightRNN: its loss matrices over a
# text (triad lightrnn losses), then each solver on them with the lower bound
# (triad lightrnn realloc): cost, bound, gap and wall time.
#
# usage: bench/lightrnn_alloc.sh MODEL TEXT [THREADS]
#   THREADS (default 2) for the pass over the text; the solvers use one.
#   EXACT_SECONDS (default 1800) bounds the exact solver, which is skipped
#   above 20,000 words.
# BUILD=dir runs the triad binary of another build directory.
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 MODEL TEXT [THREADS]" >&2; exit 2; }
MODEL=$1
TEXT=$2
THREADS=${3:-2}
T="${BUILD:-build}/triad"
L="${MODEL%.safetensors}-losses.safetensors"
"$T" lightrnn losses --model "$MODEL" --text "$TEXT" --output "$L" --threads "$THREADS"
"$T" lightrnn realloc --losses "$L" --solver greedy | tail -n 4
"$T" lightrnn realloc --losses "$L" --solver alternating | tail -n 1
V=$("$T" lightrnn realloc --losses "$L" --solver greedy | sed -n 's/.*V = \([0-9]*\) words.*/\1/p')
if [ "$V" -gt 20000 ]; then
    echo "exact: skipped (V = $V > 20000)"
elif timeout "${EXACT_SECONDS:-1800}" "$T" lightrnn realloc --losses "$L" --solver exact >"$L.exact"; then
    tail -n 1 "$L.exact"
else
    echo "exact: did not finish within ${EXACT_SECONDS:-1800} s"
fi
