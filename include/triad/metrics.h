/*
 * triad/metrics.h - evaluation metrics for sequence outputs:
 *   BLEU exactly as sacreBLEU's default corpus_bleu (13a tokenisation, exp
 *   smoothing, closest reference length, one reference per segment), on
 *   detokenised text;
 *   edit distances, word error rate and phoneme error rate for
 *   pronunciations with several references.
 */
#ifndef TRIAD_METRICS_H
#define TRIAD_METRICS_H

#include "triad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- BLEU */

/* sacreBLEU's BLEUScore fields. */
typedef struct {
    double score;          /* 0 .. 100 */
    int64_t counts[4];     /* matched n-grams, n = 1..4 */
    int64_t totals[4];     /* hypothesis n-grams */
    double precisions[4];  /* percent, after exp smoothing */
    double bp;             /* brevity penalty */
    int64_t sys_len, ref_len;
} tr_bleu;

/* Corpus BLEU of n hypothesis segments against one reference segment each
 * (UTF-8 strings, untokenised; tokenised here with sacreBLEU's 13a rules).
 * Empty or whitespace-only segments are allowed on both sides (an empty
 * reference has length 0). n = 0 gives the statistics of an empty corpus
 * (score 0, bp 1). TR_ERR_ARG (with a message naming the segment and byte)
 * on invalid UTF-8; *out is then zeroed. */
tr_status tr_bleu_corpus(const char *const *hyps, const char *const *refs,
                         int64_t n, tr_bleu *out, tr_err *err);

/* The 13a tokenisation of one segment (sacrebleu.tokenizers.tokenizer_13a,
 * after the str.rstrip() that BLEU applies first), malloc'ed; tokens
 * separated by single spaces, "" when there is none. Works on bytes: valid
 * UTF-8 gives sacreBLEU's result, anything else is not checked here. */
char *tr_bleu_tokenize_13a(const char *s);

/* ---------------------------------------------------------------- edit distance */

/* Levenshtein distance between token sequences a (na) and b (nb)
 * (unit-cost insertions, deletions, substitutions). O(na * nb) time,
 * O(min(na, nb)) memory (allocated per call). na, nb >= 0; a sequence of
 * length 0 may be NULL. */
int tr_edit_distance(const int32_t *a, int na, const int32_t *b, int nb);

/* Scores of predicted pronunciations against references, accumulated over
 * words: a word is right if its prediction equals any of its references;
 * its phoneme errors are the edit distance to the closest reference (ties:
 * the shorter reference), divided over the summed lengths of those closest
 * references. */
typedef struct {
    int64_t words, wrong_words;
    int64_t phone_errors, ref_phones;
} tr_pron_score;

/* Adds one word: hyp (nh tokens, nh = 0 for an empty prediction), refs
 * (nrefs >= 1 sequences, ref k of length ref_len[k]). Among references at
 * the same smallest distance and of the same length, the first counts.
 * Start from a zeroed tr_pron_score. */
void tr_pron_score_add(tr_pron_score *s, const int32_t *hyp, int nh,
                       const int32_t *const *refs, const int *ref_len,
                       int nrefs);
/* WER and PER in percent (0 when nothing was added, or no reference phone). */
double tr_pron_wer(const tr_pron_score *s);
double tr_pron_per(const tr_pron_score *s);

#ifdef __cplusplus
}
#endif
#endif
