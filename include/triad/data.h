/*
 * triad/data.h - text data: a tokenizer, a vocabulary, and a streaming
 * reader that cuts a corpus into B parallel lanes and serves (T, B) batches
 * for truncated back-propagation through time. Corpora are read as a stream
 * and never held in memory whole.
 *
 * Tokenizer: a token is  \w+(?:['-]\w+)*  or a single  [^\w\s]  character,
 * where \w is an ASCII letter, digit or '_' or any non-ASCII code point that
 * is not punctuation or space (U+0080-U+00BF, U+2000-U+206F, U+3000-U+303F
 * count as punctuation/space). With lower-casing on, ASCII and Latin-1 letters
 * are lower-cased. Input must be valid UTF-8 without NUL bytes; anything else
 * is an error naming the file and line.
 *
 * Every line ends with the end-of-sentence token "<eos>". Words outside the
 * vocabulary map to "<unk>".
 */
#ifndef TRIAD_DATA_H
#define TRIAD_DATA_H

#include "triad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_UNK_ID 0
#define TR_EOS_ID 1
#define TR_UNK "<unk>"
#define TR_EOS "<eos>"
#define TR_MAX_TOKEN 256 /* longer tokens are cut to this many bytes */

/* ---------------------------------------------------------------- tokenizer */

/* Called for each token; tok is not NUL-terminated. */
typedef void (*tr_token_fn)(void *ctx, const char *tok, size_t len);

/* Tokenizes one line (without its newline). Returns TR_ERR_FORMAT with a
 * message naming where (file and line number given by the caller, may be
 * NULL/0) for invalid UTF-8 or a NUL byte. */
tr_status tr_tokenize(const char *s, size_t n, int lower, tr_token_fn fn,
                      void *ctx, const char *file, int64_t line, tr_err *err);

/* ---------------------------------------------------------------- lines */

/* Every line of a text file (without its '\n'), malloc'ed, into *lines
 * (*n of them). Errors: the file cannot be opened or read (TR_ERR_IO); an
 * empty line or a NUL byte (naming path:line) or a file without lines
 * (TR_ERR_FORMAT); nothing is returned then. */
tr_status tr_lines_read(const char *path, char ***lines, int64_t *n, tr_err *err);
void tr_lines_free(char **lines, int64_t n);

/* ---------------------------------------------------------------- vocabulary */

typedef struct tr_vocab tr_vocab;

/* An empty vocabulary holding only <unk> (id 0) and <eos> (id 1). */
tr_vocab *tr_vocab_new(void);
void tr_vocab_free(tr_vocab *v);
int32_t tr_vocab_size(const tr_vocab *v);
/* Id of a word, or -1 when absent. */
int32_t tr_vocab_find(const tr_vocab *v, const char *w, size_t n);
/* Id of a word, TR_UNK_ID when absent. */
int32_t tr_vocab_id(const tr_vocab *v, const char *w, size_t n);
const char *tr_vocab_word(const tr_vocab *v, int32_t id);
/* Adds a word if absent; returns its id. */
int32_t tr_vocab_add(tr_vocab *v, const char *w, size_t n);

/* Builds a vocabulary from a text file in one streaming pass: words with at
 * least min_count occurrences, at most max_size entries in all (counting
 * <unk> and <eos>; 0 = no limit), most frequent first, ties broken by byte
 * order so the result is deterministic. Also returns (if not NULL) the number
 * of lines and tokens (with <eos>) in the file. Errors: missing, unreadable or
 * empty file, invalid UTF-8 (file:line). */
tr_status tr_vocab_build(tr_vocab **out, const char *path, int lower,
                         int64_t min_count, int32_t max_size, int64_t *nlines,
                         int64_t *ntokens, tr_err *err);

/* Serialises to words joined by '\n' in id order (malloc'ed, caller frees)
 * and back; from_string checks that <unk> and <eos> are ids 0 and 1 and that
 * no word repeats. These strings travel in checkpoint metadata. */
char *tr_vocab_to_string(const tr_vocab *v);
tr_status tr_vocab_from_string(tr_vocab **out, const char *s, tr_err *err);

/* ---------------------------------------------------------------- batches */

/* Streams a text file as B lanes of about equal token counts: lane i starts
 * at the first line before which at least i*total/B tokens lie. Each lane is
 * the sequence of its tokens
 * (ids, <eos> after each line). A batch takes T+1 consecutive ids from
 * every lane: x = ids[0..T'-1], y = ids[1..T'] as (T', B) time-major arrays,
 * and the next batch starts where y ended minus one (the last target is the
 * next first input), so the hidden state of lane i carries over. */
typedef struct tr_batcher tr_batcher;

/* Opens path; counts its tokens and cuts the lanes in two passes. B, T >= 1.
 * Errors: missing/empty file, invalid UTF-8 (file:line), fewer than B lines. */
tr_status tr_batcher_open(tr_batcher **out, const char *path,
                          const tr_vocab *v, int lower, int B, int T,
                          tr_err *err);
void tr_batcher_close(tr_batcher *b);
/* Fills x and y (T, B) row-major: x[t*B + i]. Returns T' (1..T, the largest
 * number of steps every lane can still provide) in *steps, 0 at the end of
 * the epoch. */
tr_status tr_batcher_next(tr_batcher *b, int32_t *x, int32_t *y, int *steps,
                          tr_err *err);
/* Back to the start of every lane (a new epoch). */
tr_status tr_batcher_rewind(tr_batcher *b, tr_err *err);
/* Total tokens in the file, and targets served since the last rewind. */
int64_t tr_batcher_total_tokens(const tr_batcher *b);
int64_t tr_batcher_served(const tr_batcher *b);
/* The read position as 2*B+1 integers (per lane: byte offset of its current
 * line and token index within it; then the served count), and back, so that
 * a checkpoint can resume in the middle of an epoch. */
void tr_batcher_tell(const tr_batcher *b, int64_t *pos);
tr_status tr_batcher_seek(tr_batcher *b, const int64_t *pos, tr_err *err);
int tr_batcher_lanes(const tr_batcher *b);

#ifdef __cplusplus
}
#endif
#endif
