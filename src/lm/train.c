/* The language model's training loop: truncated BPTT over a streamed corpus,
 * gradient clipping, an optimiser, validation after each epoch with learning
 * rate decay on plateau, and checkpoints that resume exactly.
 *
 * A checkpoint is two files written atomically: the model (opts->output,
 * loadable by PyTorch) and the training state (output + ".state"): optimiser
 * tensors, the hidden state carried between windows, and in the metadata the
 * options, data position, random stream, schedule and counters. The state
 * is written first and names the step of its model, so a pair that does not
 * belong together is refused on resume. */
#include "io/json.h"
#include "triad/io.h"
#include "triad/lm.h"
#include "triad/optim.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096

/* Everything the loop needs besides the model; allocated once before the
 * first update. */
typedef struct {
    tr_lm_train_opts *o;
    const tr_seq_model *sm;
    tr_optim opt;
    tr_plateau plateau;
    tr_seq_state *train, *eval; /* worker states (owned) */
    tr_batcher *batches;
    int64_t *pos;            /* (2B+1) batcher position */
    int epoch;               /* current epoch, 0-based */
    int in_epoch;            /* the batcher position is in the middle of an epoch */
    int64_t step;
    double epoch_nll;        /* since the start of the epoch */
    int64_t epoch_n;
    double train_seconds;    /* all runs together */
    char train_path[PATH_MAX_LEN], valid_path[PATH_MAX_LEN], state_path[PATH_MAX_LEN + 8];
} trainer;

static tr_status check_opts(const tr_lm_train_opts *o, tr_err *err)
{
    if (!o->train_path || !o->valid_path || !o->output)
        return tr_err_set(err, TR_ERR_ARG, "--train, --valid and --output are required");
    if (o->batch < 1 || o->batch > 100000)
        return tr_err_set(err, TR_ERR_ARG, "--batch must be in [1, 100000], got %d", o->batch);
    if (o->bptt < 1 || o->bptt > 100000)
        return tr_err_set(err, TR_ERR_ARG, "--bptt must be in [1, 100000], got %d", o->bptt);
    if (o->epochs < 1)
        return tr_err_set(err, TR_ERR_ARG, "--epochs must be at least 1, got %d", o->epochs);
    if (o->eval_batch < 1 || o->eval_batch > 100000)
        return tr_err_set(err, TR_ERR_ARG, "--eval-batch must be in [1, 100000], got %d", o->eval_batch);
    if (!(o->clip >= 0.0f && isfinite(o->clip)))
        return tr_err_set(err, TR_ERR_ARG, "--clip must be >= 0 (0 = off), got %g", (double)o->clip);
    if (!(o->decay >= 1.0f && isfinite(o->decay)))
        return tr_err_set(err, TR_ERR_ARG, "--decay must be >= 1 (1 = never), got %g", (double)o->decay);
    if (o->max_steps < 0 || o->save_every < 0 || !(o->max_seconds >= 0.0))
        return tr_err_set(err, TR_ERR_ARG, "--max-steps, --max-time and --save-every must be >= 0");
    if (strlen(o->train_path) >= PATH_MAX_LEN || strlen(o->valid_path) >= PATH_MAX_LEN ||
        strlen(o->output) >= PATH_MAX_LEN)
        return tr_err_set(err, TR_ERR_ARG, "a path is longer than %d bytes", PATH_MAX_LEN - 1);
    return tr_opt_config_check(&o->opt, err);
}

/* ---------------------------------------------------------------- state file */

/* The metadata JSON of the training state. */
static char *state_json(const trainer *t, int B)
{
    const tr_lm_train_opts *o = t->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "train", t->train_path);
    cJSON_AddStringToObject(j, "valid", t->valid_path);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "bptt", o->bptt);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "eval_batch", o->eval_batch);
    tr_json_add_opt(j, &t->opt.cfg);
    cJSON_AddNumberToObject(j, "clip", (double)o->clip);
    cJSON_AddNumberToObject(j, "decay", (double)o->decay);
    tr_json_add_u64(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "save_every", (double)o->save_every);
    cJSON_AddNumberToObject(j, "epoch", t->epoch);
    cJSON_AddBoolToObject(j, "in_epoch", t->in_epoch);
    cJSON_AddNumberToObject(j, "step", (double)t->step);
    cJSON_AddNumberToObject(j, "opt_step", (double)t->opt.step);
    tr_json_add_exact(j, "plateau_best", isinf(t->plateau.best) ? -1.0 : t->plateau.best);
    tr_json_add_exact(j, "epoch_nll", t->epoch_nll);
    cJSON_AddNumberToObject(j, "epoch_n", (double)t->epoch_n);
    tr_json_add_exact(j, "train_seconds", t->train_seconds);
    tr_json_add_u64(j, "rng_state", t->train->rng.state);
    tr_json_add_u64(j, "rng_inc", t->train->rng.inc);
    cJSON *pos = cJSON_AddArrayToObject(j, "position");
    for (int i = 0; i < 2 * B + 1; i++)
        cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)t->pos[i]));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    TR_ASSERT(s != NULL);
    return s;
}

/* Writes the state file, then the model (the pair is consistent whenever the
 * model file is complete). */
static tr_status save_checkpoint(trainer *t, const tr_vocab *v, tr_err *err)
{
    const int L = t->sm->cfg->layers, B = t->o->batch;
    int n = t->opt.state.n + 2 * L, k = 0;
    tr_st_entry *e = tr_xcalloc((size_t)n, sizeof *e);
    tr_tensor *hid = tr_xcalloc((size_t)(2 * L), sizeof *hid);
    char (*names)[32] = tr_xcalloc((size_t)(2 * L), sizeof *names);
    for (int i = 0; i < t->opt.state.n; i++, k++) {
        e[k].name = t->opt.state.p[i].name;
        e[k].t = &t->opt.state.p[i].value;
    }
    for (int l = 0; l < L; l++)
        for (int w = 0; w < 2; w++) {
            int q = 2 * l + w;
            hid[q] = tr_tensor_make(w ? t->train->rnn.c0[l] : t->train->rnn.h0[l], 2,
                                    (int64_t[]){B, t->sm->cfg->hidden});
            snprintf(names[q], sizeof names[q], "hidden.%s_l%d", w ? "c" : "h", l);
            e[k].name = names[q];
            e[k++].t = &hid[q];
        }
    char *json = state_json(t, B);
    tr_meta meta[] = {{"triad.model", "lm-train-state"}, {"triad.train", json}};
    tr_status st = tr_st_write(t->state_path, e, n, meta, 2, err);
    if (!st)
        st = t->sm->save(t->sm->model, v, t->step, t->o->output, err);
    free(json);
    free(e);
    free(hid);
    free(names);
    return st;
}

static tr_status copy_tensor(const tr_st_file *f, const char *name, float *dst,
                             int64_t size, const char *path, tr_err *err)
{
    const tr_tensor *src = tr_st_get(f, name);
    if (!src)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    if (src->size != size)
        return tr_err_set(err, TR_ERR_SHAPE, "%s: tensor '%s' has %lld values, expected %lld", path, name,
                          (long long)src->size, (long long)size);
    memcpy(dst, src->data, (size_t)size * sizeof(float));
    return TR_OK;
}

/* Reads the options of a saved run into o (before anything is allocated).
 * Options the caller set (epochs > 0, paths non-NULL) take precedence. */
static tr_status read_state_opts(trainer *t, const tr_st_file *f, int64_t model_step, tr_err *err)
{
    tr_lm_train_opts *o = t->o;
    const char *kind = tr_st_meta(f, "triad.model");
    const char *js = tr_st_meta(f, "triad.train");
    if (!kind || strcmp(kind, "lm-train-state") || !js)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: not a triad training state file", t->state_path);
    cJSON *j = cJSON_Parse(js);
    int ok = j != NULL;
    if (ok) {
        snprintf(t->train_path, sizeof t->train_path, "%s", o->train_path ? o->train_path : tr_json_str(j, "train", &ok));
        snprintf(t->valid_path, sizeof t->valid_path, "%s", o->valid_path ? o->valid_path : tr_json_str(j, "valid", &ok));
        o->batch = (int)tr_json_num(j, "batch", &ok);
        o->bptt = (int)tr_json_num(j, "bptt", &ok);
        if (o->epochs <= 0)
            o->epochs = (int)tr_json_num(j, "epochs", &ok);
        o->eval_batch = (int)tr_json_num(j, "eval_batch", &ok);
        tr_json_read_opt(j, &o->opt, &ok);
        o->clip = (float)tr_json_num(j, "clip", &ok);
        o->decay = (float)tr_json_num(j, "decay", &ok);
        o->seed = tr_json_u64(j, "seed", &ok);
        if (o->save_every <= 0)
            o->save_every = (int64_t)tr_json_num(j, "save_every", &ok);
        t->step = (int64_t)tr_json_num(j, "step", &ok);
        t->epoch = (int)tr_json_num(j, "epoch", &ok);
    }
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: training state metadata is incomplete or not JSON", t->state_path);
    if (t->step != model_step)
        return tr_err_set(err, TR_ERR_FORMAT, "%s is from step %lld but %s is from step %lld: they do not belong together",
                          t->state_path, (long long)t->step, o->output, (long long)model_step);
    if (t->epoch >= o->epochs)
        return tr_err_set(err, TR_ERR_ARG, "%s has finished %d epoch%s; pass --epochs N with N > %d to train longer",
                          o->output, t->epoch, t->epoch == 1 ? "" : "s", t->epoch);
    o->train_path = t->train_path;
    o->valid_path = t->valid_path;
    return TR_OK;
}

/* Restores counters, position, random stream, schedule, optimiser and hidden
 * state (after allocation). */
static tr_status read_state_rest(trainer *t, const tr_st_file *f, tr_err *err)
{
    cJSON *j = cJSON_Parse(tr_st_meta(f, "triad.train"));
    int ok = j != NULL, B = t->o->batch;
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(j, "position");
    if (!cJSON_IsArray(pos) || cJSON_GetArraySize(pos) != 2 * B + 1)
        ok = 0;
    else
        for (int i = 0; i < 2 * B + 1; i++)
            t->pos[i] = (int64_t)cJSON_GetArrayItem(pos, i)->valuedouble;
    t->epoch = (int)tr_json_num(j, "epoch", &ok);
    t->in_epoch = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "in_epoch"));
    t->opt.step = (int64_t)tr_json_num(j, "opt_step", &ok);
    double best = tr_json_num(j, "plateau_best", &ok);
    t->plateau.best = best < 0 ? INFINITY : best;
    t->epoch_nll = tr_json_num(j, "epoch_nll", &ok);
    t->epoch_n = (int64_t)tr_json_num(j, "epoch_n", &ok);
    t->train_seconds = tr_json_num(j, "train_seconds", &ok);
    t->train->rng.state = tr_json_u64(j, "rng_state", &ok);
    t->train->rng.inc = tr_json_u64(j, "rng_inc", &ok);
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: training state metadata is incomplete", t->state_path);
    tr_status st = TR_OK;
    for (int i = 0; i < t->opt.state.n && !st; i++)
        st = copy_tensor(f, t->opt.state.p[i].name, t->opt.state.p[i].value.data,
                         t->opt.state.p[i].value.size, t->state_path, err);
    char name[32];
    int64_t BH = (int64_t)B * t->sm->cfg->hidden;
    for (int l = 0; l < t->sm->cfg->layers && !st; l++) {
        snprintf(name, sizeof name, "hidden.h_l%d", l);
        st = copy_tensor(f, name, t->train->rnn.h0[l], BH, t->state_path, err);
        snprintf(name, sizeof name, "hidden.c_l%d", l);
        if (!st)
            st = copy_tensor(f, name, t->train->rnn.c0[l], BH, t->state_path, err);
    }
    if (!st && t->in_epoch)
        st = tr_batcher_seek(t->batches, t->pos, err);
    return st;
}

/* ---------------------------------------------------------------- the loop */

static void trainer_free(trainer *t)
{
    tr_optim_free(&t->opt);
    if (t->train)
        t->sm->state_delete(t->train);
    if (t->eval)
        t->sm->state_delete(t->eval);
    tr_batcher_close(t->batches);
    free(t->pos);
}

double tr_seq_train_step(const tr_seq_model *sm, tr_seq_state *s,
                         tr_optim *o, int steps, float clip, double *norm)
{
    tr_params_zero_grad(sm->params);
    double nll = sm->forward(s, sm->model, s->x, s->y, steps, 1);
    sm->backward(s, sm->model, 1.0f / (float)(steps * s->B));
    *norm = tr_clip_grad_norm(sm->params, clip);
    tr_optim_step(o);
    tr_seq_carry(s, sm);
    return nll;
}

tr_status tr_seq_train(const tr_seq_model *sm, const tr_vocab *v,
                       tr_lm_train_opts *opts, int64_t resume_step,
                       volatile sig_atomic_t *stop, tr_lm_progress_fn fn,
                       void *ctx, int *stopped, tr_err *err)
{
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = opts;
    t.sm = sm;
    *stopped = 0;
    tr_st_file *sf = NULL;
    tr_status st = TR_OK;
    if (!opts->output || strlen(opts->output) >= PATH_MAX_LEN)
        return tr_err_set(err, TR_ERR_ARG, "--output is required (at most %d bytes)", PATH_MAX_LEN - 1);
    snprintf(t.state_path, sizeof t.state_path, "%s.state", opts->output);
    if (resume_step >= 0) {
        if ((st = tr_st_open(&sf, t.state_path, err)) || (st = read_state_opts(&t, sf, resume_step, err)))
            goto done;
    } else {
        if (!opts->train_path || !opts->valid_path)
            return tr_err_set(err, TR_ERR_ARG, "--train and --valid are required");
        snprintf(t.train_path, sizeof t.train_path, "%s", opts->train_path);
        snprintf(t.valid_path, sizeof t.valid_path, "%s", opts->valid_path);
    }
    if ((st = check_opts(opts, err)))
        goto done;

    /* Everything is allocated here, before the first update. Both data
     * files are opened (and validated) before anything is written. */
    const int B = opts->batch, T = opts->bptt;
    tr_batcher *vcheck = NULL;
    if ((st = tr_batcher_open(&vcheck, t.valid_path, v, sm->cfg->lower, opts->eval_batch, T, err)))
        goto done;
    tr_batcher_close(vcheck);
    if ((st = tr_batcher_open(&t.batches, t.train_path, v, sm->cfg->lower, B, T, err)) ||
        (st = tr_optim_init(&t.opt, &opts->opt, sm->params, err)))
        goto done;
    if (!(t.train = sm->state_new(sm->model, T, B, opts->seed, 1, err)) ||
        !(t.eval = sm->state_new(sm->model, T, opts->eval_batch, opts->seed, 2, err))) {
        st = err ? err->code : TR_ERR_NOMEM;
        goto done;
    }
    t.pos = tr_xcalloc((size_t)(2 * B + 1), sizeof(int64_t));
    tr_plateau_init(&t.plateau, opts->decay, 0.0f);
    if (sf && (st = read_state_rest(&t, sf, err)))
        goto done;

    tr_lm_progress p;
    memset(&p, 0, sizeof p);
    p.epochs = opts->epochs;
    p.step = t.step;
    p.epoch_total = tr_batcher_total_tokens(t.batches);
    const double t0 = tr_now_seconds(), seconds_before = t.train_seconds;
    int64_t run_tokens = 0;
    int steps = 0;
    while (t.epoch < opts->epochs) {
        if (!t.in_epoch) {
            if ((st = tr_batcher_rewind(t.batches, err)))
                goto done;
            tr_seq_reset(t.train, sm);
            t.epoch_nll = 0.0;
            t.epoch_n = 0;
            t.in_epoch = 1;
        }
        p.epoch = t.epoch;
        for (;;) {
            /* a budget or a signal stops before the next update, so that a
             * stop at an epoch's end keeps the validated model */
            double el = tr_now_seconds() - t0;
            if ((opts->max_steps > 0 && t.step >= opts->max_steps) ||
                (opts->max_seconds > 0 && el >= opts->max_seconds) || (stop && *stop)) {
                tr_batcher_tell(t.batches, t.pos);
                t.train_seconds = seconds_before + el;
                if (!(st = save_checkpoint(&t, v, err)))
                    *stopped = 1;
                goto done;
            }
            if ((st = tr_batcher_next(t.batches, t.train->x, t.train->y, &steps, err)))
                goto done;
            if (steps == 0)
                break;
            double norm, nll = tr_seq_train_step(sm, t.train, &t.opt, steps, opts->clip, &norm);
            int64_t n = (int64_t)steps * B;
            if (!isfinite(nll) || !isfinite(norm)) {
                st = tr_err_set(err, TR_ERR_ARG, "training diverged at update %lld (loss %g, gradient norm %g); "
                                "nothing was saved; try a lower --lr or a --clip", (long long)t.step + 1, nll / (double)n, norm);
                goto done;
            }
            t.step++;
            t.epoch_nll += nll;
            t.epoch_n += n;
            run_tokens += n;
            el = tr_now_seconds() - t0;
            p.step = t.step;
            p.epoch_tokens = tr_batcher_served(t.batches);
            p.loss = nll / (double)n;
            p.avg_loss = t.epoch_nll / (double)t.epoch_n;
            p.elapsed = el;
            p.tokens_per_s = el > 0 ? (double)run_tokens / el : 0.0;
            p.lr = t.opt.cfg.lr;
            p.grad_norm = norm;
            p.valid_ppl = 0.0;
            p.decayed = 0;
            p.note = NULL;
            if (fn)
                fn(ctx, &p);
            if (opts->save_every > 0 && t.step % opts->save_every == 0) {
                tr_batcher_tell(t.batches, t.pos);
                t.train_seconds = seconds_before + el;
                if ((st = save_checkpoint(&t, v, err)))
                    goto done;
            }
        }
        /* end of epoch: the model's own step (LightRNN re-allocates), then
         * validate, maybe decay, and save with the position at the start of
         * the next epoch */
        char note[256] = "";
        if (sm->epoch_end && t.epoch + 1 < opts->epochs &&
            (st = sm->epoch_end(sm->model, v, t.train_path, B, T, note, sizeof note, err)))
            goto done;
        p.note = note[0] ? note : NULL;
        double ppl = 0.0;
        if ((st = tr_seq_eval(sm, t.eval, v, t.valid_path, opts->eval_batch, T, &ppl, NULL, err)))
            goto done;
        if (!isfinite(ppl)) {
            st = tr_err_set(err, TR_ERR_ARG, "training diverged in epoch %d (validation perplexity %g); "
                            "nothing was saved; try a lower --lr or a --clip", t.epoch + 1, ppl);
            goto done;
        }
        p.valid_ppl = ppl;
        p.decayed = opts->decay > 1.0f && tr_plateau_update(&t.plateau, &t.opt, ppl);
        p.lr = t.opt.cfg.lr;
        p.elapsed = tr_now_seconds() - t0;
        t.in_epoch = 0;
        t.epoch++; /* the checkpoint resumes at the start of the next epoch */
        t.train_seconds = seconds_before + p.elapsed;
        st = save_checkpoint(&t, v, err);
        if (fn)
            fn(ctx, &p);
        if (st)
            goto done;
    }
done:
    if (sf)
        tr_st_close(sf);
    trainer_free(&t);
    return st;
}
