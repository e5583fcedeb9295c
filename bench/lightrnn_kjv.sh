#!/bin/sh
# LightRNN against the full-softmax LSTM language model on KJV with its whole
# training vocabulary (V about 12.5k), in one invocation:
#   1. training throughput of each (triad bench lm, THREADS threads);
#   2. a full training run of each with the same hidden size and the same
#      number of epochs: the word LM, LightRNN re-allocating its table after
#      every epoch (alternating solver), and LightRNN keeping its initial
#      (frequency-order) table; valid perplexity per epoch, test perplexity,
#      parameters and checkpoint size;
#   3. the allocation problem of the trained LightRNN: its loss matrices over
#      the training text, solved by greedy, exact and alternating, with the
#      lower bound (cost, gap, time).
# Models: 2-layer LSTM, hidden HIDDEN, batch 32, bptt 35, dropout 0.2, SGD
# lr 20, clip 0.25, lr / 4 on plateau (the `triad lm train` defaults).
#
# usage: bench/lightrnn_kjv.sh [EPOCHS] [HIDDEN] [THREADS]
#   defaults: 3 epochs, hidden 128, 2 threads; EXACT_SECONDS (default 1800)
#   bounds the exact solver's time.
# BUILD=dir runs the triad binary of another build directory.
set -eu
cd "$(dirname "$0")/.."
EPOCHS=${1:-3}
HIDDEN=${2:-128}
THREADS=${3:-2}
BUILD=${BUILD:-build}
T="$BUILD/triad"
[ -x "$T" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j"$(nproc)" >/dev/null; }
[ -f data/kjv/train.txt ] || scripts/get_data.sh kjv
mkdir -p data/bench
D=data/bench/kjv
MODEL="--vocab 10000000 --hidden $HIDDEN --layers 2 --batch 32 --bptt 35 --dropout 0.2"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $THREADS threads"
echo "OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "data: data/kjv (train/valid/test), every word of train in the vocabulary"
echo

echo "== 1. training throughput, 30 s timed each"
# shellcheck disable=SC2086
lm=$("$T" bench lm --model lm --train data/kjv/train.txt $MODEL --threads "$THREADS" --seconds 30)
# shellcheck disable=SC2086
lr=$("$T" bench lm --model lightrnn --train data/kjv/train.txt $MODEL --threads "$THREADS" --seconds 30)
echo "$lm"
echo "$lr"
field() { echo "$1" | sed "s/.*\"$2\": \([0-9.]*\).*/\1/"; }
awk -v a="$(field "$lr" tokens_per_s)" -v b="$(field "$lm" tokens_per_s)" \
    -v p="$(field "$lr" params)" -v q="$(field "$lm" params)" \
    'BEGIN { printf "LightRNN / full softmax: %.2fx tokens/s, %.1fx fewer parameters\n\n", a / b, q / p }'

echo "== 2. $EPOCHS epochs each"
for run in lm lightrnn lightrnn-fixed; do
    kind=${run%-fixed}
    extra=""
    [ "$run" = lightrnn-fixed ] && extra="--no-realloc"
    out="$D-$run.safetensors"
    rm -f "$out" "$out.state" "$out.csv"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$T" "$kind" train --train data/kjv/train.txt --valid data/kjv/valid.txt --test data/kjv/test.txt \
        --output "$out" $MODEL --lr 20 --clip 0.25 --decay 4 --epochs "$EPOCHS" --seed 1 \
        --threads "$THREADS" --log "$out.csv" $extra >"$out.log" 2>&1
    secs=$(($(date +%s) - start))
    echo "$run: $secs s in all"
    grep -E "re-allocated|valid ppl|test ppl" "$out.log" | sed 's/^/  /'
    echo "  checkpoint $(stat -c %s "$out") bytes"
done
echo

echo "== 3. allocation of the trained LightRNN's table"
BUILD="$BUILD" bench/lightrnn_alloc.sh "$D-lightrnn.safetensors" data/kjv/train.txt "$THREADS"
