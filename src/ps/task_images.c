/* The image-classification task of the parameter server: a tr_cls model
 * (triad/vision.h) per replica, each worker's share of a shuffled training
 * set as its stream, the test set for evaluation. */
#include "triad/ps.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tr_ps_images {
    tr_ps_images_config c;
    tr_cls init;          /* the initial weights */
    char *config_json;
    tr_meta meta[1];
};

typedef struct {
    tr_cls m;
    tr_cls_state s;
} replica;

typedef struct {
    int w, M;
    int64_t epoch, k;     /* the epoch and the batch within it */
    int64_t per_epoch;    /* batches per epoch of each worker */
    tr_rng rng;
    int32_t *perm;        /* (n) this epoch's order */
    float *x;             /* (b, h w) */
    uint8_t *y;           /* (b) */
} stream;

static void *images_replica_new(void *ctx, tr_params **ps, tr_err *err)
{
    tr_ps_images *h = ctx;
    replica *r = tr_xcalloc(1, sizeof *r);
    if (tr_cls_init(&r->m, &h->c.cfg, err)) {
        free(r);
        return NULL;
    }
    if (tr_cls_state_init(&r->s, &r->m, h->c.batch, err)) {
        tr_cls_free(&r->m);
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->m.params.n; i++)
        memcpy(r->m.params.p[i].value.data, h->init.params.p[i].value.data,
               (size_t)r->m.params.p[i].value.size * sizeof(float));
    *ps = &r->m.params;
    return r;
}

static void images_replica_free(void *ctx, void *rep)
{
    (void)ctx;
    replica *r = rep;
    tr_cls_state_free(&r->s);
    tr_cls_free(&r->m);
    free(r);
}

/* Fisher-Yates from the stream of (seed, epoch): the same order in every worker. */
static void shuffle(stream *s, const tr_ps_images *h)
{
    const int64_t n = h->c.train->n;
    tr_rng_seed(&s->rng, h->c.seed, 7000u + (uint64_t)s->epoch);
    for (int64_t i = 0; i < n; i++)
        s->perm[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tr_rng_below(&s->rng, (uint32_t)(i + 1));
        int32_t t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
}

static void *images_stream_new(void *ctx, int w, int M, int64_t epoch, uint64_t seed, tr_err *err)
{
    tr_ps_images *h = ctx;
    (void)seed;
    (void)err;
    const int64_t n = h->c.train->n, b = h->c.batch, hw = (int64_t)h->c.cfg.h * h->c.cfg.w;
    stream *s = tr_xcalloc(1, sizeof *s);
    s->w = w;
    s->M = M;
    s->epoch = epoch;
    s->per_epoch = n / ((int64_t)M * b);
    if (s->per_epoch < 1)
        s->per_epoch = 1;
    s->perm = tr_xmalloc((size_t)n * sizeof(int32_t));
    s->x = tr_xmalloc((size_t)(b * hw) * sizeof(float));
    s->y = tr_xmalloc((size_t)b);
    shuffle(s, h);
    return s;
}

static void images_stream_free(void *ctx, void *st)
{
    (void)ctx;
    stream *s = st;
    free(s->perm);
    free(s->x);
    free(s->y);
    free(s);
}

static tr_status images_grad(void *ctx, void *rep, void *st, double *loss, int64_t *samples, tr_err *err)
{
    (void)err;
    tr_ps_images *h = ctx;
    replica *r = rep;
    stream *s = st;
    const tr_images *d = h->c.train;
    const int b = h->c.batch;
    const int64_t hw = (int64_t)d->h * d->w;
    if (s->k == s->per_epoch) {
        s->epoch++;
        s->k = 0;
        shuffle(s, h);
    }
    const int64_t first = (s->k * s->M + s->w) * b;
    for (int i = 0; i < b; i++) {
        const int64_t e = s->perm[(first + i) % d->n];
        memcpy(s->x + i * hw, d->x + e * hw, (size_t)hw * sizeof(float));
        s->y[i] = d->y[e];
    }
    s->k++;
    tr_params_zero_grad(&r->m.params);
    const double sum = tr_cls_forward(&r->s, &r->m, s->x, s->y, b, NULL);
    tr_cls_backward(&r->s, &r->m, 1.0f / (float)b);
    *samples = b;
    *loss = sum / b;
    return TR_OK;
}

static tr_status images_evaluate(void *ctx, void *rep, double *loss, double *acc, tr_err *err)
{
    tr_ps_images *h = ctx;
    replica *r = rep;
    (void)err;
    tr_cls_evaluate(&r->s, &r->m, h->c.test, loss, acc);
    return TR_OK;
}

tr_status tr_ps_images_task(tr_ps_task *task, tr_ps_images **holder,
                            const tr_ps_images_config *c, tr_err *err)
{
    *holder = NULL;
    if (c->batch < 1)
        return tr_err_set(err, TR_ERR_ARG, "--batch must be at least 1, got %d", c->batch);
    const tr_images *sets[2] = {c->train, c->test};
    for (int i = 0; i < 2; i++) {
        if (!sets[i] || sets[i]->n < 1)
            return tr_err_set(err, TR_ERR_ARG, "the %s set has no images", i ? "test" : "training");
        if (sets[i]->h != c->cfg.h || sets[i]->w != c->cfg.w)
            return tr_err_set(err, TR_ERR_SHAPE, "the %s images are %d x %d, the model takes %d x %d",
                              i ? "test" : "training", sets[i]->h, sets[i]->w, c->cfg.h, c->cfg.w);
        if (sets[i]->classes > c->cfg.classes)
            return tr_err_set(err, TR_ERR_SHAPE, "the %s set has %d classes, the model %d", i ? "test" : "training",
                              sets[i]->classes, c->cfg.classes);
    }
    tr_ps_images *h = tr_xcalloc(1, sizeof *h);
    h->c = *c;
    tr_status rc = tr_cls_init(&h->init, &c->cfg, err);
    if (rc) {
        free(h);
        return rc;
    }
    tr_cls_init_weights(&h->init, c->seed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", c->cfg.kind == TR_CLS_MLP ? "mlp" : "cnn");
    cJSON_AddNumberToObject(o, "h", c->cfg.h);
    cJSON_AddNumberToObject(o, "w", c->cfg.w);
    cJSON_AddNumberToObject(o, "classes", c->cfg.classes);
    cJSON_AddNumberToObject(o, "hidden", c->cfg.hidden);
    cJSON_AddNumberToObject(o, "layers", c->cfg.layers);
    cJSON_AddNumberToObject(o, "channels", c->cfg.channels);
    h->config_json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    TR_ASSERT(h->config_json);
    h->meta[0].key = "triad.config";
    h->meta[0].value = h->config_json;
    memset(task, 0, sizeof *task);
    task->name = c->cfg.kind == TR_CLS_MLP ? "mlp" : "cnn";
    task->ctx = h;
    task->params = &h->init.params;
    task->epoch_samples = c->train->n;
    task->batch_samples = c->batch;
    task->meta = h->meta;
    task->nmeta = 1;
    task->replica_new = images_replica_new;
    task->replica_free = images_replica_free;
    task->stream_new = images_stream_new;
    task->stream_free = images_stream_free;
    task->grad = images_grad;
    task->evaluate = images_evaluate;
    *holder = h;
    return TR_OK;
}

void tr_ps_images_free(tr_ps_images *h)
{
    if (!h)
        return;
    tr_cls_free(&h->init);
    cJSON_free(h->config_json);
    free(h);
}
