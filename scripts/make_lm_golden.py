"""Write the PyTorch reference fixture for triad's word LSTM language model golden test.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 scripts/make_lm_golden.py [OUT]     # OUT defaults to tests/golden/lm_tiny.safetensors

The output is a small safetensors file (all F32; see scripts/st.py) holding:

  model (V=13, E=7, H=6, L=2, dropout 0), every parameter re-initialised uniform(-0.3, 0.3)
  after torch.manual_seed(1234), under the PyTorch state_dict names:
      encoder.weight (V,E), rnn.weight_ih_l{k} (4H,in), rnn.weight_hh_l{k} (4H,H),
      rnn.bias_ih_l{k} (4H), rnn.bias_hh_l{k} (4H), decoder.weight (V,H), decoder.bias (V)
  data, T=5, B=3: one random id stream of length 11 per lane, laid out (T, B), ids stored as float:
      x1 = s[0:5], y1 = s[1:6], x2 = s[5:10], y2 = s[6:11]
  logits1 (T,B,V)   decoder output for x1 from the zero state
  loss1 (1,)        mean cross-entropy of logits1 against y1
  loss1_f64 (1,)    the same loss computed with a float64 copy of the model (rounded to F32)
  grad.<name>       gradient of loss1 for every parameter
  h1, c1 (L,B,H)    final LSTM state after x1
  loss2 (1,)        loss on (x2, y2) starting from (h1, c1) detached, no update in between
  sgd_losses (6,)   SGD lr 0.5
  sgdm_losses (6,)  SGD lr 0.1 momentum 0.9 weight_decay 0.01, clip_grad_norm_(params, 1.0) before each step
  adam_losses (6,)  Adam lr 0.01
                    each optimiser run starts from the original weights and takes 5 steps on (x1, y1)
                    from the zero state; the curve is the loss before each step and after the 5th.
  __metadata__      triad.model "lm", triad.config, triad.vocab ("<unk>", "<eos>", w2 .. w12), made_by
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from torch_lm import RNNModel  # noqa: E402

V, E, H, L = 13, 7, 6, 2
T, B = 5, 3
SEED = 1234
INIT = 0.3
STEPS = 5
DEFAULT_OUT = os.path.join("tests", "golden", "lm_tiny.safetensors")


def lm_loss(model, x, y, state):
    """Mean cross-entropy over all T*B targets; returns (loss, logits, final state)."""
    logits, state = model(x, state)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    return loss, logits, state


def optimiser_curve(initial, make_opt, x, y, clip=None):
    """Losses before each of STEPS steps on (x, y) from the zero state, then after the last step."""
    model = RNNModel(V, E, H, L, 0.0)
    model.load_state_dict(initial)
    opt = make_opt(model.parameters())
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss, _, _ = lm_loss(model, x, y, model.init_state(B))
        losses.append(loss.item())
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    with torch.no_grad():
        loss, _, _ = lm_loss(model, x, y, model.init_state(B))
    losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float32)


def main(argv):
    out = argv[1] if len(argv) > 1 else DEFAULT_OUT
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)

    model = RNNModel(V, E, H, L, 0.0)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT, INIT)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

    stream = torch.randint(0, V, (B, 2 * T + 1))  # one id sequence per lane
    x1 = stream[:, 0:T].t().contiguous()  # (T, B)
    y1 = stream[:, 1:T + 1].t().contiguous()
    x2 = stream[:, T:2 * T].t().contiguous()
    y2 = stream[:, T + 1:2 * T + 1].t().contiguous()

    # Forward and backward on the first batch from the zero state.
    model.zero_grad()
    loss1, logits1, (h1, c1) = lm_loss(model, x1, y1, model.init_state(B))
    loss1.backward()
    grads = {"grad." + n: p.grad.detach().clone() for n, p in model.named_parameters()}

    # Second batch continues from the detached final state; weights unchanged.
    with torch.no_grad():
        loss2, _, _ = lm_loss(model, x2, y2, (h1.detach(), c1.detach()))

    # Float64 reference of loss1.
    model64 = RNNModel(V, E, H, L, 0.0).double()
    model64.load_state_dict({k: v.double() for k, v in initial.items()})
    with torch.no_grad():
        loss1_f64, _, _ = lm_loss(model64, x1, y1, model64.init_state(B))

    sgd = optimiser_curve(initial, lambda ps: torch.optim.SGD(ps, lr=0.5), x1, y1)
    sgdm = optimiser_curve(
        initial, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        x1, y1, clip=1.0)
    adam = optimiser_curve(initial, lambda ps: torch.optim.Adam(ps, lr=0.01), x1, y1)

    tensors = dict(initial)
    tensors.update({
        "x1": x1.float(), "y1": y1.float(), "x2": x2.float(), "y2": y2.float(),
        "logits1": logits1.detach(),
        "loss1": loss1.detach().reshape(1),
        "loss1_f64": loss1_f64.float().reshape(1),
        "h1": h1.detach(), "c1": c1.detach(),
        "loss2": loss2.reshape(1),
        "sgd_losses": sgd, "sgdm_losses": sgdm, "adam_losses": adam,
    })
    tensors.update(grads)
    config = {"vocab_size": V, "emb": E, "hidden": H, "layers": L, "dropout": 0.0, "lower": True}
    vocab = ["<unk>", "<eos>"] + ["w%d" % i for i in range(2, V)]
    metadata = {
        "triad.model": "lm",
        "triad.config": json.dumps(config),
        "triad.vocab": "\n".join(vocab),
        "made_by": "scripts/make_lm_golden.py",
    }
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    st.save(out, tensors, metadata)

    def fmt(t):
        return " ".join("%.6f" % v for v in t.tolist())

    print("wrote %s (%d tensors, %d bytes), torch %s"
          % (out, len(tensors), os.path.getsize(out), torch.__version__))
    print("loss1       %.7f  (float64 forward: %.10f)" % (loss1.item(), loss1_f64.item()))
    print("loss2       %.7f" % loss2.item())
    print("sgd_losses  %s" % fmt(sgd))
    print("sgdm_losses %s" % fmt(sgdm))
    print("adam_losses %s" % fmt(adam))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
