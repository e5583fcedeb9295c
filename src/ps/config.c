/* Parameter-server configuration: tables from a parameter set and their row
 * shards, update-rule, consistency-mode and delay-model parsing and range
 * checks, the training options' checks. Nothing here trains. */
#include "ps_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- tables */

tr_status tr_ps_layout_init(tr_ps_layout *l, const tr_params *ps, int servers,
                            tr_err *err)
{
    memset(l, 0, sizeof *l);
    if (servers < 1 || servers > 4096)
        return tr_err_set(err, TR_ERR_ARG, "--servers must be in [1, 4096], got %d", servers);
    if (ps->n < 1)
        return tr_err_set(err, TR_ERR_ARG, "the parameter set is empty: no tables to serve");
    for (int i = 0; i < ps->n; i++) {
        const tr_param *p = &ps->p[i];
        if (p->grad.size != p->value.size)
            return tr_err_set(err, TR_ERR_ARG, "parameter %s has no gradient: it cannot be a table", p->name);
    }
    l->ntables = ps->n;
    l->servers = servers;
    l->t = tr_xcalloc((size_t)ps->n, sizeof *l->t);
    for (int i = 0; i < ps->n; i++) {
        const tr_param *p = &ps->p[i];
        tr_ps_table *t = &l->t[i];
        snprintf(t->name, sizeof t->name, "%s", p->name);
        t->ndim = p->value.ndim;
        memcpy(t->shape, p->value.shape, sizeof t->shape);
        t->rows = p->value.shape[0];
        t->cols = t->rows > 0 ? p->value.size / t->rows : 0;
        t->sparse = p->sparse;
    }
    return TR_OK;
}

void tr_ps_layout_free(tr_ps_layout *l)
{
    free(l->t);
    memset(l, 0, sizeof *l);
}

int64_t tr_ps_shard_row(const tr_ps_layout *l, int t, int s)
{
    TR_ASSERT(t >= 0 && t < l->ntables && s >= 0 && s <= l->servers);
    return l->t[t].rows * s / l->servers;
}

int tr_ps_row_server(const tr_ps_layout *l, int t, int64_t r)
{
    TR_ASSERT(t >= 0 && t < l->ntables && r >= 0 && r < l->t[t].rows);
    /* the largest s with rows*s/S <= r */
    int s = (int)(((r + 1) * l->servers - 1) / l->t[t].rows);
    while (s > 0 && tr_ps_shard_row(l, t, s) > r)
        s--;
    while (s + 1 < l->servers && tr_ps_shard_row(l, t, s + 1) <= r)
        s++;
    return s;
}

/* ---------------------------------------------------------------- rules */

static const char *const RULE_NAMES[] = {"sgd", "momentum", "adagrad", "dcasgd-c", "dcasgd-a"};

tr_ps_rule tr_ps_rule_defaults(tr_ps_rule_kind kind)
{
    tr_ps_rule r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.lr = 0.1f;
    r.momentum = 0.9f;
    r.lambda = kind == TR_PS_DCASGD_A ? 2.0f : 0.04f;
    r.ms_decay = 0.95f;
    r.eps = kind == TR_PS_ADAGRAD ? 1e-10f : 1e-7f;
    r.lr_decay = 1.0f;
    r.decay_every = 1;
    return r;
}

tr_status tr_ps_rule_parse(const char *s, tr_ps_rule_kind *kind, tr_err *err)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, RULE_NAMES[i])) {
            *kind = (tr_ps_rule_kind)i;
            return TR_OK;
        }
    return tr_err_set(err, TR_ERR_ARG, "--rule must be sgd, momentum, adagrad, dcasgd-c or dcasgd-a, got '%s'", s);
}

const char *tr_ps_rule_name(tr_ps_rule_kind kind)
{
    TR_ASSERT(kind >= TR_PS_SGD && kind <= TR_PS_DCASGD_A);
    return RULE_NAMES[kind];
}

tr_status tr_ps_rule_check(const tr_ps_rule *r, tr_err *err)
{
    if (!(r->kind >= TR_PS_SGD && r->kind <= TR_PS_DCASGD_A))
        return tr_err_set(err, TR_ERR_ARG, "unknown update rule %d", (int)r->kind);
    if (!(r->lr > 0.0f && isfinite(r->lr)))
        return tr_err_set(err, TR_ERR_ARG, "--lr must be a positive number, got %g", (double)r->lr);
    if (!(r->lr_decay > 0.0f && r->lr_decay <= 1.0f))
        return tr_err_set(err, TR_ERR_ARG, "--lr-decay must be in (0, 1], got %g", (double)r->lr_decay);
    if (r->decay_every < 1)
        return tr_err_set(err, TR_ERR_ARG, "--decay-every must be at least 1, got %d", r->decay_every);
    if (r->kind == TR_PS_MOMENTUM && !(r->momentum >= 0.0f && r->momentum < 1.0f))
        return tr_err_set(err, TR_ERR_ARG, "--momentum must be in [0, 1), got %g", (double)r->momentum);
    if ((r->kind == TR_PS_DCASGD_C || r->kind == TR_PS_DCASGD_A) && !(r->lambda >= 0.0f && isfinite(r->lambda)))
        return tr_err_set(err, TR_ERR_ARG, "--lambda must be a number >= 0, got %g", (double)r->lambda);
    if (r->kind == TR_PS_DCASGD_A && !(r->ms_decay >= 0.0f && r->ms_decay < 1.0f))
        return tr_err_set(err, TR_ERR_ARG, "--ms-decay must be in [0, 1), got %g", (double)r->ms_decay);
    if ((r->kind == TR_PS_ADAGRAD || r->kind == TR_PS_DCASGD_A) && !(r->eps > 0.0f && isfinite(r->eps)))
        return tr_err_set(err, TR_ERR_ARG, "--eps must be a positive number, got %g", (double)r->eps);
    return TR_OK;
}

float tr_ps_rule_lr(const tr_ps_rule *r, int64_t epoch)
{
    TR_ASSERT(epoch >= 0 && r->decay_every >= 1);
    return (float)((double)r->lr * pow((double)r->lr_decay, (double)(epoch / r->decay_every)));
}

int tr_ps_rule_nstate(tr_ps_rule_kind kind)
{
    return kind == TR_PS_MOMENTUM || kind == TR_PS_ADAGRAD || kind == TR_PS_DCASGD_A;
}

const char *tr_ps_rule_state_name(tr_ps_rule_kind kind)
{
    switch (kind) {
    case TR_PS_MOMENTUM: return "momentum_buffer";
    case TR_PS_ADAGRAD: return "sum";
    case TR_PS_DCASGD_A: return "mean_square";
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- modes */

/* Parses a non-negative decimal integer that fills all of s. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

tr_status tr_ps_mode_parse(const char *s, tr_ps_mode *m, tr_err *err)
{
    memset(m, 0, sizeof *m);
    if (!strcmp(s, "bsp")) {
        m->kind = TR_PS_BSP;
        return TR_OK;
    }
    if (!strcmp(s, "asp")) {
        m->kind = TR_PS_ASP;
        return TR_OK;
    }
    if (!strncmp(s, "ssp:", 4)) {
        m->kind = TR_PS_SSP;
        if (parse_int(s + 4, 0, 1000000, &m->param))
            return TR_OK;
        return tr_err_set(err, TR_ERR_ARG, "--mode ssp:S needs a staleness bound S in [0, 1000000], got '%s'", s);
    }
    if (!strncmp(s, "ma:", 3)) {
        m->kind = TR_PS_MA;
        if (parse_int(s + 3, 1, 1000000, &m->param))
            return TR_OK;
        return tr_err_set(err, TR_ERR_ARG, "--mode ma:K needs an averaging period K in [1, 1000000], got '%s'", s);
    }
    return tr_err_set(err, TR_ERR_ARG, "--mode must be bsp, asp, ssp:S or ma:K, got '%s'", s);
}

char *tr_ps_mode_str(const tr_ps_mode *m, char *buf, size_t n)
{
    switch (m->kind) {
    case TR_PS_BSP: snprintf(buf, n, "bsp"); break;
    case TR_PS_ASP: snprintf(buf, n, "asp"); break;
    case TR_PS_SSP: snprintf(buf, n, "ssp:%d", m->param); break;
    case TR_PS_MA: snprintf(buf, n, "ma:%d", m->param); break;
    }
    return buf;
}

/* ---------------------------------------------------------------- delays */

/* Splits "name:x:y" into up to 2 numbers after the name; returns how many
 * were given, or -1 when one is malformed. */
static int delay_args(const char *s, size_t name_len, double *x, int max)
{
    const char *p = s + name_len;
    int k = 0;
    while (*p == ':') {
        if (k == max)
            return -1;
        char *end = NULL;
        errno = 0;
        double v = strtod(p + 1, &end);
        if (errno || end == p + 1 || !isfinite(v) || (*end && *end != ':'))
            return -1;
        x[k++] = v;
        p = end;
    }
    return *p ? -1 : k;
}

tr_status tr_ps_delay_parse(const char *s, tr_ps_delay *d, tr_err *err)
{
    static const char *const names[] = {"constant", "uniform", "slow", "pareto"};
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(s, names[i], n) || (s[n] && s[n] != ':'))
            continue;
        double x[2] = {0, 0};
        int k = delay_args(s, n, x, 2);
        d->kind = (tr_ps_delay_kind)i;
        switch (d->kind) {
        case TR_PS_DELAY_CONSTANT:
            d->a = k >= 1 ? x[0] : 1.0;
            if (k < 0 || k > 1 || !(d->a > 0))
                return tr_err_set(err, TR_ERR_ARG, "--simulate-delay constant[:D] needs D > 0, got '%s'", s);
            return TR_OK;
        case TR_PS_DELAY_UNIFORM:
            d->a = k >= 2 ? x[0] : 0.5;
            d->b = k >= 2 ? x[1] : 1.5;
            if (k == 1 || k < 0 || !(d->a > 0 && d->b >= d->a))
                return tr_err_set(err, TR_ERR_ARG, "--simulate-delay uniform[:LO:HI] needs 0 < LO <= HI, got '%s'", s);
            return TR_OK;
        case TR_PS_DELAY_SLOW:
            d->a = k >= 1 ? x[0] : 4.0;
            d->k = k >= 2 ? (int)x[1] : 1;
            if (k < 0 || !(d->a >= 1) || (k >= 2 && (x[1] != floor(x[1]) || x[1] < 1 || x[1] > 1e6)))
                return tr_err_set(err, TR_ERR_ARG,
                                  "--simulate-delay slow[:F[:K]] needs a factor F >= 1 and a whole K >= 1, got '%s'", s);
            return TR_OK;
        case TR_PS_DELAY_PARETO:
            d->a = k >= 1 ? x[0] : 2.5;
            if (k < 0 || k > 1 || !(d->a > 1 && d->a <= 100))
                return tr_err_set(err, TR_ERR_ARG, "--simulate-delay pareto[:ALPHA] needs 1 < ALPHA <= 100, got '%s'", s);
            return TR_OK;
        }
    }
    return tr_err_set(err, TR_ERR_ARG,
                      "--simulate-delay must be constant[:D], uniform[:LO:HI], slow[:F[:K]] or pareto[:ALPHA], got '%s'", s);
}

double tr_ps_delay_draw(const tr_ps_delay *d, int w, int M, tr_rng *rng)
{
    TR_ASSERT(w >= 0 && w < M);
    switch (d->kind) {
    case TR_PS_DELAY_CONSTANT:
        return d->a;
    case TR_PS_DELAY_UNIFORM:
        return d->a + (d->b - d->a) * (double)tr_rng_uniform(rng);
    case TR_PS_DELAY_SLOW:
        return w >= M - d->k ? d->a : 1.0;
    case TR_PS_DELAY_PARETO: {
        /* x_m / U^(1/alpha) has mean x_m alpha / (alpha - 1): x_m makes it 1 */
        double u = 1.0 - (double)tr_rng_uniform(rng); /* (0, 1] */
        double xm = (d->a - 1.0) / d->a;
        return xm / pow(u, 1.0 / d->a);
    }
    }
    TR_ASSERT(!"unknown delay model");
    return 1.0;
}

/* ---------------------------------------------------------------- training options */

tr_status tr_ps_train_check(const tr_ps_train_opts *o, tr_err *err)
{
    if (o->workers < 1 || o->workers > 4096)
        return tr_err_set(err, TR_ERR_ARG, "--workers must be in [1, 4096], got %d", o->workers);
    if (o->mode.kind != TR_PS_MA && (o->servers < 1 || o->servers > 4096))
        return tr_err_set(err, TR_ERR_ARG, "--servers must be in [1, 4096], got %d", o->servers);
    if (o->epochs < 1)
        return tr_err_set(err, TR_ERR_ARG, "--epochs must be at least 1, got %d", o->epochs);
    if (o->evals_per_epoch < 0 || o->evals_per_epoch > 1000)
        return tr_err_set(err, TR_ERR_ARG, "--evals-per-epoch must be in [0, 1000], got %d", o->evals_per_epoch);
    if (!(o->timeout >= 0.0 && isfinite(o->timeout)))
        return tr_err_set(err, TR_ERR_ARG, "--timeout must be >= 0 (0 = never), got %g", o->timeout);
    if (!(o->max_seconds >= 0.0))
        return tr_err_set(err, TR_ERR_ARG, "--max-time must be >= 0, got %g", o->max_seconds);
    if (o->mode.kind == TR_PS_SSP && (o->mode.param < 0))
        return tr_err_set(err, TR_ERR_ARG, "--mode ssp:S needs S >= 0");
    if (o->mode.kind == TR_PS_MA && o->mode.param < 1)
        return tr_err_set(err, TR_ERR_ARG, "--mode ma:K needs K >= 1");
    if (o->mode.kind == TR_PS_MA && (o->rule.kind == TR_PS_DCASGD_C || o->rule.kind == TR_PS_DCASGD_A))
        return tr_err_set(err, TR_ERR_ARG,
                          "--rule %s compensates the delay of asynchronous pushes to a server; model averaging "
                          "(--mode ma:K) has none: use sgd, momentum or adagrad",
                          tr_ps_rule_name(o->rule.kind));
    if (o->kill_worker >= 0) {
        if (o->kill_worker >= o->workers)
            return tr_err_set(err, TR_ERR_ARG, "--kill-worker %d: there are only %d workers (0 .. %d)",
                              o->kill_worker, o->workers, o->workers - 1);
        if (o->kill_step < 0)
            return tr_err_set(err, TR_ERR_ARG, "--kill-step must be >= 0, got %lld", (long long)o->kill_step);
        if (o->mode.kind == TR_PS_MA)
            return tr_err_set(err, TR_ERR_ARG,
                              "--kill-worker: model averaging cannot lose a worker (its allreduce needs all of "
                              "them); use bsp, ssp or asp");
        if (o->timeout <= 0.0)
            return tr_err_set(err, TR_ERR_ARG,
                              "--kill-worker needs --timeout > 0: without one a silent worker is never declared dead");
    }
    return tr_ps_rule_check(&o->rule, err);
}
