#!/bin/sh
# The full-softmax baseline that LightRNN is compared against: a 2-layer LSTM
# LM with hidden 650 (vocabulary 10k, batch 32, bptt 35, dropout 0.5, SGD lr 20,
# clip 0.25, lr / 4 on plateau) trained on KJV for a fixed wall-clock budget,
# in pieces that resume from checkpoints, then scored on valid and test.
#
# usage: bench/lm_kjv_budget.sh [PIECE_SECONDS] [PIECES] [THREADS]
#   defaults: 2 pieces of 900 s (30 minutes in all), 2 threads.
set -eu
cd "$(dirname "$0")/.."
PIECE=${1:-900}
PIECES=${2:-2}
THREADS=${3:-2}
OUT=data/bench/kjv-650.safetensors
[ -x build/triad ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
[ -f data/kjv/train.txt ] || scripts/get_data.sh kjv
mkdir -p data/bench
rm -f "$OUT" "$OUT.state" "$OUT.csv"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
i=1
while [ "$i" -le "$PIECES" ]; do
    if [ "$i" -eq 1 ]; then
        set -- --train data/kjv/train.txt --valid data/kjv/valid.txt --vocab 10000 --hidden 650 --layers 2 \
            --batch 32 --bptt 35 --dropout 0.5 --lr 20 --clip 0.25 --decay 4 --epochs 100 --seed 1
    else
        set -- --resume
    fi
    echo "piece $i/$PIECES: triad lm train --output $OUT $* --max-time $PIECE --threads $THREADS"
    build/triad lm train --output "$OUT" "$@" --max-time "$PIECE" --threads "$THREADS" --log "$OUT.csv"
    i=$((i + 1))
done
steps=$(tail -n 1 "$OUT.csv" | cut -d, -f1)
epochs=$(awk -F, '$6 > 0 { e = $2 } END { print e + 0 }' "$OUT.csv")
echo "updates: $steps; complete epochs: $epochs; per-epoch valid ppl:"
awk -F, '$6 > 0 { printf "  epoch %d: valid ppl %.2f (lr %g)\n", $2, $6, $4 }' "$OUT.csv"
echo "final model:"
build/triad lm eval --model "$OUT" --text data/kjv/valid.txt --threads "$THREADS" | sed 's/^/  valid /'
build/triad lm eval --model "$OUT" --text data/kjv/test.txt --threads "$THREADS" | sed 's/^/  test  /'
