/*
 * src/data/batcher.c - streams a text file as B parallel lanes of token ids
 * and serves (T, B) time-major batches for truncated BPTT.
 *
 * Lane i holds about total/B of the file's tokens: it starts at the first
 * line before which at least i*total/B tokens lie and ends where lane i+1
 * starts. Each lane reads its lines
 * through its own FILE* with getline and keeps only a small token buffer of
 * T + 1 + (most tokens on one line) ids, so memory is O(B * (T + longest
 * line)) plus the vocabulary, never O(file). Opening makes two passes over
 * the file to validate it, count tokens, find the longest line and the lane
 * starts, so that batches never allocate.
 *
 * Lines without tokens are skipped (no <eos>), as in tr_vocab_build. A batch
 * has T' = min(T, fewest tokens left in any lane - 1) steps; when some lane
 * has one token left the epoch is over, and the tail of longer lanes is not
 * served (as in the usual "batchify" of language-model training).
 *
 * tell/seek: a lane's position is the byte offset of the line holding its
 * next x[0] token and that token's index in the line (the <eos> is the last);
 * seek re-reads that line and skips to the token. After a failed seek, seek
 * again or rewind before reading on.
 */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct {
    FILE *f;
    int64_t start, end;  /* byte range of the lines of this lane */
    int64_t first_line; /* line number (1-based) of the line at start */
    int64_t next_off;   /* byte offset of the next line to read */
    int64_t lineno;     /* its line number; 0 when unknown (after a seek) */
    int32_t *tok;       /* (cap,) ids; [head, len) are still to be served */
    int64_t *off;       /* (cap,) byte offset of each token's line */
    int32_t *idx;       /* (cap,) index of each token in its line */
    int32_t head, len;
} lane;

struct tr_batcher {
    char *path;
    const tr_vocab *v; /* borrowed: must outlive the batcher */
    int lower, B, T;
    int64_t total;   /* tokens in the file, <eos> included */
    int64_t served;  /* targets served since the last rewind */
    int32_t cap;     /* lane buffer capacity */
    char *line;      /* getline buffer shared by the lanes */
    size_t linecap;
    lane *lanes;     /* (B,) */
};

/* ---------------------------------------------------------------- reading */

typedef struct {
    const tr_vocab *v;
    lane *l;
    int32_t cap;
    int64_t off;   /* byte offset of the line */
    int32_t i;     /* index of the next token in the line */
    int32_t skip;  /* tokens of the line to drop (after a seek) */
    int overflow;
} fill_ctx;

static void push_id(fill_ctx *c, int32_t id)
{
    if (c->i >= c->skip) {
        lane *l = c->l;
        if (l->len >= c->cap) {
            c->overflow = 1;
        } else {
            l->tok[l->len] = id;
            l->off[l->len] = c->off;
            l->idx[l->len] = c->i;
            l->len++;
        }
    }
    c->i++;
}

static void push_token(void *p, const char *tok, size_t n)
{
    fill_ctx *c = p;
    push_id(c, tr_vocab_id(c->v, tok, n));
}

/* Reads the lane's next line into its buffer, dropping the first skip tokens.
 * Sets *got to 1 (and *ntok, if not NULL, to the tokens on the line, <eos>
 * included) or to 0 when the lane has no more lines. */
static tr_status lane_read_line(tr_batcher *b, lane *l, int32_t skip, int *got, int32_t *ntok, tr_err *err)
{
    *got = 0;
    if (l->next_off >= l->end)
        return TR_OK;
    size_t len, raw;
    int r = tr_data_read_line(l->f, &b->line, &b->linecap, &len, &raw, b->path, err);
    if (r < 0)
        return TR_ERR_IO;
    if (r == 0) {
        l->next_off = l->end; /* the file shrank; end the lane */
        return TR_OK;
    }
    fill_ctx c = {b->v, l, b->cap, l->next_off, 0, skip, 0};
    int64_t lineno = l->lineno;
    l->next_off += (int64_t)raw;
    if (l->lineno > 0)
        l->lineno++;
    tr_status st = tr_tokenize(b->line, len, b->lower, push_token, &c, b->path, lineno, err);
    if (st != TR_OK)
        return st;
    if (c.i > 0)
        push_id(&c, TR_EOS_ID);
    if (c.overflow)
        return tr_err_set(err, TR_ERR_FORMAT,
                          "%s: line at byte %lld: more tokens than when the file was opened (it changed)", b->path,
                          (long long)c.off);
    *got = 1;
    if (ntok)
        *ntok = c.i;
    return TR_OK;
}

/* Drops served tokens from the front of the buffer. */
static void lane_compact(lane *l)
{
    if (l->head == 0)
        return;
    int32_t n = l->len - l->head;
    memmove(l->tok, l->tok + l->head, (size_t)n * sizeof *l->tok);
    memmove(l->off, l->off + l->head, (size_t)n * sizeof *l->off);
    memmove(l->idx, l->idx + l->head, (size_t)n * sizeof *l->idx);
    l->len = n;
    l->head = 0;
}

/* Reads lines until the lane holds at least want tokens or has no more. */
static tr_status lane_fill(tr_batcher *b, lane *l, int32_t want, tr_err *err)
{
    lane_compact(l);
    while (l->len - l->head < want) {
        int got;
        tr_status st = lane_read_line(b, l, 0, &got, NULL, err);
        if (st != TR_OK)
            return st;
        if (!got)
            break;
    }
    return TR_OK;
}

static tr_status lane_goto(tr_batcher *b, lane *l, int64_t off, int64_t lineno, tr_err *err)
{
    if (fseeko(l->f, (off_t)off, SEEK_SET) != 0)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot seek to byte %lld", b->path, (long long)off);
    l->next_off = off;
    l->lineno = lineno;
    l->head = l->len = 0;
    return TR_OK;
}

/* ---------------------------------------------------------------- opening */

typedef struct {
    int64_t n;
} count_ctx;

static void count_token(void *p, const char *tok, size_t n)
{
    (void)tok;
    (void)n;
    ((count_ctx *)p)->n++;
}

/* floor(k * total / B) without overflow. */
static int64_t lane_bound(int64_t total, int B, int k)
{
    int64_t q = total / B, r = total % B;
    return q * k + r * k / B;
}

/* Tokens of one line, <eos> included (0 for a line without tokens). */
static tr_status line_tokens(tr_batcher *b, size_t len, int64_t lineno, int64_t *n, tr_err *err)
{
    count_ctx c = {0};
    tr_status st = tr_tokenize(b->line, len, b->lower, count_token, &c, b->path, lineno, err);
    *n = c.n > 0 ? c.n + 1 : 0;
    return st;
}

/* Two passes over the file. The first validates it and counts lines, tokens
 * and the longest line; the second cuts it into lanes of equal token counts:
 * lane k starts at the first line before which at least k * total / B tokens
 * lie, so lanes differ by at most one line's tokens. (Cutting by bytes would
 * be one pass, but bytes per token vary between the parts of a corpus: on a
 * mix of dictionary, documentation and prose the shortest lane ended the
 * epoch with a fifth of the tokens unread.) */
static tr_status scan_file(tr_batcher *b, FILE *f, int64_t *lines, int64_t *lane_tokens, int32_t *maxline,
                           tr_err *err)
{
    int B = b->B, k = 0;
    int64_t off = 0, lineno = 0, n, cum = 0;
    size_t len, raw;
    int r;
    *lines = 0;
    *maxline = 0;
    while ((r = tr_data_read_line(f, &b->line, &b->linecap, &len, &raw, b->path, err)) > 0) {
        tr_status st = line_tokens(b, len, ++lineno, &n, err);
        if (st != TR_OK)
            return st;
        if (n > INT32_MAX / 2)
            return tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: too many tokens on one line", b->path, (long long)lineno);
        *lines += n > 0;
        b->total += n;
        if (n > *maxline)
            *maxline = (int32_t)n;
    }
    if (r < 0)
        return TR_ERR_IO;
    if (fseeko(f, 0, SEEK_SET) != 0)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot seek to the start", b->path);
    lineno = 0;
    while ((r = tr_data_read_line(f, &b->line, &b->linecap, &len, &raw, b->path, err)) > 0) {
        tr_status st = line_tokens(b, len, ++lineno, &n, err);
        if (st != TR_OK)
            return st;
        while (k < B && lane_bound(b->total, B, k) <= cum) {
            b->lanes[k].start = off;
            b->lanes[k].first_line = lineno;
            k++;
        }
        lane_tokens[k - 1] += n;
        cum += n;
        off += (int64_t)raw;
    }
    if (r < 0)
        return TR_ERR_IO;
    for (; k < B; k++) {
        b->lanes[k].start = off;
        b->lanes[k].first_line = lineno + 1;
    }
    for (k = 0; k < B; k++)
        b->lanes[k].end = k + 1 < B ? b->lanes[k + 1].start : off;
    return TR_OK;
}

tr_status tr_batcher_open(tr_batcher **out, const char *path,
                          const tr_vocab *v, int lower, int B, int T,
                          tr_err *err)
{
    *out = NULL;
    TR_ASSERT(v != NULL);
    if (B < 1 || T < 1)
        return tr_err_set(err, TR_ERR_ARG, "%s: batch size %d and BPTT length %d must be at least 1", path, B, T);
    if ((int64_t)B * T > INT32_MAX / 4)
        return tr_err_set(err, TR_ERR_ARG, "%s: batch size %d x BPTT length %d is too large", path, B, T);
    FILE *f;
    tr_status st = tr_data_open(&f, path, err);
    if (st != TR_OK)
        return st;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return tr_err_set(err, TR_ERR_IO, "%s: not a regular file", path);
    }

    tr_batcher *b = tr_xcalloc(1, sizeof *b);
    size_t pl = strlen(path);
    b->path = tr_xmalloc(pl + 1);
    memcpy(b->path, path, pl + 1);
    b->v = v;
    b->lower = lower;
    b->B = B;
    b->T = T;
    b->lanes = tr_xcalloc((size_t)B, sizeof *b->lanes);
    int64_t *lane_tokens = tr_xcalloc((size_t)B, sizeof *lane_tokens);
    int64_t lines = 0;
    int32_t maxline = 0;
    st = scan_file(b, f, &lines, lane_tokens, &maxline, err);
    fclose(f);
    if (st == TR_OK && b->total == 0)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: no tokens (the file is empty or has only blank lines)", path);
    if (st == TR_OK && lines < B)
        st = tr_err_set(err, TR_ERR_ARG, "%s: %lld lines with tokens, fewer than the %d lanes", path,
                        (long long)lines, B);
    for (int i = 0; st == TR_OK && i < B; i++)
        if (lane_tokens[i] == 0)
            st = tr_err_set(err, TR_ERR_ARG,
                            "%s: lane %d of %d gets no tokens (lines too uneven in length to cut the file into %d "
                            "lanes)",
                            path, i, B, B);
    free(lane_tokens);
    b->cap = T + 1 + maxline;
    for (int i = 0; st == TR_OK && i < B; i++) {
        lane *l = &b->lanes[i];
        st = tr_data_open(&l->f, path, err);
        if (st != TR_OK)
            break;
        l->tok = tr_xmalloc((size_t)b->cap * sizeof *l->tok);
        l->off = tr_xmalloc((size_t)b->cap * sizeof *l->off);
        l->idx = tr_xmalloc((size_t)b->cap * sizeof *l->idx);
    }
    if (st == TR_OK)
        st = tr_batcher_rewind(b, err);
    if (st != TR_OK) {
        tr_batcher_close(b);
        return st;
    }
    *out = b;
    return TR_OK;
}

void tr_batcher_close(tr_batcher *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->B; i++) {
        lane *l = &b->lanes[i];
        if (l->f)
            fclose(l->f);
        free(l->tok);
        free(l->off);
        free(l->idx);
    }
    free(b->lanes);
    free(b->line);
    free(b->path);
    free(b);
}

/* ---------------------------------------------------------------- batches */

tr_status tr_batcher_next(tr_batcher *b, int32_t *x, int32_t *y, int *steps,
                          tr_err *err)
{
    int B = b->B;
    int32_t n = b->T;
    *steps = 0;
    for (int i = 0; i < B; i++) {
        lane *l = &b->lanes[i];
        tr_status st = lane_fill(b, l, b->T + 1, err);
        if (st != TR_OK)
            return st;
        int32_t avail = l->len - l->head - 1;
        if (avail < n)
            n = avail;
    }
    if (n <= 0)
        return TR_OK;
    for (int i = 0; i < B; i++) {
        lane *l = &b->lanes[i];
        const int32_t *t = l->tok + l->head;
        for (int32_t s = 0; s < n; s++) {
            x[(size_t)s * (size_t)B + (size_t)i] = t[s];
            y[(size_t)s * (size_t)B + (size_t)i] = t[s + 1];
        }
        l->head += n;
    }
    b->served += (int64_t)n * B;
    *steps = (int)n;
    return TR_OK;
}

tr_status tr_batcher_rewind(tr_batcher *b, tr_err *err)
{
    for (int i = 0; i < b->B; i++) {
        lane *l = &b->lanes[i];
        tr_status st = lane_goto(b, l, l->start, l->first_line, err);
        if (st == TR_OK)
            st = lane_fill(b, l, 1, err); /* so that tell names a real token */
        if (st != TR_OK)
            return st;
    }
    b->served = 0;
    return TR_OK;
}

int64_t tr_batcher_total_tokens(const tr_batcher *b)
{
    return b->total;
}

int64_t tr_batcher_served(const tr_batcher *b)
{
    return b->served;
}

int tr_batcher_lanes(const tr_batcher *b)
{
    return b->B;
}

void tr_batcher_tell(const tr_batcher *b, int64_t *pos)
{
    for (int i = 0; i < b->B; i++) {
        const lane *l = &b->lanes[i];
        if (l->head < l->len) {
            pos[2 * i] = l->off[l->head];
            pos[2 * i + 1] = l->idx[l->head];
        } else { /* only when the file shrank under us */
            pos[2 * i] = l->next_off;
            pos[2 * i + 1] = 0;
        }
    }
    pos[2 * b->B] = b->served;
}

tr_status tr_batcher_seek(tr_batcher *b, const int64_t *pos, tr_err *err)
{
    int B = b->B;
    if (pos[2 * B] < 0 || pos[2 * B] > b->total)
        return tr_err_set(err, TR_ERR_ARG, "%s: seek: served count %lld is outside 0..%lld", b->path,
                          (long long)pos[2 * B], (long long)b->total);
    for (int i = 0; i < B; i++) {
        const lane *l = &b->lanes[i];
        int64_t off = pos[2 * i], k = pos[2 * i + 1];
        if (off < l->start || off >= l->end || k < 0 || k > INT32_MAX)
            return tr_err_set(err, TR_ERR_ARG,
                              "%s: seek: lane %d position (byte %lld, token %lld) is outside the lane (bytes %lld..%lld)",
                              b->path, i, (long long)off, (long long)k, (long long)l->start, (long long)l->end);
    }
    for (int i = 0; i < B; i++) {
        lane *l = &b->lanes[i];
        int64_t off = pos[2 * i];
        int32_t k = (int32_t)pos[2 * i + 1];
        if (off > l->start) {
            if (fseeko(l->f, (off_t)(off - 1), SEEK_SET) != 0 || fgetc(l->f) != '\n')
                return tr_err_set(err, TR_ERR_ARG, "%s: seek: lane %d: byte %lld is not the start of a line",
                                  b->path, i, (long long)off);
        }
        tr_status st = lane_goto(b, l, off, off == l->start ? l->first_line : 0, err);
        if (st != TR_OK)
            return st;
        int32_t ntok = 0;
        int got;
        st = lane_read_line(b, l, k, &got, &ntok, err);
        if (st != TR_OK)
            return st;
        if (!got || k >= ntok)
            return tr_err_set(err, TR_ERR_ARG, "%s: seek: lane %d: the line at byte %lld has %d tokens, no token %d",
                              b->path, i, (long long)off, (int)ntok, (int)k);
    }
    b->served = pos[2 * B];
    return TR_OK;
}
