/* Sequence-to-sequence checkpoints: safetensors with PyTorch state_dict
 * names, and in the metadata the model kind, the task, the config (JSON),
 * both vocabularies (one symbol per line, in id order) and the update
 * count, so that one file is enough to decode, evaluate or resume. */
#include "triad/io.h"
#include "triad/seq2seq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S2S_KIND "seq2seq"
#define S2S_MAX_EXTRA TR_S2S_MAX_EXTRA

tr_status tr_s2s_save(const tr_s2s *m, const char *task, const tr_vocab *src,
                      const tr_vocab *tgt, int64_t step, const tr_meta *extra,
                      int n_extra, const char *path, tr_err *err)
{
    TR_ASSERT(task && tr_vocab_size(src) == m->cfg.src_vocab && tr_vocab_size(tgt) == m->cfg.tgt_vocab);
    char *cfg = tr_s2s_config_to_json(&m->cfg);
    char *sv = tr_vocab_to_string(src), *tv = tr_vocab_to_string(tgt);
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
    TR_ASSERT(n_extra >= 0 && n_extra <= S2S_MAX_EXTRA && (n_extra == 0 || extra));
    tr_meta meta[6 + S2S_MAX_EXTRA] = {
        {"triad.model", S2S_KIND}, {"triad.task", task},     {"triad.config", cfg},
        {"triad.src_vocab", sv},   {"triad.tgt_vocab", tv},  {"triad.step", stepbuf},
    };
    for (int i = 0; i < n_extra; i++)
        meta[6 + i] = extra[i];
    tr_status st = tr_params_save(path, &m->params, meta, 6 + n_extra, err);
    free(cfg);
    free(sv);
    free(tv);
    return st;
}

/* A vocabulary from metadata key, of the size the config says. */
static tr_status read_vocab(const tr_st_file *f, const char *path, const char *key, int size,
                            tr_vocab **v, tr_err *err)
{
    const char *s = tr_st_meta(f, key);
    if (!s)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: metadata lacks %s", path, key);
    tr_err inner;
    if (tr_vocab_from_string(v, s, &inner))
        return tr_err_set(err, TR_ERR_FORMAT, "%s: bad %s: %s", path, key, inner.msg);
    if (tr_vocab_size(*v) != size) {
        tr_status st = tr_err_set(err, TR_ERR_FORMAT, "%s: %s has %d symbols but the config says %d", path, key,
                                  tr_vocab_size(*v), size);
        tr_vocab_free(*v);
        *v = NULL;
        return st;
    }
    return TR_OK;
}

tr_status tr_s2s_load(tr_s2s *m, tr_vocab **src, tr_vocab **tgt,
                      int64_t *step, const char *task, const char *path,
                      tr_err *err)
{
    memset(m, 0, sizeof *m);
    *src = *tgt = NULL;
    tr_st_file *f = NULL;
    tr_status st = tr_st_open(&f, path, err);
    if (st)
        return st;
    const char *kind = tr_st_meta(f, "triad.model"), *got = tr_st_meta(f, "triad.task");
    const char *cfg = tr_st_meta(f, "triad.config"), *stepstr = tr_st_meta(f, "triad.step");
    tr_s2s_config c;
    if (!kind || strcmp(kind, S2S_KIND)) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: not a triad sequence-to-sequence model (metadata triad.model is %s%s%s)",
                        path, kind ? "\"" : "", kind ? kind : "missing", kind ? "\"" : "");
    } else if (!got) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: metadata lacks triad.task", path);
    } else if (task && strcmp(task, got)) {
        st = tr_err_set(err, TR_ERR_ARG, "%s is a %s model, not a %s model", path, got, task);
    } else if (!cfg) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: metadata lacks triad.config", path);
    } else if (!(st = tr_s2s_config_from_json(&c, cfg, path, err)) &&
               !(st = read_vocab(f, path, "triad.src_vocab", c.src_vocab, src, err)) &&
               !(st = read_vocab(f, path, "triad.tgt_vocab", c.tgt_vocab, tgt, err)) &&
               !(st = tr_s2s_init(m, &c, err))) {
        st = tr_params_load(f, &m->params, err);
    }
    if (st) {
        if (m->arena.base)
            tr_s2s_free(m);
        tr_vocab_free(*src);
        tr_vocab_free(*tgt);
        *src = *tgt = NULL;
    } else if (step) {
        *step = stepstr ? strtoll(stepstr, NULL, 10) : 0;
    }
    tr_st_close(f);
    return st;
}
