#!/usr/bin/env python3
"""mt_extract.py - the English-French parallel text from LibreOffice packages.

Usage: mt_extract.py ROOT OUT_DIR
  ROOT     a directory into which libreoffice-help-en-us, libreoffice-help-fr
           and libreoffice-l10n-fr were unpacked (dpkg -x)
  OUT_DIR  receives train/dev/test/paired10/mono files and stats.txt

Python 3 standard library only. Every step is deterministic.

Sources and alignment
  help  usr/share/libreoffice/help/{en-US,fr}/text/**/*.html: the two trees
        are generated from the same sources. In every file present in both,
        each <p> or <h1>..<h6> whose id begins with "par_id" or "hd_id" is a
        segment; the key (file, id, n) (n-th element with that id in the
        file) pairs an English segment with a French one. Text is taken with
        entities decoded and tags dropped, <br> read as a space; inside
        "switchinline" variants only the default one is kept (the spans with
        hidden="true" and a class, such as MAC, WRITER or CALC, are dropped
        with their content); <script> and <style> content is dropped.
  ui    usr/lib/libreoffice/program/resource/fr/LC_MESSAGES/*.mo, read
        directly (GNU gettext binary format): msgid (after the "context\\x04"
        prefix) is the English source, msgstr the French; the header entry,
        untranslated entries and plural forms beyond the first are skipped.
        Accelerator marks are removed: every "~", and in strings of .ui
        dialogs (contexts holding '|') a "_" before a character ("__" is a
        literal underscore).

Cleaning, in this order
  1. normalise each side: Unicode NFC; control characters and U+2581 become
     spaces; every run of whitespace (Python's str.split) becomes one space,
     none at the ends;
  2. drop pairs with an empty side, pairs whose sides are identical, and
     pairs whose character-length ratio len(fr) / len(en) is outside
     [0.4, 2.5];
  3. drop exact duplicates (the same English and French), keeping the first
     (help before ui; files in byte order of their paths; document order).

Splits (h(S, x) = SHA-256 of the UTF-8 bytes of S + "\\0" + x)
  Pairs are grouped: two pairs that share their English or their French side
  are in the same group (connected components; the largest holds about 20
  pairs, mostly UI words such as "View" / "Display" / "Affichage"), and a
  group never straddles two of the sets below, so no English or French line
  of one set appears in another. A group's key is English + "\\t" + French
  of its first pair.
  test, dev  1,500 pairs each, held out first: groups are visited in
             increasing h("triad-mt-split", key), and each joins test, or when
             test is full dev, if it fits in the room left (a group that
             would overflow waits for the next set); every other group is
             train.
  paired10   10% of train (rounded to nearest), then
  mono.en    half of the rest (rounded down), English sides only, then
  mono.fr    the rest of train, French sides only: the same procedure over
             the train groups in increasing h("triad-mt-paired", key).
Every file keeps the pairs in their order of extraction; line i of X.en and
X.fr is a pair. Lines are UTF-8, without tabs or control characters.
"""
import hashlib
import html.parser
import os
import re
import struct
import sys
import unicodedata

DEV_SIZE = 1500
TEST_SIZE = 1500
PAIRED_SHARE = 0.10
RATIO_MIN, RATIO_MAX = 0.4, 2.5

HELP_EN = "usr/share/libreoffice/help/en-US/text"
HELP_FR = "usr/share/libreoffice/help/fr/text"
MO_DIR = "usr/lib/libreoffice/program/resource/fr/LC_MESSAGES"

SEGMENT_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
SEGMENT_ID = re.compile(r"^(par|hd)_id")


class SegmentParser(html.parser.HTMLParser):
    """Collects (id, text) of the segment elements of one help page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.segments = []
        self.skip = []          # stack: tag names whose content is dropped
        self.span_depth = 0     # open spans inside the innermost skipped span
        self.current = None     # [tag, id, parts] of the open segment

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.skip:
            if tag == self.skip[-1]:
                self.span_depth += 1
            return
        if tag in ("script", "style"):
            self.skip.append(tag)
            self.span_depth = 0
            return
        if tag == "span" and "hidden" in a and a.get("class"):
            self.skip.append("span")
            self.span_depth = 0
            return
        if tag in SEGMENT_TAGS and SEGMENT_ID.match(a.get("id") or ""):
            self.finish()
            self.current = [tag, a["id"], []]
            return
        if tag == "br" and self.current is not None:
            self.current[2].append(" ")

    def handle_startendtag(self, tag, attrs):
        if tag == "br" and self.current is not None and not self.skip:
            self.current[2].append(" ")

    def handle_endtag(self, tag):
        if self.skip:
            if tag == self.skip[-1]:
                if self.span_depth:
                    self.span_depth -= 1
                else:
                    self.skip.pop()
            return
        if self.current is not None and tag == self.current[0]:
            self.finish()

    def handle_data(self, data):
        if self.current is not None and not self.skip:
            self.current[2].append(data)

    def finish(self):
        if self.current is not None:
            self.segments.append((self.current[1], "".join(self.current[2])))
            self.current = None


def help_segments(path):
    with open(path, encoding="utf-8") as f:
        p = SegmentParser()
        p.feed(f.read())
        p.close()
        p.finish()
    keyed = {}
    seen = {}
    for sid, text in p.segments:
        n = seen.get(sid, 0)
        seen[sid] = n + 1
        keyed[(sid, n)] = text
    return p.segments, keyed


def help_pairs(root):
    en_dir = os.path.join(root, HELP_EN)
    fr_dir = os.path.join(root, HELP_FR)
    if not os.path.isdir(en_dir) or not os.path.isdir(fr_dir):
        sys.exit("mt_extract.py: %s or %s is missing" % (en_dir, fr_dir))
    rels = []
    for d, _, files in os.walk(en_dir):
        for name in files:
            if name.endswith(".html"):
                rels.append(os.path.relpath(os.path.join(d, name), en_dir))
    rels.sort(key=lambda r: r.encode("utf-8"))
    pairs = []
    files = 0
    for rel in rels:
        fr_path = os.path.join(fr_dir, rel)
        if not os.path.isfile(fr_path):
            continue
        files += 1
        en_list, _ = help_segments(os.path.join(en_dir, rel))
        _, fr_keyed = help_segments(fr_path)
        seen = {}
        for sid, text in en_list:
            n = seen.get(sid, 0)
            seen[sid] = n + 1
            fr = fr_keyed.get((sid, n))
            if fr is not None:
                pairs.append((text, fr))
    return pairs, files


def read_mo(path):
    """(msgid, msgstr, context) of every entry of a GNU .mo file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 20:
        sys.exit("mt_extract.py: %s: too short for a .mo file" % path)
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        e = "<"
    elif magic == 0xDE120495:
        e = ">"
    else:
        sys.exit("mt_extract.py: %s: not a .mo file (magic %08x)" % (path, magic))
    _, n, orig, trans = struct.unpack(e + "4I", data[4:20])
    entries = []
    for i in range(n):
        l1, o1 = struct.unpack(e + "2I", data[orig + 8 * i: orig + 8 * i + 8])
        l2, o2 = struct.unpack(e + "2I", data[trans + 8 * i: trans + 8 * i + 8])
        msgid = data[o1:o1 + l1].decode("utf-8")
        msgstr = data[o2:o2 + l2].decode("utf-8")
        ctx = ""
        if "\x04" in msgid:
            ctx, msgid = msgid.split("\x04", 1)
        entries.append((msgid.split("\x00")[0], msgstr.split("\x00")[0], ctx))
    return entries


def strip_accelerators(s, ui):
    s = s.replace("~", "")
    if ui:
        s = s.replace("__", "\x00")
        s = re.sub(r"_(?=\S)", "", s)
        s = s.replace("\x00", "_")
    return s


def ui_pairs(root):
    d = os.path.join(root, MO_DIR)
    if not os.path.isdir(d):
        sys.exit("mt_extract.py: %s is missing" % d)
    names = sorted((n for n in os.listdir(d) if n.endswith(".mo")), key=lambda n: n.encode("utf-8"))
    pairs = []
    for name in names:
        for msgid, msgstr, ctx in read_mo(os.path.join(d, name)):
            if not msgid or not msgstr:
                continue
            ui = "|" in ctx
            pairs.append((strip_accelerators(msgid, ui), strip_accelerators(msgstr, ui)))
    return pairs, len(names)


def normalise(s):
    s = unicodedata.normalize("NFC", s)
    s = "".join(" " if unicodedata.category(c) == "Cc" or c == "\u2581" else c for c in s)
    return " ".join(s.split())


def h(salt, text):
    return hashlib.sha256((salt + "\0" + text).encode("utf-8")).digest()


def pair_groups(pairs):
    """Lists of pair indices, connected through shared English or French sides."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for en, fr in pairs:
        a, b = find(("en", en)), find(("fr", fr))
        if a != b:
            parent[a] = b
    groups = {}
    for i, (en, _) in enumerate(pairs):
        groups.setdefault(find(("en", en)), []).append(i)
    return list(groups.values())


def assign(groups, pairs, salt, sizes, rest):
    """Pair index -> set name: groups in increasing h(salt, key) fill the sets
    of sizes in order, each group joining the first set with room for it."""
    order = sorted(groups, key=lambda g: h(salt, pairs[g[0]][0] + "\t" + pairs[g[0]][1]))
    room = dict(sizes)
    names = [name for name, _ in sizes]
    out = {}
    for g in order:
        name = next((n for n in names if room[n] >= len(g)), rest)
        if name != rest:
            room[name] -= len(g)
        for i in g:
            out[i] = name
    return out


def write_lines(path, lines):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def words(s):
    return len(s.split())


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mt_extract.py ROOT OUT_DIR")
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    stats = []

    def say(line):
        print(line)
        stats.append(line)

    sources = []
    hp, nfiles = help_pairs(root)
    sources.append(("help", hp, "%d pages" % nfiles))
    up, nmo = ui_pairs(root)
    sources.append(("ui", up, "%d .mo files" % nmo))

    kept = []
    seen = set()
    for name, pairs, what in sources:
        empty = same = ratio = dup = 0
        for en, fr in pairs:
            en, fr = normalise(en), normalise(fr)
            if not en or not fr:
                empty += 1
                continue
            if en == fr:
                same += 1
                continue
            r = len(fr) / len(en)
            if r < RATIO_MIN or r > RATIO_MAX:
                ratio += 1
                continue
            if (en, fr) in seen:
                dup += 1
                continue
            seen.add((en, fr))
            kept.append((en, fr))
        n_kept = len(pairs) - empty - same - ratio - dup
        say("%-5s %7d aligned pairs (%s); dropped: %d empty, %d identical, %d length ratio, %d duplicates; kept %d"
            % (name, len(pairs), what, empty, same, ratio, dup, n_kept))
    say("all   %7d pairs after cleaning" % len(kept))
    if len(kept) < 10 * (DEV_SIZE + TEST_SIZE):
        sys.exit("mt_extract.py: only %d pairs: the packages are not what was expected" % len(kept))

    groups = pair_groups(kept)
    say("%d groups of pairs sharing a side (largest %d pairs)" % (len(groups), max(len(g) for g in groups)))
    split = assign(groups, kept, "triad-mt-split", [("test", TEST_SIZE), ("dev", DEV_SIZE)], "train")
    for name, size in (("test", TEST_SIZE), ("dev", DEV_SIZE)):
        if sum(1 for v in split.values() if v == name) != size:
            sys.exit("mt_extract.py: could not fill %s with exactly %d pairs" % (name, size))
    train = [i for i in range(len(kept)) if split[i] == "train"]
    train_groups = [g for g in groups if split[g[0]] == "train"]
    n_paired = int(len(train) * PAIRED_SHARE + 0.5)
    n_mono_en = (len(train) - n_paired) // 2
    role = assign(train_groups, kept, "triad-mt-paired", [("paired10", n_paired), ("mono.en", n_mono_en)],
                  "mono.fr")

    for name in ("train", "dev", "test"):
        idx = [i for i in range(len(kept)) if split[i] == name]
        write_lines(os.path.join(out, name + ".en"), [kept[i][0] for i in idx])
        write_lines(os.path.join(out, name + ".fr"), [kept[i][1] for i in idx])
        en_w = sum(words(kept[i][0]) for i in idx)
        fr_w = sum(words(kept[i][1]) for i in idx)
        say("%-8s %6d pairs, %7d English words, %7d French words" % (name, len(idx), en_w, fr_w))
    paired = [i for i in train if role[i] == "paired10"]
    write_lines(os.path.join(out, "paired10.en"), [kept[i][0] for i in paired])
    write_lines(os.path.join(out, "paired10.fr"), [kept[i][1] for i in paired])
    mono_en = [kept[i][0] for i in train if role[i] == "mono.en"]
    mono_fr = [kept[i][1] for i in train if role[i] == "mono.fr"]
    write_lines(os.path.join(out, "mono.en"), mono_en)
    write_lines(os.path.join(out, "mono.fr"), mono_fr)
    say("paired10 %6d pairs (10%% of train)" % len(paired))
    say("mono.en  %6d English lines, mono.fr %d French lines (disjoint halves of the other 90%%)"
        % (len(mono_en), len(mono_fr)))
    lens = sorted(words(en) for en, _ in kept)
    say("English words per pair: mean %.1f, median %d, max %d"
        % (sum(lens) / len(lens), lens[len(lens) // 2], lens[-1]))
    write_lines(os.path.join(out, "stats.txt"), stats)


if __name__ == "__main__":
    main()
