/* Training two inverse sequence-to-sequence models together: supervised
 * steps on pairs (with the duality regulariser) interleaved with games on
 * monolingual text (the closed loop), validation of both, and checkpoints
 * of both models, both optimisers and the schedule that resume exactly.
 *
 * The state file holds, for each model (prefix "ab." / "ba."), the
 * optimiser tensors and "current.NAME" / "best.NAME" weights, and in the
 * metadata the options and counters as JSON. Each data stream (pairs,
 * monolingual A, monolingual B) visits its items in a permutation that is a
 * function of (seed, stream, pass), so its position is two numbers. */
#include "io/json.h"
#include "triad/dual.h"
#include "triad/io.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_KIND "dual-train-state"

/* ---------------------------------------------------------------- data streams */

typedef struct {
    const tr_s2s_data *d;
    uint64_t id;
    int64_t *order;          /* (n) the current pass */
    int64_t pass, pos;
} stream;

static void stream_shuffle(stream *s, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 1000 + 16 * (uint64_t)s->pass + s->id);
    for (int64_t i = 0; i < s->d->n; i++)
        s->order[i] = i;
    for (int64_t i = s->d->n - 1; i > 0; i--) {
        int64_t j = (int64_t)tr_rng_below(&r, (uint32_t)(i + 1)), t = s->order[i];
        s->order[i] = s->order[j];
        s->order[j] = t;
    }
}

static int64_t stream_next(stream *s, uint64_t seed)
{
    if (s->pos == s->d->n) {
        s->pass++;
        s->pos = 0;
        stream_shuffle(s, seed);
    }
    return s->order[s->pos++];
}

static const int32_t *src_of(const tr_s2s_data *d, int64_t i, int *n)
{
    *n = (int)(d->src_off[i + 1] - d->src_off[i]);
    return d->src + d->src_off[i];
}

static const int32_t *tgt_of(const tr_s2s_data *d, int64_t i, int *n)
{
    *n = (int)(d->tgt_off[i + 1] - d->tgt_off[i]);
    return d->tgt + d->tgt_off[i];
}

/* ---------------------------------------------------------------- one model */

typedef struct {
    tr_dual_model *dm;
    tr_optim opt;
    tr_s2s_state st;
    tr_s2s_decoder dec;
    float *best, *tmp;
    int have_best;
    double best_score;
    int64_t best_step;
} model_run;

/* ---------------------------------------------------------------- the run */

typedef struct {
    tr_dual_opts *o;
    model_run r[2];               /* 0: A->B, 1: B->A */
    const tr_lm *lm[2];           /* 0: side A, 1: side B */
    tr_lm_scorer sc[2];
    stream pairs, mono[2];
    int L;                        /* lanes of every batch */
    /* batch scratch (L) */
    const int32_t **p1, **p2;
    int *n1, *n2;
    double *d1, *d2, *d3, *d4, *d5;
    float *w1, *w2;
    int *keep;
    int64_t step, games[2];
    double sum_loss[2], sum_tok[2], sum_reward[2], sum_gap2;
    int64_t n_gap;
    double train_seconds;
} run;

static void progress_means(const run *t, tr_dual_progress *p)
{
    p->loss_ab = t->sum_tok[0] > 0 ? t->sum_loss[0] / t->sum_tok[0] : NAN;
    p->loss_ba = t->sum_tok[1] > 0 ? t->sum_loss[1] / t->sum_tok[1] : NAN;
    p->reward_a = t->games[0] ? t->sum_reward[0] / (double)t->games[0] : NAN;
    p->reward_b = t->games[1] ? t->sum_reward[1] / (double)t->games[1] : NAN;
    p->gap2 = t->n_gap ? t->sum_gap2 / (double)t->n_gap : NAN;
}

/* G(i): the games among the first i steps under the share schedule. */
static double games_before(const tr_dual_opts *o, int64_t i)
{
    const double a = o->share_start, b = o->dual_share, x = (double)i;
    if (o->ramp <= 0)
        return b * x;
    const double r = (double)o->ramp;
    if (x <= r)
        return a * x + (b - a) * x * x / (2.0 * r);
    return a * r + (b - a) * r / 2.0 + b * (x - r);
}

/* Clips and steps both models; returns 0 when a loss or a norm is not finite. */
static int update_both(run *t, double l0, double l1)
{
    double n0 = tr_clip_grad_norm(&t->r[0].dm->m->params, t->o->clip);
    double n1 = tr_clip_grad_norm(&t->r[1].dm->m->params, t->o->clip);
    if (!isfinite(l0) || !isfinite(l1) || !isfinite(n0) || !isfinite(n1))
        return 0;
    tr_optim_step(&t->r[0].opt);
    tr_optim_step(&t->r[1].opt);
    return 1;
}

/* A supervised step on a batch of pairs: MLE of both directions, with the
 * duality regulariser when on. */
static int supervised_step(run *t, int regularise)
{
    const int b = t->o->batch < t->pairs.d->n ? t->o->batch : (int)t->pairs.d->n;
    int64_t tok_a = 0, tok_b = 0;
    for (int i = 0; i < b; i++) {
        int64_t k = stream_next(&t->pairs, t->o->seed);
        t->p1[i] = src_of(t->pairs.d, k, &t->n1[i]);
        t->p2[i] = tgt_of(t->pairs.d, k, &t->n2[i]);
        tok_a += t->n1[i] + 1;
        tok_b += t->n2[i] + 1;
    }
    tr_s2s *ab = t->r[0].dm->m, *ba = t->r[1].dm->m;
    tr_params_zero_grad(&ab->params);
    tr_params_zero_grad(&ba->params);
    tr_s2s_set_batch(&t->r[0].st, ab, t->p1, t->n1, t->p2, t->n2, NULL, b);
    double l0 = tr_s2s_forward(&t->r[0].st, ab, 1);
    tr_s2s_set_batch(&t->r[1].st, ba, t->p2, t->n2, t->p1, t->n1, NULL, b);
    double l1 = tr_s2s_forward(&t->r[1].st, ba, 1);
    if (regularise) {
        tr_lm_scorer_forward(&t->sc[0], t->lm[0], t->p1, t->n1, b, 0);
        tr_lm_scorer_forward(&t->sc[1], t->lm[1], t->p2, t->n2, b, 0);
        t->sum_gap2 += tr_dsl_weights(t->sc[0].logp, t->sc[1].logp, t->r[0].st.nll, t->r[1].st.nll, b,
                                      t->o->lambda, t->d1, t->w1, t->w2);
        t->n_gap += b;
        tr_s2s_set_weights(&t->r[0].st, t->w1);
        tr_s2s_set_weights(&t->r[1].st, t->w2);
    }
    tr_s2s_backward(&t->r[0].st, ab, 1.0f / (float)tok_b);
    tr_s2s_backward(&t->r[1].st, ba, 1.0f / (float)tok_a);
    t->sum_loss[0] += l0;
    t->sum_tok[0] += (double)tok_b;
    t->sum_loss[1] += l1;
    t->sum_tok[1] += (double)tok_a;
    return update_both(t, l0, l1);
}

/* A game started from monolingual side `from` (0: A, 1: B): the primal
 * model from -> other proposes K candidates per sentence, the other side's
 * LM and the dual model other -> from score them, and both learn. */
static int game_step(run *t, int from)
{
    const int other = 1 - from, K = t->o->K;
    model_run *pr = &t->r[from], *du = &t->r[other];
    stream *ms = &t->mono[from];
    const int g = t->o->games < ms->d->n ? t->o->games : (int)ms->d->n;
    const int32_t **s = t->p1;
    int *sl = t->n1;
    for (int i = 0; i < g; i++)
        s[i] = src_of(ms->d, stream_next(ms, t->o->seed), &sl[i]);
    const tr_s2s_nbest *nb = tr_s2s_beam(&pr->dec, pr->dm->m, s, sl, g, K, 0.0f);
    /* the candidates: entry i*K + k, kept when it has tokens */
    double *lm = t->d1, *rec = t->d2, *c = t->d3, *reward = t->d4;
    int nk = 0;
    for (int i = 0; i < g; i++) {
        int ok = 0;
        for (int k = 0; k < nb->n[i]; k++)
            ok += nb->len[i * nb->k + k] > 0;
        for (int k = 0; k < K; k++) {
            int j = i * K + k, h = i * nb->k + k;
            lm[j] = rec[j] = c[j] = 0.0;
            if (k < nb->n[i] && nb->len[h] > 0) {
                c[j] = 1.0 / ok;
                t->keep[nk] = j;
                t->p2[nk] = nb->ids + (size_t)h * nb->max_len;
                t->n2[nk] = nb->len[h];
                nk++;
            }
        }
    }
    if (nk == 0)
        return 1; /* nothing to learn from; the step still counts */
    /* lm: log P_other(mid); rec: log P(s | mid) by the dual model, whose
     * forward (with dropout) is also the one it learns from */
    if (t->lm[other]) {
        tr_lm_scorer *sc = &t->sc[other];
        tr_lm_scorer_forward(sc, t->lm[other], t->p2, t->n2, nk, 0);
        for (int q = 0; q < nk; q++)
            lm[t->keep[q]] = sc->logp[q] / (t->o->lm_norm ? t->n2[q] + 1 : 1);
    }
    /* each kept candidate's sentence, after the g sentences (L >= g + nk is planned) */
    const int32_t **s_rep = t->p1 + g;
    int *sl_rep = t->n1 + g;
    for (int q = 0; q < nk; q++) {
        int i = t->keep[q] / K;
        s_rep[q] = s[i];
        sl_rep[q] = sl[i];
    }
    tr_s2s *pm = pr->dm->m, *dmod = du->dm->m;
    tr_params_zero_grad(&pm->params);
    tr_params_zero_grad(&dmod->params);
    tr_s2s_set_batch(&du->st, dmod, t->p2, t->n2, s_rep, sl_rep, NULL, nk);
    double l1 = tr_s2s_forward(&du->st, dmod, 1);
    for (int q = 0; q < nk; q++)
        rec[t->keep[q]] = -du->st.nll[q];
    float *w_pr = t->w1, *w_du = t->w2;
    double e = tr_dual_loop_weights(lm, rec, c, g, K, t->o->alpha, t->o->baseline, reward, w_pr, w_du);
    t->sum_reward[from] += e;
    t->games[from]++;
    /* the kept entries' weights, in batch order, and the expectation's tokens */
    float *wk_pr = t->w1 + g * K, *wk_du = t->w2 + g * K;
    double tok_pr = 0.0, tok_du = 0.0;
    for (int q = 0; q < nk; q++) {
        int j = t->keep[q];
        wk_pr[q] = w_pr[j];
        wk_du[q] = w_du[j];
        tok_pr += c[j] * (t->n2[q] + 1);
        tok_du += c[j] * (sl_rep[q] + 1);
    }
    tr_s2s_set_weights(&du->st, wk_du);
    tr_s2s_backward(&du->st, dmod, (float)(1.0 / tok_du));
    tr_s2s_set_batch(&pr->st, pm, s_rep, sl_rep, t->p2, t->n2, NULL, nk);
    double l0 = tr_s2s_forward(&pr->st, pm, 1);
    tr_s2s_set_weights(&pr->st, wk_pr);
    tr_s2s_backward(&pr->st, pm, (float)(1.0 / tok_pr));
    return from == 0 ? update_both(t, l0, l1) : update_both(t, l1, l0);
}

/* ---------------------------------------------------------------- checkpoints */

static char *state_json(const run *t)
{
    const tr_dual_opts *o = t->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "games", o->games);
    cJSON_AddNumberToObject(j, "K", o->K);
    cJSON_AddNumberToObject(j, "max_len", o->max_len);
    cJSON_AddNumberToObject(j, "len_a", o->len_a);
    cJSON_AddNumberToObject(j, "len_b", o->len_b);
    tr_json_add_exact(j, "alpha", o->alpha);
    cJSON_AddBoolToObject(j, "lm_norm", o->lm_norm);
    cJSON_AddNumberToObject(j, "baseline", o->baseline);
    tr_json_add_exact(j, "dual_share", o->dual_share);
    tr_json_add_exact(j, "share_start", o->share_start);
    cJSON_AddNumberToObject(j, "ramp", (double)o->ramp);
    tr_json_add_exact(j, "lambda", o->lambda);
    cJSON_AddNumberToObject(j, "dsl_warmup", (double)o->dsl_warmup);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "eval_every", (double)o->eval_every);
    /* the A->B optimiser's configuration; B->A differs only by its rate */
    tr_json_add_opt(j, &t->r[0].opt.cfg);
    cJSON_AddNumberToObject(j, "lr_ba", (double)t->r[1].opt.cfg.lr);
    cJSON_AddNumberToObject(j, "clip", (double)o->clip);
    tr_json_add_u64(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "n_pairs", (double)t->pairs.d->n);
    cJSON_AddNumberToObject(j, "n_mono_a", (double)t->mono[0].d->n);
    cJSON_AddNumberToObject(j, "n_mono_b", (double)t->mono[1].d->n);
    cJSON_AddNumberToObject(j, "step", (double)t->step);
    const stream *ss[3] = {&t->pairs, &t->mono[0], &t->mono[1]};
    static const char *const sn[3] = {"pairs", "mono_a", "mono_b"};
    for (int i = 0; i < 3; i++) {
        char k[32];
        snprintf(k, sizeof k, "%s_pass", sn[i]);
        cJSON_AddNumberToObject(j, k, (double)ss[i]->pass);
        snprintf(k, sizeof k, "%s_pos", sn[i]);
        cJSON_AddNumberToObject(j, k, (double)ss[i]->pos);
    }
    static const char *const mn[2] = {"ab", "ba"};
    for (int i = 0; i < 2; i++) {
        char k[32];
        const model_run *r = &t->r[i];
        snprintf(k, sizeof k, "%s_opt_step", mn[i]);
        cJSON_AddNumberToObject(j, k, (double)r->opt.step);
        snprintf(k, sizeof k, "%s_have_best", mn[i]);
        cJSON_AddBoolToObject(j, k, r->have_best);
        snprintf(k, sizeof k, "%s_best_score", mn[i]);
        tr_json_add_exact(j, k, r->have_best ? r->best_score : 0.0);
        snprintf(k, sizeof k, "%s_best_step", mn[i]);
        cJSON_AddNumberToObject(j, k, (double)r->best_step);
        snprintf(k, sizeof k, "%s_rng_state", mn[i]);
        tr_json_add_u64(j, k, r->st.rng.state);
        snprintf(k, sizeof k, "%s_rng_inc", mn[i]);
        tr_json_add_u64(j, k, r->st.rng.inc);
    }
    cJSON_AddNumberToObject(j, "games_a", (double)t->games[0]);
    cJSON_AddNumberToObject(j, "games_b", (double)t->games[1]);
    tr_json_add_exact(j, "sum_loss_ab", t->sum_loss[0]);
    tr_json_add_exact(j, "sum_loss_ba", t->sum_loss[1]);
    tr_json_add_exact(j, "sum_tok_ab", t->sum_tok[0]);
    tr_json_add_exact(j, "sum_tok_ba", t->sum_tok[1]);
    tr_json_add_exact(j, "sum_reward_a", t->sum_reward[0]);
    tr_json_add_exact(j, "sum_reward_b", t->sum_reward[1]);
    tr_json_add_exact(j, "sum_gap2", t->sum_gap2);
    cJSON_AddNumberToObject(j, "n_gap", (double)t->n_gap);
    tr_json_add_exact(j, "train_seconds", t->train_seconds);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    TR_ASSERT(s != NULL);
    return s;
}

/* The state file (both models' current and best weights and optimisers),
 * then each model's best weights (the current ones before any validation). */
static tr_status save_checkpoint(run *t, tr_err *err)
{
    int n = 0;
    for (int i = 0; i < 2; i++)
        n += t->r[i].opt.state.n + 2 * t->r[i].dm->m->params.n;
    tr_st_entry *e = tr_xcalloc((size_t)n, sizeof *e);
    tr_tensor *bt = tr_xcalloc((size_t)n, sizeof *bt);
    char (*names)[112] = tr_xcalloc((size_t)n, sizeof *names);
    int k = 0;
    static const char *const mn[2] = {"ab", "ba"};
    for (int i = 0; i < 2; i++) {
        model_run *r = &t->r[i];
        tr_params *ps = &r->dm->m->params;
        for (int q = 0; q < r->opt.state.n; q++, k++) {
            snprintf(names[k], sizeof names[k], "%s.%s", mn[i], r->opt.state.p[q].name);
            e[k].name = names[k];
            e[k].t = &r->opt.state.p[q].value;
        }
        const float *bp = r->best;
        for (int q = 0; q < ps->n; q++) {
            snprintf(names[k], sizeof names[k], "%s.current.%s", mn[i], ps->p[q].name);
            e[k].name = names[k];
            e[k++].t = &ps->p[q].value;
            if (r->have_best) {
                bt[k] = tr_tensor_make((float *)bp, ps->p[q].value.ndim, ps->p[q].value.shape);
                snprintf(names[k], sizeof names[k], "%s.best.%s", mn[i], ps->p[q].name);
                e[k].name = names[k];
                e[k].t = &bt[k];
                k++;
            }
            bp += ps->p[q].value.size;
        }
    }
    char *json = state_json(t);
    tr_meta meta[] = {{"triad.model", STATE_KIND}, {"triad.train", json}};
    tr_status st = tr_st_write(t->o->state, e, k, meta, 2, err);
    for (int i = 0; i < 2 && !st; i++) {
        model_run *r = &t->r[i];
        tr_params *ps = &r->dm->m->params;
        if (r->have_best) {
            tr_params_get_values(ps, r->tmp);
            tr_params_set_values(ps, r->best);
        }
        st = tr_s2s_save(r->dm->m, r->dm->task, r->dm->src_vocab, r->dm->tgt_vocab, r->have_best ? r->best_step : t->step,
                         r->dm->extra, r->dm->n_extra, r->dm->output, err);
        if (r->have_best)
            tr_params_set_values(ps, r->tmp);
    }
    free(json);
    free(e);
    free(bt);
    free(names);
    return st;
}

/* The options of the saved run (before allocation). */
static tr_status read_opts(run *t, const tr_st_file *f, tr_err *err)
{
    tr_dual_opts *o = t->o;
    const char *kind = tr_st_meta(f, "triad.model"), *js = tr_st_meta(f, "triad.train");
    if (!kind || strcmp(kind, STATE_KIND) || !js)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: not a triad dual-learning state file", o->state);
    cJSON *j = cJSON_Parse(js);
    int ok = j != NULL;
    int64_t np = 0, na = 0, nbm = 0, steps = o->steps;
    if (ok) {
        o->batch = (int)tr_json_num(j, "batch", &ok);
        o->games = (int)tr_json_num(j, "games", &ok);
        o->K = (int)tr_json_num(j, "K", &ok);
        o->max_len = (int)tr_json_num(j, "max_len", &ok);
        o->len_a = (int)tr_json_num(j, "len_a", &ok);
        o->len_b = (int)tr_json_num(j, "len_b", &ok);
        o->alpha = tr_json_num(j, "alpha", &ok);
        o->lm_norm = tr_json_bool(j, "lm_norm", &ok);
        o->baseline = (tr_baseline)(int)tr_json_num(j, "baseline", &ok);
        o->dual_share = tr_json_num(j, "dual_share", &ok);
        o->share_start = tr_json_num(j, "share_start", &ok);
        o->ramp = (int64_t)tr_json_num(j, "ramp", &ok);
        o->lambda = tr_json_num(j, "lambda", &ok);
        o->dsl_warmup = (int64_t)tr_json_num(j, "dsl_warmup", &ok);
        o->steps = (int64_t)tr_json_num(j, "steps", &ok);
        o->eval_every = (int64_t)tr_json_num(j, "eval_every", &ok);
        tr_json_read_opt(j, &o->opt, &ok);
        o->clip = (float)tr_json_num(j, "clip", &ok);
        o->seed = tr_json_u64(j, "seed", &ok);
        np = (int64_t)tr_json_num(j, "n_pairs", &ok);
        na = (int64_t)tr_json_num(j, "n_mono_a", &ok);
        nbm = (int64_t)tr_json_num(j, "n_mono_b", &ok);
        t->step = (int64_t)tr_json_num(j, "step", &ok);
    }
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: the run's metadata is incomplete or not JSON", o->state);
    if (steps > 0)
        o->steps = steps;
    if (np != t->pairs.d->n || na != t->mono[0].d->n || nbm != t->mono[1].d->n)
        return tr_err_set(err, TR_ERR_ARG,
                          "the run in %s used %lld pairs, %lld + %lld monolingual sentences, but the data now has %lld, %lld + %lld",
                          o->state, (long long)np, (long long)na, (long long)nbm, (long long)t->pairs.d->n,
                          (long long)t->mono[0].d->n, (long long)t->mono[1].d->n);
    if (t->step >= o->steps)
        return tr_err_set(err, TR_ERR_ARG, "the run in %s has done its %lld updates; pass more steps to train longer",
                          o->state, (long long)t->step);
    return TR_OK;
}

/* Counters, streams, dropout streams, weights and optimisers (after allocation). */
static tr_status read_rest(run *t, const tr_st_file *f, tr_err *err)
{
    cJSON *j = cJSON_Parse(tr_st_meta(f, "triad.train"));
    int ok = j != NULL;
    stream *ss[3] = {&t->pairs, &t->mono[0], &t->mono[1]};
    static const char *const sn[3] = {"pairs", "mono_a", "mono_b"};
    for (int i = 0; i < 3; i++) {
        char k[32];
        snprintf(k, sizeof k, "%s_pass", sn[i]);
        ss[i]->pass = (int64_t)tr_json_num(j, k, &ok);
        snprintf(k, sizeof k, "%s_pos", sn[i]);
        ss[i]->pos = (int64_t)tr_json_num(j, k, &ok);
    }
    static const char *const mn[2] = {"ab", "ba"};
    for (int i = 0; i < 2; i++) {
        char k[32];
        model_run *r = &t->r[i];
        snprintf(k, sizeof k, "%s_opt_step", mn[i]);
        r->opt.step = (int64_t)tr_json_num(j, k, &ok);
        r->opt.cfg.lr = (float)tr_json_num(j, i == 0 ? "lr" : "lr_ba", &ok);
        snprintf(k, sizeof k, "%s_have_best", mn[i]);
        r->have_best = tr_json_bool(j, k, &ok);
        snprintf(k, sizeof k, "%s_best_score", mn[i]);
        r->best_score = tr_json_num(j, k, &ok);
        snprintf(k, sizeof k, "%s_best_step", mn[i]);
        r->best_step = (int64_t)tr_json_num(j, k, &ok);
        snprintf(k, sizeof k, "%s_rng_state", mn[i]);
        r->st.rng.state = tr_json_u64(j, k, &ok);
        snprintf(k, sizeof k, "%s_rng_inc", mn[i]);
        r->st.rng.inc = tr_json_u64(j, k, &ok);
    }
    t->games[0] = (int64_t)tr_json_num(j, "games_a", &ok);
    t->games[1] = (int64_t)tr_json_num(j, "games_b", &ok);
    t->sum_loss[0] = tr_json_num(j, "sum_loss_ab", &ok);
    t->sum_loss[1] = tr_json_num(j, "sum_loss_ba", &ok);
    t->sum_tok[0] = tr_json_num(j, "sum_tok_ab", &ok);
    t->sum_tok[1] = tr_json_num(j, "sum_tok_ba", &ok);
    t->sum_reward[0] = tr_json_num(j, "sum_reward_a", &ok);
    t->sum_reward[1] = tr_json_num(j, "sum_reward_b", &ok);
    t->sum_gap2 = tr_json_num(j, "sum_gap2", &ok);
    t->n_gap = (int64_t)tr_json_num(j, "n_gap", &ok);
    t->train_seconds = tr_json_num(j, "train_seconds", &ok);
    cJSON_Delete(j);
    if (!ok)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: the run's metadata is incomplete", t->o->state);
    for (int i = 0; i < 3; i++) {
        if (ss[i]->pos < 0 || ss[i]->pos > ss[i]->d->n || ss[i]->pass < 0)
            return tr_err_set(err, TR_ERR_FORMAT, "%s: a data position is out of range", t->o->state);
        stream_shuffle(ss[i], t->o->seed);
    }
    tr_status st = TR_OK;
    for (int i = 0; i < 2 && !st; i++) {
        model_run *r = &t->r[i];
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%s.", mn[i]);
        st = tr_params_load_prefixed(f, prefix, &r->opt.state, NULL, err);
        snprintf(prefix, sizeof prefix, "%s.current.", mn[i]);
        if (!st)
            st = tr_params_load_prefixed(f, prefix, &r->dm->m->params, NULL, err);
        snprintf(prefix, sizeof prefix, "%s.best.", mn[i]);
        if (!st && r->have_best)
            st = tr_params_load_prefixed(f, prefix, &r->dm->m->params, r->best, err);
    }
    return st;
}

/* ---------------------------------------------------------------- the loop */

static tr_status check_opts(const tr_dual_opts *o, const tr_lm *lm_a, const tr_lm *lm_b, const tr_s2s_data *paired,
                            const tr_s2s_data *mono_a, const tr_s2s_data *mono_b, tr_err *err)
{
    if (!o->state)
        return tr_err_set(err, TR_ERR_ARG, "a state file is required");
    if (o->batch < 1 || o->games < 1 || o->K < 1 || o->max_len < 1 || o->steps < 1 || o->eval_every < 1)
        return tr_err_set(err, TR_ERR_ARG, "--batch, --games, --candidates, --max-len, --steps and --eval-every must be >= 1");
    if (!(o->alpha >= 0.0 && o->alpha <= 1.0) || !(o->dual_share >= 0.0 && o->dual_share <= 1.0) ||
        !(o->share_start >= 0.0 && o->share_start <= 1.0) || !(o->lambda >= 0.0) || o->ramp < 0)
        return tr_err_set(err, TR_ERR_ARG, "--alpha, --dual-share and --share-start must be in [0, 1], --lambda and --ramp >= 0");
    if ((o->alpha > 0.0 || o->lambda > 0.0) && (!lm_a || !lm_b))
        return tr_err_set(err, TR_ERR_ARG, "--alpha > 0 and --lambda > 0 need the language models of both sides");
    if (paired->n < 1 && (o->dual_share < 1.0 || o->share_start < 1.0))
        return tr_err_set(err, TR_ERR_ARG, "supervised steps need paired data");
    if ((o->dual_share > 0.0 || o->share_start > 0.0) && (mono_a->n < 1 || mono_b->n < 1))
        return tr_err_set(err, TR_ERR_ARG, "games need monolingual data of both sides");
    return TR_OK;
}

static void run_free(run *t)
{
    for (int i = 0; i < 2; i++) {
        model_run *r = &t->r[i];
        tr_optim_free(&r->opt);
        tr_s2s_state_free(&r->st);
        if (r->dec.arena.base)
            tr_s2s_decoder_free(&r->dec);
        free(r->best);
        free(r->tmp);
        if (t->sc[i].x)
            tr_lm_scorer_free(&t->sc[i]);
        free(t->mono[i].order);
    }
    free(t->pairs.order);
    free(t->p1);
    free(t->p2);
    free(t->n1);
    free(t->n2);
    free(t->d1);
    free(t->d2);
    free(t->d3);
    free(t->d4);
    free(t->d5);
    free(t->w1);
    free(t->w2);
    free(t->keep);
}

static int max3(int a, int b, int c)
{
    int m = a > b ? a : b;
    return m > c ? m : c;
}

/* Validates both models; keeps each one's best weights. */
static tr_status validate_both(run *t, tr_dual_progress *p, char notes[2][256], tr_err *err)
{
    for (int i = 0; i < 2; i++) {
        model_run *r = &t->r[i];
        double score = 0.0;
        notes[i][0] = '\0';
        tr_status st = r->dm->validate(r->dm->vctx, r->dm->m, &score, notes[i], 256, err);
        if (st)
            return st;
        if (!isfinite(score))
            return tr_err_set(err, TR_ERR_ARG, "a dev score is not finite (%g) after update %lld", score, (long long)t->step);
        int improved = !r->have_best || score < r->best_score;
        if (improved) {
            tr_params_get_values(&r->dm->m->params, r->best);
            r->have_best = 1;
            r->best_score = score;
            r->best_step = t->step;
        }
        if (i == 0) {
            p->score_ab = score;
            p->improved_ab = improved;
            p->note_ab = notes[0];
        } else {
            p->score_ba = score;
            p->improved_ba = improved;
            p->note_ba = notes[1];
        }
    }
    return TR_OK;
}

tr_status tr_dual_train(tr_dual_model *ab, tr_dual_model *ba, const tr_lm *lm_a, const tr_lm *lm_b,
                        const tr_s2s_data *paired, const tr_s2s_data *mono_a, const tr_s2s_data *mono_b,
                        tr_dual_opts *o, int resume, volatile sig_atomic_t *stop, tr_dual_progress_fn fn, void *ctx,
                        int *stopped, tr_err *err)
{
    TR_ASSERT(ab && ba && paired && mono_a && mono_b && o && stopped);
    run t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.r[0].dm = ab;
    t.r[1].dm = ba;
    t.lm[0] = lm_a;
    t.lm[1] = lm_b;
    t.pairs = (stream){paired, 0, NULL, 0, 0};
    t.mono[0] = (stream){mono_a, 1, NULL, 0, 0};
    t.mono[1] = (stream){mono_b, 2, NULL, 0, 0};
    *stopped = 0;
    tr_st_file *sf = NULL;
    tr_status st = TR_OK;
    if (resume && ((st = tr_st_open(&sf, o->state, err)) || (st = read_opts(&t, sf, err))))
        goto done;
    if ((st = check_opts(o, lm_a, lm_b, paired, mono_a, mono_b, err)))
        goto done;

    /* capacities: a model's sources are its own side's sentences and the
     * other model's candidates; its targets the other side's */
    const int K = o->K;
    const int len_a = max3(paired->max_src, mono_a->max_src, o->max_len);
    const int len_b = max3(paired->max_tgt, mono_b->max_src, o->max_len);
    t.L = o->batch > o->games * (K + 1) ? o->batch : o->games * (K + 1);
    const int lens[2][2] = {{len_a, len_b}, {len_b, len_a}};
    for (int i = 0; i < 2 && !st; i++) {
        model_run *r = &t.r[i];
        const int64_t nv = tr_params_count(&r->dm->m->params);
        r->best = tr_xmalloc((size_t)nv * sizeof(float));
        r->tmp = tr_xmalloc((size_t)nv * sizeof(float));
        tr_opt_config oc = o->opt;
        if ((st = tr_optim_init(&r->opt, &oc, &r->dm->m->params, err)) ||
            (st = tr_s2s_state_init(&r->st, r->dm->m, t.L, lens[i][0], lens[i][1] + 1, o->seed, 10 + (uint64_t)i, err)) ||
            (st = tr_s2s_decoder_init(&r->dec, r->dm->m, o->games, lens[i][0], K, o->max_len, err)))
            break;
        r->dec.len_a = o->len_a;
        r->dec.len_b = o->len_b;
        const tr_lm *lm = t.lm[i];
        if (lm && (st = tr_lm_scorer_init(&t.sc[i], lm, t.L, i == 0 ? len_a : len_b, o->seed, err)))
            break;
    }
    if (st)
        goto done;
    t.pairs.order = tr_xmalloc((size_t)(paired->n > 0 ? paired->n : 1) * sizeof(int64_t));
    t.mono[0].order = tr_xmalloc((size_t)(mono_a->n > 0 ? mono_a->n : 1) * sizeof(int64_t));
    t.mono[1].order = tr_xmalloc((size_t)(mono_b->n > 0 ? mono_b->n : 1) * sizeof(int64_t));
    t.p1 = tr_xmalloc((size_t)t.L * sizeof *t.p1);
    t.p2 = tr_xmalloc((size_t)t.L * sizeof *t.p2);
    t.n1 = tr_xmalloc((size_t)t.L * sizeof *t.n1);
    t.n2 = tr_xmalloc((size_t)t.L * sizeof *t.n2);
    t.d1 = tr_xmalloc((size_t)t.L * sizeof *t.d1);
    t.d2 = tr_xmalloc((size_t)t.L * sizeof *t.d2);
    t.d3 = tr_xmalloc((size_t)t.L * sizeof *t.d3);
    t.d4 = tr_xmalloc((size_t)t.L * sizeof *t.d4);
    t.d5 = tr_xmalloc((size_t)t.L * sizeof *t.d5);
    t.w1 = tr_xmalloc((size_t)2 * (size_t)t.L * sizeof *t.w1);
    t.w2 = tr_xmalloc((size_t)2 * (size_t)t.L * sizeof *t.w2);
    t.keep = tr_xmalloc((size_t)t.L * sizeof *t.keep);
    if (sf) {
        if ((st = read_rest(&t, sf, err)))
            goto done;
    } else {
        stream_shuffle(&t.pairs, o->seed);
        stream_shuffle(&t.mono[0], o->seed);
        stream_shuffle(&t.mono[1], o->seed);
    }

    tr_dual_progress p;
    memset(&p, 0, sizeof p);
    p.steps = o->steps;
    const double t0 = tr_now_seconds(), before = t.train_seconds;
    int64_t run_steps = 0;
    char notes[2][256];
    if (!sf) {
        /* update 0: the warm start's dev scores, the first best weights */
        progress_means(&t, &p);
        if ((st = validate_both(&t, &p, notes, err)))
            goto done;
        p.kind = TR_DUAL_VALIDATED;
        if (fn)
            fn(ctx, &p);
    }
    while (t.step < o->steps) {
        double el = tr_now_seconds() - t0;
        if ((o->max_steps > 0 && run_steps >= o->max_steps) || (o->max_seconds > 0 && el >= o->max_seconds) ||
            (stop && *stop)) {
            t.train_seconds = before + el;
            if (!(st = save_checkpoint(&t, err)))
                *stopped = 1;
            goto done;
        }
        const int64_t ngames = (int64_t)floor(games_before(o, t.step));
        const int game = (int64_t)floor(games_before(o, t.step + 1)) > ngames;
        int ok;
        if (game) {
            p.kind = ngames % 2 == 0 ? TR_DUAL_GAME_A : TR_DUAL_GAME_B;
            ok = game_step(&t, ngames % 2 == 0 ? 0 : 1);
        } else {
            p.kind = TR_DUAL_SUPERVISED;
            ok = supervised_step(&t, o->lambda > 0.0 && t.step - ngames >= o->dsl_warmup);
        }
        if (!ok) {
            st = tr_err_set(err, TR_ERR_ARG, "training diverged at update %lld (a loss or gradient norm is not finite); "
                            "nothing was saved; try a lower --lr", (long long)t.step + 1);
            goto done;
        }
        t.step++;
        run_steps++;
        el = tr_now_seconds() - t0;
        p.step = t.step;
        p.elapsed = el;
        p.total = before + el;
        p.steps_per_s = el > 0 ? (double)run_steps / el : 0.0;
        progress_means(&t, &p);
        if (fn)
            fn(ctx, &p);
        if (t.step % o->eval_every == 0 || t.step == o->steps) {
            if ((st = validate_both(&t, &p, notes, err)))
                goto done;
            /* p holds this interval's means; the next interval starts afresh (before the save, so
             * that a resumed run continues the same way) */
            memset(t.games, 0, sizeof t.games);
            memset(t.sum_loss, 0, sizeof t.sum_loss);
            memset(t.sum_tok, 0, sizeof t.sum_tok);
            memset(t.sum_reward, 0, sizeof t.sum_reward);
            t.sum_gap2 = 0.0;
            t.n_gap = 0;
            t.train_seconds = before + (tr_now_seconds() - t0);
            if ((st = save_checkpoint(&t, err)))
                goto done;
            p.kind = TR_DUAL_VALIDATED;
            p.elapsed = tr_now_seconds() - t0;
            p.total = before + p.elapsed;
            if (fn)
                fn(ctx, &p);
        }
    }
    for (int i = 0; i < 2; i++)
        if (t.r[i].have_best)
            tr_params_set_values(&t.r[i].dm->m->params, t.r[i].best);
done:
    if (sf)
        tr_st_close(sf);
    run_free(&t);
    return st;
}
