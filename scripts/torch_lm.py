"""PyTorch twin of triad's word LSTM language model, and a perplexity evaluator for its checkpoints.

The model is PyTorch's examples/word_language_model RNNModel with an LSTM and no weight tying:

    encoder = nn.Embedding(V, E) -> dropout -> nn.LSTM(E, H, L, dropout=p) -> dropout -> nn.Linear(H, V)

Its state_dict names (encoder.weight, rnn.weight_ih_l0, ..., decoder.bias) are the tensor names of a
triad "lm" checkpoint, a safetensors file whose __metadata__ holds
    "triad.model":  "lm"
    "triad.config": JSON {"vocab_size", "emb", "hidden", "layers", "dropout", "lower"}
    "triad.vocab":  the words joined by "\\n" in id order (id 0 "<unk>", id 1 "<eos>").

Usage (Debian's python3 with python3-torch):

    /usr/bin/python3 scripts/torch_lm.py ppl CKPT.safetensors TEXT.txt

prints "ppl <perplexity>" and "tokens <number of predicted tokens>". The text is split into lines on
"\\n" (a final newline does not start another line); every line is tokenized, followed by "<eos>",
and all lines are concatenated into one sequence s. Starting from a zero state, the model predicts
s[1:] from s[:-1]; ppl = exp(mean negative log-likelihood). Errors go to stderr with exit status 1.

Other scripts import RNNModel, tokenize and read_lines from this file.
"""

import json
import math
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (scripts/st.py)

UNK = "<unk>"
EOS = "<eos>"
TOKEN_RE = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")
CONFIG_KEYS = ("vocab_size", "emb", "hidden", "layers", "dropout", "lower")


class RNNModel(nn.Module):
    """Embedding -> dropout -> multi-layer LSTM -> dropout -> linear decoder (seq-first: input (T, B))."""

    def __init__(self, vocab_size, emb, hidden, layers, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab_size)
        self.hidden = hidden
        self.layers = layers
        self.init_weights()

    def init_weights(self):
        """word_language_model's initialisation (the LSTM keeps PyTorch's default)."""
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, x, state):
        """x: (T, B) int64 ids; state: (h, c) each (L, B, H). Returns logits (T, B, V) and the new state."""
        emb = self.drop(self.encoder(x))  # (T, B, E)
        out, state = self.rnn(emb, state)  # (T, B, H)
        return self.decoder(self.drop(out)), state  # (T, B, V)

    def init_state(self, batch, dtype=None):
        """Zero (h, c), each (L, B, H)."""
        w = next(self.parameters())
        dtype = dtype or w.dtype
        shape = (self.layers, batch, self.hidden)
        return (torch.zeros(shape, dtype=dtype, device=w.device),
                torch.zeros(shape, dtype=dtype, device=w.device))


def tokenize(line, lower):
    """Split one line into word and punctuation tokens (no <eos>)."""
    if lower:
        line = line.lower()
    return TOKEN_RE.findall(line)


def read_lines(path):
    """Lines of a UTF-8 text file, split on "\\n"; a trailing newline does not add an empty line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def text_to_ids(lines, stoi, lower):
    """All lines' token ids concatenated, "<eos>" after each line; unknown words map to "<unk>".
    Lines without tokens are skipped (no "<eos>"), as triad does."""
    unk, eos = stoi[UNK], stoi[EOS]
    ids = []
    for line in lines:
        toks = tokenize(line, lower)
        if not toks:
            continue
        ids.extend(stoi.get(w, unk) for w in toks)
        ids.append(eos)
    return ids


class CheckpointError(Exception):
    pass


def load_checkpoint(path):
    """Rebuild an RNNModel from a triad "lm" checkpoint. Returns (model, config dict, vocab list)."""
    try:
        tensors, meta = st.load(path)
    except (OSError, ValueError) as e:
        raise CheckpointError("cannot read %s: %s" % (path, e))
    kind = meta.get("triad.model")
    if kind != "lm":
        raise CheckpointError("%s: triad.model is %r, expected 'lm'" % (path, kind))
    for key in ("triad.config", "triad.vocab"):
        if key not in meta:
            raise CheckpointError("%s: metadata key %r is missing" % (path, key))
    try:
        cfg = json.loads(meta["triad.config"])
    except json.JSONDecodeError as e:
        raise CheckpointError("%s: triad.config is not valid JSON: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise CheckpointError("%s: triad.config is not a JSON object" % path)
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise CheckpointError("%s: triad.config lacks %s" % (path, ", ".join(missing)))
    vocab = meta["triad.vocab"].split("\n")
    if len(vocab) != cfg["vocab_size"]:
        raise CheckpointError("%s: triad.vocab has %d words but vocab_size is %d"
                              % (path, len(vocab), cfg["vocab_size"]))
    if vocab[:2] != [UNK, EOS]:
        raise CheckpointError("%s: vocabulary must start with %s, %s" % (path, UNK, EOS))
    try:
        model = RNNModel(int(cfg["vocab_size"]), int(cfg["emb"]), int(cfg["hidden"]),
                         int(cfg["layers"]), float(cfg["dropout"]))
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError("%s: bad triad.config %s: %s" % (path, meta["triad.config"], e))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise CheckpointError("%s: does not match the model in triad.config: %s" % (path, e))
    model.eval()
    return model, cfg, vocab


@torch.no_grad()
def perplexity(model, ids, chunk=256):
    """exp(mean NLL) of predicting ids[1:] from ids[:-1], batch 1, state carried across chunks."""
    if len(ids) < 2:
        raise ValueError("text has %d tokens; need at least 2 to predict anything" % len(ids))
    seq = torch.tensor(ids, dtype=torch.long)
    state = model.init_state(1)
    total = 0.0  # summed in double
    n = len(ids) - 1
    for i in range(0, n, chunk):
        x = seq[i:min(i + chunk, n)].unsqueeze(1)  # (T, 1)
        y = seq[i + 1:min(i + chunk, n) + 1]  # (T,)
        logits, state = model(x, state)
        total += F.cross_entropy(logits.view(-1, logits.size(-1)), y, reduction="sum").item()
    mean = total / n
    return (math.exp(mean) if mean < 709.0 else float("inf")), n  # exp overflows past 709


def cmd_ppl(ckpt, text):
    model, cfg, vocab = load_checkpoint(ckpt)
    stoi = {w: i for i, w in enumerate(vocab)}
    try:
        lines = read_lines(text)
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError("cannot read %s: %s" % (text, e))
    ids = text_to_ids(lines, stoi, bool(cfg["lower"]))
    try:
        ppl, n = perplexity(model, ids)
    except ValueError as e:
        raise CheckpointError("%s: %s" % (text, e))
    print("ppl %.6f" % ppl)
    print("tokens %d" % n)


def main(argv):
    if len(argv) != 4 or argv[1] != "ppl":
        print("usage: %s ppl CKPT.safetensors TEXT" % os.path.basename(argv[0]), file=sys.stderr)
        return 1
    try:
        cmd_ppl(argv[2], argv[3])
    except CheckpointError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
