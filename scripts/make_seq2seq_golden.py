"""Write the PyTorch reference fixtures for triad's sequence-to-sequence golden tests.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 scripts/make_seq2seq_golden.py [DIR]     # DIR defaults to tests/golden

It writes two small safetensors files (all F32; see scripts/st.py), one per configuration:

  seq2seq_tiny.safetensors  Vs=7, Vt=6, E=5, He=4, Hd=6, 2 encoder and 2 decoder layers,
                            "general" attention, input feeding
  seq2seq_dot.safetensors   Vs=7, Vt=6, E=5, He=3, Hd=6, 1 + 1 layers, "dot" attention,
                            no input feeding

each holding

  <name>                every parameter under triad's (PyTorch state_dict) names, re-initialised
                        uniform(-0.3, 0.3) after torch.manual_seed(1234 + configuration)
  batch.src (S,B)       source ids (time-major, 0 at padding), stored as float; S=4, B=3
  batch.src_len (B)     4, 1, 3
  batch.tgt (B,3)       target ids without <eos>, -1 after the end
  batch.tgt_len (B)     2, 0, 3
  batch.weight (B)      per-sequence loss weights 0.5, -1.5, 2.0
  expected.nll (B)      -log P(y_b, <eos> | x_b) by teacher forcing
  expected.loss (1)     sum_b weight_b * nll_b
  grad.<name>           d loss / d parameter
  expected.greedy_ids (B,5), expected.greedy_len (B), expected.greedy_logp (B)
                        greedy decoding of each source with at most 5 tokens (then <eos> is forced),
                        ids -1 after the end, logp including <eos>
  __metadata__          triad.config (the model's JSON config), made_by

The model (Seq2Seq below) is the one triad/seq2seq.h describes: a bidirectional nn.LSTM
encoder over packed (variable-length) sequences, a tanh bridge from [h_fwd(last); h_bwd(first)]
to every decoder layer's initial h (c starts at 0), an nn.LSTM decoder run one step at a time
with input feeding, Luong attention masked to each source's length, and a generator. <eos>
(id 1) starts every target. A triad checkpoint loads into it with load_state_dict.
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

EOS = 1
INIT = 0.3
MAX_LEN = 5


class Seq2Seq(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        E, He, Hd = cfg["emb"], cfg["hidden"], cfg["dec_hidden"]
        Le, Ld, feed = cfg["enc_layers"], cfg["dec_layers"], cfg["input_feed"]
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(cfg["src_vocab"], E)
        self.encoder.rnn = nn.LSTM(E, He, Le, bidirectional=True, dropout=cfg["dropout"] if Le > 1 else 0.0)
        self.bridge = nn.Linear(2 * He, Ld * Hd)
        self.decoder = nn.Module()
        self.decoder.embedding = nn.Embedding(cfg["tgt_vocab"], E)
        self.decoder.rnn = nn.LSTM(E + (Hd if feed else 0), Hd, Ld, dropout=cfg["dropout"] if Ld > 1 else 0.0)
        self.attention = nn.Module()
        if cfg["attention"] == "general":
            self.attention.linear_in = nn.Linear(2 * He, Hd, bias=False)
        self.attention.linear_out = nn.Linear(2 * He + Hd, Hd, bias=False)
        self.generator = nn.Linear(Hd, cfg["tgt_vocab"])
        self.drop = nn.Dropout(cfg["dropout"])

    def encode(self, src, src_len):
        """src (S, B) ids, src_len (B) -> memory (S, B, 2He) (0 at padding), keys, decoder state."""
        S, B = src.shape
        He, Hd, Ld = self.cfg["hidden"], self.cfg["dec_hidden"], self.cfg["dec_layers"]
        emb = self.drop(self.encoder.embedding(src))
        packed = pack_padded_sequence(emb, src_len, enforce_sorted=False)
        out, _ = self.encoder.rnn(packed)
        mem, _ = pad_packed_sequence(out, total_length=S)
        lanes = torch.arange(B)
        final = torch.cat([mem[src_len - 1, lanes, :He], mem[0, :, He:]], dim=1)
        h0 = torch.tanh(self.bridge(final)).view(B, Ld, Hd).transpose(0, 1).contiguous()
        keys = self.attention.linear_in(mem) if self.cfg["attention"] == "general" else mem
        mask = torch.arange(S)[:, None] >= src_len[None, :]  # (S, B), True at padding
        return mem, keys, mask, (h0, torch.zeros_like(h0))

    def step(self, tok, state, feed, mem, keys, mask):
        """One decoder step for tokens (B): returns logits (B, V), the new state and ht."""
        x = self.drop(self.decoder.embedding(tok))
        if self.cfg["input_feed"]:
            x = torch.cat([x, feed], dim=1)
        out, state = self.decoder.rnn(x[None], state)
        q = out[0]
        score = torch.einsum("bd,sbd->bs", q, keys).masked_fill(mask.t(), float("-inf"))
        alpha = torch.softmax(score, dim=1)
        ctx = torch.einsum("bs,sbc->bc", alpha, mem)
        ht = self.drop(torch.tanh(self.attention.linear_out(torch.cat([ctx, q], dim=1))))
        return self.generator(ht), state, ht

    def nll(self, src, src_len, tgt, tgt_len):
        """Per-sequence -log P(y, <eos> | x) by teacher forcing; tgt (B, n) padded with -1."""
        B = src.shape[1]
        T = int(tgt_len.max()) + 1
        mem, keys, mask, state = self.encode(src, src_len)
        y_out = torch.full((T, B), -1, dtype=torch.long)
        y_in = torch.full((T, B), EOS, dtype=torch.long)
        for b in range(B):
            n = int(tgt_len[b])
            y_out[:n, b] = tgt[b, :n]
            y_out[n, b] = EOS
            y_in[1 : n + 1, b] = tgt[b, :n]
        feed = torch.zeros(B, self.cfg["dec_hidden"])
        rows = []
        for t in range(T):
            logits, state, feed = self.step(y_in[t], state, feed, mem, keys, mask)
            rows.append(F.cross_entropy(logits, y_out[t], ignore_index=-1, reduction="none"))
        return torch.stack(rows).sum(0)

    @torch.no_grad()
    def greedy(self, src, src_len, max_len):
        B = src.shape[1]
        mem, keys, mask, state = self.encode(src, src_len)
        feed = torch.zeros(B, self.cfg["dec_hidden"])
        tok = torch.full((B,), EOS, dtype=torch.long)
        ids = torch.full((B, max_len), -1.0)
        length = torch.full((B,), -1.0)
        logp = torch.zeros(B, dtype=torch.float64)
        for t in range(max_len + 1):
            logits, state, feed = self.step(tok, state, feed, mem, keys, mask)
            lp = torch.log_softmax(logits.double(), dim=1)
            best = logits.argmax(dim=1) if t < max_len else torch.full((B,), EOS, dtype=torch.long)
            for b in range(B):
                if length[b] >= 0:
                    continue
                logp[b] += lp[b, best[b]]
                if best[b] == EOS:
                    length[b] = t
                else:
                    ids[b, t] = float(best[b])
            tok = best
            if (length >= 0).all():
                break
        return ids, length, logp.float()


def fixture(cfg, seed):
    torch.manual_seed(seed)
    model = Seq2Seq(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT, INIT)
    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    src_len = torch.tensor([4, 1, 3])
    tgt_len = torch.tensor([2, 0, 3])
    S, B = int(src_len.max()), len(src_len)
    src = torch.zeros(S, B, dtype=torch.long)
    tgt = torch.full((B, 3), -1, dtype=torch.long)
    for b in range(B):
        src[: src_len[b], b] = torch.randint(2, cfg["src_vocab"], (int(src_len[b]),), generator=g)
        tgt[b, : tgt_len[b]] = torch.randint(0, cfg["tgt_vocab"], (int(tgt_len[b]),), generator=g)
        tgt[b, : tgt_len[b]][tgt[b, : tgt_len[b]] == EOS] = 2  # <eos> only at the end
    weight = torch.tensor([0.5, -1.5, 2.0])
    nll = model.nll(src, src_len, tgt, tgt_len)
    loss = (weight * nll).sum()
    model.zero_grad()
    loss.backward()
    out = {name: p.detach().clone() for name, p in model.named_parameters()}
    out["batch.src"] = src.float()
    out["batch.src_len"] = src_len.float()
    out["batch.tgt"] = tgt.float()
    out["batch.tgt_len"] = tgt_len.float()
    out["batch.weight"] = weight
    out["expected.nll"] = nll.detach()
    out["expected.loss"] = loss.detach().reshape(1)
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.detach().clone()
    ids, length, logp = model.greedy(src, src_len, MAX_LEN)
    out["expected.greedy_ids"] = ids
    out["expected.greedy_len"] = length
    out["expected.greedy_logp"] = logp
    meta = {
        "triad.config": json.dumps(cfg, separators=(",", ":")),
        "made_by": "scripts/make_seq2seq_golden.py (torch %s)" % torch.__version__,
    }
    return out, meta


CONFIGS = {
    "seq2seq_tiny.safetensors": dict(src_vocab=7, tgt_vocab=6, emb=5, hidden=4, dec_hidden=6, enc_layers=2,
                                     dec_layers=2, attention="general", input_feed=True, dropout=0.0),
    "seq2seq_dot.safetensors": dict(src_vocab=7, tgt_vocab=6, emb=5, hidden=3, dec_hidden=6, enc_layers=1,
                                    dec_layers=1, attention="dot", input_feed=False, dropout=0.0),
}


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join("tests", "golden")
    torch.set_num_threads(1)
    for k, (name, cfg) in enumerate(CONFIGS.items()):
        tensors, meta = fixture(cfg, 1234 + k)
        path = os.path.join(out_dir, name)
        st.save(path, tensors, meta)
        print("wrote %s: nll %s, loss %.6f" % (path, [round(float(x), 5) for x in tensors["expected.nll"]],
                                                float(tensors["expected.loss"])))


if __name__ == "__main__":
    main(sys.argv)
