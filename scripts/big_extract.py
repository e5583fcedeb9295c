#!/usr/bin/env python3
"""big_extract.py - extract the sources of the `big` corpus to one item per line.

Used by scripts/get_data.sh big; Python 3 standard library only. Each
subcommand reads an unpacked Debian package and writes plain UTF-8 text, one
item per line, no empty lines, whitespace normalised (every run of Unicode
white space becomes one space), control characters (Unicode Cc) and format
characters (Cf: soft hyphens, zero-width spaces, BOMs, bidi marks) removed.
Input is decoded as UTF-8; a byte that is not part of valid UTF-8 (stray
Windows-1252/Latin-1 bytes: GCIDE has three, e.g. `market\\x92s`) is decoded
as Windows-1252 (`market’s`), or dropped if Windows-1252 leaves it
undefined, instead of becoming U+FFFD; a U+FFFD already in the text is
removed. The output is written to OUT.part and renamed to OUT at the end, so
an interrupted run leaves no OUT behind.

  big_extract.py gcide   GCIDE_DICT_DZ GCIDE_INDEX OUT
  big_extract.py kernel  DOCUMENTATION_DIR OUT [--drop-literal]
  big_extract.py man     OUT MAN_DIR... [--jobs N]
  big_extract.py wordnet WORDNET_DIR OUT

gcide   dict-gcide's gcide.dict.dz (dictzip = gzip) and gcide.index. The index
        gives each entry's byte range; the 00-database-*, 00-gcide-* and
        00-web1913-info entries (database info and the licence banner) are
        dropped. Each entry is split into blocks at blank lines; one block per
        line. Source tags ([1913 Webster], [WordNet 1.5 +PJC], [Webster 1913
        Suppl.], [Century Dict. 1906], ...) and the \\pron\\ spans (the
        syllabified headword, `\\A*ban"don\\`, with the pronunciation in
        parentheses that may follow it, `([.a]*b[a^]n"d[u^]n)`) are removed;
        braces (cross references, {Abandoned}) are removed keeping their text;
        the GCIDE character codes ([ae], [=a], ['e], [a^], [imac], [eth], ...)
        become the Unicode letters they stand for, so that words such as
        medi[ae]val stay one token; lines of the form `* * * *` are dropped.
kernel  linux-doc-6.1's Documentation/**/*.rst(.gz), English only (the
        translations/ subtree, Chinese, Japanese, Korean, Italian and Spanish,
        is skipped). reST markup is stripped: comments, link targets,
        substitution definitions and the bodies of directives that pull in or
        generate text (toctree, kernel-doc, include, literalinclude, image,
        raw, math, ...) are dropped; section adornments and table borders are
        dropped; roles, inline literals, emphasis and hyperlink references
        keep their text. One paragraph per line (list items, field-list
        entries and definition-list bodies are paragraphs). Literal blocks
        (after `::`) and code-block bodies are kept verbatim, one
        blank-line-separated chunk per line (as DATA.md's 3.80M tokens
        imply: without them the kernel docs give 2.97M); --drop-literal
        drops them.
man     manpages' and manpages-dev's man*/*.gz, regular files only: the
        symbolic links (1,433) and the `.so` stubs (13) are aliases of other
        pages, and rendering them again would put identical lines in train
        and test. Each page is rendered with
        groff -man -Tutf8 -P-cbou -k -K utf-8 -t -rLL=4000n
        (-k -K utf-8: the sources are UTF-8; -t: tbl, which pages with tables
        need; -rLL: a line length so wide that groff never breaks or
        hyphenates a paragraph, so each paragraph comes out as one line).
        The running header and footer and the section headings (NAME,
        SYNOPSIS, ...) are dropped, box-drawing characters (table rules,
        which the wide line stretches) become spaces; each run of non-blank
        lines is an item (a paragraph; in no-fill text, such as code, a
        blank-line-separated chunk), except that a subsection heading (a line
        indented less than the body's 7 columns) is an item of its own.
        Two groff processes at a time by default (--jobs).
wordnet wordnet-base's data.adj, data.adv, data.noun, data.verb: the gloss
        after `| ` on each synset line (the licence header lines, which start
        with two spaces, are skipped); one gloss per line.

Prints the number of lines written.
"""
import codecs
import concurrent.futures
import gzip
import os
import re
import subprocess
import sys
import unicodedata

# ---------------------------------------------------------------------------
# common output cleaning

_DROP_CATEGORIES = ("Cc", "Cf")


def _make_drop_table():
    table = {0xFFFD: None}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if unicodedata.category(chr(cp)) in _DROP_CATEGORIES:
            # tab, newline and the other white-space controls become spaces
            # so that they still separate words
            table[cp] = " " if chr(cp).isspace() else None
    return table


_DROP = _make_drop_table()


def clean(text):
    """One line of output: controls removed, white space normalised."""
    return " ".join(text.translate(_DROP).split())


class Writer:
    """Writes cleaned non-empty lines to OUT.part; rename() commits."""

    def __init__(self, path):
        self.path = path
        self.part = path + ".part"
        self.f = open(self.part, "w", encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, text):
        line = clean(text)
        if line:
            self.f.write(line + "\n")
            self.count += 1

    def commit(self):
        self.f.close()
        if self.count == 0:
            os.unlink(self.part)
            raise SystemExit("big_extract.py: no lines extracted for %s" % self.path)
        os.replace(self.part, self.path)
        print(self.count)


def _fallback(e):
    """Decode error handler: the first bad byte as Windows-1252, or nothing."""
    byte = e.object[e.start:e.start + 1]
    try:
        return byte.decode("cp1252"), e.start + 1
    except UnicodeDecodeError:
        return "", e.start + 1


codecs.register_error("big-cp1252", _fallback)
ERRORS = "big-cp1252"


def read_text(path):
    """The text of PATH (gunzipped if it ends in .gz), decoded as UTF-8."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors=ERRORS)


# ---------------------------------------------------------------------------
# GCIDE

_B64 = {c: i for i, c in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _b64(s):
    v = 0
    for c in s:
        v = v * 64 + _B64[c]
    return v


# [1913 Webster], [WordNet 1.5 +PJC], [Webster 1913 Suppl. + AS], ...
_SRC_PIECE = (r"(?:1913\s+Webster|Webster\s+1913(?:\s+Suppl\.?)?|"
              r"Word[Nn]et(?:\s+sense\s+[\d ,&+]+|\s+\d\.\d)?|"
              r"Century\s+Dict(?:ionary|\.)?,?(?:\s+1906)?\.?|"
              r"PJC\.?|PC|AS|RDH|RP|CM|MW10|GG|#here)")
_SRC_TAG = re.compile(r"\[\s*\+?\s*%s(?:[\s+]*%s)*\s*\]" % (_SRC_PIECE, _SRC_PIECE))
_PRON = re.compile(r"\\[^\\\n]{0,200}\\(?:,?[ \t]*\([^()]{0,200}\))?")
_STARS = re.compile(r"^\s*(?:\*\s*){3,}$", re.M)
_CODE = re.compile(r"\[([^\[\]\s]{1,6})\]")

# diacritic marks used in GCIDE codes: prefix form [^a], suffix form [a^]
_PREFIX_MARK = {"=": "\u0304", "-": "\u0304", ".": "\u0307", "'": "\u0301",
                "`": "\u0300", '"': "\u0308", "~": "\u0303", "^": "\u0302",
                ",": "\u0327", "*": "\u030a"}
_SUFFIX_MARK = {"^": "\u0306"}
_NAMED = {
    "ae": "\u00e6", "AE": "\u00c6", "oe": "\u0153", "OE": "\u0152",
    "=ae": "\u01e3", "=AE": "\u01e2", "imac": "\u012b", "aum": "\u00e4",
    "add": "\u00e4", "udd": "\u1e73", "asl": "a", "oo": "oo", "=oo": "oo",
    "oo^": "oo", ".oo": "oo", "eth": "\u00f0", "ETH": "\u00d0",
    "thorn": "\u00fe", "THORN": "\u00de", "yogh": "\u021d", "ng": "\u014b",
    "th": "th", "root": "\u221a", "deg": "\u00b0", "sect": "\u00a7",
    "dsdot": "\u00a8", "bar": "|", "flat": "\u266d", "sharp": "\u266f",
    "natur": "\u266e", "frac12": "\u00bd", "frac13": "\u2153",
    "frac14": "\u00bc", "frac34": "\u00be", "times": "\u00d7",
    "divide": "\u00f7", "cre": "\u02d8", "prime": "\u2032", "hand": "\u261e",
    "minus": "\u2212", "pound": "\u00a3", "cent": "\u00a2",
}
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
          "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()
for _i, _name in enumerate(_GREEK):
    _NAMED[_name] = chr(0x3B1 + _i + (1 if _i >= 17 else 0))
    _NAMED[_name.capitalize()] = chr(0x391 + _i + (1 if _i >= 17 else 0))


def _compose(base, mark):
    s = unicodedata.normalize("NFC", base + mark)
    return s if len(s) == len(base) else base


def _code(m):
    code = m.group(1)
    if code in _NAMED:
        return _NAMED[code]
    if len(code) in (2, 3):
        if code[0] in _PREFIX_MARK and code[1:].isalpha():
            return _compose(code[1], _PREFIX_MARK[code[0]]) + code[2:]
        if code[-1] in _SUFFIX_MARK and code[:-1].isalpha():
            return code[:-2] + _compose(code[-2], _SUFFIX_MARK[code[-1]])
    return m.group(0)


def gcide_block(block):
    block = _SRC_TAG.sub(" ", block)
    block = _PRON.sub(" ", block)
    block = _STARS.sub(" ", block)
    block = _CODE.sub(_code, block)
    block = block.replace("{", "").replace("}", "")
    return block


def gcide(dict_dz, index, out):
    entries = set()
    with open(index, "rb") as f:
        for raw in f:
            fields = raw.decode("utf-8", errors=ERRORS).rstrip("\n").split("\t")
            if len(fields) < 3:
                raise SystemExit("big_extract.py: %s: bad index line %r" % (index, raw[:80]))
            if fields[0].startswith("00-") or fields[0].startswith("00database"):
                continue
            entries.add((_b64(fields[1]), _b64(fields[2])))
    with gzip.open(dict_dz, "rb") as f:
        data = f.read()
    w = Writer(out)
    for off, length in sorted(entries):
        if off + length > len(data):
            raise SystemExit("big_extract.py: %s: entry at %d runs past the end" % (dict_dz, off))
        text = data[off:off + length].decode("utf-8", errors=ERRORS)
        for block in re.split(r"\n[ \t]*\n", text):
            w.write(gcide_block(block))
    w.commit()


# ---------------------------------------------------------------------------
# kernel documentation (reST)

# directives whose body is code: kept verbatim like a `::` literal block
_LITERAL_DIRECTIVES = {"code-block", "code", "sourcecode", "parsed-literal"}
# directives whose body is data or generated text: dropped with it
_DROP_DIRECTIVES = {
    "literalinclude", "highlight",
    "kernel-doc", "kernel-abi", "kernel-feat", "kernel-include", "include",
    "toctree", "raw", "math", "graphviz", "image",
    "productionlist", "csv-table", "ditaa", "contents", "sectnum",
    "tabularcolumns", "cssclass", "index", "default-role", "role", "replace",
    "unicode", "date", "svgbob", "kfigure", "kernel-figure", "kernel-image",
    "kernel-render", "literal", "flat-table", "cdomain", "c:namespace",
    "c:namespace-push", "c:namespace-pop", "only", "ifconfig",
}
# directives whose argument is a title worth keeping
_TITLE_DIRECTIVES = {"admonition", "topic", "sidebar", "rubric"}

_DIRECTIVE = re.compile(r"^\.\.\s+(?:\|[^|]+\|\s+)?([\w:+.-]+)::(?:\s+(.*))?$")
_FOOTNOTE = re.compile(r"^\.\.\s+\[([^\]]+)\]\s*(.*)$")
_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+.:_<>!$%&,;?@/\\|])\1{2,}\s*$")
_TABLE_RULE = re.compile(r"^[=\-+:| ]*[=\-]{3,}[=\-+:| ]*$")
_BULLET = re.compile(r"^(?:[-*+\u2022]|#\.|\d+\.|\(?\d+\)|\(?[a-zA-Z]\)|[a-zA-Z]\.|"
                     r"\(?[ivxIVX]+\)|[ivxIVX]+\.)\s+(?=\S)")
_FIELD = re.compile(r"^:([^:`\s][^:`]*):(?:\s+|$)")
_OPTION = re.compile(r"^:[\w -]+:(?:\s|$)")

_ROLE = re.compile(r":[\w+.-]+(?::[\w+.-]+)*:`([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``")
_REF = re.compile(r"`([^`]*)`__?")
_INTERP = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_EMPH = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_FNREF = re.compile(r"\s?\[(?:#[\w-]*|\*|\d+|[\w-]+)\]_")
_SUBST = re.compile(r"\|([\w][\w .-]*)\|(?:__?)?")
_ESCAPE = re.compile(r"\\(.)")


def _target_text(content):
    content = content.strip()
    m = re.match(r"^(.*?)\s*<([^<>]*)>$", content, re.S)
    if m:
        content = m.group(1) or m.group(2)
    return content.lstrip("~!")


def rst_inline(text):
    text = _ROLE.sub(lambda m: _target_text(m.group(1)), text)
    text = _LITERAL.sub(r"\1", text)
    text = _REF.sub(lambda m: _target_text(m.group(1)), text)
    text = _INTERP.sub(r"\1", text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPH.sub(r"\1", text)
    text = _FNREF.sub("", text)
    text = _SUBST.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    return text


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def rst_paragraphs(text, keep_literal=True):
    """Yields the paragraphs of a reST document with the markup stripped.

    Literal blocks (after `::`) and the bodies of code-block-like directives
    are kept verbatim (no inline markup processing), one blank-line-separated
    chunk per paragraph, unless keep_literal is false; then they are dropped.
    """
    lines = text.expandtabs(8).split("\n")
    para = []            # lines of the current paragraph
    para_indent = 0      # indentation of its continuation lines
    para_indent0 = 0     # indentation of its first line
    skip_base = None     # dropping lines indented more than this (and blanks)
    lit_base = None      # collecting a literal block indented more than this
    lit = []             # lines of the current literal chunk
    lit_options = False  # directive options may still come (code-block)
    literal_next = None  # a `::` paragraph ended at this indentation
    options_base = None  # skipping directive options (`:name: value`)

    def flush():
        nonlocal para, literal_next
        if para:
            joined = " ".join(para)
            para = []
            if joined.endswith("::"):
                literal_next = para_indent0
                joined = joined[:-2].rstrip()
                if joined and not joined[-1].isspace():
                    joined += ":"
            joined = rst_inline(joined)
            if joined.strip():
                yield joined

    def flush_lit():
        nonlocal lit
        if lit and keep_literal:
            yield " ".join(lit)
        lit = []

    for line in lines:
        line = line.rstrip()
        ind = _indent(line)
        s = line.strip()
        if skip_base is not None:
            if not s or ind > skip_base:
                continue
            skip_base = None
        if lit_base is not None:
            if not s:
                yield from flush_lit()
                continue
            if ind > lit_base:
                if lit_options and _OPTION.match(s):
                    continue
                lit_options = False
                lit.append(s)
                continue
            yield from flush_lit()
            lit_base = None
        if options_base is not None:
            if s and ind > options_base and _OPTION.match(s):
                continue
            options_base = None
        if not s:
            yield from flush()
            continue
        if literal_next is not None:
            base, literal_next = literal_next, None
            if ind > base:
                lit_base, lit_options = base, False
                lit.append(s)
                continue
        # explicit markup
        if s.startswith(".. ") or s == "..":
            yield from flush()
            m = _DIRECTIVE.match(s)
            if m:
                name = m.group(1).lower()
                arg = (m.group(2) or "").strip()
                if name in _LITERAL_DIRECTIVES:
                    lit_base, lit_options = ind, True
                    continue
                if name in _DROP_DIRECTIVES or name.startswith("kernel"):
                    skip_base = ind
                    continue
                options_base = ind
                if name in _TITLE_DIRECTIVES and arg:
                    yield rst_inline(arg)
                continue
            m = _FOOTNOTE.match(s)
            if m and m.group(2):
                para, para_indent, para_indent0 = [m.group(2)], ind + 3, ind
                continue
            # comment, hyperlink target, anonymous target: dropped with body
            skip_base = ind
            continue
        if _ADORNMENT.match(s) or _TABLE_RULE.match(s):
            yield from flush()
            continue
        if s.startswith("|") and s.endswith("|") and len(s) > 1:
            # a grid-table row: cells become text
            s = s.strip("|").replace(" | ", "   ")
        elif s.startswith("| "):
            s = s[2:]   # line block
        m = _BULLET.match(s)
        f = _FIELD.match(s) if not m else None
        if m or f:
            yield from flush()
            if m:
                para, para_indent, para_indent0 = [s[m.end():]], ind + m.end(), ind
            else:
                rest = s[f.end():]
                para = [f.group(1) + ": " + rest] if rest else []
                para_indent, para_indent0 = ind + 2, ind
            continue
        if para and ind != para_indent:
            yield from flush()
        if not para:
            para_indent = para_indent0 = ind
        para.append(s)
    yield from flush()
    yield from flush_lit()


def kernel(doc_dir, out, keep_literal=True):
    paths = []
    for root, dirs, files in os.walk(doc_dir):
        dirs.sort()
        rel = os.path.relpath(root, doc_dir)
        if rel == "translations" or rel.startswith("translations" + os.sep):
            dirs[:] = []
            continue
        for name in sorted(files):
            p = os.path.join(root, name)
            if (name.endswith(".rst") or name.endswith(".rst.gz")) and not os.path.islink(p):
                paths.append(p)
    if not paths:
        raise SystemExit("big_extract.py: no *.rst or *.rst.gz under %s" % doc_dir)
    w = Writer(out)
    for p in paths:
        for para in rst_paragraphs(read_text(p), keep_literal):
            w.write(para)
    w.commit()


# ---------------------------------------------------------------------------
# man pages

GROFF = ["groff", "-man", "-Tutf8", "-P-cbou", "-k", "-K", "utf-8", "-t", "-rLL=4000n"]
_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&()'-]*$")
# box-drawing characters (tbl boxes and rules, which -rLL stretches to the
# full line length) and runs of rule-like characters
_BOX = re.compile(r"[\u2500-\u257f]+|([_=~\u2010-\u2015-])\1{9,}")


def _render(path):
    with gzip.open(path, "rb") as f:
        src = f.read()
    first = src.lstrip().split(b"\n", 1)[0]
    body = [l for l in src.split(b"\n") if l.strip() and not l.startswith(b'.\\"')
            and not l.startswith(b"'\\\"")]
    if first.startswith(b".so ") and len(body) <= 1:
        return path, None, b""
    r = subprocess.run(GROFF, input=src, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C.UTF-8"))
    if r.returncode != 0:
        return path, None, r.stderr
    return path, r.stdout, r.stderr


def man_lines(rendered):
    """The paragraphs of a rendered page: runs of non-blank lines, where a
    line indented less than the body (a subsection heading) is one alone."""
    lines = [l.rstrip() for l in rendered.decode("utf-8", errors=ERRORS).split("\n")]
    nonblank = [i for i, l in enumerate(lines) if l.strip()]
    if len(nonblank) < 3:
        return
    item = []
    prev_heading = False
    # without the running header (first line) and footer (last line)
    for l in lines[nonblank[0] + 1:nonblank[-1]]:
        if not l.startswith(" ") and _HEADING.match(l):
            l = ""     # section heading at column 0: dropped, ends the item
        l = _BOX.sub(" ", l)
        if not l.strip():
            if item:
                yield " ".join(item)
            item = []
            continue
        heading = _indent(l) < 7
        if item and (heading or prev_heading):
            yield " ".join(item)
            item = []
        item.append(l)
        prev_heading = heading
    if item:
        yield " ".join(item)


def man(out, dirs, jobs):
    paths = []
    for d in dirs:
        for sub in sorted(os.listdir(d)):
            sd = os.path.join(d, sub)
            if not sub.startswith("man") or not os.path.isdir(sd):
                continue
            for name in sorted(os.listdir(sd)):
                p = os.path.join(sd, name)
                if name.endswith(".gz") and os.path.isfile(p) and not os.path.islink(p):
                    paths.append(p)
    if not paths:
        raise SystemExit("big_extract.py: no man*/*.gz pages under %s" % " ".join(dirs))
    w = Writer(out)
    failed = stubs = 0
    warned = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        for path, rendered, err in ex.map(_render, paths):
            if rendered is None:
                if err:
                    failed += 1
                    sys.stderr.write("big_extract.py: groff failed on %s: %s\n"
                                     % (path, err.decode("utf-8", "replace").strip()[:300]))
                else:
                    stubs += 1
                continue
            if err.strip():
                warned += 1
            for l in man_lines(rendered):
                w.write(l)
    sys.stderr.write("man: %d pages rendered, %d .so stubs skipped, "
                     "%d with groff warnings, %d failed\n"
                     % (len(paths) - failed - stubs, stubs, warned, failed))
    if failed > len(paths) // 100:
        raise SystemExit("big_extract.py: groff failed on %d of %d pages" % (failed, len(paths)))
    w.commit()


# ---------------------------------------------------------------------------
# WordNet

def wordnet(wn_dir, out):
    w = Writer(out)
    for pos in ("adj", "adv", "noun", "verb"):
        p = os.path.join(wn_dir, "data." + pos)
        if not os.path.isfile(p):
            raise SystemExit("big_extract.py: %s is missing" % p)
        with open(p, "rb") as f:
            for raw in f:
                if raw.startswith(b"  "):
                    continue   # licence header
                line = raw.decode("utf-8", errors=ERRORS)
                bar = line.find(" | ")
                if bar >= 0:
                    w.write(line[bar + 3:])
    w.commit()


def main(argv):
    usage = __doc__.split("\n\n")[2]
    args = argv[1:]
    jobs = 2
    keep_literal = "--drop-literal" not in args
    args = [a for a in args if a != "--drop-literal"]
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        sys.stderr.write(usage + "\n")
        return 2
    cmd, rest = args[0], args[1:]
    if cmd == "gcide" and len(rest) == 3:
        gcide(*rest)
    elif cmd == "kernel" and len(rest) == 2:
        kernel(rest[0], rest[1], keep_literal)
    elif cmd == "man" and len(rest) >= 2:
        man(rest[0], rest[1:], max(1, jobs))
    elif cmd == "wordnet" and len(rest) == 2:
        wordnet(*rest)
    else:
        sys.stderr.write(usage + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
