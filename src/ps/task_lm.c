/* The language-model task of the parameter server: the word LSTM LM driven
 * through its tr_seq_model (forward, backward, carried state), each worker
 * reading its own contiguous share of the training text as batch lanes.
 *
 * A worker's share (the lines starting in its byte range) is copied to a
 * temporary file that is unlinked as soon as the batcher has opened it, so
 * nothing is left behind. A replica holds one model and one activation
 * state; the hidden state each worker carries between windows and its
 * dropout stream live in the worker's stream, so one replica can serve
 * several workers (the simulator). */
#include "triad/ps.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct tr_ps_lm {
    tr_ps_lm_config c;
    tr_lm init;
    char *config_json, *vocab_text;
    tr_meta meta[2];
};

typedef struct {
    tr_lm m;
    tr_seq_model sm;
    tr_seq_state *s;
} replica;

typedef struct {
    tr_batcher *b;
    tr_rng rng;       /* dropout */
    float *hc;        /* (2, L, B, H) the carried state: h0 of each layer, then c0 */
} stream;

static void *lm_replica_new(void *ctx, tr_params **ps, tr_err *err)
{
    tr_ps_lm *h = ctx;
    replica *r = tr_xcalloc(1, sizeof *r);
    if (tr_lm_init(&r->m, &h->c.cfg, err)) {
        free(r);
        return NULL;
    }
    r->sm = tr_lm_seq(&r->m);
    if (!(r->s = r->sm.state_new(r->sm.model, h->c.bptt, h->c.batch, h->c.seed, 11, err))) {
        tr_lm_free(&r->m);
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->m.params.n; i++)
        memcpy(r->m.params.p[i].value.data, h->init.params.p[i].value.data,
               (size_t)r->m.params.p[i].value.size * sizeof(float));
    *ps = &r->m.params;
    return r;
}

static void lm_replica_free(void *ctx, void *rep)
{
    (void)ctx;
    replica *r = rep;
    r->sm.state_delete(r->s);
    tr_lm_free(&r->m);
    free(r);
}

/* Offset of the first line that starts at or after off. */
static tr_status line_start(FILE *f, int64_t off, int64_t size, const char *path, int64_t *out, tr_err *err)
{
    if (off <= 0) {
        *out = 0;
        return TR_OK;
    }
    if (off >= size) {
        *out = size;
        return TR_OK;
    }
    if (fseeko(f, (off_t)(off - 1), SEEK_SET) != 0)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot seek to byte %lld", path, (long long)off - 1);
    int64_t pos = off - 1;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        pos++;
        if (ch == '\n')
            break;
    }
    *out = pos;
    return TR_OK;
}

/* Copies worker w's share of path to a new temporary file (name in tmp). */
static tr_status write_share(const char *path, int w, int M, char *tmp, size_t n, tr_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tr_err_set(err, TR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    tr_status rc = TR_OK;
    int64_t size = 0, lo = 0, hi = 0;
    if (fseeko(f, 0, SEEK_END) != 0 || (size = (int64_t)ftello(f)) < 0)
        rc = tr_err_set(err, TR_ERR_IO, "%s: cannot find its size", path);
    if (!rc)
        rc = line_start(f, size * w / M, size, path, &lo, err);
    if (!rc)
        rc = line_start(f, size * (w + 1) / M, size, path, &hi, err);
    if (!rc && hi <= lo)
        rc = tr_err_set(err, TR_ERR_ARG, "%s: worker %d of %d gets no lines (lines too long to share %lld bytes "
                        "among %d workers)", path, w, M, (long long)size, M);
    int fd = -1;
    FILE *out = NULL;
    if (!rc) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp, n, "%s/triad-ps-lm-XXXXXX", dir && *dir ? dir : "/tmp");
        if ((fd = mkstemp(tmp)) < 0 || !(out = fdopen(fd, "wb")))
            rc = tr_err_set(err, TR_ERR_IO, "cannot create a temporary file %s: %s", tmp, strerror(errno));
    }
    if (!rc && fseeko(f, (off_t)lo, SEEK_SET) != 0)
        rc = tr_err_set(err, TR_ERR_IO, "%s: cannot seek to byte %lld", path, (long long)lo);
    char buf[65536];
    for (int64_t left = hi - lo; !rc && left > 0;) {
        size_t want = left < (int64_t)sizeof buf ? (size_t)left : sizeof buf;
        size_t got = fread(buf, 1, want, f);
        if (got == 0 || fwrite(buf, 1, got, out) != got)
            rc = tr_err_set(err, TR_ERR_IO, "copying %s to %s failed", path, tmp);
        left -= (int64_t)got;
    }
    if (out && fclose(out) != 0 && !rc)
        rc = tr_err_set(err, TR_ERR_IO, "writing %s failed", tmp);
    else if (!out && fd >= 0)
        close(fd);
    if (rc && fd >= 0)
        unlink(tmp);
    fclose(f);
    return rc;
}

static void *lm_stream_new(void *ctx, int w, int M, int64_t epoch, uint64_t seed, tr_err *err)
{
    tr_ps_lm *h = ctx;
    const tr_lm_config *c = &h->c.cfg;
    stream *s = tr_xcalloc(1, sizeof *s);
    tr_status rc;
    if (M == 1) {
        rc = tr_batcher_open(&s->b, h->c.train_path, h->c.vocab, c->lower, h->c.batch, h->c.bptt, err);
    } else {
        char tmp[4096];
        rc = write_share(h->c.train_path, w, M, tmp, sizeof tmp, err);
        if (!rc) {
            rc = tr_batcher_open(&s->b, tmp, h->c.vocab, c->lower, h->c.batch, h->c.bptt, err);
            unlink(tmp);
            if (rc && err) {
                char why[sizeof err->msg];
                snprintf(why, sizeof why, "%s", err->msg);
                tr_err_set(err, rc, "%s: the share of worker %d of %d: %.400s (fewer --workers or a smaller --batch?)",
                           h->c.train_path, w, M, why);
            }
        }
    }
    if (rc) {
        free(s);
        return NULL;
    }
    tr_rng_seed(&s->rng, seed, 5000u + (uint64_t)w * 1000u + (uint64_t)epoch);
    s->hc = tr_xcalloc((size_t)2 * (size_t)c->layers * (size_t)h->c.batch * (size_t)c->hidden, sizeof(float));
    return s;
}

static void lm_stream_free(void *ctx, void *st)
{
    (void)ctx;
    stream *s = st;
    tr_batcher_close(s->b);
    free(s->hc);
    free(s);
}

/* Moves the carried state between the stream and the replica. */
static void carry(const tr_ps_lm *h, replica *r, stream *s, int into_replica)
{
    const size_t n = (size_t)h->c.batch * (size_t)h->c.cfg.hidden;
    const int L = h->c.cfg.layers;
    for (int l = 0; l < L; l++) {
        float *hs = s->hc + (size_t)l * n, *cs = s->hc + (size_t)(L + l) * n;
        if (into_replica) {
            memcpy(r->s->rnn.h0[l], hs, n * sizeof(float));
            memcpy(r->s->rnn.c0[l], cs, n * sizeof(float));
        } else {
            memcpy(hs, r->s->rnn.h0[l], n * sizeof(float));
            memcpy(cs, r->s->rnn.c0[l], n * sizeof(float));
        }
    }
    if (into_replica)
        r->s->rng = s->rng;
    else
        s->rng = r->s->rng;
}

static tr_status lm_grad(void *ctx, void *rep, void *st, double *loss, int64_t *samples, tr_err *err)
{
    tr_ps_lm *h = ctx;
    replica *r = rep;
    stream *s = st;
    const int B = h->c.batch;
    int steps = 0;
    tr_status rc = tr_batcher_next(s->b, r->s->x, r->s->y, &steps, err);
    if (!rc && steps == 0) {
        /* the end of this worker's share: a new pass with a fresh state */
        memset(s->hc, 0, (size_t)2 * (size_t)h->c.cfg.layers * (size_t)B * (size_t)h->c.cfg.hidden * sizeof(float));
        rc = tr_batcher_rewind(s->b, err);
        if (!rc)
            rc = tr_batcher_next(s->b, r->s->x, r->s->y, &steps, err);
        if (!rc && steps == 0)
            rc = tr_err_set(err, TR_ERR_FORMAT, "%s: a worker's share holds no window", h->c.train_path);
    }
    if (rc)
        return rc;
    carry(h, r, s, 1);
    tr_params_zero_grad(&r->m.params);
    const double nll = r->sm.forward(r->s, r->sm.model, r->s->x, r->s->y, steps, 1);
    r->sm.backward(r->s, r->sm.model, 1.0f / (float)(steps * B));
    if (h->c.clip > 0.0f)
        tr_clip_grad_norm(&r->m.params, h->c.clip);
    tr_seq_carry(r->s, &r->sm);
    carry(h, r, s, 0);
    *samples = (int64_t)steps * B;
    *loss = nll / (double)(steps * B);
    return TR_OK;
}

static tr_status lm_evaluate(void *ctx, void *rep, double *loss, double *acc, tr_err *err)
{
    tr_ps_lm *h = ctx;
    replica *r = rep;
    double ppl = 0.0;
    tr_status rc = tr_seq_eval_file(&r->sm, h->c.vocab, h->c.valid_path, h->c.eval_batch, h->c.bptt, &ppl, NULL,
                                    err);
    *loss = rc ? NAN : log(ppl);
    *acc = NAN;
    return rc;
}

tr_status tr_ps_lm_task(tr_ps_task *task, tr_ps_lm **holder,
                        const tr_ps_lm_config *c, tr_err *err)
{
    *holder = NULL;
    if (c->batch < 1 || c->bptt < 1 || c->eval_batch < 1)
        return tr_err_set(err, TR_ERR_ARG, "--batch, --bptt and --eval-batch must be at least 1");
    if (!(c->clip >= 0.0f && isfinite(c->clip)))
        return tr_err_set(err, TR_ERR_ARG, "--clip must be >= 0 (0 = off), got %g", (double)c->clip);
    if (!c->vocab || !c->train_path || !c->valid_path)
        return tr_err_set(err, TR_ERR_ARG, "the language-model task needs a vocabulary, --train and --valid");
    if (tr_vocab_size(c->vocab) != c->cfg.vocab_size)
        return tr_err_set(err, TR_ERR_ARG, "the vocabulary has %d words, the config %d", tr_vocab_size(c->vocab),
                          c->cfg.vocab_size);
    tr_status rc = tr_lm_config_check(&c->cfg, err);
    if (rc)
        return rc;
    /* the epoch's size, and a first check that the files can be read */
    tr_batcher *b = NULL;
    rc = tr_batcher_open(&b, c->train_path, c->vocab, c->cfg.lower, 1, 1, err);
    if (rc)
        return rc;
    const int64_t tokens = tr_batcher_total_tokens(b);
    tr_batcher_close(b);
    rc = tr_batcher_open(&b, c->valid_path, c->vocab, c->cfg.lower, c->eval_batch, 1, err);
    if (rc)
        return rc;
    tr_batcher_close(b);
    tr_ps_lm *h = tr_xcalloc(1, sizeof *h);
    h->c = *c;
    rc = tr_lm_init(&h->init, &c->cfg, err);
    if (rc) {
        free(h);
        return rc;
    }
    tr_lm_init_weights(&h->init, c->seed);
    h->config_json = tr_lm_config_to_json(&c->cfg);
    h->vocab_text = tr_vocab_to_string(c->vocab);
    h->meta[0].key = "triad.config";
    h->meta[0].value = h->config_json;
    h->meta[1].key = "triad.vocab";
    h->meta[1].value = h->vocab_text;
    memset(task, 0, sizeof *task);
    task->name = "lm";
    task->ctx = h;
    task->params = &h->init.params;
    task->epoch_samples = tokens;
    task->batch_samples = (int64_t)c->batch * c->bptt;
    task->meta = h->meta;
    task->nmeta = 2;
    task->replica_new = lm_replica_new;
    task->replica_free = lm_replica_free;
    task->stream_new = lm_stream_new;
    task->stream_free = lm_stream_free;
    task->grad = lm_grad;
    task->evaluate = lm_evaluate;
    *holder = h;
    return TR_OK;
}

void tr_ps_lm_free(tr_ps_lm *h)
{
    if (!h)
        return;
    tr_lm_free(&h->init);
    free(h->config_json);
    free(h->vocab_text);
    free(h);
}
