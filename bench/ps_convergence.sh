#!/bin/sh
# Convergence under staleness on Fashion-MNIST (parameter server, issue 4):
# test accuracy of sequential SGD (M = 1) and of M = 4, 8, 16 simulated
# workers with asp + sgd (ASGD), bsp + sgd (SSGD), asp + dcasgd-c and
# asp + dcasgd-a; tables and a plot of accuracy against epochs.
#
# usage: bench/ps_convergence.sh
# environment (defaults in brackets):
#   BUILD    build directory holding triad [build]; built when missing
#   MODEL    mlp or cnn [mlp]
#   EPOCHS   epochs of every run [30]
#   DECAY    the rate is halved every DECAY epochs [10]
#   SEEDS    seeds of every configuration [1 2 3]
#   LRS      learning rates tried for sequential SGD [0.01 0.02 0.03 0.05 0.1 0.2]
#   LR       skip the sweep and use this rate for study A
#   LR_B     the fixed rate of study B [0.03]; empty: no study B
#   WORKERS  simulated worker counts [4 8 16]
#   JOBS     runs at a time, one thread each [2]
#   OUT      logs [data/bench/ps/$MODEL]; SVG: the plot [bench/ps_convergence.svg for mlp]
#
# Protocol (as in Zheng et al. 2017): every worker uses the mini-batch (32)
# and the learning rate of the sequential run, with the same schedule.
#   Study A: the rate is tuned once, for sequential SGD only, on a validation
#     split of the training set (train on images 1..50,000, validate on
#     50,001..60,000; the test set is not looked at): the rate of LRS with the
#     best final validation accuracy. Every run of study A then uses it.
#   Study B: every run uses the fixed rate LR_B (0.03, the setting this
#     study was planned with). It is not tuned on anything; it is there
#     because at the rates sequential SGD prefers, asp with M = 16 does not
#     train (in the first epoch the training loss jumps or overflows, and
#     then stays near chance).
# Every study run trains on all 60,000 training images and is evaluated on
# the 10,000 test images after every epoch. An epoch is 60,000 samples
# whatever M (each of M workers takes 60000 / (32 M) steps), so bsp makes M
# times fewer updates (each with the mean of M gradients) than asp. The
# simulator's constant delay model: every gradient takes the same time, so in
# asp each push is M - 1 updates stale. DC-ASGD's lambdas are the paper's
# CIFAR-10 defaults (dcasgd-c 0.04; dcasgd-a lambda0 2, mean-square momentum
# 0.95, eps 1e-7). Logs of finished runs are reused; delete OUT to start over.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODEL=${MODEL:-mlp}
EPOCHS=${EPOCHS:-30}
DECAY=${DECAY:-10}
SEEDS=${SEEDS:-1 2 3}
LRS=${LRS:-0.01 0.02 0.03 0.05 0.1 0.2}
LR=${LR:-}
LR_B=${LR_B-0.03}
WORKERS=${WORKERS:-4 8 16}
JOBS=${JOBS:-2}
OUT=${OUT:-data/bench/ps/$MODEL}
if [ "$MODEL" = mlp ]; then SVG=${SVG:-bench/ps_convergence.svg}; else SVG=${SVG:-$OUT/ps_convergence.svg}; fi
T=$BUILD/triad
PY=/usr/bin/python3

[ -x "$T" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j"$(nproc)" >/dev/null; }
[ -f data/fashion/t10k-labels-idx1-ubyte.gz ] || scripts/get_data.sh fashion
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $JOBS runs at a time, 1 thread each"
echo "OpenBLAS: $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "triad: $T ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
COMMON="ps train --model $MODEL --batch 32 --epochs $EPOCHS --lr-decay 0.5 --decay-every $DECAY --threads 1 --simulate-delay constant --quiet"
echo "common options: $COMMON"
echo

# add NAME ARGS...: queue "triad $COMMON ARGS --log NAME.jsonl" unless that run is finished.
# run_queue: run the queue, JOBS at a time; each run's output goes to NAME.out.
queue=$OUT/queue.txt
: >"$queue"
add() {
    name=$1
    shift
    # finished: a final line at the last epoch (a run stopped by a signal also writes one)
    if [ -f "$name.jsonl" ] && grep -q "\"event\": \"final\",.* \"epoch\": $EPOCHS," "$name.jsonl"; then
        return 0
    fi
    rm -f "$name.jsonl"
    echo "$name $T $COMMON $* --log $name.jsonl" >>"$queue"
}
run_queue() {
    [ -s "$queue" ] || return 0
    echo "running $(wc -l <"$queue") runs, $JOBS at a time"
    # shellcheck disable=SC2016
    xargs -P "$JOBS" -L 1 sh -c 'n=$1; shift; s=$(date +%s)
        "$@" >"$n.out" 2>&1 || { echo "$n failed: see $n.out" >&2; exit 255; }
        echo "  ${n##*/}: $(tail -n 1 "$n.out") ($(( $(date +%s) - s )) s)"' sh <"$queue"
    : >"$queue"
}
# study DIR RATE: queue every configuration of the study at RATE, logs in DIR
# shellcheck disable=SC2086  # $C is split into options on purpose
study() {
    mkdir -p "$1"
    for seed in $SEEDS; do
        C="--data data/fashion --lr $2 --seed $seed"
        add "$1/s${seed}_seq" $C --workers 1 --mode asp --rule sgd
        for M in $WORKERS; do
            add "$1/s${seed}_asgd_m$M" $C --workers "$M" --mode asp --rule sgd
            add "$1/s${seed}_bsp_m$M" $C --workers "$M" --mode bsp --rule sgd
            add "$1/s${seed}_dcasgd_c_m$M" $C --workers "$M" --mode asp --rule dcasgd-c
            add "$1/s${seed}_dcasgd_a_m$M" $C --workers "$M" --mode asp --rule dcasgd-a
        done
    done
}
start=$(date +%s)

if [ -z "$LR" ]; then
    VAL=$OUT/fashion-val
    [ -f "$VAL/t10k-labels-idx1-ubyte.gz" ] || $PY bench/ps_plot.py split data/fashion "$VAL"
    for lr in $LRS; do
        add "$OUT/tune_lr$lr" --data "$VAL" --workers 1 --mode asp --rule sgd --lr "$lr" --seed 1
    done
    run_queue
    echo
    echo "learning rate of sequential SGD on the validation split (seed 1):"
    $PY bench/ps_plot.py tune "$OUT" | tee "$OUT/tune.txt"
    LR=$(tail -n 1 "$OUT/tune.txt" | sed 's/^chosen lr //')
    echo
fi
echo "study A: learning rate $LR (tuned for sequential SGD) for every run"
[ -z "$LR_B" ] || echo "study B: learning rate $LR_B (fixed) for every run"
study "$OUT/lr$LR" "$LR"
[ -z "$LR_B" ] || [ "$LR_B" = "$LR" ] || study "$OUT/lr$LR_B" "$LR_B"
run_queue
echo
echo "wall time of this invocation: $(( $(date +%s) - start )) s"
echo
set -- "$OUT/lr$LR" "study A: lr $LR (tuned for sequential SGD on validation data)"
[ -z "$LR_B" ] || [ "$LR_B" = "$LR" ] || set -- "$@" "$OUT/lr$LR_B" "study B: lr $LR_B (fixed)"
$PY bench/ps_plot.py report "$SVG" "Fashion-MNIST, $MODEL, batch 32 per worker, $EPOCHS epochs, rate halved every $DECAY: test accuracy under staleness" "$@"
