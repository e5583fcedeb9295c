#!/bin/sh
# Sequence-to-sequence benchmarks: spelling <-> pronunciation on the
# standard CMUdict split and English <-> French on the LibreOffice text.
# Each RUN trains one model into data/bench/s2s/RUN.st (log RUN.log, curve
# RUN.csv) and runs in pieces: a piece stops after PIECE seconds (default
# 3600) with a checkpoint, and running the same RUN again resumes it
# exactly, until its epochs or early stopping end it; then the model is
# evaluated on test (beam 5) into RUN.test.
#
# usage: bench/seq2seq.sh RUN [CMUDICT_DIR]
#   RUN: g2p | p2g        100% of the training words, 1-layer model
#        g2p10 | p2g10    10% of the training words (data/cmudict/paired10)
#        g2p-big          2-layer encoder, 384 units
#        mt-enfr | mt-fren    100% of the training pairs
#        mt10-enfr | mt10-fren 10% of the pairs (data/mt/paired10)
#        speed            training tokens/s and decoding words/s (beam 5),
#                         1 and 2 threads, G2P and en->fr
#   CMUDICT_DIR: the standard split (train, dev, test), default
#   ../shared/data/cmudict; its train and data/cmudict/train must agree.
# THREADS (default 1) threads per run; BUILD=dir uses another build.
set -eu
cd "$(dirname "$0")/.."
RUN=${1:?usage: bench/seq2seq.sh RUN [CMUDICT_DIR]}
CMU=${2:-../shared/data/cmudict}
PIECE=${PIECE:-3600}
THREADS=${THREADS:-1}
BUILD=${BUILD:-build}
T="$BUILD/triad"
[ -x "$T" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j"$(nproc)" >/dev/null; }
D=data/bench/s2s
mkdir -p "$D"

need_cmudict() {
    [ -f "$CMU/train" ] && [ -f "$CMU/dev" ] && [ -f "$CMU/test" ] || { echo "no CMUdict split in $CMU" >&2; exit 2; }
    [ -f data/cmudict/paired10 ] || scripts/get_data.sh cmudict data "$CMU"
}
need_mt() { [ -f data/mt/stats.txt ] || scripts/get_data.sh mt; }

# run_piece NAME COMMAND TRAIN DEV TEST OPTIONS: a new run of `triad COMMAND
# train` with OPTIONS, or the next piece of it; at the end, the test score.
run_piece() {
    name=$1 cmd=$2 train=$3 dev=$4 test=$5
    shift 5
    out=$D/$name.st
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $THREADS threads," \
        "OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
        >>"$D/$name.log"
    if [ -f "$out.state" ]; then
        "$T" "$cmd" train --train "$train" --dev "$dev" --output "$out" --resume --threads "$THREADS" \
            --max-time "$PIECE" --log "$D/$name.csv" 2>>"$D/$name.log" >"$D/$name.out"
    else
        "$T" "$cmd" train --train "$train" --dev "$dev" --output "$out" "$@" --threads "$THREADS" \
            --max-time "$PIECE" --log "$D/$name.csv" 2>>"$D/$name.log" >"$D/$name.out"
    fi
    # a finished run prints its dev score on stdout; a stopped piece prints nothing there
    if [ ! -s "$D/$name.out" ]; then
        echo "$name: piece done ($(tail -n 1 "$D/$name.log")); run it again to continue"
        return 0
    fi
    echo "$name: training finished: $(cat "$D/$name.out")"
    "$T" "$cmd" eval --model "$out" --data "$test" --beam 5 --threads "$THREADS" | tee "$D/$name.test"
}

case $RUN in
    g2p | p2g) need_cmudict; run_piece "$RUN" "$RUN" "$CMU/train" "$CMU/dev" "$CMU/test" --epochs 30 ;;
    g2p10 | p2g10) need_cmudict
        run_piece "$RUN" "${RUN%10}" data/cmudict/paired10 "$CMU/dev" "$CMU/test" --epochs 100 ;;
    g2p-big) need_cmudict
        run_piece g2p-big g2p "$CMU/train" "$CMU/dev" "$CMU/test" --epochs 30 --enc-layers 2 --hidden 384 --dec-hidden 384 ;;
    mt-enfr) need_mt; run_piece mt-enfr mt data/mt/train data/mt/dev data/mt/test --src en --tgt fr --epochs 15 ;;
    mt-fren) need_mt; run_piece mt-fren mt data/mt/train data/mt/dev data/mt/test --src fr --tgt en --epochs 15 ;;
    # at 10% the greedy dev BLEU stays near 0 for many epochs: the dev NLL steers these runs
    mt10-enfr) need_mt; run_piece mt10-enfr mt data/mt/paired10 data/mt/dev data/mt/test --src en --tgt fr --epochs 60 --select nll ;;
    mt10-fren) need_mt; run_piece mt10-fren mt data/mt/paired10 data/mt/dev data/mt/test --src fr --tgt en --epochs 60 --select nll ;;
    speed) need_cmudict; need_mt
        [ -f "$D/g2p.st" ] && [ -f "$D/mt-enfr.st" ] || { echo "train g2p and mt-enfr first" >&2; exit 2; }
        echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
            "OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
        for th in 1 2; do
            printf 'g2p train, %d thread(s): ' $th
            "$T" g2p train --train "$CMU/train" --dev "$CMU/dev" --output "$D/speed.st" --force --max-steps 300 \
                --threads $th 2>&1 | grep "^stopped" | sed 's/.*(\([0-9]* tok\/s\).*/\1/'
            printf 'g2p eval test beam 5, %d thread(s): ' $th
            "$T" g2p eval --model "$D/g2p.st" --data "$CMU/test" --beam 5 --threads $th
            printf 'mt en->fr train, %d thread(s): ' $th
            "$T" mt train --train data/mt/train --dev data/mt/dev --src en --tgt fr --output "$D/speed.st" --force \
                --max-steps 100 --threads $th 2>&1 | grep "^stopped" | sed 's/.*(\([0-9]* tok\/s\).*/\1/'
            printf 'mt en->fr eval test beam 5, %d thread(s): ' $th
            "$T" mt eval --model "$D/mt-enfr.st" --data data/mt/test --beam 5 --threads $th
        done
        rm -f "$D/speed.st" "$D/speed.st.state" ;;
    *) echo "unknown RUN $RUN (see the comment at the top of $0)" >&2; exit 2 ;;
esac
