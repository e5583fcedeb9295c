#!/bin/sh
# Training throughput of the word LSTM language model: triad against PyTorch
# (Debian python3-torch) on the same machine, data, model and thread count,
# in one invocation, plus cblas_sgemm's rate as the machine's peak.
#
# usage: bench/lm_throughput.sh [SECONDS] [THREADS ...]
#   defaults: 60 seconds of timed training per system, threads 1 and 2.
# Model: 2-layer LSTM, hidden 650, vocabulary 10k, batch 32, bptt 35,
# dropout 0.5, SGD lr 20, clip 0.25, on the KJV training split.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
THREADS=${*:-1 2}
TRAIN=data/kjv/train.txt
PY=/usr/bin/python3
[ -x build/triad ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
[ -f "$TRAIN" ] || scripts/get_data.sh kjv
MODEL="--vocab 10000 --hidden 650 --layers 2 --batch 32 --bptt 35 --dropout 0.5 --lr 20 --clip 0.25"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "PyTorch: $($PY -c 'import torch; print(torch.__version__)')"
echo "data: $TRAIN; $SECONDS_EACH s timed training per system"
echo
for th in $THREADS; do
    # both systems use the same OpenBLAS; pin its pool (and PyTorch's OpenMP pool) to th
    export OPENBLAS_NUM_THREADS="$th" OMP_NUM_THREADS="$th"
    peak=$(build/triad bench sgemm --threads "$th" --seconds 5)
    # shellcheck disable=SC2086
    tri=$(build/triad bench lm --train "$TRAIN" $MODEL --threads "$th" --seconds "$SECONDS_EACH")
    # PyTorch as configured by torch.set_num_threads(th): th intra-op (OpenMP) threads
    # and th OpenBLAS threads
    # shellcheck disable=SC2086
    tor=$($PY bench/torch_lm_bench.py --train "$TRAIN" $MODEL --threads "$th" --seconds "$SECONDS_EACH")
    # and, with several threads, its other layout: 1 intra-op thread, th OpenBLAS threads
    # (the two pools spin-wait against each other on a small machine)
    tor1='{}'
    if [ "$th" -gt 1 ]; then
        # shellcheck disable=SC2086
        tor1=$(OMP_NUM_THREADS=1 $PY bench/torch_lm_bench.py --train "$TRAIN" $MODEL --threads 1 --seconds "$SECONDS_EACH")
    fi
    echo "$peak"
    echo "$tri"
    echo "$tor"
    [ "$tor1" = '{}' ] || echo "$tor1"
    $PY - "$th" "$peak" "$tri" "$tor" "$tor1" <<'PYEOF'
import json, sys
th = int(sys.argv[1])
peak, tri, tor, tor1 = (json.loads(a) for a in sys.argv[2:])
best = max(tor["tokens_per_s"], tor1.get("tokens_per_s", 0.0))
line = "threads %d: triad %.0f tok/s, pytorch %.0f tok/s" % (th, tri["tokens_per_s"], tor["tokens_per_s"])
if tor1:
    line += " (%.0f tok/s with 1 intra-op thread)" % tor1["tokens_per_s"]
line += ", ratio %.2fx (%.2fx against PyTorch's faster layout)" % (tri["tokens_per_s"] / tor["tokens_per_s"], tri["tokens_per_s"] / best)
print(line)
print("  triad %.1f GFLOP/s = %.0f%% of the sgemm peak %.1f GFLOP/s; pytorch (faster layout) %.0f%%"
      % (tri["gflops"], 100 * tri["gflops"] / peak["gflops"], peak["gflops"],
         100 * tri["gflops"] * best / tri["tokens_per_s"] / peak["gflops"]))
PYEOF
    echo
done
