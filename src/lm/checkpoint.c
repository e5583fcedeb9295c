/* Language-model checkpoints: safetensors with PyTorch state_dict names, and
 * the config (JSON), vocabulary (one word per line) and update count in the
 * metadata, so that one file is enough to evaluate, sample or resume. */
#include "triad/io.h"
#include "triad/lm.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tr_lm_config_to_json(const tr_lm_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "emb", c->emb);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "layers", c->layers);
    cJSON_AddNumberToObject(o, "dropout", (double)c->dropout);
    cJSON_AddBoolToObject(o, "lower", c->lower);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    TR_ASSERT(s != NULL);
    return s;
}

static tr_status json_int(const cJSON *o, const char *key, int *out, const char *where, tr_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: model config has no integer \"%s\"", where, key);
    *out = (int)v->valuedouble;
    return TR_OK;
}

tr_status tr_lm_config_from_json(tr_lm_config *c, const char *json,
                                 const char *where, tr_err *err)
{
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return tr_err_set(err, TR_ERR_FORMAT, "%s: model config is not a JSON object", where);
    }
    tr_status st = TR_OK;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dropout");
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(o, "lower");
    if ((st = json_int(o, "vocab_size", &c->vocab_size, where, err)) ||
        (st = json_int(o, "emb", &c->emb, where, err)) ||
        (st = json_int(o, "hidden", &c->hidden, where, err)) ||
        (st = json_int(o, "layers", &c->layers, where, err))) {
    } else if (!cJSON_IsNumber(d) || !cJSON_IsBool(lo)) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: model config needs a number \"dropout\" and a boolean \"lower\"", where);
    } else {
        c->dropout = (float)d->valuedouble;
        c->lower = cJSON_IsTrue(lo);
        tr_err inner;
        if (tr_lm_config_check(c, &inner))
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: bad model config: %s", where, inner.msg);
    }
    cJSON_Delete(o);
    return st;
}

tr_status tr_lm_save_params(const tr_params *ps, const char *kind,
                            const tr_lm_config *c, const tr_vocab *v,
                            int64_t step, const tr_meta *extra, int nextra,
                            const char *path, tr_err *err)
{
    TR_ASSERT(tr_vocab_size(v) == c->vocab_size && nextra >= 0 && nextra <= 4);
    char *cfg = tr_lm_config_to_json(c);
    char *words = tr_vocab_to_string(v);
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
    tr_meta meta[8] = {
        {"triad.model", kind},
        {"triad.config", cfg},
        {"triad.vocab", words},
        {"triad.step", stepbuf},
    };
    for (int i = 0; i < nextra; i++)
        meta[4 + i] = extra[i];
    tr_status st = tr_params_save(path, ps, meta, 4 + nextra, err);
    free(cfg);
    free(words);
    return st;
}

tr_status tr_lm_read_meta(const tr_st_file *f, const char *path,
                          const char *kind, tr_lm_config *c, tr_vocab **v,
                          int64_t *step, tr_err *err)
{
    *v = NULL;
    const char *got = tr_st_meta(f, "triad.model");
    const char *cfg = tr_st_meta(f, "triad.config");
    const char *words = tr_st_meta(f, "triad.vocab");
    const char *stepstr = tr_st_meta(f, "triad.step");
    tr_status st = TR_OK;
    if (!got || strcmp(got, kind) != 0) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: not a triad %s model (metadata triad.model is %s%s%s, expected \"%s\")",
                        path, strcmp(kind, "lm") ? kind : "language", got ? "\"" : "", got ? got : "missing",
                        got ? "\"" : "", kind);
    } else if (!cfg || !words) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: metadata lacks triad.config or triad.vocab", path);
    } else if ((st = tr_lm_config_from_json(c, cfg, path, err))) {
    } else if ((st = tr_vocab_from_string(v, words, err))) {
        /* keep the vocabulary's message but name the file */
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        tr_err_set(err, st, "%s: bad vocabulary: %s", path, inner);
    } else if (tr_vocab_size(*v) != c->vocab_size) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: vocabulary has %d words but the config says %d", path,
                        tr_vocab_size(*v), c->vocab_size);
    }
    if (st) {
        tr_vocab_free(*v);
        *v = NULL;
    } else if (step) {
        *step = stepstr ? strtoll(stepstr, NULL, 10) : 0;
    }
    return st;
}

tr_status tr_lm_save(const tr_lm *m, const tr_vocab *v, int64_t step,
                     const char *path, tr_err *err)
{
    return tr_lm_save_params(&m->params, "lm", &m->cfg, v, step, NULL, 0, path, err);
}

tr_status tr_lm_load(tr_lm *m, tr_vocab **v, int64_t *step, const char *path,
                     tr_err *err)
{
    tr_st_file *f = NULL;
    tr_status st = tr_st_open(&f, path, err);
    if (st)
        return st;
    memset(m, 0, sizeof *m);
    tr_lm_config c;
    if (!(st = tr_lm_read_meta(f, path, "lm", &c, v, step, err)) && !(st = tr_lm_init(m, &c, err)))
        st = tr_params_load(f, &m->params, err);
    if (st) {
        if (m->arena.base)
            tr_lm_free(m);
        tr_vocab_free(*v);
        *v = NULL;
    }
    tr_st_close(f);
    return st;
}
