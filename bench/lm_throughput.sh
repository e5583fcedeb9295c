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
    # shellcheck disable=SC2086
    tor=$($PY bench/torch_lm_bench.py --train "$TRAIN" $MODEL --threads "$th" --seconds "$SECONDS_EACH")
    echo "$peak"
    echo "$tri"
    echo "$tor"
    $PY - "$peak" "$tri" "$tor" <<'PYEOF'
import json, sys
peak, tri, tor = (json.loads(a) for a in sys.argv[1:])
print("threads %d: triad %.0f tok/s, pytorch %.0f tok/s, ratio %.2fx; triad %.1f GFLOP/s = %.0f%% of sgemm peak %.1f GFLOP/s"
      % (tri["threads"], tri["tokens_per_s"], tor["tokens_per_s"], tri["tokens_per_s"] / tor["tokens_per_s"],
         tri["gflops"], 100 * tri["gflops"] / peak["gflops"], peak["gflops"]))
PYEOF
    echo
done
