#!/usr/bin/env python3
"""Tables and plot of the parameter-server convergence study
(bench/ps_convergence.sh). Python 3 standard library only.

  ps_plot.py split SRC DST
      writes a validation split of Fashion-MNIST: DST/train-* = the first
      50,000 training images, DST/t10k-* = the last 10,000 training images
      (the test set is not used), gzipped IDX like the originals.
  ps_plot.py tune DIR
      prints the learning-rate sweep of sequential SGD on the validation
      split (DIR/tune_lr*.jsonl) and, as the last line, the chosen rate:
      the best final validation accuracy (ties: the smaller rate).
  ps_plot.py report SVG TITLE DIR LABEL [DIR LABEL ...]
      prints, for each study DIR, the table of final test accuracies (mean
      over seeds, spread, staleness, difference to sequential SGD) from
      DIR/s<seed>_<run>.jsonl, and writes the plot of mean test accuracy
      against epochs to SVG: one row of panels (M = 4, 8, 16) per study.

Run names: seq (M = 1), and <kind>_m<M> with kind asgd (asp, sgd),
bsp (bsp, sgd), dcasgd_c and dcasgd_a (asp).
"""
import glob
import gzip
import json
import math
import os
import re
import struct
import sys

KINDS = [("asgd", "ASGD (asp, sgd)"), ("bsp", "SSGD (bsp, sgd)"),
         ("dcasgd_c", "DC-ASGD-c"), ("dcasgd_a", "DC-ASGD-a")]
COLORS = {"seq": "#000000", "asgd": "#d62728", "bsp": "#7f7f7f",
          "dcasgd_c": "#1f77b4", "dcasgd_a": "#2ca02c"}
DASH = {"seq": "6,3", "asgd": "", "bsp": "2,3", "dcasgd_c": "", "dcasgd_a": ""}


def num(v):
    """A JSON number, or NaN for the strings the log writes for nan/inf."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def read_log(path):
    evals, final = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("event") == "final":
                final = r
            else:
                evals.append(r)
    if final is None:
        raise SystemExit("%s: no final line (run not finished)" % path)
    # the final evaluation is the last epoch's point when the run evaluates every epoch
    curve = {}
    for r in evals + [final]:
        curve[round(num(r["epoch"]), 6)] = num(r["accuracy"])
    return final, sorted(curve.items())


# ---------------------------------------------------------------- split

def split(src, dst):
    os.makedirs(dst, exist_ok=True)
    ntrain = 50000
    for kind, hdr in (("images-idx3", 16), ("labels-idx1", 8)):
        with gzip.open(os.path.join(src, "train-%s-ubyte.gz" % kind), "rb") as f:
            data = f.read()
        head, body = data[:hdr], data[hdr:]
        n = struct.unpack(">I", head[4:8])[0]
        per = len(body) // n
        for name, lo, hi in (("train", 0, ntrain), ("t10k", ntrain, n)):
            h = head[:4] + struct.pack(">I", hi - lo) + head[8:]
            out = os.path.join(dst, "%s-%s-ubyte.gz" % (name, kind))
            with open(out, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
                    g.write(h + body[lo * per:hi * per])
    print("validation split: train = training images 1..50000, t10k = 50001..60000, in %s" % dst)


# ---------------------------------------------------------------- tune

def tune(d):
    rows = []
    for p in glob.glob(os.path.join(d, "tune_lr*.jsonl")):
        lr = float(re.search(r"tune_lr(.*)\.jsonl$", p).group(1))
        final, curve = read_log(p)
        best = max((a for _, a in curve if not math.isnan(a)), default=math.nan)
        rows.append((lr, num(final["accuracy"]), best, num(final["loss"])))
    if not rows:
        raise SystemExit("no tune_lr*.jsonl in %s" % d)
    rows.sort()
    print("| lr | final val. accuracy | best epoch's val. accuracy | final val. loss |")
    print("|---|---|---|---|")
    for lr, acc, best, loss in rows:
        print("| %g | %.2f%% | %.2f%% | %.4f |" % (lr, 100 * acc, 100 * best, loss))
    ok = [r for r in rows if not math.isnan(r[1])]
    chosen = max(ok, key=lambda r: (r[1], -r[0]))[0]
    print("chosen lr %g" % chosen)


# ---------------------------------------------------------------- report

def load_runs(d):
    runs = {}  # name -> {seed: (final, curve)}
    for p in glob.glob(os.path.join(d, "s*_*.jsonl")):
        m = re.match(r"s(\d+)_(.*)\.jsonl$", os.path.basename(p))
        if not m:
            continue
        runs.setdefault(m.group(2), {})[int(m.group(1))] = read_log(p)
    epochs = {num(f["epoch"]) for r in runs.values() for f, _ in r.values()}
    if len(epochs) > 1:
        raise SystemExit("%s: runs of different lengths (epochs %s): unfinished runs?" % (d, sorted(epochs)))
    return runs


def mean(xs):
    return sum(xs) / len(xs) if xs else math.nan


def sd(xs):
    if len(xs) < 2:
        return math.nan
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def fmt_pts(x):
    return "n/a" if math.isnan(x) else "%+.2f" % x


def report(d, label):
    runs = load_runs(d)
    if "seq" not in runs:
        raise SystemExit("no s<seed>_seq.jsonl in %s" % d)
    seeds = sorted(runs["seq"])
    seq_acc = {s: 100 * num(runs["seq"][s][0]["accuracy"]) for s in seeds}
    ms = sorted({int(re.search(r"_m(\d+)$", n).group(1)) for n in runs if re.search(r"_m(\d+)$", n)})
    print("%s (%s), seeds %s" % (label, d, " ".join(map(str, seeds))))
    print()
    print("| M | run | test accuracy % (min..max) | diff to sequential (points) | staleness mean / max |")
    print("|---|---|---|---|---|")
    acc = [seq_acc[s] for s in seeds]
    print("| 1 | sequential SGD | %.2f (%.2f..%.2f) | 0 | 0 / 0 |" % (mean(acc), min(acc), max(acc)))
    for M in ms:
        for kind, name_ in KINDS:
            name = "%s_m%d" % (kind, M)
            if name not in runs:
                continue
            r = runs[name]
            ss = sorted(r)
            acc = [100 * num(r[s][0]["accuracy"]) for s in ss]
            diff = [100 * num(r[s][0]["accuracy"]) - seq_acc[s] for s in ss if s in seq_acc]
            # each line's stale_mean covers the pushes since the previous line, and every
            # epoch has as many pushes: the run's mean is the mean of the lines' means
            st, smax = [], 0
            for s in ss:
                means, mx = stale_means(os.path.join(d, "s%d_%s.jsonl" % (s, name)))
                st.append(mean(means))
                smax = max(smax, mx)
            nan = sum(1 for s in ss if math.isnan(num(r[s][0]["loss"])))
            note = " (loss NaN in %d of %d seeds)" % (nan, len(ss)) if nan else ""
            print("| %d | %s | %.2f (%.2f..%.2f)%s | %s | %.2f / %d |"
                  % (M, name_, mean(acc), min(acc), max(acc), note, fmt_pts(mean(diff)), mean(st), smax))
    print()
    acc = [seq_acc[s] for s in seeds]
    if len(acc) > 1:
        print("sequential SGD over %d seeds: mean %.2f%%, standard deviation %.2f points, range %.2f points"
              % (len(acc), mean(acc), sd(acc), max(acc) - min(acc)))
    print("diff: mean over seeds of (run - sequential SGD of the same seed); staleness over all pushes")
    print()
    return runs, ms, seeds


def stale_means(path):
    means, mx = [], 0
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                means.append(num(r["stale_mean"]))
                mx = max(mx, int(num(r["stale_max"])))
    return means, mx


# ---------------------------------------------------------------- svg

def mean_curve(byseed):
    pts = {}
    for final, curve in byseed.values():
        for e, a in curve:
            pts.setdefault(e, []).append(100 * a)
    return [(e, mean(v)) for e, v in sorted(pts.items()) if len(v) == len(byseed)]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plot(studies, path, title):
    """studies: [(label, runs, ms, seeds)], one row of panels (one per M) each."""
    pw, ph = 300, 230              # panel plot area
    ml, mr, mt, mb = 56, 14, 62, 46
    gap, rowgap = 26, 40
    legend_h = 26
    ncol = max(len(ms) for _, _, ms, _ in studies)
    W = ml + ncol * pw + (ncol - 1) * gap + mr
    H = mt + len(studies) * (ph + mb + rowgap) + legend_h
    out = []
    out.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
               'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">' % (W, H, W, H))
    out.append('<rect width="100%" height="100%" fill="white"/>')
    out.append('<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>' % (ml, esc(title)))
    out.append('<text x="%d" y="34" fill="#444">test accuracy against epochs, mean over seeds; '
               'sequential SGD (M = 1, dashed black) is in every panel</text>' % ml)
    for row, (label, runs, ms, seeds) in enumerate(studies):
        curves = {n: mean_curve(r) for n, r in runs.items()}
        emax = max(e for c in curves.values() for e, _ in c)
        seq_final = curves["seq"][-1][1]
        # y range: every curve from epoch 2 on, but no lower than 8 points under sequential
        # SGD's final accuracy; runs that end below it are named in their panel
        ys = [a for c in curves.values() for e, a in c if e >= 2 and not math.isnan(a)]
        ylo = max(math.floor(min(ys)), math.floor(seq_final - 8))
        yhi = math.ceil(max(ys))
        ystep = 1 if yhi - ylo <= 10 else 2
        estep = 5 if emax > 10 else 1
        y0 = mt + row * (ph + mb + rowgap) + 20
        out.append('<text x="%d" y="%d" font-size="12" font-weight="bold">%s, seeds %s</text>'
                   % (ml, y0 - 22, esc(label), " ".join(map(str, seeds))))
        for i, M in enumerate(ms):
            x0 = ml + i * (pw + gap)

            def X(e):
                return x0 + pw * e / emax

            def Y(a):
                return y0 + ph * (1 - (a - ylo) / (yhi - ylo))
            out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>'
                       % (x0, y0, pw, ph))
            clip = "c%d_%d" % (row, i)
            out.append('<clipPath id="%s"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>'
                       % (clip, x0, y0, pw, ph))
            out.append('<text x="%.1f" y="%d" text-anchor="middle" font-weight="bold">M = %d</text>'
                       % (x0 + pw / 2, y0 - 5, M))
            y = ylo
            while y <= yhi + 1e-9:
                yy = Y(y)
                out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>'
                           % (x0, yy, x0 + pw, yy))
                if i == 0:
                    out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (x0 - 5, yy + 4, y))
                y += ystep
            e = 0
            while e <= emax + 1e-9:
                xx = X(e)
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>'
                           % (xx, y0 + ph, xx, y0 + ph + 4))
                out.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (xx, y0 + ph + 16, e))
                e += estep
            out.append('<text x="%.1f" y="%d" text-anchor="middle">epoch</text>' % (x0 + pw / 2, y0 + ph + 32))
            below = []
            for kind in ["bsp", "asgd", "dcasgd_c", "dcasgd_a", "seq"]:
                name = "seq" if kind == "seq" else "%s_m%d" % (kind, M)
                c = [(e, a) for e, a in curves.get(name, []) if not math.isnan(a)]
                if not c:
                    continue
                if c[-1][1] < ylo:
                    nan = sum(1 for f, _ in runs[name].values() if math.isnan(num(f["loss"])))
                    below.append((kind, "%s: %.1f%%%s" % (dict(KINDS)[kind], c[-1][1],
                                                          ", NaN in %d of %d seeds" % (nan, len(runs[name])) if nan else "")))
                    continue
                d = " ".join("%.1f,%.1f" % (X(e), Y(a)) for e, a in c)
                dash = ' stroke-dasharray="%s"' % DASH[kind] if DASH[kind] else ""
                out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s clip-path="url(#%s)"/>'
                           % (d, COLORS[kind], dash, clip))
            if below:
                bw = 6.2 * max(len(t) for _, t in below + [("", "ended below the axis (mean):")]) + 10
                bh = 13 * (len(below) + 1) + 8
                out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="white" fill-opacity="0.9" '
                           'stroke="#bbb"/>' % (x0 + pw - 6 - bw, y0 + ph - 6 - bh, bw, bh))
                out.append('<text x="%.1f" y="%d" fill="#333">ended below the axis (mean):</text>'
                           % (x0 + pw - 1 - bw, y0 + ph - 6 - bh + 14))
            for k, (kind, text) in enumerate(below):
                out.append('<text x="%.1f" y="%d" fill="%s">%s</text>'
                           % (x0 + pw - 1 - bw, y0 + ph - 6 - bh + 14 + 13 * (k + 1), COLORS[kind], esc(text)))
        out.append('<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle">test accuracy (%%)</text>'
                   % (y0 + ph / 2))
    lx = ml
    ly = H - 10
    for kind, label in [("seq", "sequential SGD (M = 1)")] + KINDS:
        dash = ' stroke-dasharray="%s"' % DASH[kind] if DASH[kind] else ""
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                   % (lx, ly - 4, lx + 24, ly - 4, COLORS[kind], dash))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 29, ly, esc(label)))
        lx += 40 + 7 * len(label)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main(argv):
    if len(argv) >= 4 and argv[1] == "split":
        split(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "tune":
        tune(argv[2])
    elif len(argv) >= 6 and len(argv) % 2 == 0 and argv[1] == "report":
        studies = []
        for i in range(4, len(argv), 2):
            studies.append((argv[i + 1],) + report(argv[i], argv[i + 1]))
        plot(studies, argv[2], argv[3])
        print("plot: %s" % argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
