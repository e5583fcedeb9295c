/* The sequence-to-sequence training loop: shuffled, length-bucketed batches
 * of sequence pairs, the mean NLL per target token, gradient clipping, an
 * optimiser, a dev score after each epoch that keeps the best weights
 * (learning-rate decay with a return to the best weights when it does not
 * improve, early stopping after `patience` such epochs), and checkpoints that
 * resume exactly.
 *
 * A checkpoint is two files written atomically: the model (opts->output:
 * the best weights validated so far, loadable by PyTorch) and the training
 * state (output + ".state"): the current weights, the best copy, the
 * optimiser tensors, and in the metadata the options, the position in the
 * epoch, the dropout stream, the schedule and the counters. The batches of
 * an epoch are a function of (seed, epoch), so the position is one index.
 * The state is written first and names the step of its model file, so a
 * pair that does not belong together is refused on resume. */
#include "io/json.h"
#include "triad/io.h"
#include "triad/optim.h"
#include "triad/seq2seq.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096
#define BUCKET_BATCHES 50 /* pairs are sorted by length within chunks of this many batches */

typedef struct {
    int64_t key, idx;
} sort_key;

/* Everything the loop needs besides the model, allocated before the first
 * update. */
typedef struct {
    tr_s2s_train_opts *o;
    tr_s2s *m;
    const tr_s2s_data *d;
    tr_optim opt;
    tr_s2s_state st;
    float *best, *tmp;        /* (params count) the best weights; scratch */
    int64_t nvalues;
    sort_key *keys;           /* (n) */
    int64_t *order;           /* (n) pairs of the epoch, batch after batch */
    int64_t *bstart;          /* (nb) first position of each batch in order */
    int *bsize;               /* (nb) */
    int64_t nb;
    const int32_t **srcp, **tgtp; /* (B) the current batch */
    int *sl, *tl;             /* (B) */
    int epoch, in_epoch, finished;
    int64_t batch;            /* next batch of the epoch */
    int64_t step;
    double epoch_nll;
    int64_t epoch_tok, epoch_pairs;
    int have_best, bad;
    double best_score;
    int64_t best_step;
    double train_seconds;
    char state_path[PATH_MAX_LEN + 8];
} trainer;

static tr_status check_opts(const tr_s2s_train_opts *o, const tr_s2s_data *d, tr_err *err)
{
    if (!o->output || strlen(o->output) >= PATH_MAX_LEN)
        return tr_err_set(err, TR_ERR_ARG, "--output is required (at most %d bytes)", PATH_MAX_LEN - 1);
    if (!o->task || !o->src_vocab || !o->tgt_vocab)
        return tr_err_set(err, TR_ERR_ARG, "the task name and both vocabularies are required");
    if (o->batch < 1 || o->batch > 100000)
        return tr_err_set(err, TR_ERR_ARG, "--batch must be in [1, 100000], got %d", o->batch);
    if (o->epochs < 1)
        return tr_err_set(err, TR_ERR_ARG, "--epochs must be at least 1, got %d", o->epochs);
    if (!(o->clip >= 0.0f && isfinite(o->clip)))
        return tr_err_set(err, TR_ERR_ARG, "--clip must be >= 0 (0 = off), got %g", (double)o->clip);
    if (!(o->decay >= 1.0f && isfinite(o->decay)))
        return tr_err_set(err, TR_ERR_ARG, "--decay must be >= 1 (1 = never), got %g", (double)o->decay);
    if (o->patience < 0)
        return tr_err_set(err, TR_ERR_ARG, "--patience must be >= 0 (0 = never stop early), got %d", o->patience);
    if (o->max_steps < 0 || o->save_every < 0 || !(o->max_seconds >= 0.0))
        return tr_err_set(err, TR_ERR_ARG, "--max-steps, --max-time and --save-every must be >= 0");
    if (d->n < 1)
        return tr_err_set(err, TR_ERR_ARG, "no training pairs");
    for (int64_t i = 0; i < d->n; i++)
        if (d->src_off[i + 1] == d->src_off[i])
            return tr_err_set(err, TR_ERR_ARG, "training pair %lld has an empty source", (long long)i + 1);
    return tr_opt_config_check(&o->opt, err);
}

/* ---------------------------------------------------------------- batches */

static int key_cmp(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The batches of epoch e: a seeded shuffle, then within chunks of
 * BUCKET_BATCHES batches the pairs sorted by (source, target) length and cut
 * into batches, then the batches shuffled. */
static void epoch_batches(trainer *t, int e)
{
    const tr_s2s_data *d = t->d;
    const int64_t n = d->n, B = t->o->batch, chunk = B * BUCKET_BATCHES;
    tr_rng r;
    tr_rng_seed(&r, t->o->seed, 1000 + (uint64_t)e);
    for (int64_t i = 0; i < n; i++)
        t->order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(((uint64_t)tr_rng_u32(&r) << 32 | tr_rng_u32(&r)) % (uint64_t)(i + 1));
        int64_t u = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = u;
    }
    t->nb = 0;
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
        int64_t c1 = c0 + chunk < n ? c0 + chunk : n;
        for (int64_t i = c0; i < c1; i++) {
            int64_t p = t->order[i];
            t->keys[i].key = (d->src_off[p + 1] - d->src_off[p]) * 1000003 + (d->tgt_off[p + 1] - d->tgt_off[p]);
            t->keys[i].idx = p;
        }
        qsort(t->keys + c0, (size_t)(c1 - c0), sizeof(sort_key), key_cmp);
        for (int64_t i = c0; i < c1; i++)
            t->order[i] = t->keys[i].idx;
        for (int64_t i = c0; i < c1; i += B) {
            t->bstart[t->nb] = i;
            t->bsize[t->nb] = (int)(i + B <= c1 ? B : c1 - i);
            t->nb++;
        }
    }
    for (int64_t i = t->nb - 1; i > 0; i--) {
        int64_t j = (int64_t)tr_rng_below(&r, (uint32_t)(i + 1));
        int64_t us = t->bstart[i];
        int uz = t->bsize[i];
        t->bstart[i] = t->bstart[j];
        t->bsize[i] = t->bsize[j];
        t->bstart[j] = us;
        t->bsize[j] = uz;
    }
}

/* Loads batch k of the epoch into the worker state; returns its target tokens (with <eos>). */
static int64_t load_batch(trainer *t, int64_t k)
{
    const tr_s2s_data *d = t->d;
    int64_t tokens = 0;
    const int b = t->bsize[k];
    for (int j = 0; j < b; j++) {
        int64_t p = t->order[t->bstart[k] + j];
        t->srcp[j] = d->src + d->src_off[p];
        t->sl[j] = (int)(d->src_off[p + 1] - d->src_off[p]);
        t->tgtp[j] = d->tgt + d->tgt_off[p];
        t->tl[j] = (int)(d->tgt_off[p + 1] - d->tgt_off[p]);
        tokens += t->tl[j] + 1;
    }
    tr_s2s_set_batch(&t->st, t->m, t->srcp, t->sl, t->tgtp, t->tl, NULL, b);
    return tokens;
}

/* ---------------------------------------------------------------- state file */

static char *state_json(const trainer *t, int64_t model_step)
{
    const tr_s2s_train_opts *o = t->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    tr_json_add_opt(j, &t->opt.cfg);
    cJSON_AddNumberToObject(j, "clip", (double)o->clip);
    cJSON_AddNumberToObject(j, "decay", (double)o->decay);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    tr_json_add_u64(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "save_every", (double)o->save_every);
    cJSON_AddNumberToObject(j, "pairs", (double)t->d->n);
    cJSON_AddNumberToObject(j, "epoch", t->epoch);
    cJSON_AddBoolToObject(j, "in_epoch", t->in_epoch);
    cJSON_AddBoolToObject(j, "finished", t->finished);
    cJSON_AddNumberToObject(j, "next_batch", (double)t->batch);
    cJSON_AddNumberToObject(j, "step", (double)t->step);
    cJSON_AddNumberToObject(j, "model_step", (double)model_step);
    cJSON_AddNumberToObject(j, "opt_step", (double)t->opt.step);
    cJSON_AddBoolToObject(j, "have_best", t->have_best);
    tr_json_add_exact(j, "best_score", t->have_best ? t->best_score : 0.0);
    cJSON_AddNumberToObject(j, "best_step", (double)t->best_step);
    cJSON_AddNumberToObject(j, "bad_epochs", t->bad);
    tr_json_add_exact(j, "epoch_nll", t->epoch_nll);
    cJSON_AddNumberToObject(j, "epoch_tokens", (double)t->epoch_tok);
    cJSON_AddNumberToObject(j, "epoch_pairs", (double)t->epoch_pairs);
    tr_json_add_exact(j, "train_seconds", t->train_seconds);
    tr_json_add_u64(j, "rng_state", t->st.rng.state);
    tr_json_add_u64(j, "rng_inc", t->st.rng.inc);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    TR_ASSERT(s != NULL);
    return s;
}

/* Writes the state file (current weights, best copy, optimiser), then the
 * model file with the best weights (the current ones before any
 * validation). */
static tr_status save_checkpoint(trainer *t, tr_err *err)
{
    tr_params *ps = &t->m->params;
    const int np = ps->n, nbest = t->have_best ? np : 0;
    int n = t->opt.state.n + np + nbest, k = 0;
    tr_st_entry *e = tr_xcalloc((size_t)n, sizeof *e);
    tr_tensor *bt = tr_xcalloc((size_t)np, sizeof *bt);
    char (*names)[80] = tr_xcalloc((size_t)(2 * np), sizeof *names);
    for (int i = 0; i < t->opt.state.n; i++, k++) {
        e[k].name = t->opt.state.p[i].name;
        e[k].t = &t->opt.state.p[i].value;
    }
    const float *bp = t->best;
    for (int i = 0; i < np; i++) {
        snprintf(names[i], sizeof names[i], "current.%s", ps->p[i].name);
        e[k].name = names[i];
        e[k++].t = &ps->p[i].value;
        if (t->have_best) {
            bt[i] = tr_tensor_make((float *)bp, ps->p[i].value.ndim, ps->p[i].value.shape);
            snprintf(names[np + i], sizeof names[np + i], "best.%s", ps->p[i].name);
            e[k].name = names[np + i];
            e[k++].t = &bt[i];
        }
        bp += ps->p[i].value.size;
    }
    const int64_t model_step = t->have_best ? t->best_step : t->step;
    char *json = state_json(t, model_step);
    tr_meta meta[] = {{"triad.model", "seq2seq-train-state"}, {"triad.train", json}};
    tr_status st = tr_st_write(t->state_path, e, k, meta, 2, err);
    if (!st) {
        if (t->have_best) {
            tr_params_get_values(ps, t->tmp);
            tr_params_set_values(ps, t->best);
        }
        st = tr_s2s_save(t->m, t->o->task, t->o->src_vocab, t->o->tgt_vocab, model_step, t->o->extra,
                         t->o->n_extra, t->o->output, err);
        if (t->have_best)
            tr_params_set_values(ps, t->tmp);
    }
    free(json);
    free(e);
    free(bt);
    free(names);
    return st;
}

/* Reads the options of a saved run into opts (before anything is allocated). */
static tr_status read_state_opts(trainer *t, const tr_st_file *f, int64_t model_step, tr_err *err)
{
    tr_s2s_train_opts *o = t->o;
    const char *kind = tr_st_meta(f, "triad.model"), *js = tr_st_meta(f, "triad.train");
    if (!kind || strcmp(kind, "seq2seq-train-state") || !js)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: not a triad sequence-to-sequence training state file", t->state_path);
    cJSON *j = cJSON_Parse(js);
    int ok = j != NULL, epoch = 0, finished = 0;
    int64_t saved_model_step = -1, pairs = 0;
    if (ok) {
        o->batch = (int)tr_json_num(j, "batch", &ok);
        if (o->epochs <= 0)
            o->epochs = (int)tr_json_num(j, "epochs", &ok);
        tr_json_read_opt(j, &o->opt, &ok);
        o->clip = (float)tr_json_num(j, "clip", &ok);
        o->decay = (float)tr_json_num(j, "decay", &ok);
        o->patience = (int)tr_json_num(j, "patience", &ok);
        o->seed = tr_json_u64(j, "seed", &ok);
        if (o->save_every <= 0)
            o->save_every = (int64_t)tr_json_num(j, "save_every", &ok);
        epoch = (int)tr_json_num(j, "epoch", &ok);
        finished = tr_json_bool(j, "finished", &ok);
        saved_model_step = (int64_t)tr_json_num(j, "model_step", &ok);
        pairs = (int64_t)tr_json_num(j, "pairs", &ok);
    }
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: training state metadata is incomplete or not JSON", t->state_path);
    if (saved_model_step != model_step)
        return tr_err_set(err, TR_ERR_FORMAT, "%s belongs to a model of step %lld but %s is of step %lld: they do not belong together",
                          t->state_path, (long long)saved_model_step, o->output, (long long)model_step);
    if (pairs != t->d->n)
        return tr_err_set(err, TR_ERR_ARG, "the run in %s trained on %lld pairs but the training data now has %lld",
                          o->output, (long long)pairs, (long long)t->d->n);
    if (finished)
        return tr_err_set(err, TR_ERR_ARG, "%s stopped early after %d epochs without improvement on dev; nothing to resume",
                          o->output, o->patience);
    if (epoch >= o->epochs)
        return tr_err_set(err, TR_ERR_ARG, "%s has finished %d epoch%s; pass --epochs N with N > %d to train longer",
                          o->output, epoch, epoch == 1 ? "" : "s", epoch);
    return TR_OK;
}

/* Restores counters, the dropout stream, the weights and the optimiser
 * (after allocation). */
static tr_status read_state_rest(trainer *t, const tr_st_file *f, tr_err *err)
{
    cJSON *j = cJSON_Parse(tr_st_meta(f, "triad.train"));
    int ok = j != NULL;
    t->epoch = (int)tr_json_num(j, "epoch", &ok);
    t->in_epoch = tr_json_bool(j, "in_epoch", &ok);
    t->batch = (int64_t)tr_json_num(j, "next_batch", &ok);
    t->step = (int64_t)tr_json_num(j, "step", &ok);
    t->opt.step = (int64_t)tr_json_num(j, "opt_step", &ok);
    t->have_best = tr_json_bool(j, "have_best", &ok);
    t->best_score = tr_json_num(j, "best_score", &ok);
    t->best_step = (int64_t)tr_json_num(j, "best_step", &ok);
    t->bad = (int)tr_json_num(j, "bad_epochs", &ok);
    t->epoch_nll = tr_json_num(j, "epoch_nll", &ok);
    t->epoch_tok = (int64_t)tr_json_num(j, "epoch_tokens", &ok);
    t->epoch_pairs = (int64_t)tr_json_num(j, "epoch_pairs", &ok);
    t->train_seconds = tr_json_num(j, "train_seconds", &ok);
    t->st.rng.state = tr_json_u64(j, "rng_state", &ok);
    t->st.rng.inc = tr_json_u64(j, "rng_inc", &ok);
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: training state metadata is incomplete", t->state_path);
    tr_status st = tr_params_load_prefixed(f, "", &t->opt.state, NULL, err);
    if (!st)
        st = tr_params_load_prefixed(f, "current.", &t->m->params, NULL, err);
    if (!st && t->have_best)
        st = tr_params_load_prefixed(f, "best.", &t->m->params, t->best, err);
    if (!st && t->in_epoch) {
        epoch_batches(t, t->epoch);
        if (t->batch < 0 || t->batch > t->nb)
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: batch position %lld is outside the epoch's %lld batches",
                            t->state_path, (long long)t->batch, (long long)t->nb);
    }
    return st;
}

/* ---------------------------------------------------------------- the loop */

static void trainer_free(trainer *t)
{
    tr_optim_free(&t->opt);
    tr_s2s_state_free(&t->st);
    free(t->best);
    free(t->tmp);
    free(t->keys);
    free(t->order);
    free(t->bstart);
    free(t->bsize);
    free(t->srcp);
    free(t->tgtp);
    free(t->sl);
    free(t->tl);
}

tr_status tr_s2s_train(tr_s2s *m, const tr_s2s_data *pairs,
                       tr_s2s_train_opts *opts, int64_t resume_step,
                       tr_s2s_validate_fn validate, void *vctx,
                       volatile sig_atomic_t *stop, tr_s2s_progress_fn fn,
                       void *ctx, int *stopped, tr_err *err)
{
    TR_ASSERT(m && pairs && opts && validate && stopped);
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = opts;
    t.m = m;
    t.d = pairs;
    *stopped = 0;
    tr_st_file *sf = NULL;
    tr_status st = TR_OK;
    if (!opts->output || strlen(opts->output) >= PATH_MAX_LEN)
        return tr_err_set(err, TR_ERR_ARG, "--output is required (at most %d bytes)", PATH_MAX_LEN - 1);
    snprintf(t.state_path, sizeof t.state_path, "%s.state", opts->output);
    if (resume_step >= 0 &&
        ((st = tr_st_open(&sf, t.state_path, err)) || (st = read_state_opts(&t, sf, resume_step, err))))
        goto done;
    if ((st = check_opts(opts, pairs, err)))
        goto done;

    const int B = opts->batch;
    const int64_t n = pairs->n, maxb = n / B + n / ((int64_t)B * BUCKET_BATCHES) + 2;
    if ((st = tr_optim_init(&t.opt, &opts->opt, &m->params, err)) ||
        (st = tr_s2s_state_init(&t.st, m, B, pairs->max_src, pairs->max_tgt + 1, opts->seed, 1, err)))
        goto done;
    t.nvalues = tr_params_count(&m->params);
    t.best = tr_xmalloc((size_t)t.nvalues * sizeof(float));
    t.tmp = tr_xmalloc((size_t)t.nvalues * sizeof(float));
    t.keys = tr_xmalloc((size_t)n * sizeof *t.keys);
    t.order = tr_xmalloc((size_t)n * sizeof *t.order);
    t.bstart = tr_xmalloc((size_t)maxb * sizeof *t.bstart);
    t.bsize = tr_xmalloc((size_t)maxb * sizeof *t.bsize);
    t.srcp = tr_xmalloc((size_t)B * sizeof *t.srcp);
    t.tgtp = tr_xmalloc((size_t)B * sizeof *t.tgtp);
    t.sl = tr_xmalloc((size_t)B * sizeof *t.sl);
    t.tl = tr_xmalloc((size_t)B * sizeof *t.tl);
    if (sf && (st = read_state_rest(&t, sf, err)))
        goto done;

    tr_s2s_progress p;
    memset(&p, 0, sizeof p);
    p.epochs = opts->epochs;
    p.epoch_total = n;
    const double t0 = tr_now_seconds(), seconds_before = t.train_seconds;
    int64_t run_tokens = 0, run_pairs = 0;
    while (t.epoch < opts->epochs) {
        if (!t.in_epoch) {
            epoch_batches(&t, t.epoch);
            t.batch = 0;
            t.epoch_nll = 0.0;
            t.epoch_tok = t.epoch_pairs = 0;
            t.in_epoch = 1;
        }
        p.epoch = t.epoch;
        while (t.batch < t.nb) {
            /* a budget or a signal stops before the next update */
            double el = tr_now_seconds() - t0;
            if ((opts->max_steps > 0 && t.step >= opts->max_steps) ||
                (opts->max_seconds > 0 && el >= opts->max_seconds) || (stop && *stop)) {
                t.train_seconds = seconds_before + el;
                if (!(st = save_checkpoint(&t, err)))
                    *stopped = 1;
                goto done;
            }
            const int64_t tokens = load_batch(&t, t.batch);
            tr_params_zero_grad(&m->params);
            double nll = tr_s2s_forward(&t.st, m, 1);
            tr_s2s_backward(&t.st, m, 1.0f / (float)tokens);
            double norm = tr_clip_grad_norm(&m->params, opts->clip);
            if (!isfinite(nll) || !isfinite(norm)) {
                st = tr_err_set(err, TR_ERR_ARG, "training diverged at update %lld (loss %g, gradient norm %g); "
                                "nothing was saved; try a lower --lr or a --clip", (long long)t.step + 1,
                                nll / (double)tokens, norm);
                goto done;
            }
            tr_optim_step(&t.opt);
            t.step++;
            t.batch++;
            t.epoch_nll += nll;
            t.epoch_tok += tokens;
            t.epoch_pairs += t.st.b;
            run_tokens += tokens;
            run_pairs += t.st.b;
            el = tr_now_seconds() - t0;
            p.step = t.step;
            p.epoch_pairs = t.epoch_pairs;
            p.loss = t.epoch_nll / (double)t.epoch_tok;
            p.elapsed = el;
            p.total = seconds_before + el;
            p.tokens_per_s = el > 0 ? (double)run_tokens / el : 0.0;
            p.pairs_per_s = el > 0 ? (double)run_pairs / el : 0.0;
            p.lr = t.opt.cfg.lr;
            p.grad_norm = norm;
            p.validated = 0;
            if (fn)
                fn(ctx, &p);
            if (opts->save_every > 0 && t.step % opts->save_every == 0) {
                t.train_seconds = seconds_before + el;
                if ((st = save_checkpoint(&t, err)))
                    goto done;
            }
        }
        /* end of epoch: dev score; keep the best, or decay and go back to it */
        char note[256] = "";
        double score = 0.0;
        if ((st = validate(vctx, m, &score, note, sizeof note, err)))
            goto done;
        if (!isfinite(score)) {
            st = tr_err_set(err, TR_ERR_ARG, "the dev score after epoch %d is not finite (%g); nothing was saved",
                            t.epoch + 1, score);
            goto done;
        }
        p.validated = 1;
        p.score = score;
        p.improved = !t.have_best || score < t.best_score;
        p.decayed = 0;
        if (p.improved) {
            tr_params_get_values(&m->params, t.best);
            t.have_best = 1;
            t.best_score = score;
            t.best_step = t.step;
            t.bad = 0;
        } else {
            t.bad++;
            if (opts->decay > 1.0f) {
                t.opt.cfg.lr /= opts->decay;
                tr_params_set_values(&m->params, t.best);
                p.decayed = 1;
            }
        }
        p.best = t.best_score;
        p.lr = t.opt.cfg.lr;
        p.note = note[0] ? note : NULL;
        p.elapsed = tr_now_seconds() - t0;
        p.total = seconds_before + p.elapsed;
        t.in_epoch = 0;
        t.epoch++;
        t.finished = opts->patience > 0 && t.bad >= opts->patience;
        t.train_seconds = seconds_before + p.elapsed;
        st = save_checkpoint(&t, err);
        if (fn)
            fn(ctx, &p);
        if (st || t.finished)
            break;
    }
    if (!st && t.have_best)
        tr_params_set_values(&m->params, t.best);
done:
    if (sf)
        tr_st_close(sf);
    trainer_free(&t);
    return st;
}
