/* Pronunciation tasks on a CMUdict-format lexicon: the reader (with every
 * bad-input message naming file:line), the grapheme and phoneme
 * vocabularies, spelling/pronunciation -> ids, training pairs in either
 * direction, evaluation items with all their references, and batched
 * decoding of the items. Scoring (WER/PER) is metrics.h's. */
#include "triad/metrics.h"
#include "triad/seq2seq.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tr_pron_task_name(tr_pron_task t)
{
    return t == TR_PRON_P2G ? "p2g" : "g2p";
}

/* ---------------------------------------------------------------- lexicon */

void tr_lexicon_free(tr_lexicon *lx)
{
    for (int64_t i = 0; i < lx->n; i++) {
        free(lx->word[i]);
        free(lx->pron[i]);
    }
    free(lx->word);
    free(lx->pron);
    free(lx->line);
    free(lx->path);
    memset(lx, 0, sizeof *lx);
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = tr_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Normalises the phonemes of one line into out (single spaces, stress
 * digits dropped); returns their count or -1 with a message. */
static int normalise_pron(const char *s, char *out, const char *path, int64_t ln, tr_err *err)
{
    int n = 0;
    size_t k = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        size_t len = (size_t)(e - s);
        if (len > 1 && s[len - 1] >= '0' && s[len - 1] <= '2')
            len--;
        for (size_t i = 0; i < len; i++)
            if (!isupper((unsigned char)s[i])) {
                tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: bad phoneme '%.*s' (expected upper-case letters, optionally a stress digit 0-2)",
                           path, (long long)ln, (int)(e - s), s);
                return -1;
            }
        if (++n > TR_PRON_MAX_LEN) {
            tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: pronunciation longer than %d phonemes (the limit)", path,
                       (long long)ln, TR_PRON_MAX_LEN);
            return -1;
        }
        if (k)
            out[k++] = ' ';
        memcpy(out + k, s, len);
        k += len;
        s = e;
    }
    out[k] = '\0';
    return n;
}

tr_status tr_lexicon_read(tr_lexicon *lx, const char *path, tr_err *err)
{
    memset(lx, 0, sizeof *lx);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tr_err_set(err, TR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    lx->path = xstrndup(path, strlen(path));
    int64_t cap = 1024;
    lx->word = tr_xmalloc((size_t)cap * sizeof(char *));
    lx->pron = tr_xmalloc((size_t)cap * sizeof(char *));
    lx->line = tr_xmalloc((size_t)cap * sizeof(int64_t));
    char *buf = NULL, *pron = NULL;
    size_t bcap = 0;
    ssize_t got;
    int64_t ln = 0;
    tr_status st = TR_OK;
    while ((got = getline(&buf, &bcap, f)) >= 0) {
        ln++;
        size_t len = (size_t)got;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        buf[len] = '\0';
        if (len >= 3 && !strncmp(buf, ";;;", 3))
            continue;
        for (size_t i = 0; i < len && !st; i++) {
            unsigned char ch = (unsigned char)buf[i];
            if (ch == '\0')
                st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: NUL byte at byte %zu", path, (long long)ln, i + 1);
            else if (ch != '\t' && (ch < 32 || ch > 126))
                st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: byte 0x%02x at byte %zu is not printable ASCII", path,
                                (long long)ln, ch, i + 1);
        }
        if (st)
            break;
        size_t w = 0;
        while (w < len && buf[w] != ' ' && buf[w] != '\t')
            w++;
        size_t p = w;
        while (p < len && (buf[p] == ' ' || buf[p] == '\t'))
            p++;
        if (len == 0 || w == 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: %s (expected WORD, two spaces, phonemes)", path, (long long)ln,
                            p == len ? "empty line" : "line starts with a space");
            break;
        }
        if (p == len) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: '%.*s' has no pronunciation (expected WORD, two spaces, phonemes)",
                            path, (long long)ln, (int)w, buf);
            break;
        }
        /* CMUdict's variant marker WORD(2) */
        size_t wl = w;
        if (wl >= 3 && buf[wl - 1] == ')') {
            size_t q = wl - 2;
            while (q > 0 && isdigit((unsigned char)buf[q]))
                q--;
            if (buf[q] == '(' && q < wl - 2 && q > 0)
                wl = q;
        }
        if (wl > TR_PRON_MAX_LEN) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: '%.*s' is longer than %d characters (the limit)", path,
                            (long long)ln, (int)wl, buf, TR_PRON_MAX_LEN);
            break;
        }
        pron = tr_xmalloc(len - p + 1);
        if (normalise_pron(buf + p, pron, path, ln, err) < 0) {
            st = err ? err->code : TR_ERR_FORMAT;
            break;
        }
        if (lx->n == cap) {
            cap *= 2;
            lx->word = realloc(lx->word, (size_t)cap * sizeof(char *));
            lx->pron = realloc(lx->pron, (size_t)cap * sizeof(char *));
            lx->line = realloc(lx->line, (size_t)cap * sizeof(int64_t));
            TR_ASSERT(lx->word && lx->pron && lx->line);
        }
        char *word = xstrndup(buf, wl);
        for (char *c = word; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        lx->word[lx->n] = word;
        lx->pron[lx->n] = pron;
        pron = NULL;
        lx->line[lx->n] = ln;
        lx->n++;
    }
    if (!st && ferror(f))
        st = tr_err_set(err, TR_ERR_IO, "%s: read error", path);
    if (!st && lx->n == 0)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: no entries (expected lines WORD  PH1 PH2 ...)", path);
    free(buf);
    free(pron);
    fclose(f);
    if (st)
        tr_lexicon_free(lx);
    return st;
}

/* ---------------------------------------------------------------- vocabularies and ids */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tr_pron_vocabs(const tr_lexicon *lx, tr_vocab **graphemes, tr_vocab **phonemes)
{
    int seen[256] = {0};
    for (int64_t i = 0; i < lx->n; i++)
        for (const char *c = lx->word[i]; *c; c++)
            seen[(unsigned char)*c] = 1;
    *graphemes = tr_vocab_new();
    for (int ch = 1; ch < 256; ch++)
        if (seen[ch]) {
            char s = (char)ch;
            tr_vocab_add(*graphemes, &s, 1);
        }
    /* distinct phonemes, sorted */
    tr_vocab *tmp = tr_vocab_new();
    for (int64_t i = 0; i < lx->n; i++) {
        const char *s = lx->pron[i];
        while (*s) {
            const char *e = strchr(s, ' ');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            tr_vocab_add(tmp, s, n);
            s += n + (e ? 1 : 0);
        }
    }
    int np = tr_vocab_size(tmp) - 2;
    const char **names = tr_xmalloc((size_t)(np > 0 ? np : 1) * sizeof(char *));
    for (int i = 0; i < np; i++)
        names[i] = tr_vocab_word(tmp, i + 2);
    qsort(names, (size_t)np, sizeof(char *), str_cmp);
    *phonemes = tr_vocab_new();
    for (int i = 0; i < np; i++)
        tr_vocab_add(*phonemes, names[i], strlen(names[i]));
    free(names);
    tr_vocab_free(tmp);
}

/* Bytes of the printable character at c (1 for ASCII, 2-4 for a well-formed
 * UTF-8 sequence), or 0 for a control character or a stray byte. */
static int utf8_len(const char *c)
{
    const unsigned char u = (unsigned char)c[0];
    if (u < 0x80)
        return u >= 32 && u != 127;
    int n = u >= 0xC2 && u < 0xE0 ? 2 : u >= 0xE0 && u < 0xF0 ? 3 : u >= 0xF0 && u < 0xF5 ? 4 : 0;
    for (int k = 1; k < n; k++)
        if (((unsigned char)c[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

int tr_pron_spelling_ids(const tr_vocab *v, const char *s, int32_t *ids,
                         const char *where, int64_t line, tr_err *err)
{
    int n = 0;
    for (const char *c = s; *c; c++) {
        char u = (char)toupper((unsigned char)*c);
        int32_t id = tr_vocab_find(v, &u, 1);
        if (id < 2) {
            int nb = utf8_len(c);
            if (nb > 0)
                tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: unknown character '%.*s' in '%s' (not in the model's alphabet)",
                           where, (long long)line, nb, c, s);
            else
                tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: unknown character (byte 0x%02x) in the spelling (not in the model's alphabet)",
                           where, (long long)line, (unsigned char)*c);
            return -1;
        }
        if (n == TR_PRON_MAX_LEN) {
            tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: spelling longer than %d characters (the limit)", where,
                       (long long)line, TR_PRON_MAX_LEN);
            return -1;
        }
        ids[n++] = id;
    }
    if (n == 0)
        tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: empty spelling", where, (long long)line);
    return n ? n : -1;
}

int tr_pron_phoneme_ids(const tr_vocab *v, const char *s, int32_t *ids,
                        const char *where, int64_t line, tr_err *err)
{
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        size_t len = (size_t)(e - s);
        char ph[16];
        int32_t id = -1;
        if (len < sizeof ph) {
            for (size_t i = 0; i < len; i++)
                ph[i] = (char)toupper((unsigned char)s[i]);
            if (len > 1 && ph[len - 1] >= '0' && ph[len - 1] <= '2')
                len--;
            id = tr_vocab_find(v, ph, len);
        }
        if (id < 2) {
            tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: unknown phoneme '%.*s' (not in the model's phoneme set)", where,
                       (long long)line, (int)(e - s), s);
            return -1;
        }
        if (n == TR_PRON_MAX_LEN) {
            tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: pronunciation longer than %d phonemes (the limit)", where,
                       (long long)line, TR_PRON_MAX_LEN);
            return -1;
        }
        ids[n++] = id;
        s = e;
    }
    if (n == 0)
        tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: empty pronunciation", where, (long long)line);
    return n ? n : -1;
}

/* The source and target ids of entry i for the task. */
static tr_status entry_ids(const tr_lexicon *lx, int64_t i, tr_pron_task task, const tr_vocab *g,
                           const tr_vocab *p, int32_t *src, int *ns, int32_t *tgt, int *nt, tr_err *err)
{
    int32_t *sp = task == TR_PRON_G2P ? src : tgt, *ph = task == TR_PRON_G2P ? tgt : src;
    int a = tr_pron_spelling_ids(g, lx->word[i], sp, lx->path, lx->line[i], err);
    if (a < 0)
        return TR_ERR_FORMAT;
    int b = tr_pron_phoneme_ids(p, lx->pron[i], ph, lx->path, lx->line[i], err);
    if (b < 0)
        return TR_ERR_FORMAT;
    *ns = task == TR_PRON_G2P ? a : b;
    *nt = task == TR_PRON_G2P ? b : a;
    return TR_OK;
}

tr_status tr_pron_pairs(const tr_lexicon *lx, tr_pron_task task,
                        const tr_vocab *graphemes, const tr_vocab *phonemes,
                        tr_s2s_data *out, tr_err *err)
{
    tr_s2s_data_init(out);
    int32_t src[TR_PRON_MAX_LEN], tgt[TR_PRON_MAX_LEN];
    int ns, nt;
    for (int64_t i = 0; i < lx->n; i++) {
        tr_status st = entry_ids(lx, i, task, graphemes, phonemes, src, &ns, tgt, &nt, err);
        if (st) {
            tr_s2s_data_free(out);
            return st;
        }
        tr_s2s_data_add(out, src, ns, tgt, nt);
    }
    return TR_OK;
}

/* ---------------------------------------------------------------- evaluation items */

typedef struct {
    const char *key;
    int64_t idx;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int first_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b; /* (first entry, position in the sorted list) */
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

void tr_pron_items_free(tr_pron_items *it)
{
    tr_s2s_data_free(&it->refs);
    free(it->first);
    memset(it, 0, sizeof *it);
}

tr_status tr_pron_items_build(tr_pron_items *it, const tr_lexicon *lx,
                              tr_pron_task task, const tr_vocab *graphemes,
                              const tr_vocab *phonemes, tr_err *err)
{
    memset(it, 0, sizeof *it);
    const int64_t n = lx->n;
    keyed *k = tr_xmalloc((size_t)n * sizeof *k);
    for (int64_t i = 0; i < n; i++) {
        k[i].key = task == TR_PRON_G2P ? lx->word[i] : lx->pron[i];
        k[i].idx = i;
    }
    qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    /* groups of equal keys, ordered by their first entry in the file */
    int64_t *groups = tr_xmalloc((size_t)(2 * n) * sizeof(int64_t)), ng = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(k[i].key, k[i - 1].key)) {
            groups[2 * ng] = k[i].idx;
            groups[2 * ng + 1] = i;
            ng++;
        }
    qsort(groups, (size_t)ng, 2 * sizeof(int64_t), first_cmp);
    tr_s2s_data_init(&it->refs);
    it->first = tr_xmalloc((size_t)(ng + 1) * sizeof(int64_t));
    int32_t src[TR_PRON_MAX_LEN], tgt[TR_PRON_MAX_LEN];
    int ns, nt;
    tr_status st = TR_OK;
    for (int64_t g = 0; g < ng && !st; g++) {
        it->first[g] = it->refs.n;
        for (int64_t i = groups[2 * g + 1]; i < n && !strcmp(k[i].key, k[groups[2 * g + 1]].key) && !st; i++)
            if (!(st = entry_ids(lx, k[i].idx, task, graphemes, phonemes, src, &ns, tgt, &nt, err)))
                tr_s2s_data_add(&it->refs, src, ns, tgt, nt);
    }
    it->n = ng;
    it->first[ng] = it->refs.n;
    free(k);
    free(groups);
    if (st)
        tr_pron_items_free(it);
    return st;
}

void tr_pron_decode_items(tr_s2s_decoder *d, const tr_s2s *m,
                          const tr_pron_items *it, int beam, float len_norm,
                          tr_s2s_hyp_fn on_item, void *ctx)
{
    const tr_s2s_data *r = &it->refs;
    const int32_t **src = tr_xmalloc((size_t)(it->n > 0 ? it->n : 1) * sizeof *src);
    int *len = tr_xmalloc((size_t)(it->n > 0 ? it->n : 1) * sizeof *len);
    for (int64_t i = 0; i < it->n; i++) {
        int64_t p = it->first[i];
        src[i] = r->src + r->src_off[p];
        len[i] = (int)(r->src_off[p + 1] - r->src_off[p]);
    }
    tr_s2s_decode_all(d, m, src, len, it->n, beam, len_norm, on_item, ctx);
    free(src);
    free(len);
}

typedef struct {
    const tr_pron_items *it;
    tr_pron_score *score;
    const int32_t **refs;
    int *ref_len;
    tr_s2s_hyp_fn on_item;
    void *ctx;
} eval_ctx;

static void score_item(void *p, int64_t item, const int32_t *hyp, int len, double logp)
{
    eval_ctx *e = p;
    const tr_s2s_data *r = &e->it->refs;
    int nr = 0;
    for (int64_t j = e->it->first[item]; j < e->it->first[item + 1]; j++, nr++) {
        e->refs[nr] = r->tgt + r->tgt_off[j];
        e->ref_len[nr] = (int)(r->tgt_off[j + 1] - r->tgt_off[j]);
    }
    tr_pron_score_add(e->score, hyp, len, e->refs, e->ref_len, nr);
    if (e->on_item)
        e->on_item(e->ctx, item, hyp, len, logp);
}

void tr_pron_eval(tr_s2s_decoder *d, const tr_s2s *m, const tr_pron_items *it,
                  int beam, float len_norm, tr_pron_score *score,
                  tr_s2s_hyp_fn on_item, void *ctx)
{
    int64_t most = 1;
    for (int64_t i = 0; i < it->n; i++)
        most = it->first[i + 1] - it->first[i] > most ? it->first[i + 1] - it->first[i] : most;
    memset(score, 0, sizeof *score);
    eval_ctx e = {it, score, tr_xmalloc((size_t)most * sizeof(int32_t *)), tr_xmalloc((size_t)most * sizeof(int)),
                  on_item, ctx};
    tr_pron_decode_items(d, m, it, beam, len_norm, score_item, &e);
    free(e.refs);
    free(e.ref_len);
}
