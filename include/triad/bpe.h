/*
 * triad/bpe.h - byte-pair encoding subword units (Sennrich, Haddow and Birch
 * 2016): merges learned on training text, applied to new text, stored as a
 * text that fits a checkpoint's metadata, and undone exactly.
 *
 * Words and the space marker. A line t is read as " " + t (a dummy space in
 * front, so the first word looks like every other word) and cut into words:
 *   - a space (U+0020) becomes the marker U+2581 "▁" (TR_BPE_SPACE) and
 *     begins the next word; a space followed by a space, or by nothing, is a
 *     word "▁" of its own;
 *   - after the optional marker comes either a run of word characters joined
 *     by single ' or - (\w+(?:['-]\w+)*, \w as in data.h: ASCII letters,
 *     digits, '_', non-ASCII code points outside U+0080-U+00BF,
 *     U+2000-U+206F, U+3000-U+303F and U+FEFF), or one other code point
 *     (punctuation, a tab, a no-break space, ...).
 * So "Don't panic, Bob." gives the words "▁Don't" "▁panic" "," "▁Bob" ".".
 * Merges never cross words. Every character but the space is kept as it is,
 * so decoding (concatenate the units, "▁" -> " ", drop the first character
 * when it is the dummy space) gives back the line byte for byte: the marker
 * plays the part of subword-nmt's "@@" continuation marker, at the other end.
 * The empty line has no units. A line must be valid UTF-8 without NUL,
 * '\n', '\r' or U+2581 itself (refused with a message naming the byte).
 *
 * Learning. Each distinct word starts as its sequence of characters (the
 * marker is a character). Repeatedly, the adjacent symbol pair with the
 * largest count over all words (each word weighted by its frequency;
 * overlapping pairs such as the two "a a" in "a a a" both count) is merged
 * into one symbol everywhere, left to right; ties go to the pair whose left
 * symbol is smallest in byte order, then whose right symbol is. Learning
 * stops after the requested number of merges or when no pair is seen at
 * least min_count times. Learn joint units by adding both languages' text
 * to one tr_bpe_counts, per-language units with one tr_bpe_counts each.
 *
 * Applying. A word starts as characters; the adjacent pair with the lowest
 * merge rank (earliest learned) is merged, leftmost first, until no adjacent
 * pair is a merge. Characters never seen while learning stay single units.
 *
 * The text format: the line "#triad-bpe v1", then one merge per line in rank
 * order, "LEFT RIGHT" (the two symbols separated by one space; symbols never
 * contain a space or a line break). Each symbol is one character or the
 * result of an earlier merge. A merge that repeats an earlier one keeps the
 * earlier rank.
 */
#ifndef TRIAD_BPE_H
#define TRIAD_BPE_H

#include "triad/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_BPE_SPACE "\xe2\x96\x81" /* U+2581, the space marker */
#define TR_BPE_HEADER "#triad-bpe v1"

/* ---------------------------------------------------------------- word counts */

/* Frequencies of the words (see above) of a training text. */
typedef struct tr_bpe_counts tr_bpe_counts;

tr_bpe_counts *tr_bpe_counts_new(void);
void tr_bpe_counts_free(tr_bpe_counts *c);
/* Adds the words of one line s[0..n). Errors (TR_ERR_FORMAT, nothing added):
 * invalid UTF-8, NUL, '\n', '\r' or U+2581, as "file:line: what at byte k"
 * (file and line as given by the caller; NULL/0 for "<input>: ..."). */
tr_status tr_bpe_counts_add(tr_bpe_counts *c, const char *s, size_t n,
                            const char *file, int64_t line, tr_err *err);
/* Adds every line of a text file, streaming (a final '\n' ends the last
 * line, it does not start an empty one). Errors: the file cannot be opened
 * or read (TR_ERR_IO), a bad line (as above, naming path and line; the lines
 * before it stay added). */
tr_status tr_bpe_counts_add_file(tr_bpe_counts *c, const char *path, tr_err *err);
/* Distinct words, and words counted with repetition. */
int64_t tr_bpe_counts_types(const tr_bpe_counts *c);
int64_t tr_bpe_counts_total(const tr_bpe_counts *c);

/* ---------------------------------------------------------------- merges */

typedef struct tr_bpe tr_bpe;

/* Learns at most merges merges (>= 0) from c, stopping early when the best
 * pair is seen fewer than min_count (>= 1) times. TR_ERR_ARG for negative
 * merges or min_count < 1. Deterministic: the result depends only on the
 * word counts. */
tr_status tr_bpe_learn(tr_bpe **out, const tr_bpe_counts *c, int merges,
                       int64_t min_count, tr_err *err);
void tr_bpe_free(tr_bpe *b);
/* Number of merges, and merge i (0-based rank): pointers owned by b. */
int tr_bpe_merges(const tr_bpe *b);
void tr_bpe_merge(const tr_bpe *b, int i, const char **left, const char **right);

/* ---------------------------------------------------------------- encode / decode */

/* Calls fn for each unit of the line s[0..n) in order (unit not
 * NUL-terminated, never empty, never containing a space). Errors as
 * tr_bpe_counts_add; the line is checked whole first, so on error fn has
 * not been called. */
tr_status tr_bpe_encode(const tr_bpe *b, const char *s, size_t n,
                        tr_token_fn fn, void *ctx, const char *file,
                        int64_t line, tr_err *err);
/* The units of the NUL-terminated line s joined by single spaces
 * (malloc'ed), or NULL with err set on bad input. */
char *tr_bpe_encode_str(const tr_bpe *b, const char *s, tr_err *err);
/* The text of n units (malloc'ed): concatenated, U+2581 -> ' ', and a
 * leading space (the dummy space) dropped. decode(encode(t)) == t. */
char *tr_bpe_decode(const char *const *units, int64_t n);
/* The same for units joined by spaces, as tr_bpe_encode_str writes them. */
char *tr_bpe_decode_str(const char *units);

/* ---------------------------------------------------------------- storage */

/* The text format above (malloc'ed), for a file or checkpoint metadata. */
char *tr_bpe_to_string(const tr_bpe *b);
/* Parses the text format. Errors (TR_ERR_FORMAT) name the source and line:
 * "NAME:LINE: what" (NAME is name, or "<bpe>" when NULL): a missing or
 * wrong header, an empty line, invalid UTF-8, a carriage return, a line that
 * is not two symbols separated by one space, a symbol that is neither one
 * character nor made by an earlier merge. */
tr_status tr_bpe_from_string(tr_bpe **out, const char *s, const char *name,
                             tr_err *err);
/* Writes the text format atomically / reads it (errors name path). */
tr_status tr_bpe_save(const tr_bpe *b, const char *path, tr_err *err);
tr_status tr_bpe_load(tr_bpe **out, const char *path, tr_err *err);

#ifdef __cplusplus
}
#endif
#endif
