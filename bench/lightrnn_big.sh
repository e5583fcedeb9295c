#!/bin/sh
# LightRNN against the full-softmax LSTM language model on the big corpus
# (scripts/get_data.sh big), every training word seen at least twice in the
# vocabulary (V about 158k), in one invocation:
#   1. training throughput of each, timed alone (triad bench lm, 1 thread);
#   2. a training run of each for the same wall-clock budget, in pieces that
#      resume from checkpoints; the two runs go side by side, one thread each;
#   3. test perplexity of both final models, parameters and checkpoint sizes;
#   4. the allocation problem of the trained LightRNN (bench/lightrnn_alloc.sh).
# Both models: 2-layer LSTM, hidden HIDDEN, batch 32, bptt 35, dropout 0.2,
# SGD lr 20, clip 0.25, lr / 4 on plateau; LightRNN re-allocates its table
# (alternating solver) after every epoch, within the budget.
#
# usage: bench/lightrnn_big.sh [PIECE_SECONDS] [PIECES] [HIDDEN]
#   defaults: 2 pieces of 900 s (30 minutes per model), hidden 128.
# BUILD=dir runs the triad binary of another build directory.
set -eu
cd "$(dirname "$0")/.."
PIECE=${1:-900}
PIECES=${2:-2}
HIDDEN=${3:-128}
BUILD=${BUILD:-build}
T="$BUILD/triad"
[ -x "$T" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j"$(nproc)" >/dev/null; }
[ -f data/big/train.txt ] || scripts/get_data.sh big
mkdir -p data/bench
D=data/bench/big
MODEL="--vocab 10000000 --min-count 2 --hidden $HIDDEN --layers 2 --batch 32 --bptt 35 --dropout 0.2"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, 1 thread per model"
echo "OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "data: data/big (train/valid/test), words with count >= 2 in train"
echo

echo "== 1. training throughput, 60 s timed each, alone"
# shellcheck disable=SC2086
lm=$("$T" bench lm --model lm --train data/big/train.txt $MODEL --threads 1 --seconds 60)
# shellcheck disable=SC2086
lr=$("$T" bench lm --model lightrnn --train data/big/train.txt $MODEL --threads 1 --seconds 60)
echo "$lm"
echo "$lr"
field() { echo "$1" | sed "s/.*\"$2\": \([0-9.]*\).*/\1/"; }
awk -v a="$(field "$lr" tokens_per_s)" -v b="$(field "$lm" tokens_per_s)" \
    -v p="$(field "$lr" params)" -v q="$(field "$lm" params)" \
    'BEGIN { printf "LightRNN / full softmax: %.1fx tokens/s, %.1fx fewer parameters\n\n", a / b, q / p }'

echo "== 2. $PIECES pieces of $PIECE s per model, side by side"
run() { # kind
    out="$D-$1.safetensors"
    rm -f "$out" "$out.state" "$out.csv"
    i=1
    while [ "$i" -le "$PIECES" ]; do
        if [ "$i" -eq 1 ]; then
            # shellcheck disable=SC2086
            set -- "$1" --train data/big/train.txt --valid data/big/valid.txt $MODEL --lr 20 --clip 0.25 \
                --decay 4 --epochs 100 --eval-batch 32 --seed 1
        else
            set -- "$1" --resume
        fi
        kind=$1
        shift
        echo "$kind piece $i/$PIECES: triad $kind train --output $out $* --max-time $PIECE --threads 1"
        "$T" "$kind" train --output "$out" "$@" --max-time "$PIECE" --threads 1 --log "$out.csv"
        set -- "$kind"
        i=$((i + 1))
    done
}
run lm >"$D-lm.log" 2>&1 &
p1=$!
run lightrnn >"$D-lightrnn.log" 2>&1 &
p2=$!
wait $p1
wait $p2
for kind in lm lightrnn; do # the progress lines (every 10 s) but the last are left out
    grep -v ' tok/s ' "$D-$kind.log" || true
    grep ' tok/s ' "$D-$kind.log" | tail -n 1
done
echo

echo "== 3. results after the budget (test perplexity with 32 lanes, windows of 35)"
for kind in lm lightrnn; do
    out="$D-$kind.safetensors"
    steps=$(tail -n 1 "$out.csv" | cut -d, -f1)
    echo "$kind: $steps updates ($((steps * 32 * 35)) tokens); per-epoch valid ppl:"
    awk -F, '$6 > 0 { printf "  epoch %d: valid ppl %.2f (lr %g)\n", $2, $6, $4 }' "$out.csv"
    echo "  checkpoint $(stat -c %s "$out") bytes"
    "$T" "$kind" eval --model "$out" --text data/big/test.txt --batch 32 --threads 2 | sed 's/^/  test /'
done
echo

echo "== 4. allocation of the trained LightRNN's table"
BUILD="$BUILD" bench/lightrnn_alloc.sh "$D-lightrnn.safetensors" data/big/train.txt 2
