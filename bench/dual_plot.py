#!/usr/bin/env python3
"""Curves of a dual-learning run (the --log CSV of `triad dual train`) as an
SVG: the mean rewards of the games from each side (or, for a run without
games, the squared duality gap) and the dev score of each model against
updates, one panel each. Python 3 standard library only.

  dual_plot.py SVG TITLE CSV [LABEL_AB LABEL_BA]

CSV rows: step,loss_ab,loss_ba,reward_a,reward_b,gap2,dev_ab,dev_ba (step 0
is the warm start; nan: nothing measured in the interval; the dev scores as
the run's validation gives them: WER, or -BLEU plus a tiny NLL term; BLEU is
plotted as a positive number).
"""
import math
import sys
from xml.sax.saxutils import escape


def read(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = line.strip().split(",")
            if len(v) == 8:
                rows.append([float(x) for x in v])
    return rows


def panel(x0, y0, w, h, title, series, xs):
    """An SVG group: axes, title and one polyline per (label, colour, ys);
    NaN points are left out."""
    ys = [y for _, _, s in series for y in s if not math.isnan(y)] or [0.0]
    lo, hi = min(ys), max(ys)
    if hi == lo:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    xmax = max(xs) if xs and max(xs) > 0 else 1.0
    out = ['<g>', f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>',
           f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = y0 + h - h * k / 4
        out.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" font-size="10">{v:.2f}</text>')
    out.append(f'<text x="{x0 + w}" y="{y0 + h + 14}" text-anchor="end" font-size="10">{int(xmax)} updates</text>')
    for i, (label, colour, s) in enumerate(series):
        pts = " ".join(f"{x0 + w * x / xmax:.1f},{y0 + h - h * (y - lo) / (hi - lo):.1f}"
                       for x, y in zip(xs, s) if not math.isnan(y))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        out.append(f'<text x="{x0 + 8}" y="{y0 + 16 + 14 * i}" font-size="11" fill="{colour}">{escape(label)}</text>')
    out.append('</g>')
    return "\n".join(out)


def main():
    if len(sys.argv) not in (4, 6):
        sys.exit(__doc__)
    svg, title, csv = sys.argv[1:4]
    lab = sys.argv[4:6] if len(sys.argv) == 6 else ["A->B", "B->A"]
    rows = read(csv)
    if not rows:
        sys.exit(f"{csv}: no rows")
    xs = [r[0] for r in rows]
    bleu = rows[0][6] < 0  # translation: -BLEU
    dev = [[-r[6] if bleu else r[6] for r in rows], [-r[7] if bleu else r[7] for r in rows]]
    metric = "dev BLEU" if bleu else "dev WER"
    rewards = [[r[3] for r in rows], [r[4] for r in rows]]
    if any(not math.isnan(v) for s in rewards for v in s):
        signal = panel(60, 50, 200, 200, "mean reward of the games",
                       [("from A", "#1f77b4", rewards[0]), ("from B", "#d62728", rewards[1])], xs)
    else:
        signal = panel(60, 50, 200, 200, "squared duality gap", [("gap^2", "#2ca02c", [r[5] for r in rows])], xs)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="840" height="290" font-family="sans-serif">',
             f'<text x="420" y="18" text-anchor="middle" font-size="15">{escape(title)}</text>', signal,
             panel(340, 50, 200, 200, f"{metric}, {lab[0]}", [(lab[0], "#1f77b4", dev[0])], xs),
             panel(620, 50, 200, 200, f"{metric}, {lab[1]}", [(lab[1], "#d62728", dev[1])], xs),
             '</svg>']
    with open(svg, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
