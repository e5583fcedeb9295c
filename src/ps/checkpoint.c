/* Checkpoints of the server's tables: one safetensors file holding every
 * table under its parameter's name and shape (so the model part opens in
 * PyTorch like any triad checkpoint), the rule's state as
 * "<name>.<state>" ("fc0.weight.momentum_buffer"), and in the metadata
 * triad.model (the task), triad.ps (rule, whole epochs done, the servers'
 * counters as JSON), triad.step (updates applied) and the task's own
 * entries (its config).
 *
 * A checkpoint is written from a snapshot of all shards, so resuming may
 * use another number of servers or workers. It resumes at the start of the
 * epoch after the last whole one; w_bak of DC-ASGD is not kept (every
 * worker pulls before its first push, which sets it). */
#include "io/json.h"
#include "ps_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *meta_json(const tr_ps_rule *rule, const tr_ps_stats *st, int64_t epoch)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", tr_ps_rule_name(rule->kind));
    cJSON_AddNumberToObject(o, "epoch", (double)epoch);
    cJSON_AddNumberToObject(o, "pushes", (double)st->pushes);
    cJSON_AddNumberToObject(o, "updates", (double)st->updates);
    cJSON_AddNumberToObject(o, "samples", (double)st->samples);
    cJSON_AddNumberToObject(o, "loss_n", (double)st->loss_n);
    tr_json_add_exact(o, "loss_sum", st->loss_sum);
    cJSON_AddNumberToObject(o, "stale_n", (double)st->stale_n);
    cJSON_AddNumberToObject(o, "stale_sum", (double)st->stale_sum);
    cJSON_AddNumberToObject(o, "stale_max", (double)st->stale_max);
    cJSON_AddNumberToObject(o, "gap_max", (double)st->gap_max);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    TR_ASSERT(s != NULL);
    return s;
}

tr_status tr_ps_save(const char *path, const tr_ps_task *task,
                     const tr_ps_layout *l, const tr_ps_rule *rule,
                     float *const *values, float *const *state,
                     const tr_ps_stats *st, int64_t epoch, tr_err *err)
{
    const int T = l->ntables, ns = tr_ps_rule_nstate(rule->kind);
    TR_ASSERT(!ns || state);
    const int n = T * (1 + ns);
    tr_tensor *ts = tr_xcalloc((size_t)n, sizeof *ts);
    tr_st_entry *e = tr_xcalloc((size_t)n, sizeof *e);
    char (*names)[160] = tr_xcalloc((size_t)n, sizeof *names);
    for (int t = 0; t < T; t++) {
        ts[t] = tr_tensor_make(values[t], l->t[t].ndim, l->t[t].shape);
        e[t].name = l->t[t].name;
        e[t].t = &ts[t];
        if (ns) {
            snprintf(names[T + t], sizeof names[0], "%s.%s", l->t[t].name, tr_ps_rule_state_name(rule->kind));
            ts[T + t] = tr_tensor_make(state[t], l->t[t].ndim, l->t[t].shape);
            e[T + t].name = names[T + t];
            e[T + t].t = &ts[T + t];
        }
    }
    const int nmeta = 3 + task->nmeta;
    tr_meta *meta = tr_xcalloc((size_t)nmeta, sizeof *meta);
    char *js = meta_json(rule, st, epoch), step[32];
    snprintf(step, sizeof step, "%lld", (long long)st->updates);
    meta[0].key = "triad.model";
    meta[0].value = task->name;
    meta[1].key = "triad.ps";
    meta[1].value = js;
    meta[2].key = "triad.step";
    meta[2].value = step;
    for (int i = 0; i < task->nmeta; i++)
        meta[3 + i] = task->meta[i];
    tr_status rc = tr_st_write(path, e, n, meta, nmeta, err);
    cJSON_free(js);
    free(meta);
    free(names);
    free(e);
    free(ts);
    return rc;
}

static int get_count(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9e15 ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (int64_t)v->valuedouble;
    return 1;
}

tr_status ps_ckpt_read(const tr_st_file *f, const char *path, const char *task_name,
                       ps_ckpt_meta *m, tr_err *err)
{
    memset(m, 0, sizeof *m);
    const char *model = tr_st_meta(f, "triad.model");
    const char *js = tr_st_meta(f, "triad.ps");
    if (!js)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: not a parameter-server checkpoint (no triad.ps metadata)", path);
    if (task_name && (!model || strcmp(model, task_name)))
        return tr_err_set(err, TR_ERR_FORMAT, "%s is a checkpoint of model '%s', not '%s'", path,
                          model ? model : "?", task_name);
    cJSON *o = cJSON_Parse(js);
    if (!o)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: triad.ps is not valid JSON", path);
    tr_status rc = TR_OK;
    const cJSON *rule = cJSON_GetObjectItemCaseSensitive(o, "rule");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(o, "loss_sum");
    tr_ps_stats *st = &m->stats;
    if (!cJSON_IsString(rule) || tr_ps_rule_parse(rule->valuestring, &m->rule, NULL) != TR_OK ||
        !get_count(o, "epoch", &m->epoch) || !get_count(o, "pushes", &st->pushes) ||
        !get_count(o, "updates", &st->updates) || !get_count(o, "samples", &st->samples) ||
        !get_count(o, "loss_n", &st->loss_n) || !cJSON_IsNumber(ls) || !get_count(o, "stale_n", &st->stale_n) ||
        !get_count(o, "stale_sum", &st->stale_sum) || !get_count(o, "stale_max", &st->stale_max) ||
        !get_count(o, "gap_max", &st->gap_max))
        rc = tr_err_set(err, TR_ERR_FORMAT, "%s: triad.ps lacks the rule or a counter, or one is out of range", path);
    else
        st->loss_sum = ls->valuedouble;
    cJSON_Delete(o);
    return rc;
}
