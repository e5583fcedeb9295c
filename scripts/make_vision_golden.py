"""Write the PyTorch reference fixture for triad's vision layers and classifiers golden test.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 scripts/make_vision_golden.py [OUT]   # OUT defaults to tests/golden/vision_tiny.safetensors

The output is a small safetensors file (all F32; see scripts/st.py). After torch.manual_seed(5),
every input below is drawn uniform(-1, 1) unless stated otherwise, and each layer's loss is
sum(output * R) for its R, so its gradients are those of backward fed with R:

  conv_a.{x (2,3,6,5), w (4,3,3,3), b (4), R (2,4,6,5)}           F.conv2d, padding 1
  conv_a.{y, gx, gw, gb}                                           output and gradients
  conv_b.{x (1,2,4,7), w (3,2,5,5), b (3), R (1,3,4,7)}            F.conv2d, padding 2 (K > H)
  conv_b.{y, gx, gw, gb}
  pool.{x (2,3,6,4), R (2,3,3,2)}                                  F.max_pool2d(x, 2)
  pool.{y, gx}
  cnn.<state_dict name>      the cnn (8x8 images, channels 2, 3 classes), every parameter
                             re-initialised uniform(-INIT, INIT) so that most units are active
  mlp.<state_dict name>      the mlp (8x8 images, hidden 6, layers 2, 3 classes), likewise
  images (5, 64)             uniform(0, 1) pixels;  labels (5,) classes 0..2 stored as float
  {cnn,mlp}.loss (1,)        mean cross-entropy of the batch
  {cnn,mlp}.probs (5, 3)     softmax of the logits
  {cnn,mlp}.grad.<name>      gradient of the mean loss for every parameter
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

SEED = 5
DEFAULT_OUT = os.path.join("tests", "golden", "vision_tiny.safetensors")
H = W = 8
CLASSES = 3
N = 5
INIT = 0.5


class Mlp(nn.Module):
    """triad's mlp: [fc_l, relu] x layers -> out."""

    def __init__(self, hw, hidden, layers, classes):
        super().__init__()
        dims = [hw] + [hidden] * layers
        for i in range(layers):
            setattr(self, "fc%d" % i, nn.Linear(dims[i], dims[i + 1]))
        self.layers = layers
        self.out = nn.Linear(dims[-1], classes)

    def forward(self, x):
        for i in range(self.layers):
            x = F.relu(getattr(self, "fc%d" % i)(x))
        return self.out(x)


class Cnn(nn.Module):
    """triad's cnn: conv5x5 pad 2 (C) -> relu -> pool -> conv5x5 pad 2 (2C) -> relu -> pool -> out."""

    def __init__(self, h, w, channels, classes):
        super().__init__()
        self.h, self.w = h, w
        self.conv1 = nn.Conv2d(1, channels, 5, padding=2)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 5, padding=2)
        self.out = nn.Linear(2 * channels * (h // 4) * (w // 4), classes)

    def forward(self, x):
        x = x.reshape(-1, 1, self.h, self.w)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(torch.flatten(x, 1))


def uniform(*shape):
    return torch.rand(*shape) * 2 - 1


def conv_case(prefix, x_shape, w_shape, pad, out):
    x = uniform(*x_shape).requires_grad_()
    w = uniform(*w_shape).requires_grad_()
    b = uniform(w_shape[0]).requires_grad_()
    y = F.conv2d(x, w, b, padding=pad)
    R = uniform(*y.shape)
    (y * R).sum().backward()
    out.update({prefix + ".x": x.detach(), prefix + ".w": w.detach(), prefix + ".b": b.detach(),
                prefix + ".R": R, prefix + ".y": y.detach(), prefix + ".gx": x.grad,
                prefix + ".gw": w.grad, prefix + ".gb": b.grad})


def model_case(prefix, model, images, labels, out):
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-INIT, INIT)
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    for name, p in model.named_parameters():
        out[prefix + "." + name] = p.detach().clone()
        out[prefix + ".grad." + name] = p.grad.detach().clone()
    out[prefix + ".loss"] = loss.detach().reshape(1)
    out[prefix + ".probs"] = F.softmax(logits, dim=1).detach()
    return loss.item()


def main(argv):
    out_path = argv[1] if len(argv) > 1 else DEFAULT_OUT
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    out = {}
    conv_case("conv_a", (2, 3, 6, 5), (4, 3, 3, 3), 1, out)
    conv_case("conv_b", (1, 2, 4, 7), (3, 2, 5, 5), 2, out)

    x = uniform(2, 3, 6, 4).requires_grad_()
    y = F.max_pool2d(x, 2)
    R = uniform(*y.shape)
    (y * R).sum().backward()
    out.update({"pool.x": x.detach(), "pool.R": R, "pool.y": y.detach(), "pool.gx": x.grad})

    images = torch.rand(N, H * W)
    labels = torch.randint(0, CLASSES, (N,))
    out["images"] = images
    out["labels"] = labels.float()
    cnn_loss = model_case("cnn", Cnn(H, W, 2, CLASSES), images, labels, out)
    mlp_loss = model_case("mlp", Mlp(H * W, 6, 2, CLASSES), images, labels, out)

    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    st.save(out_path, out, {"made_by": "scripts/make_vision_golden.py"})
    print("wrote %s (%d tensors, %d bytes), torch %s; cnn loss %.7f, mlp loss %.7f"
          % (out_path, len(out), os.path.getsize(out_path), torch.__version__, cnn_loss, mlp_loss))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
