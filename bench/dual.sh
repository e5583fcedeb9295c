#!/bin/sh
# Dual learning benchmarks on the low-resource split: 10% of the training
# pairs as paired data, the rest as two disjoint monolingual halves (one side
# each), for G2P <-> P2G on the standard CMUdict split and en <-> fr.
# Needs the supervised models of bench/seq2seq.sh in data/bench/s2s:
#   g2p, p2g (100%), g2p10, p2g10 (10%)            for TASK g2p
#   mt-enfr, mt-fren (100%), mt10-enfr, mt10-fren   for TASK mt
# Each STEP writes into data/bench/dual/TASK-STEP.* and prints its numbers;
# training steps run in pieces of PIECE seconds (default 3600): run the same
# STEP again to continue it.
#
# usage: bench/dual.sh TASK STEP [CMUDICT_DIR]
#   STEP: lm        the marginal language models of both sides, over the
#                   vocabularies of the 10% models (lm) and of the 100% models
#                   (lm100; only mt, whose subword units differ)
#         bt        10% + back-translation: the monolingual text of each side
#                   translated by the 10% model of the other direction, added
#                   to the paired data, both directions retrained (in pieces)
#         dual      10% + dual learning (closed loop), both directions
#         dsl       100% + the duality regulariser, both directions
#         sup       100% + the same updates as dsl without the regulariser
#                   (the control: how much the extra training alone gives)
#         infer     every model above and the supervised ones, primal and with
#                   dual inference (alpha tuned on dev), on test
# THREADS (default 1), BUILD=dir, STEPS (updates of dual/dsl runs, default 6000;
# raise it and run the step again to train a finished run further).
set -eu
cd "$(dirname "$0")/.."
TASK=${1:?usage: bench/dual.sh g2p|mt lm|lm100|bt|dual|dsl|sup|infer [CMUDICT_DIR]}
STEP=${2:?usage: bench/dual.sh g2p|mt lm|lm100|bt|dual|dsl|sup|infer [CMUDICT_DIR]}
CMU=${3:-../shared/data/cmudict}
PIECE=${PIECE:-3600}
THREADS=${THREADS:-1}
BUILD=${BUILD:-build}
T="$BUILD/triad"
[ -x "$T" ] || { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j"$(nproc)" >/dev/null; }
S=data/bench/s2s
D=data/bench/dual
mkdir -p "$D"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $THREADS threads;" \
    "OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"

# The task's files: A->B / B->A model names, paired, monolingual, dev, test.
case $TASK in
    g2p)
        AB=g2p BA=p2g AB10=g2p10 BA10=p2g10
        # the 10% and 100% models share their vocabularies (sorted symbols): one pair of LMs serves both
        LM100=lm
        LM_EPOCHS=20
        PAIRED=data/cmudict/paired10 MONO_A=data/cmudict/mono.spellings MONO_B=data/cmudict/mono.prons
        DEV=$CMU/dev TEST=$CMU/test TRAIN=$CMU/train
        # the sides' text: spellings and pronunciations of a lexicon
        side_a() { sed 's/  .*//' "$1" | uniq; }
        side_b() { sed 's/^[^ ]*  //' "$1"; }
        ;;
    mt)
        AB=mt-enfr BA=mt-fren AB10=mt10-enfr BA10=mt10-fren
        LM100=lm100
        # an epoch of a subword LM over both halves takes minutes: fewer of them
        LM_EPOCHS=6
        PAIRED=data/mt/paired10 MONO_A=data/mt/mono.en MONO_B=data/mt/mono.fr
        DEV=data/mt/dev TEST=data/mt/test TRAIN=data/mt/train
        side_a() { cat "$1.en"; }
        side_b() { cat "$1.fr"; }
        ;;
    *) echo "unknown TASK $TASK" >&2; exit 2 ;;
esac
for m in "$AB10" "$BA10"; do
    [ -f "$S/$m.st" ] || { echo "train the supervised model first: bench/seq2seq.sh $m" >&2; exit 2; }
done

# dual_run NAME AB BA PAIRED LM OPTIONS: a new run or the next piece of it
# (LM: lm or lm100, the language models of the models' vocabularies).
dual_run() {
    name=$1 ab=$2 ba=$3 paired=$4 lm=$5
    shift 5
    out=$D/$TASK-$name
    if [ -f "$out-ab.st.dual" ]; then
        "$T" dual train --ab "$ab" --ba "$ba" --lm-a "$D/$TASK-$lm-a.st" --lm-b "$D/$TASK-$lm-b.st" --paired "$paired" \
            --mono-a "$MONO_A" --mono-b "$MONO_B" --dev "$DEV" --output-ab "$out-ab.st" --output-ba "$out-ba.st" \
            --resume --steps "$STEPS" --threads "$THREADS" --max-time "$PIECE" --log "$out.csv" 2>>"$out.log" | tee -a "$out.out"
    else
        "$T" dual train --ab "$ab" --ba "$ba" --lm-a "$D/$TASK-$lm-a.st" --lm-b "$D/$TASK-$lm-b.st" --paired "$paired" \
            --mono-a "$MONO_A" --mono-b "$MONO_B" --dev "$DEV" --output-ab "$out-ab.st" --output-ba "$out-ba.st" \
            --steps "$STEPS" "$@" --threads "$THREADS" --max-time "$PIECE" --log "$out.csv" 2>>"$out.log" | tee -a "$out.out"
    fi
    tail -n 3 "$out.log"
    python3 bench/dual_plot.py "$out.svg" "$TASK $name: rewards and dev scores" "$out.csv" "$AB" "$BA"
}

# bt_piece DIR COMMAND TRAIN OPTIONS: a new back-translation run of `triad
# COMMAND train` with OPTIONS, or the next piece of it (a finished run prints
# its dev score on stdout; a stopped piece prints nothing there).
bt_piece() {
    dir=$1 cmd=$2 train=$3
    shift 3
    out=$D/$TASK-bt-$dir
    if [ -s "$out.out" ]; then
        echo "$out: finished: $(cat "$out.out")"
    elif [ -f "$out.st.state" ]; then
        "$T" "$cmd" train --train "$train" --dev "$DEV" --output "$out.st" --resume --threads "$THREADS" \
            --max-time "$PIECE" --log "$out.csv" 2>>"$out.log" >"$out.out"
    else
        "$T" "$cmd" train --train "$train" --dev "$DEV" --output "$out.st" --force "$@" --threads "$THREADS" \
            --max-time "$PIECE" --log "$out.csv" 2>>"$out.log" >"$out.out"
    fi
    [ -s "$out.out" ] || echo "$out: piece done ($(tail -n 1 "$out.log")); run the step again to continue"
}

# infer_pair NAME AB BA LM: both directions of a model pair, primal and dual inference.
infer_pair() {
    echo "== $1"
    "$T" dual infer --ab "$2" --ba "$3" --lm-a "$D/$TASK-$4-a.st" --lm-b "$D/$TASK-$4-b.st" --dev "$DEV" --data "$TEST" \
        --threads "$THREADS" | grep -v "^dev alpha" | sed 's/^/A->B /'
    "$T" dual infer --ab "$3" --ba "$2" --lm-a "$D/$TASK-$4-b.st" --lm-b "$D/$TASK-$4-a.st" --dev "$DEV" --data "$TEST" \
        --threads "$THREADS" | grep -v "^dev alpha" | sed 's/^/B->A /'
}

STEPS=${STEPS:-6000}
case $STEP in
    lm100) [ "$LM100" = lm100 ] || { echo "$TASK: the lm step's language models serve the 100% models too"; exit 0; } ;;
esac
case $STEP in
    lm | lm100)
        # each side's text: the paired data's side and that side's monolingual half; dev's side for early stopping
        side_a "$PAIRED" >"$D/$TASK-a.train"
        cat "$MONO_A" >>"$D/$TASK-a.train"
        side_b "$PAIRED" >"$D/$TASK-b.train"
        cat "$MONO_B" >>"$D/$TASK-b.train"
        side_a "$DEV" >"$D/$TASK-a.dev"
        side_b "$DEV" >"$D/$TASK-b.dev"
        model=$([ "$STEP" = lm ] && echo "$S/$AB10.st" || echo "$S/$AB.st")
        for side in a b; do
            "$T" dual lm --model "$model" --side "$([ $side = a ] && echo src || echo tgt)" --train "$D/$TASK-$side.train" \
                --dev "$D/$TASK-$side.dev" --output "$D/$TASK-$STEP-$side.st" --epochs "$LM_EPOCHS" --threads "$THREADS" \
                2>"$D/$TASK-$STEP-$side.log"
        done
        ;;
    bt)
        # pseudo pairs (once): B-side monolingual text translated into A by B->A (10%), and A into B
        # by A->B; an empty prediction (a line the model cannot read, answered by --keep-going) makes
        # no pair
        if [ ! -f "$D/$TASK-bt.pairs" ]; then
            if [ "$TASK" = g2p ]; then
                "$T" p2g predict --model "$S/$BA10.st" --beam 5 --threads "$THREADS" <"$MONO_B" | awk 'NF >= 2' >"$D/g2p-bt-ab.lex"
                cat "$PAIRED" >>"$D/g2p-bt-ab.lex"
                "$T" g2p predict --model "$S/$AB10.st" --beam 5 --threads "$THREADS" <"$MONO_A" | awk 'NF >= 2' >"$D/g2p-bt-ba.lex"
                cat "$PAIRED" >>"$D/g2p-bt-ba.lex"
            else
                # keep_pairs PSEUDO REAL OUT_PSEUDO OUT_REAL: the line pairs whose translation is not empty
                keep_pairs() {
                    paste -d '\t' "$1" "$2" | awk -F '\t' '$1 != "" && $2 != ""' >"$D/mt-bt.tsv"
                    cut -f 1 "$D/mt-bt.tsv" >"$3"
                    cut -f 2 "$D/mt-bt.tsv" >"$4"
                }
                "$T" mt translate --model "$S/$BA10.st" --beam 5 --keep-going --threads "$THREADS" <"$MONO_B" >"$D/mt-bt-ab.pseudo"
                keep_pairs "$D/mt-bt-ab.pseudo" "$MONO_B" "$D/mt-bt-ab.en" "$D/mt-bt-ab.fr"
                "$T" mt translate --model "$S/$AB10.st" --beam 5 --keep-going --threads "$THREADS" <"$MONO_A" >"$D/mt-bt-ba.pseudo"
                keep_pairs "$D/mt-bt-ba.pseudo" "$MONO_A" "$D/mt-bt-ba.fr" "$D/mt-bt-ba.en"
                for dir in ab ba; do
                    cat data/mt/paired10.en >>"$D/mt-bt-$dir.en"
                    cat data/mt/paired10.fr >>"$D/mt-bt-$dir.fr"
                done
            fi
            touch "$D/$TASK-bt.pairs"
        fi
        # both directions retrained from scratch on the paired and pseudo pairs, a piece each
        if [ "$TASK" = g2p ]; then
            bt_piece ab g2p "$D/g2p-bt-ab.lex" --epochs 30
            bt_piece ba p2g "$D/g2p-bt-ba.lex" --epochs 30
        else
            # the 10% models' subword units, so that the same language models score every 10% model
            bt_piece ab mt "$D/mt-bt-ab" --src en --tgt fr --units "$S/$AB10.st" --epochs 10
            bt_piece ba mt "$D/mt-bt-ba" --src fr --tgt en --units "$S/$AB10.st" --epochs 10
        fi
        ;;
    dual) dual_run dual "$S/$AB10.st" "$S/$BA10.st" "$PAIRED" lm --eval-every 500 ;;
    dsl) dual_run dsl "$S/$AB.st" "$S/$BA.st" "$TRAIN" "$LM100" --eval-every 500 --dual-share 0 --lambda 0.01 ;;
    sup) dual_run sup "$S/$AB.st" "$S/$BA.st" "$TRAIN" "$LM100" --eval-every 500 --dual-share 0 --lambda 0 ;;
    infer)
        infer_pair "supervised 100%" "$S/$AB.st" "$S/$BA.st" "$LM100"
        infer_pair "supervised 10%" "$S/$AB10.st" "$S/$BA10.st" lm
        if [ -f "$D/$TASK-bt-ab.st" ]; then infer_pair "10% + back-translation" "$D/$TASK-bt-ab.st" "$D/$TASK-bt-ba.st" lm; fi
        if [ -f "$D/$TASK-dual-ab.st" ]; then infer_pair "10% + dual learning" "$D/$TASK-dual-ab.st" "$D/$TASK-dual-ba.st" lm; fi
        if [ -f "$D/$TASK-sup-ab.st" ]; then infer_pair "100% + the same updates, no regulariser" "$D/$TASK-sup-ab.st" "$D/$TASK-sup-ba.st" "$LM100"; fi
        if [ -f "$D/$TASK-dsl-ab.st" ]; then infer_pair "100% + duality regulariser" "$D/$TASK-dsl-ab.st" "$D/$TASK-dsl-ba.st" "$LM100"; fi
        ;;
    *) echo "unknown STEP $STEP (see the comment at the top of $0)" >&2; exit 2 ;;
esac
