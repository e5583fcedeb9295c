"""Training-throughput benchmark of the word LSTM language model in PyTorch (CPU).

This is the PyTorch side of triad's LM benchmark: the same model (scripts/torch_lm.py RNNModel,
PyTorch's word_language_model with an LSTM, no weight tying) trained the way word_language_model
trains it: batchify the token stream into B contiguous lanes, walk it in bptt-long windows with the
LSTM state carried (detached) between windows, mean cross-entropy, clip_grad_norm_, plain SGD.

Run with Debian's python3-torch, for example:

    /usr/bin/python3 bench/torch_lm_bench.py --train data/train.txt --threads 1 --seconds 60

Data preparation: lines split on "\\n", tokenized with the regex \\w+(?:['-]\\w+)*|[^\\w\\s],
lower-cased, "<eos>" after every line. The vocabulary is "<unk>", "<eos>" and the (--vocab - 2)
most frequent words (ties broken alphabetically); other words become "<unk>".

Timing: 3 warm-up batches are run first and not timed; then training steps (forward, backward,
gradient clipping, SGD update) are timed one by one, and training stops once their summed time
reaches --seconds. Data preparation and batch slicing are not timed. The result is one JSON line:

    {"system": "pytorch", "torch": ..., "threads": N, "tokens_per_s": ..., "batches": ...,
     "seconds": ..., "loss": <last loss>, "params": <parameter count>, ...config...}
"""

import argparse
import collections
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_lm import EOS, UNK, RNNModel, read_lines, text_to_ids, tokenize  # noqa: E402

WARMUP_BATCHES = 3


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch word LSTM LM training throughput")
    ap.add_argument("--train", required=True, help="training text file (UTF-8)")
    ap.add_argument("--vocab", type=int, default=10000, help="vocabulary size including <unk>, <eos>")
    ap.add_argument("--hidden", type=int, default=650)
    ap.add_argument("--emb", type=int, default=None, help="embedding size (default: --hidden)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--clip", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=30.0, help="timed training time")
    ap.add_argument("--seed", type=int, default=1111)
    args = ap.parse_args(argv)
    if args.emb is None:
        args.emb = args.hidden
    if args.vocab < 3:
        ap.error("--vocab must be at least 3")
    return args


def build_vocab(lines, size):
    """<unk>, <eos>, then the size-2 most frequent lower-cased words (ties alphabetical)."""
    counts = collections.Counter()
    for line in lines:
        counts.update(tokenize(line, lower=True))
    for special in (UNK, EOS):
        counts.pop(special, None)
    words = sorted(counts, key=lambda w: (-counts[w], w))[:size - 2]
    return [UNK, EOS] + words


def batchify(ids, bsz):
    """word_language_model's batchify: drop the remainder, lay the stream out as (N, B) lanes."""
    data = torch.tensor(ids, dtype=torch.long)
    nbatch = data.size(0) // bsz
    return data[:nbatch * bsz].view(bsz, -1).t().contiguous()  # (N, B)


def windows(source, bptt):
    """Yield (x, y) bptt windows over the (N, B) stream forever; None marks each new epoch."""
    while True:
        yield None
        for i in range(0, source.size(0) - 1, bptt):
            seq_len = min(bptt, source.size(0) - 1 - i)
            yield source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def train_step(model, params, x, y, state, lr, clip):
    """One truncated-BPTT step: forward, backward, clip, SGD. Returns (loss, detached state)."""
    model.zero_grad()
    logits, state = model(x, state)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y)
    loss.backward()
    nn.utils.clip_grad_norm_(params, clip)
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-lr)
    return loss.item(), (state[0].detach(), state[1].detach())


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    lines = read_lines(args.train)
    vocab = build_vocab(lines, args.vocab)
    stoi = {w: i for i, w in enumerate(vocab)}
    ids = text_to_ids(lines, stoi, lower=True)
    source = batchify(ids, args.batch)
    if source.size(0) < 2:
        print("error: %s has too few tokens (%d) for batch %d" % (args.train, len(ids), args.batch),
              file=sys.stderr)
        return 1

    model = RNNModel(len(vocab), args.emb, args.hidden, args.layers, args.dropout)
    model.train()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)

    warmup = batches = tokens = 0
    timed = 0.0
    loss = float("nan")
    state = None
    for window in windows(source, args.bptt):
        if window is None:  # new epoch: start again from the zero state
            state = model.init_state(args.batch)
            continue
        x, y = window
        t0 = time.perf_counter()
        loss, state = train_step(model, params, x, y, state, args.lr, args.clip)
        dt = time.perf_counter() - t0
        if warmup < WARMUP_BATCHES:
            warmup += 1
            continue
        timed += dt
        batches += 1
        tokens += y.numel()
        if timed >= args.seconds:
            break

    result = {
        "system": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "tokens_per_s": tokens / timed,
        "batches": batches,
        "seconds": timed,
        "loss": loss,
        "params": n_params,
        "vocab": len(vocab),
        "emb": args.emb,
        "hidden": args.hidden,
        "layers": args.layers,
        "batch": args.batch,
        "bptt": args.bptt,
        "train_tokens": len(ids),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
