/*
 * src/data/bpe.c - byte-pair encoding: word counts, learning, applying,
 * decoding and the text format (the rules are in bpe.h).
 *
 * Symbols are strings interned in a tr_vocab (its ids 0 and 1, <unk> and
 * <eos>, are never symbols: a symbol never holds '<' next to a letter).
 * Learning keeps, for every adjacent symbol pair, its count and the words
 * it occurs in (a list that may hold stale entries, checked on use), and a
 * max-heap of (count, pair) entries with lazy deletion: an entry is current
 * when its count equals the pair's count. A merge rewrites only the words
 * that contain the pair: their pairs are subtracted, the word is merged,
 * and its new pairs are added, so each merge costs time in proportion to
 * the words it touches. Not here: the word tokenizer of the language
 * models (tokenize.c).
 */
#include "triad/bpe.h"
#include "triad/io.h"

#include "data_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_LEN 3 /* bytes of TR_BPE_SPACE */

/* ---------------------------------------------------------------- byte buffer */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = tr_data_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* The buffer's string, "" when nothing was put (caller frees). */
static char *sb_take(sbuf *b)
{
    if (!b->p)
        sb_put(b, "", 0);
    return b->p;
}

/* ---------------------------------------------------------------- characters and words */

/* Byte length of the UTF-8 sequence that starts with byte c (valid input). */
static size_t u8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static uint32_t u8_decode(const unsigned char *s, size_t k)
{
    switch (k) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* \w as data.h defines it. */
static int is_word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    if (cp <= 0xBF || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) || cp == 0xFEFF)
        return 0;
    return 1;
}

static int word_at(const char *s, size_t n, size_t i)
{
    size_t k = u8_len((unsigned char)s[i]);
    return i + k <= n && is_word_cp(u8_decode((const unsigned char *)s + i, k));
}

/* Checks a line: valid UTF-8 without NUL, '\n', '\r' or U+2581. */
static tr_status check_line(const char *s, size_t n, const char *file, int64_t line, tr_err *err)
{
    const char *what = NULL;
    size_t at = tr_data_utf8_bad(s, n);
    if (at) {
        what = s[at - 1] ? "invalid UTF-8" : "NUL byte";
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\n' || s[i] == '\r') {
                what = s[i] == '\n' ? "line break" : "carriage return";
                at = i + 1;
                break;
            }
            if (i + SPACE_LEN <= n && memcmp(s + i, TR_BPE_SPACE, SPACE_LEN) == 0) {
                what = "U+2581 (reserved as the BPE space marker)";
                at = i + 1;
                break;
            }
        }
    }
    if (!what)
        return TR_OK;
    const char *f = file ? file : "<input>";
    if (line > 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: %s at byte %zu", f, (long long)line, what, at);
    return tr_err_set(err, TR_ERR_FORMAT, "%s: %s at byte %zu", f, what, at);
}

typedef void (*word_fn)(void *ctx, const char *w, size_t len);

/* Cuts the (checked) line s[0..n) into words, each built in *scratch. */
static void for_each_word(const char *s, size_t n, word_fn fn, void *ctx, sbuf *scratch)
{
    if (n == 0)
        return;
    /* Position -1 is the dummy space. */
    size_t i = 0;
    int space = 1;
    for (;;) {
        scratch->n = 0;
        if (space) {
            sb_put(scratch, TR_BPE_SPACE, SPACE_LEN);
            if (i >= n || s[i] == ' ') {
                fn(ctx, scratch->p, scratch->n);
                if (i >= n)
                    return;
                i++;
                continue;
            }
        }
        size_t start = i;
        if (word_at(s, n, i)) {
            for (;;) {
                while (i < n && word_at(s, n, i))
                    i += u8_len((unsigned char)s[i]);
                if (i + 1 < n && (s[i] == '\'' || s[i] == '-') && word_at(s, n, i + 1))
                    i++;
                else
                    break;
            }
        } else {
            i += u8_len((unsigned char)s[i]);
        }
        sb_put(scratch, s + start, i - start);
        fn(ctx, scratch->p, scratch->n);
        if (i >= n)
            return;
        space = s[i] == ' ';
        if (space)
            i++;
    }
}

/* ---------------------------------------------------------------- word counts */

struct tr_bpe_counts {
    tr_vocab *words; /* ids 2.. are words */
    int64_t *freq;   /* (cap,) by word id */
    int64_t cap, total;
};

tr_bpe_counts *tr_bpe_counts_new(void)
{
    tr_bpe_counts *c = tr_xcalloc(1, sizeof *c);
    c->words = tr_vocab_new();
    c->cap = 1024;
    c->freq = tr_xcalloc((size_t)c->cap, sizeof *c->freq);
    return c;
}

void tr_bpe_counts_free(tr_bpe_counts *c)
{
    if (!c)
        return;
    tr_vocab_free(c->words);
    free(c->freq);
    free(c);
}

static void count_word(void *ctx, const char *w, size_t len)
{
    tr_bpe_counts *c = ctx;
    int32_t id = tr_vocab_add(c->words, w, len);
    if (id >= c->cap) {
        int64_t cap = c->cap;
        while (cap <= id)
            cap *= 2;
        c->freq = tr_data_xrealloc(c->freq, (size_t)cap * sizeof *c->freq);
        memset(c->freq + c->cap, 0, (size_t)(cap - c->cap) * sizeof *c->freq);
        c->cap = cap;
    }
    c->freq[id]++;
    c->total++;
}

tr_status tr_bpe_counts_add(tr_bpe_counts *c, const char *s, size_t n,
                            const char *file, int64_t line, tr_err *err)
{
    TR_ASSERT(c != NULL && (s != NULL || n == 0));
    tr_status st = check_line(s, n, file, line, err);
    if (st != TR_OK)
        return st;
    sbuf scratch = {0};
    for_each_word(s, n, count_word, c, &scratch);
    free(scratch.p);
    return TR_OK;
}

tr_status tr_bpe_counts_add_file(tr_bpe_counts *c, const char *path, tr_err *err)
{
    TR_ASSERT(c != NULL && path != NULL);
    FILE *f;
    tr_status st = tr_data_open(&f, path, err);
    if (st != TR_OK)
        return st;
    char *line = NULL;
    size_t cap = 0, len;
    int64_t lineno = 0;
    int r;
    while ((r = tr_data_read_line(f, &line, &cap, &len, NULL, path, err)) == 1) {
        st = tr_bpe_counts_add(c, line, len, path, ++lineno, err);
        if (st != TR_OK)
            break;
    }
    if (r < 0)
        st = err ? err->code : TR_ERR_IO;
    free(line);
    fclose(f);
    return st;
}

int64_t tr_bpe_counts_types(const tr_bpe_counts *c)
{
    return tr_vocab_size(c->words) - 2;
}

int64_t tr_bpe_counts_total(const tr_bpe_counts *c)
{
    return c->total;
}

/* ---------------------------------------------------------------- pair map */

/* Open addressing from a symbol pair to an int32 (linear probing, load
 * factor <= 1/2). Symbol ids are >= 2, so the empty key never occurs. */
#define EMPTY_KEY UINT64_MAX

typedef struct {
    uint64_t *keys;
    int32_t *vals;
    size_t nslots, n;
} pairmap;

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t key_slot(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & mask;
}

static void pm_init(pairmap *m, size_t nslots)
{
    m->keys = tr_xmalloc(nslots * sizeof *m->keys);
    m->vals = tr_xmalloc(nslots * sizeof *m->vals);
    for (size_t i = 0; i < nslots; i++)
        m->keys[i] = EMPTY_KEY;
    m->nslots = nslots;
    m->n = 0;
}

static void pm_free(pairmap *m)
{
    free(m->keys);
    free(m->vals);
}

/* Value for (a, b), or -1. */
static int32_t pm_get(const pairmap *m, int32_t a, int32_t b)
{
    uint64_t k = pair_key(a, b);
    size_t mask = m->nslots - 1;
    for (size_t j = key_slot(k, mask);; j = (j + 1) & mask) {
        if (m->keys[j] == k)
            return m->vals[j];
        if (m->keys[j] == EMPTY_KEY)
            return -1;
    }
}

/* Sets (a, b) -> v unless present; returns the value stored. */
static int32_t pm_put(pairmap *m, int32_t a, int32_t b, int32_t v)
{
    if (2 * (m->n + 1) > m->nslots) {
        pairmap bigger;
        pm_init(&bigger, 2 * m->nslots);
        for (size_t j = 0; j < m->nslots; j++) {
            if (m->keys[j] == EMPTY_KEY)
                continue;
            size_t mask = bigger.nslots - 1, s = key_slot(m->keys[j], mask);
            while (bigger.keys[s] != EMPTY_KEY)
                s = (s + 1) & mask;
            bigger.keys[s] = m->keys[j];
            bigger.vals[s] = m->vals[j];
        }
        bigger.n = m->n;
        pm_free(m);
        *m = bigger;
    }
    uint64_t k = pair_key(a, b);
    size_t mask = m->nslots - 1;
    size_t j = key_slot(k, mask);
    while (m->keys[j] != EMPTY_KEY) {
        if (m->keys[j] == k)
            return m->vals[j];
        j = (j + 1) & mask;
    }
    m->keys[j] = k;
    m->vals[j] = v;
    m->n++;
    return v;
}

/* ---------------------------------------------------------------- the model */

struct tr_bpe {
    tr_vocab *sym;   /* symbol strings */
    int n, cap;      /* merges */
    int32_t *left, *right, *result; /* (cap,) symbol ids, by rank */
    pairmap rank;    /* (left, right) -> first rank */
};

static tr_bpe *bpe_alloc(void)
{
    tr_bpe *b = tr_xcalloc(1, sizeof *b);
    b->sym = tr_vocab_new();
    pm_init(&b->rank, 64);
    return b;
}

void tr_bpe_free(tr_bpe *b)
{
    if (!b)
        return;
    tr_vocab_free(b->sym);
    free(b->left);
    free(b->right);
    free(b->result);
    pm_free(&b->rank);
    free(b);
}

/* Interns the concatenation of symbols a and b. */
static int32_t intern_concat(tr_vocab *sym, int32_t a, int32_t b, sbuf *scratch)
{
    const char *sa = tr_vocab_word(sym, a), *sb = tr_vocab_word(sym, b);
    scratch->n = 0;
    sb_put(scratch, sa, strlen(sa));
    sb_put(scratch, sb, strlen(sb));
    return tr_vocab_add(sym, scratch->p, scratch->n);
}

/* Appends the merge (a, b) -> result. */
static void bpe_push(tr_bpe *b, int32_t l, int32_t r, int32_t res)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->left = tr_data_xrealloc(b->left, (size_t)b->cap * sizeof *b->left);
        b->right = tr_data_xrealloc(b->right, (size_t)b->cap * sizeof *b->right);
        b->result = tr_data_xrealloc(b->result, (size_t)b->cap * sizeof *b->result);
    }
    b->left[b->n] = l;
    b->right[b->n] = r;
    b->result[b->n] = res;
    pm_put(&b->rank, l, r, b->n);
    b->n++;
}

int tr_bpe_merges(const tr_bpe *b)
{
    return b->n;
}

void tr_bpe_merge(const tr_bpe *b, int i, const char **left, const char **right)
{
    TR_ASSERT(i >= 0 && i < b->n);
    *left = tr_vocab_word(b->sym, b->left[i]);
    *right = tr_vocab_word(b->sym, b->right[i]);
}

/* ---------------------------------------------------------------- learning */

typedef struct {
    int32_t a, b;
    int64_t count;
    int32_t *words; /* words that contained the pair at some point */
    int32_t nwords, capwords;
    int32_t stamp;  /* merge step that last changed the count */
} pair_t;

typedef struct {
    int64_t count;
    int32_t pair;
} heap_entry;

typedef struct {
    const tr_vocab *sym;
    /* words */
    int32_t nw;
    int64_t *freq;    /* (nw,) */
    int32_t **seq;    /* (nw,) symbol ids */
    int32_t *len;     /* (nw,) current lengths */
    int32_t *wstamp;  /* (nw,) last merge step that visited the word */
    /* pairs */
    pairmap index;    /* (a, b) -> pair id */
    pair_t *pairs;
    int32_t np, cappairs;
    int32_t *changed; /* pairs whose count changed in this step */
    int32_t nchanged, capchanged;
    /* heap */
    heap_entry *heap;
    size_t nheap, capheap;
} learner;

/* a is better than b: larger count, then smaller left, then smaller right. */
static int entry_better(const learner *L, heap_entry a, heap_entry b)
{
    if (a.count != b.count)
        return a.count > b.count;
    const pair_t *pa = &L->pairs[a.pair], *pb = &L->pairs[b.pair];
    int c = strcmp(tr_vocab_word(L->sym, pa->a), tr_vocab_word(L->sym, pb->a));
    if (c)
        return c < 0;
    return strcmp(tr_vocab_word(L->sym, pa->b), tr_vocab_word(L->sym, pb->b)) < 0;
}

static void heap_push(learner *L, int32_t p)
{
    if (L->nheap == L->capheap) {
        L->capheap = L->capheap ? 2 * L->capheap : 1024;
        L->heap = tr_data_xrealloc(L->heap, L->capheap * sizeof *L->heap);
    }
    heap_entry e = {L->pairs[p].count, p};
    size_t i = L->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!entry_better(L, e, L->heap[up]))
            break;
        L->heap[i] = L->heap[up];
        i = up;
    }
    L->heap[i] = e;
}

static heap_entry heap_pop(learner *L)
{
    heap_entry top = L->heap[0];
    heap_entry last = L->heap[--L->nheap];
    size_t i = 0, n = L->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && entry_better(L, L->heap[c + 1], L->heap[c]))
            c++;
        if (!entry_better(L, L->heap[c], last))
            break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n)
        L->heap[i] = last;
    return top;
}

/* The id of pair (a, b), created with count 0 if new. */
static int32_t pair_id(learner *L, int32_t a, int32_t b)
{
    int32_t p = pm_put(&L->index, a, b, L->np);
    if (p == L->np) {
        if (L->np == L->cappairs) {
            L->cappairs = L->cappairs ? 2 * L->cappairs : 1024;
            L->pairs = tr_data_xrealloc(L->pairs, (size_t)L->cappairs * sizeof *L->pairs);
        }
        L->pairs[p] = (pair_t){a, b, 0, NULL, 0, 0, -1};
        L->np++;
    }
    return p;
}

/* Adds delta to the count of (a, b); with track, remembers word w in the
 * pair's word list. Records the pair as changed in step. */
static void pair_add(learner *L, int32_t a, int32_t b, int64_t delta, int32_t w, int track, int32_t step)
{
    int32_t p = pair_id(L, a, b);
    pair_t *q = &L->pairs[p];
    q->count += delta;
    TR_ASSERT(q->count >= 0);
    if (track && (q->nwords == 0 || q->words[q->nwords - 1] != w)) {
        if (q->nwords == q->capwords) {
            q->capwords = q->capwords ? 2 * q->capwords : 4;
            q->words = tr_data_xrealloc(q->words, (size_t)q->capwords * sizeof *q->words);
        }
        q->words[q->nwords++] = w;
    }
    if (q->stamp != step) {
        q->stamp = step;
        if (L->nchanged == L->capchanged) {
            L->capchanged = L->capchanged ? 2 * L->capchanged : 1024;
            L->changed = tr_data_xrealloc(L->changed, (size_t)L->capchanged * sizeof *L->changed);
        }
        L->changed[L->nchanged++] = p;
    }
}

/* Merges every (a, b) in word w into c, updating the pair counts. */
static void merge_word(learner *L, int32_t w, int32_t a, int32_t b, int32_t c, int32_t step)
{
    int32_t *s = L->seq[w];
    int32_t n = L->len[w];
    int found = 0;
    for (int32_t i = 0; i + 1 < n && !found; i++)
        found = s[i] == a && s[i + 1] == b;
    if (!found)
        return;
    int64_t f = L->freq[w];
    for (int32_t i = 0; i + 1 < n; i++)
        pair_add(L, s[i], s[i + 1], -f, w, 0, step);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[k++] = c;
            i++;
        } else {
            s[k++] = s[i];
        }
    }
    L->len[w] = k;
    for (int32_t i = 0; i + 1 < k; i++)
        pair_add(L, s[i], s[i + 1], f, w, s[i] == c || s[i + 1] == c, step);
}

static void learner_free(learner *L)
{
    for (int32_t w = 0; w < L->nw; w++)
        free(L->seq[w]);
    free(L->seq);
    free(L->freq);
    free(L->len);
    free(L->wstamp);
    for (int32_t p = 0; p < L->np; p++)
        free(L->pairs[p].words);
    free(L->pairs);
    free(L->changed);
    free(L->heap);
    pm_free(&L->index);
}

tr_status tr_bpe_learn(tr_bpe **out, const tr_bpe_counts *c, int merges,
                       int64_t min_count, tr_err *err)
{
    TR_ASSERT(out != NULL && c != NULL);
    *out = NULL;
    if (merges < 0)
        return tr_err_set(err, TR_ERR_ARG, "BPE: the number of merges must be >= 0, not %d", merges);
    if (min_count < 1)
        return tr_err_set(err, TR_ERR_ARG, "BPE: the minimum pair count must be >= 1, not %lld",
                          (long long)min_count);
    tr_bpe *bpe = bpe_alloc();
    learner L;
    memset(&L, 0, sizeof L);
    L.sym = bpe->sym;
    L.nw = (int32_t)tr_bpe_counts_types(c);
    L.freq = tr_xmalloc(((size_t)L.nw + 1) * sizeof *L.freq);
    L.seq = tr_xmalloc(((size_t)L.nw + 1) * sizeof *L.seq);
    L.len = tr_xmalloc(((size_t)L.nw + 1) * sizeof *L.len);
    L.wstamp = tr_xmalloc(((size_t)L.nw + 1) * sizeof *L.wstamp);
    pm_init(&L.index, 1024);
    for (int32_t w = 0; w < L.nw; w++) {
        const char *s = tr_vocab_word(c->words, w + 2);
        size_t n = strlen(s);
        L.freq[w] = c->freq[w + 2];
        L.seq[w] = tr_xmalloc((n ? n : 1) * sizeof *L.seq[w]);
        int32_t k = 0;
        for (size_t i = 0; i < n;) {
            size_t cl = u8_len((unsigned char)s[i]);
            L.seq[w][k++] = tr_vocab_add(bpe->sym, s + i, cl);
            i += cl;
        }
        L.len[w] = k;
        L.wstamp[w] = -1;
        for (int32_t i = 0; i + 1 < k; i++)
            pair_add(&L, L.seq[w][i], L.seq[w][i + 1], L.freq[w], w, 1, -2);
    }
    for (int32_t p = 0; p < L.np; p++)
        heap_push(&L, p);
    L.nchanged = 0;

    sbuf scratch = {0};
    for (int32_t step = 0; step < merges; step++) {
        int32_t p = -1;
        while (L.nheap > 0) {
            heap_entry e = heap_pop(&L);
            if (e.count > 0 && e.count == L.pairs[e.pair].count) {
                p = e.pair;
                break;
            }
        }
        if (p < 0 || L.pairs[p].count < min_count)
            break;
        int32_t a = L.pairs[p].a, b = L.pairs[p].b;
        int32_t cid = intern_concat(bpe->sym, a, b, &scratch);
        bpe_push(bpe, a, b, cid);
        /* The pair's word list is taken over: merging cannot add to it,
         * since every new pair holds the new, longer symbol. */
        int32_t *words = L.pairs[p].words, nwords = L.pairs[p].nwords;
        L.pairs[p].words = NULL;
        L.pairs[p].nwords = L.pairs[p].capwords = 0;
        for (int32_t i = 0; i < nwords; i++) {
            int32_t w = words[i];
            if (L.wstamp[w] == step)
                continue;
            L.wstamp[w] = step;
            merge_word(&L, w, a, b, cid, step);
        }
        free(words);
        for (int32_t i = 0; i < L.nchanged; i++)
            if (L.pairs[L.changed[i]].count > 0)
                heap_push(&L, L.changed[i]);
        L.nchanged = 0;
    }
    free(scratch.p);
    learner_free(&L);
    *out = bpe;
    return TR_OK;
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    const tr_bpe *b;
    tr_token_fn fn;
    void *ctx;
    int32_t *id;    /* symbol id per unit, -1 for unseen characters */
    size_t *end;    /* end offset per unit (units are contiguous) */
    size_t cap;
} encoder;

static void encode_word(void *ctx, const char *w, size_t len)
{
    encoder *E = ctx;
    if (len > E->cap) {
        E->cap = len;
        E->id = tr_data_xrealloc(E->id, E->cap * sizeof *E->id);
        E->end = tr_data_xrealloc(E->end, E->cap * sizeof *E->end);
    }
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = u8_len((unsigned char)w[i]);
        E->id[k] = tr_vocab_find(E->b->sym, w + i, cl);
        i += cl;
        E->end[k++] = i;
    }
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            if (E->id[i] < 0 || E->id[i + 1] < 0)
                continue;
            int32_t r = pm_get(&E->b->rank, E->id[i], E->id[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                at = i;
            }
        }
        if (best < 0)
            break;
        E->id[at] = E->b->result[best];
        E->end[at] = E->end[at + 1];
        memmove(E->id + at + 1, E->id + at + 2, (k - at - 2) * sizeof *E->id);
        memmove(E->end + at + 1, E->end + at + 2, (k - at - 2) * sizeof *E->end);
        k--;
    }
    size_t start = 0;
    for (size_t i = 0; i < k; i++) {
        E->fn(E->ctx, w + start, E->end[i] - start);
        start = E->end[i];
    }
}

tr_status tr_bpe_encode(const tr_bpe *b, const char *s, size_t n,
                        tr_token_fn fn, void *ctx, const char *file,
                        int64_t line, tr_err *err)
{
    TR_ASSERT(b != NULL && fn != NULL && (s != NULL || n == 0));
    tr_status st = check_line(s, n, file, line, err);
    if (st != TR_OK)
        return st;
    encoder E = {b, fn, ctx, NULL, NULL, 0};
    sbuf scratch = {0};
    for_each_word(s, n, encode_word, &E, &scratch);
    free(scratch.p);
    free(E.id);
    free(E.end);
    return TR_OK;
}

static void join_unit(void *ctx, const char *u, size_t len)
{
    sbuf *out = ctx;
    if (out->n)
        sb_put(out, " ", 1);
    sb_put(out, u, len);
}

char *tr_bpe_encode_str(const tr_bpe *b, const char *s, tr_err *err)
{
    TR_ASSERT(s != NULL);
    sbuf out = {0};
    if (tr_bpe_encode(b, s, strlen(s), join_unit, &out, NULL, 0, err) != TR_OK) {
        free(out.p);
        return NULL;
    }
    return sb_take(&out);
}

/* Appends text with U+2581 -> ' ' and, when skip_spaces, ' ' removed. */
static void put_decoded(sbuf *out, const char *s, size_t n, int skip_spaces)
{
    size_t i = 0;
    while (i < n) {
        if (i + SPACE_LEN <= n && memcmp(s + i, TR_BPE_SPACE, SPACE_LEN) == 0) {
            sb_put(out, " ", 1);
            i += SPACE_LEN;
            continue;
        }
        if (skip_spaces && s[i] == ' ') {
            i++;
            continue;
        }
        size_t j = i + 1; /* a run without a space or a marker's first byte */
        while (j < n && s[j] != TR_BPE_SPACE[0] && s[j] != ' ')
            j++;
        sb_put(out, s + i, j - i);
        i = j;
    }
}

/* Drops the dummy space. */
static char *finish_decoded(sbuf *out)
{
    char *s = sb_take(out);
    if (s[0] == ' ')
        memmove(s, s + 1, out->n);
    return s;
}

char *tr_bpe_decode(const char *const *units, int64_t n)
{
    TR_ASSERT(n >= 0 && (n == 0 || units != NULL));
    sbuf out = {0};
    for (int64_t i = 0; i < n; i++)
        put_decoded(&out, units[i], strlen(units[i]), 0);
    return finish_decoded(&out);
}

char *tr_bpe_decode_str(const char *units)
{
    TR_ASSERT(units != NULL);
    sbuf out = {0};
    put_decoded(&out, units, strlen(units), 1);
    return finish_decoded(&out);
}

/* ---------------------------------------------------------------- storage */

char *tr_bpe_to_string(const tr_bpe *b)
{
    TR_ASSERT(b != NULL);
    sbuf out = {0};
    sb_put(&out, TR_BPE_HEADER "\n", strlen(TR_BPE_HEADER) + 1);
    for (int i = 0; i < b->n; i++) {
        const char *l = tr_vocab_word(b->sym, b->left[i]), *r = tr_vocab_word(b->sym, b->right[i]);
        sb_put(&out, l, strlen(l));
        sb_put(&out, " ", 1);
        sb_put(&out, r, strlen(r));
        sb_put(&out, "\n", 1);
    }
    return sb_take(&out);
}

/* The id of symbol s[0..n) if it is one character or a known merge result,
 * else -1. */
static int32_t known_symbol(tr_bpe *b, const char *s, size_t n)
{
    if (u8_len((unsigned char)s[0]) == n)
        return tr_vocab_add(b->sym, s, n);
    int32_t id = tr_vocab_find(b->sym, s, n);
    return id >= 2 ? id : -1; /* not the vocabulary's own <unk> and <eos> */
}

tr_status tr_bpe_from_string(tr_bpe **out, const char *s, const char *name,
                             tr_err *err)
{
    TR_ASSERT(out != NULL && s != NULL);
    *out = NULL;
    const char *nm = name ? name : "<bpe>";
    size_t hl = strlen(TR_BPE_HEADER);
    if (strncmp(s, TR_BPE_HEADER, hl) != 0 || (s[hl] != '\n' && s[hl] != '\0'))
        return tr_err_set(err, TR_ERR_FORMAT, "%s:1: not a BPE merges file: expected the header line '%s'",
                          nm, TR_BPE_HEADER);
    tr_bpe *b = bpe_alloc();
    const char *p = s[hl] ? s + hl + 1 : s + hl;
    int64_t lineno = 1;
    sbuf scratch = {0};
    tr_status st = TR_OK;
    while (*p) {
        lineno++;
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        size_t bad = tr_data_utf8_bad(p, n);
        const char *sp = memchr(p, ' ', n);
        const char *cr = memchr(p, '\r', n);
        if (n == 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: empty line", nm, (long long)lineno);
        } else if (bad) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: invalid UTF-8 at byte %zu", nm, (long long)lineno, bad);
        } else if (cr) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: carriage return at byte %zu (CRLF line ends?)", nm,
                            (long long)lineno, (size_t)(cr - p) + 1);
        } else if (!sp || sp == p || sp == p + n - 1 || memchr(sp + 1, ' ', n - (size_t)(sp - p) - 1)) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: expected two symbols separated by one space, got '%.*s'",
                            nm, (long long)lineno, n > 60 ? 60 : (int)n, p);
        } else {
            size_t nl_ = (size_t)(sp - p), nr = n - nl_ - 1;
            int32_t l = known_symbol(b, p, nl_), r = known_symbol(b, sp + 1, nr);
            if (l < 0 || r < 0) {
                const char *bs = l < 0 ? p : sp + 1;
                size_t bn = l < 0 ? nl_ : nr;
                st = tr_err_set(err, TR_ERR_FORMAT,
                                "%s:%lld: symbol '%.*s' is neither one character nor made by an earlier merge", nm,
                                (long long)lineno, bn > 60 ? 60 : (int)bn, bs);
            } else {
                bpe_push(b, l, r, intern_concat(b->sym, l, r, &scratch));
            }
        }
        if (st != TR_OK)
            break;
        p = nl ? nl + 1 : p + n;
    }
    free(scratch.p);
    if (st != TR_OK) {
        tr_bpe_free(b);
        return st;
    }
    *out = b;
    return TR_OK;
}

static tr_status write_string(FILE *f, void *ctx, tr_err *err)
{
    const char *s = ctx;
    size_t n = strlen(s);
    if (fwrite(s, 1, n, f) != n)
        return tr_err_set(err, TR_ERR_IO, "write failed: %s", strerror(errno));
    return TR_OK;
}

tr_status tr_bpe_save(const tr_bpe *b, const char *path, tr_err *err)
{
    TR_ASSERT(b != NULL && path != NULL);
    char *s = tr_bpe_to_string(b);
    tr_status st = tr_atomic_write(path, write_string, s, err);
    free(s);
    return st;
}

tr_status tr_bpe_load(tr_bpe **out, const char *path, tr_err *err)
{
    TR_ASSERT(out != NULL && path != NULL);
    *out = NULL;
    FILE *f;
    tr_status st = tr_data_open(&f, path, err);
    if (st != TR_OK)
        return st;
    sbuf text = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (memchr(chunk, '\0', got)) {
            free(text.p);
            fclose(f);
            return tr_err_set(err, TR_ERR_FORMAT, "%s: NUL byte: not a BPE merges file", path);
        }
        sb_put(&text, chunk, got);
    }
    int rd = ferror(f);
    fclose(f);
    if (rd) {
        free(text.p);
        return tr_err_set(err, TR_ERR_IO, "%s: read error", path);
    }
    st = tr_bpe_from_string(out, sb_take(&text), path, err);
    free(text.p);
    return st;
}
