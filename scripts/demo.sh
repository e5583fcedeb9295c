#!/bin/sh
# The main demo: installs what is missing, builds triad, fetches the KJV Bible
# corpus, trains a small word LSTM language model on it (a few minutes on two
# cores), and prints validation and test perplexity and a generated sample.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
scripts/get_data.sh kjv
build/triad lm train --train data/kjv/train.txt --valid data/kjv/valid.txt --test data/kjv/test.txt \
    --output data/kjv-lm.safetensors --force
echo "--- a sample (triad lm generate --model data/kjv-lm.safetensors --prime 'and god said' --temperature 0.8):"
build/triad lm generate --model data/kjv-lm.safetensors --prime "and god said" --length 80 --temperature 0.8
