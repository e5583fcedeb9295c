/*
 * src/metrics/bleu.c - corpus BLEU as sacreBLEU 2.6 computes it by default
 * (sacrebleu.corpus_bleu(hyps, [refs])): the 13a tokeniser, n-grams of
 * orders 1..4 clipped by the reference counts, the closest reference length,
 * the brevity penalty and "exp" smoothing, with the same floating-point
 * operations in the same order, so that scores agree to the last bits.
 *
 * The 13a tokeniser (sacrebleu/tokenizers/tokenizer_13a.py and
 * tokenizer_re.py), applied to the segment after Python's str.rstrip():
 *   1. remove "<skipped>"; remove "-\n"; "\n" -> " ";
 *      "&quot;" -> '"', "&amp;" -> '&', "&lt;" -> '<', "&gt;" -> '>'
 *      (each a separate left-to-right pass, in this order, so "&amp;lt;"
 *      becomes '<' and "&apos;" is left alone);
 *   2. pad with one space on each side;
 *   3. the four regular expressions, each a left-to-right pass over
 *      non-overlapping matches:
 *        ([\{-\~\[-\` -\&\(-\+\:-\@\/])  ->  " \1 "
 *        ([^0-9])([\.,])                 ->  "\1 \2 "
 *        ([\.,])([^0-9])                 ->  " \1 \2"
 *        ([0-9])(-)                      ->  "\1 \2 "
 *   4. split on whitespace as Python's str.split() does (the code points for
 *      which str.isspace() is true, listed in ws_len) and join with spaces.
 * The passes work on UTF-8 bytes: every pattern is ASCII, and [^0-9] next to
 * '.' or ',' matches the same places whether it sees code points or bytes,
 * because continuation bytes are never '.', ',' or a digit.
 *
 * Not here: edit distances and pronunciation scores (edit.c).
 */
#include "triad/metrics.h"

#include "data/data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLEU_ORDER 4

/* ---------------------------------------------------------------- growable byte buffer */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void buf_reserve(buf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    b->p = tr_data_xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_putc(buf *b, char c)
{
    buf_put(b, &c, 1);
}

/* ---------------------------------------------------------------- 13a */

/* Length in bytes of the whitespace code point at s[i] (i < n), or 0 when
 * there is none: the code points for which Python's str.isspace() is true
 * (U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000). */
static size_t ws_len(const unsigned char *s, size_t n, size_t i)
{
    unsigned c = s[i];
    if (c < 0x80)
        return (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) ? 1 : 0;
    if (c == 0xC2 && i + 1 < n)
        return (s[i + 1] == 0x85 || s[i + 1] == 0xA0) ? 2 : 0;
    if (i + 2 >= n)
        return 0;
    unsigned c1 = s[i + 1], c2 = s[i + 2];
    if (c == 0xE1)
        return (c1 == 0x9A && c2 == 0x80) ? 3 : 0;
    if (c == 0xE2 && c1 == 0x80)
        return ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) ? 3 : 0;
    if (c == 0xE2 && c1 == 0x81)
        return c2 == 0x9F ? 3 : 0;
    if (c == 0xE3)
        return (c1 == 0x80 && c2 == 0x80) ? 3 : 0;
    return 0;
}

/* Python's str.replace(from, to) on b (one left-to-right pass over
 * non-overlapping occurrences). */
static void replace_all(buf *b, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to);
    if (b->n < nf)
        return;
    buf out = {0};
    buf_reserve(&out, b->n);
    size_t i = 0;
    while (i < b->n) {
        if (i + nf <= b->n && memcmp(b->p + i, from, nf) == 0) {
            buf_put(&out, to, nt);
            i += nf;
        } else {
            buf_putc(&out, b->p[i++]);
        }
    }
    free(b->p);
    *b = out;
}

/* The character class of the first 13a expression:
 * [\{-\~\[-\` -\&\(-\+\:-\@\/], i.e. the ASCII punctuation and the space,
 * except ' , - . */
static int is_13a_punct(unsigned char c)
{
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == '/';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_dot_comma(unsigned char c)
{
    return c == '.' || c == ',';
}

/* One pass of a two-character expression (xy) over b: at each position,
 * when match(x, y) holds, writes the replacement and moves past both. */
enum { RE_PRE_DOT, RE_POST_DOT, RE_DIGIT_DASH };

static void regex_pass(buf *b, int which)
{
    buf out = {0};
    buf_reserve(&out, b->n + b->n / 2);
    const unsigned char *s = (const unsigned char *)b->p;
    size_t i = 0;
    while (i < b->n) {
        if (i + 1 < b->n) {
            unsigned char x = s[i], y = s[i + 1];
            int hit = 0;
            switch (which) {
            case RE_PRE_DOT: hit = !is_digit(x) && is_dot_comma(y); break;
            case RE_POST_DOT: hit = is_dot_comma(x) && !is_digit(y); break;
            default: hit = is_digit(x) && y == '-'; break;
            }
            if (hit) {
                char rep[4];
                if (which == RE_POST_DOT) { /* " \1 \2" */
                    rep[0] = ' ';
                    rep[1] = (char)x;
                    rep[2] = ' ';
                    rep[3] = (char)y;
                } else { /* "\1 \2 " */
                    rep[0] = (char)x;
                    rep[1] = ' ';
                    rep[2] = (char)y;
                    rep[3] = ' ';
                }
                buf_put(&out, rep, 4);
                i += 2;
                continue;
            }
        }
        buf_putc(&out, (char)s[i++]);
    }
    free(b->p);
    *b = out;
}

char *tr_bleu_tokenize_13a(const char *s)
{
    TR_ASSERT(s != NULL);
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    /* str.rstrip(): drop trailing whitespace code points. */
    size_t end = 0;
    for (size_t i = 0; i < n;) {
        size_t w = ws_len(u, n, i);
        if (w) {
            i += w;
        } else {
            i++;
            end = i;
        }
    }
    buf b = {0};
    buf_put(&b, s, end);
    replace_all(&b, "<skipped>", "");
    replace_all(&b, "-\n", "");
    replace_all(&b, "\n", " ");
    replace_all(&b, "&quot;", "\"");
    replace_all(&b, "&amp;", "&");
    replace_all(&b, "&lt;", "<");
    replace_all(&b, "&gt;", ">");

    buf t = {0};
    buf_reserve(&t, 3 * b.n + 2);
    buf_putc(&t, ' ');
    for (size_t i = 0; i < b.n; i++) {
        unsigned char c = (unsigned char)b.p[i];
        if (is_13a_punct(c)) {
            char rep[3] = {' ', (char)c, ' '};
            buf_put(&t, rep, 3);
        } else {
            buf_putc(&t, (char)c);
        }
    }
    buf_putc(&t, ' ');
    free(b.p);
    regex_pass(&t, RE_PRE_DOT);
    regex_pass(&t, RE_POST_DOT);
    regex_pass(&t, RE_DIGIT_DASH);

    /* ' '.join(line.split()) */
    buf out = {0};
    buf_reserve(&out, t.n);
    const unsigned char *v = (const unsigned char *)t.p;
    size_t i = 0;
    while (i < t.n) {
        size_t w = ws_len(v, t.n, i);
        if (w) {
            i += w;
            continue;
        }
        size_t j = i;
        while (j < t.n && !ws_len(v, t.n, j))
            j++;
        if (out.n)
            buf_putc(&out, ' ');
        buf_put(&out, t.p + i, j - i);
        i = j;
    }
    free(t.p);
    if (!out.p)
        buf_reserve(&out, 0);
    out.p[out.n] = '\0';
    return out.p;
}

/* ---------------------------------------------------------------- n-gram statistics */

typedef struct {
    const char *s;
    uint32_t len;
    int32_t id;
} token;

typedef struct {
    int32_t id[BLEU_ORDER];
} ngram;

static int cmp_token_text(const void *a, const void *b)
{
    const token *x = *(const token *const *)a, *y = *(const token *const *)b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int cmp_ngram(const void *a, const void *b)
{
    const ngram *x = a, *y = b;
    for (int k = 0; k < BLEU_ORDER; k++)
        if (x->id[k] != y->id[k])
            return x->id[k] < y->id[k] ? -1 : 1;
    return 0;
}

/* Splits a 13a-tokenised string (single spaces) into tokens appended at
 * *toks + *n. */
static void split_tokens(const char *s, token **toks, size_t *n, size_t *cap)
{
    size_t i = 0;
    while (s[i]) {
        size_t j = i;
        while (s[j] && s[j] != ' ')
            j++;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            *toks = tr_data_xrealloc(*toks, *cap * sizeof **toks);
        }
        (*toks)[(*n)++] = (token){s + i, (uint32_t)(j - i), -1};
        i = s[j] ? j + 1 : j;
    }
}

/* The n-grams of order k (1..4) of ids[0..len), padded with -1, sorted. */
static size_t ngrams_of(const token *t, size_t len, int k, ngram *out)
{
    if (len < (size_t)k)
        return 0;
    size_t m = len - (size_t)k + 1;
    for (size_t i = 0; i < m; i++) {
        for (int j = 0; j < BLEU_ORDER; j++)
            out[i].id[j] = j < k ? t[i + (size_t)j].id : -1;
    }
    qsort(out, m, sizeof *out, cmp_ngram);
    return m;
}

/* Adds one segment's matched (clipped) and total n-gram counts. */
static void segment_stats(const char *hyp, const char *ref, int64_t *correct, int64_t *total,
                          int64_t *hyp_len, int64_t *ref_len)
{
    token *toks = NULL;
    size_t n = 0, cap = 0;
    split_tokens(hyp, &toks, &n, &cap);
    size_t nh = n;
    split_tokens(ref, &toks, &n, &cap);
    size_t nr = n - nh;
    *hyp_len = (int64_t)nh;
    *ref_len = (int64_t)nr;

    /* Equal strings get equal ids. */
    token **order = tr_xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &toks[i];
    qsort(order, n, sizeof *order, cmp_token_text);
    int32_t id = -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cmp_token_text(&order[i - 1], &order[i]) != 0)
            id++;
        order[i]->id = id;
    }
    free(order);

    ngram *hg = tr_xmalloc((nh ? nh : 1) * sizeof *hg);
    ngram *rg = tr_xmalloc((nr ? nr : 1) * sizeof *rg);
    for (int k = 1; k <= BLEU_ORDER; k++) {
        size_t mh = ngrams_of(toks, nh, k, hg);
        size_t mr = ngrams_of(toks + nh, nr, k, rg);
        total[k - 1] += (int64_t)mh;
        size_t i = 0, j = 0;
        while (i < mh) {
            size_t i2 = i;
            while (i2 < mh && cmp_ngram(&hg[i], &hg[i2]) == 0)
                i2++;
            while (j < mr && cmp_ngram(&rg[j], &hg[i]) < 0)
                j++;
            size_t j2 = j;
            while (j2 < mr && cmp_ngram(&rg[j2], &hg[i]) == 0)
                j2++;
            size_t ch = i2 - i, cr = j2 - j;
            correct[k - 1] += (int64_t)(ch < cr ? ch : cr);
            i = i2;
            j = j2;
        }
    }
    free(hg);
    free(rg);
    free(toks);
}

/* sacrebleu.utils.my_log */
static double my_log(double x)
{
    return x == 0.0 ? -9999999999.0 : log(x);
}

tr_status tr_bleu_corpus(const char *const *hyps, const char *const *refs,
                         int64_t n, tr_bleu *out, tr_err *err)
{
    TR_ASSERT(out != NULL && n >= 0);
    TR_ASSERT(n == 0 || (hyps != NULL && refs != NULL));
    memset(out, 0, sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        TR_ASSERT(hyps[i] != NULL && refs[i] != NULL);
        size_t bad = tr_data_utf8_bad(hyps[i], strlen(hyps[i]));
        if (bad)
            return tr_err_set(err, TR_ERR_ARG, "BLEU: hypothesis %lld: invalid UTF-8 at byte %zu",
                              (long long)i + 1, bad);
        bad = tr_data_utf8_bad(refs[i], strlen(refs[i]));
        if (bad)
            return tr_err_set(err, TR_ERR_ARG, "BLEU: reference %lld: invalid UTF-8 at byte %zu",
                              (long long)i + 1, bad);
    }
    int64_t correct[BLEU_ORDER] = {0}, total[BLEU_ORDER] = {0};
    int64_t sys_len = 0, ref_len = 0;
    for (int64_t i = 0; i < n; i++) {
        char *h = tr_bleu_tokenize_13a(hyps[i]);
        char *r = tr_bleu_tokenize_13a(refs[i]);
        int64_t hl, rl;
        segment_stats(h, r, correct, total, &hl, &rl);
        sys_len += hl;
        ref_len += rl; /* one reference: it is the closest */
        free(h);
        free(r);
    }

    /* BLEU.compute_bleu with smooth_method "exp". */
    for (int k = 0; k < BLEU_ORDER; k++) {
        out->counts[k] = correct[k];
        out->totals[k] = total[k];
    }
    out->sys_len = sys_len;
    out->ref_len = ref_len;
    if (sys_len < ref_len)
        out->bp = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
    else
        out->bp = 1.0;
    int any = 0;
    for (int k = 0; k < BLEU_ORDER; k++)
        any |= correct[k] != 0;
    if (!any) {
        out->score = 0.0;
        return TR_OK;
    }
    double smooth = 1.0;
    for (int k = 0; k < BLEU_ORDER; k++) {
        if (total[k] == 0)
            break;
        if (correct[k] == 0) {
            smooth *= 2.0;
            out->precisions[k] = 100.0 / (smooth * (double)total[k]);
        } else {
            out->precisions[k] = 100.0 * (double)correct[k] / (double)total[k];
        }
    }
    double sum = 0.0;
    for (int k = 0; k < BLEU_ORDER; k++)
        sum += my_log(out->precisions[k]);
    out->score = out->bp * exp(sum / BLEU_ORDER);
    return TR_OK;
}
