/*
 * src/data/vocab.c - the vocabulary: word -> id through an open-addressing
 * hash table (linear probing, FNV-1a hashes, load factor <= 1/2) and id ->
 * word through arrays. Words live in a chunked string pool, so the pointers
 * that tr_vocab_word returns stay valid until tr_vocab_free.
 *
 * tr_vocab_build counts words in one streaming pass over a file (getline;
 * the file is never held whole), then keeps the most frequent ones. Lines
 * without any token (blank or whitespace-only) are skipped: they get no
 * <eos> and do not count as lines. Not here: the tokenizer (tokenize.c).
 */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
} pool_block;

struct tr_vocab {
    int32_t n, cap;     /* words in use, array capacity */
    char **words;       /* (cap,) NUL-terminated, in the pool */
    uint32_t *lens;     /* (cap,) */
    uint64_t *hashes;   /* (cap,) */
    int32_t *slots;     /* (nslots,) word id or -1 */
    size_t nslots;      /* a power of two */
    pool_block *pool;   /* newest block first */
};

#define POOL_BLOCK 65536

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static char *pool_copy(tr_vocab *v, const char *w, size_t n)
{
    pool_block *b = v->pool;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > POOL_BLOCK ? n + 1 : POOL_BLOCK;
        pool_block *nb = tr_xmalloc(sizeof *nb + cap);
        nb->used = 0;
        nb->cap = cap;
        nb->next = v->pool;
        v->pool = nb;
        b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, w, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

static void rehash(tr_vocab *v, size_t nslots)
{
    free(v->slots);
    v->slots = tr_xmalloc(nslots * sizeof *v->slots);
    for (size_t i = 0; i < nslots; i++)
        v->slots[i] = -1;
    v->nslots = nslots;
    size_t mask = nslots - 1;
    for (int32_t id = 0; id < v->n; id++) {
        size_t j = (size_t)v->hashes[id] & mask;
        while (v->slots[j] >= 0)
            j = (j + 1) & mask;
        v->slots[j] = id;
    }
}

/* A vocabulary without any word, not even the specials. */
static tr_vocab *vocab_alloc(void)
{
    tr_vocab *v = tr_xcalloc(1, sizeof *v);
    v->cap = 64;
    v->words = tr_xmalloc((size_t)v->cap * sizeof *v->words);
    v->lens = tr_xmalloc((size_t)v->cap * sizeof *v->lens);
    v->hashes = tr_xmalloc((size_t)v->cap * sizeof *v->hashes);
    rehash(v, 256);
    return v;
}

tr_vocab *tr_vocab_new(void)
{
    tr_vocab *v = vocab_alloc();
    tr_vocab_add(v, TR_UNK, strlen(TR_UNK));
    tr_vocab_add(v, TR_EOS, strlen(TR_EOS));
    return v;
}

void tr_vocab_free(tr_vocab *v)
{
    if (!v)
        return;
    pool_block *b = v->pool;
    while (b) {
        pool_block *next = b->next;
        free(b);
        b = next;
    }
    free(v->words);
    free(v->lens);
    free(v->hashes);
    free(v->slots);
    free(v);
}

int32_t tr_vocab_size(const tr_vocab *v)
{
    return v->n;
}

static int32_t find_hashed(const tr_vocab *v, const char *w, size_t n, uint64_t h, size_t *slot)
{
    size_t mask = v->nslots - 1;
    size_t j = (size_t)h & mask;
    for (;;) {
        int32_t id = v->slots[j];
        if (id < 0)
            break;
        if (v->hashes[id] == h && v->lens[id] == n && memcmp(v->words[id], w, n) == 0)
            return id;
        j = (j + 1) & mask;
    }
    if (slot)
        *slot = j;
    return -1;
}

int32_t tr_vocab_find(const tr_vocab *v, const char *w, size_t n)
{
    return find_hashed(v, w, n, hash_bytes(w, n), NULL);
}

int32_t tr_vocab_id(const tr_vocab *v, const char *w, size_t n)
{
    int32_t id = tr_vocab_find(v, w, n);
    return id < 0 ? TR_UNK_ID : id;
}

const char *tr_vocab_word(const tr_vocab *v, int32_t id)
{
    TR_ASSERT(id >= 0 && id < v->n);
    return v->words[id];
}

int32_t tr_vocab_add(tr_vocab *v, const char *w, size_t n)
{
    TR_ASSERT(n <= UINT32_MAX);
    uint64_t h = hash_bytes(w, n);
    size_t slot;
    int32_t id = find_hashed(v, w, n, h, &slot);
    if (id >= 0)
        return id;
    TR_ASSERT(v->n < INT32_MAX);
    if (v->n == v->cap) {
        int32_t cap = v->cap > INT32_MAX / 2 ? INT32_MAX : v->cap * 2;
        v->words = tr_data_xrealloc(v->words, (size_t)cap * sizeof *v->words);
        v->lens = tr_data_xrealloc(v->lens, (size_t)cap * sizeof *v->lens);
        v->hashes = tr_data_xrealloc(v->hashes, (size_t)cap * sizeof *v->hashes);
        v->cap = cap;
    }
    id = v->n++;
    v->words[id] = pool_copy(v, w, n);
    v->lens[id] = (uint32_t)n;
    v->hashes[id] = h;
    if ((size_t)v->n * 2 > v->nslots)
        rehash(v, v->nslots * 2);
    else
        v->slots[slot] = id;
    return id;
}

/* ---------------------------------------------------------------- building */

typedef struct {
    tr_vocab *v;
    int64_t *counts; /* (ccap,) occurrences by id */
    int32_t ccap;
    int64_t ntok;    /* tokens in the current line */
} count_ctx;

static void count_token(void *p, const char *tok, size_t n)
{
    count_ctx *c = p;
    int32_t id = tr_vocab_add(c->v, tok, n);
    if (id >= c->ccap) {
        int32_t cap = c->ccap * 2;
        c->counts = tr_data_xrealloc(c->counts, (size_t)cap * sizeof *c->counts);
        memset(c->counts + c->ccap, 0, (size_t)(cap - c->ccap) * sizeof *c->counts);
        c->ccap = cap;
    }
    c->counts[id]++;
    c->ntok++;
}

typedef struct {
    int64_t count;
    const char *w;
    uint32_t len;
} ranked;

/* Most frequent first; ties in byte order (a prefix before its extensions). */
static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->w, b->w, m);
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

tr_status tr_vocab_build(tr_vocab **out, const char *path, int lower,
                         int64_t min_count, int32_t max_size, int64_t *nlines,
                         int64_t *ntokens, tr_err *err)
{
    *out = NULL;
    if (max_size < 0 || max_size == 1)
        return tr_err_set(err, TR_ERR_ARG, "vocabulary size %d: must be 0 (no limit) or at least 2 (<unk>, <eos>)",
                          (int)max_size);
    FILE *f;
    tr_status st = tr_data_open(&f, path, err);
    if (st != TR_OK)
        return st;
    count_ctx c = {tr_vocab_new(), NULL, 1024, 0};
    c.counts = tr_xcalloc((size_t)c.ccap, sizeof *c.counts);
    char *line = NULL;
    size_t cap = 0, len;
    int64_t lineno = 0, lines = 0, tokens = 0;
    int r;
    while ((r = tr_data_read_line(f, &line, &cap, &len, NULL, path, err)) > 0) {
        lineno++;
        c.ntok = 0;
        st = tr_tokenize(line, len, lower, count_token, &c, path, lineno, err);
        if (st != TR_OK)
            break;
        if (c.ntok > 0) {
            lines++;
            tokens += c.ntok + 1;
        }
    }
    free(line);
    fclose(f);
    if (r < 0)
        st = TR_ERR_IO;
    if (st == TR_OK && tokens == 0)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: no tokens (the file is empty or has only blank lines)", path);
    if (st != TR_OK) {
        free(c.counts);
        tr_vocab_free(c.v);
        return st;
    }

    int32_t nw = tr_vocab_size(c.v);
    ranked *rk = tr_xmalloc((size_t)nw * sizeof *rk);
    int32_t nr = 0;
    for (int32_t id = 2; id < nw; id++) {
        if (c.counts[id] < min_count)
            continue;
        rk[nr].count = c.counts[id];
        rk[nr].w = c.v->words[id];
        rk[nr].len = c.v->lens[id];
        nr++;
    }
    qsort(rk, (size_t)nr, sizeof *rk, cmp_ranked);
    if (max_size > 0 && nr > max_size - 2)
        nr = max_size - 2;
    tr_vocab *v = tr_vocab_new();
    for (int32_t i = 0; i < nr; i++)
        tr_vocab_add(v, rk[i].w, rk[i].len);
    free(rk);
    free(c.counts);
    tr_vocab_free(c.v);
    if (nlines)
        *nlines = lines;
    if (ntokens)
        *ntokens = tokens;
    *out = v;
    return TR_OK;
}

/* ---------------------------------------------------------------- strings */

char *tr_vocab_to_string(const tr_vocab *v)
{
    size_t total = 1;
    for (int32_t i = 0; i < v->n; i++)
        total += v->lens[i] + 1;
    char *s = tr_xmalloc(total);
    char *p = s;
    for (int32_t i = 0; i < v->n; i++) {
        if (i)
            *p++ = '\n';
        memcpy(p, v->words[i], v->lens[i]);
        p += v->lens[i];
    }
    *p = '\0';
    return s;
}

tr_status tr_vocab_from_string(tr_vocab **out, const char *s, tr_err *err)
{
    *out = NULL;
    tr_vocab *v = vocab_alloc();
    tr_status st = TR_OK;
    const char *p = s;
    int64_t k = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        k++;
        size_t bad;
        if (n == 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "vocabulary:%lld: empty word", (long long)k);
            break;
        }
        if ((bad = tr_data_utf8_bad(p, n)) != 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "vocabulary:%lld: invalid UTF-8 at byte %zu", (long long)k, bad);
            break;
        }
        int32_t id = tr_vocab_find(v, p, n);
        if (id >= 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "vocabulary:%lld: word '%.*s' repeats id %d", (long long)k,
                            n > 64 ? 64 : (int)n, p, (int)id);
            break;
        }
        tr_vocab_add(v, p, n);
        if (!e)
            break;
        p = e + 1;
    }
    if (st == TR_OK && (v->n < 2 || strcmp(v->words[TR_UNK_ID], TR_UNK) != 0 ||
                        strcmp(v->words[TR_EOS_ID], TR_EOS) != 0))
        st = tr_err_set(err, TR_ERR_FORMAT, "vocabulary: ids 0 and 1 must be %s and %s", TR_UNK, TR_EOS);
    if (st != TR_OK) {
        tr_vocab_free(v);
        return st;
    }
    *out = v;
    return TR_OK;
}
