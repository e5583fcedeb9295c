#!/bin/sh
# get_data.sh - fetch and prepare triad's real corpora from Debian packages.
#
#   scripts/get_data.sh kjv [DATA_DIR]      (DATA_DIR defaults to data/ in the repo)
#
# kjv: King James Bible from bibledit-data (usr/share/bibledit/sources/kjv.xml,
# OSIS), one verse per line (scripts/kjv_extract.py), 31,102 lines, split by
# 1-based line number n: n % 20 == 0 -> valid.txt, n % 20 == 1 -> test.txt,
# the rest -> train.txt, in DATA_DIR/kjv/. Work already done (three files
# whose counts check) is skipped. Needs apt-get (lists present), dpkg, python3.
set -eu

usage() {
    echo "usage: $0 CORPUS [DATA_DIR]" >&2
    echo "  CORPUS: kjv" >&2
    exit 2
}

die() {
    echo "get_data.sh: $*" >&2
    exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
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

case $corpus in
kjv) get_kjv ;;
*) usage ;;
esac
