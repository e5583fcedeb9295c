#!/usr/bin/env python3
"""big_split.py - split, count and check the `big` corpus (get_data.sh big).

  big_split.py split OUT_DIR NAME=FILE...   concatenate the FILEs in the order
        given and split the lines by 1-based line number n over the whole
        concatenation: n % 20 == 0 -> valid.txt, n % 20 == 1 -> test.txt, the
        rest -> train.txt, written to OUT_DIR (via *.part files renamed at the
        end); check the three files (see check); print the counts and write
        them to OUT_DIR/stats.txt as well (written last: its presence means
        the split is complete).
  big_split.py check FILE...   each FILE must be strict UTF-8, with no NUL
        byte, no control character other than the line feeds, no empty line,
        and must end with a line feed; prints lines per file.
  big_split.py merge KJV_DIR OUT   inverse of the split above for one corpus:
        rebuilds the original line order from KJV_DIR/{train,valid,test}.txt
        (as get_data.sh kjv wrote them) into OUT.

Counts: lines; tokens = matches of \\w+(?:['-]\\w+)*|[^\\w\\s] (Python re,
Unicode) on each line; types = distinct lower-cased tokens (tokens found on
the original text, then lower-cased); per source, per split and in total,
plus the cased types in total and the lower-cased types seen at least twice
in train (the LightRNN vocabulary: every word of count >= 2).
Python 3 standard library only.
"""
import collections
import os
import re
import sys

TOKEN = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")
SPLITS = ("train", "valid", "test")
_BAD = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def split_of(n):
    if n % 20 == 0:
        return "valid"
    if n % 20 == 1:
        return "test"
    return "train"


def fail(msg):
    sys.stderr.write("big_split.py: %s\n" % msg)
    sys.exit(1)


def check(path):
    """Returns the number of lines of PATH; exits on the first problem."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        fail("%s: contains a NUL byte at offset %d" % (path, data.index(b"\0")))
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        fail("%s: not valid UTF-8: %s" % (path, e))
    if text and not text.endswith("\n"):
        fail("%s: does not end with a line feed" % path)
    m = _BAD.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        fail("%s: line %d: control character U+%04X" % (path, line, ord(m.group())))
    if text.startswith("\n") or "\n\n" in text:
        fail("%s: has an empty line" % path)
    return text.count("\n")


class Count:
    def __init__(self):
        self.lines = 0
        self.tokens = 0
        self.types = collections.Counter()   # lower-cased

    def add(self, toks_lower):
        self.lines += 1
        self.tokens += len(toks_lower)
        self.types.update(toks_lower)


def split(out_dir, sources):
    per_source = [(name, Count()) for name, _ in sources]
    per_split = {s: Count() for s in SPLITS}
    cased = collections.Counter()
    outs = {s: open(os.path.join(out_dir, s + ".txt.part"), "w", encoding="utf-8", newline="\n")
            for s in SPLITS}
    n = 0
    for (name, path), (_, sc) in zip(sources, per_source):
        with open(path, encoding="utf-8", errors="strict", newline="\n") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    fail("%s: empty line after line %d (the extractors drop them)"
                         % (path, sc.lines))
                n += 1
                s = split_of(n)
                outs[s].write(line + "\n")
                toks = TOKEN.findall(line)
                cased.update(toks)
                low = "\n".join(toks).lower().split("\n") if toks else []
                sc.add(low)
                per_split[s].add(low)
    for f in outs.values():
        f.close()
    for s in SPLITS:
        os.replace(os.path.join(out_dir, s + ".txt.part"), os.path.join(out_dir, s + ".txt"))

    total = Count()
    for _, c in per_source:
        total.lines += c.lines
        total.tokens += c.tokens
        total.types.update(c.types)
    rows = []
    rows.append("%-8s %9s %11s %9s" % ("source", "lines", "tokens", "types"))
    for name, c in per_source:
        rows.append("%-8s %9d %11d %9d" % (name, c.lines, c.tokens, len(c.types)))
    rows.append("%-8s %9d %11d %9d" % ("total", total.lines, total.tokens, len(total.types)))
    rows.append("%-8s %9s %11s %9s" % ("split", "lines", "tokens", "types"))
    for s in SPLITS:
        c = per_split[s]
        rows.append("%-8s %9d %11d %9d" % (s, c.lines, c.tokens, len(c.types)))
    rows.append("%-8s %9d %11d %9d" % ("total", sum(per_split[s].lines for s in SPLITS),
                                       sum(per_split[s].tokens for s in SPLITS), len(total.types)))
    train_vocab = sum(1 for v in per_split["train"].types.values() if v >= 2)
    rows.append("types (lower-cased): %d; cased: %d; "
                "lower-cased types with count >= 2 in train: %d"
                % (len(total.types), len(cased), train_vocab))

    # the splits: line counts add up, and each file is clean
    got = {s: check(os.path.join(out_dir, s + ".txt")) for s in SPLITS}
    for s in SPLITS:
        if got[s] != per_split[s].lines:
            fail("%s.txt has %d lines, wrote %d" % (s, got[s], per_split[s].lines))
    if sum(got.values()) != n or total.lines != n:
        fail("the splits hold %d lines, the sources %d" % (sum(got.values()), n))
    want = {"valid": n // 20, "test": (n + 19) // 20}
    want["train"] = n - want["valid"] - want["test"]
    if got != want:
        fail("split line counts %r, expected %r" % (got, want))
    rows.append("checked: train %d + valid %d + test %d = %d lines = the sources' %d; "
                "all three strict UTF-8, no NUL, no control characters, no empty lines"
                % (got["train"], got["valid"], got["test"], sum(got.values()), n))
    report = "\n".join(rows) + "\n"
    tmp = os.path.join(out_dir, "stats.txt.part")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(report)
    os.replace(tmp, os.path.join(out_dir, "stats.txt"))
    sys.stdout.write(report)


def merge(kjv_dir, out):
    files = {s: open(os.path.join(kjv_dir, s + ".txt"), encoding="utf-8") for s in SPLITS}
    tmp = out + ".part"
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        while True:
            line = files[split_of(n + 1)].readline()
            if not line:
                break
            n += 1
            f.write(line)
    for s, g in files.items():
        if g.readline():
            os.unlink(tmp)
            fail("%s/%s.txt has lines left over after %d lines: not a split of one corpus"
                 % (kjv_dir, s, n))
        g.close()
    os.replace(tmp, out)
    print(n)


def main(argv):
    if len(argv) >= 4 and argv[1] == "split":
        sources = []
        for arg in argv[3:]:
            name, sep, path = arg.partition("=")
            if not sep or not name or not path:
                fail("expected NAME=FILE, got %r" % arg)
            if not os.path.isfile(path):
                fail("%s: no such file" % path)
            sources.append((name, path))
        split(argv[2], sources)
    elif len(argv) >= 3 and argv[1] == "check":
        for p in argv[2:]:
            print("%s: %d lines, strict UTF-8, no NUL, no control characters, no empty lines"
                  % (p, check(p)))
    elif len(argv) == 4 and argv[1] == "merge":
        merge(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
