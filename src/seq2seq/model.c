/* The attention encoder-decoder: configuration, parameters, one worker's
 * arena-planned activations, and the teacher-forced forward and backward
 * passes of the per-sequence weighted loss (see triad/seq2seq.h for the
 * equations). Decoding is in decode.c, checkpoints in checkpoint.c.
 *
 * Layout: every activation is time-major with the current batch's lane count
 * as stride, (steps, b, features). The encoder runs each direction of a layer
 * as one tr_lstm_forward over the whole source; the backward direction reads
 * a copy of the input in which every lane is reversed over its own length,
 * so padding always comes last and never reaches a real position. The
 * decoder runs step by step (input feeding makes step t depend on step
 * t-1), one tr_lstm_forward of length 1 per layer and step. */
#include "triad/nn.h"
#include "triad/seq2seq.h"
#include "s2s_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- config */

tr_status tr_s2s_attention_parse(const char *s, int *att, tr_err *err)
{
    if (s && !strcmp(s, "general")) {
        *att = TR_S2S_ATT_GENERAL;
        return TR_OK;
    }
    if (s && !strcmp(s, "dot")) {
        *att = TR_S2S_ATT_DOT;
        return TR_OK;
    }
    return tr_err_set(err, TR_ERR_ARG, "--attention must be general or dot, got '%s'", s ? s : "(null)");
}

const char *tr_s2s_attention_name(int att)
{
    return att == TR_S2S_ATT_DOT ? "dot" : "general";
}

tr_status tr_s2s_config_check(const tr_s2s_config *c, tr_err *err)
{
    if (c->src_vocab < 3 || c->tgt_vocab < 3)
        return tr_err_set(err, TR_ERR_ARG, "vocabularies need at least one symbol besides <unk> and <eos> (got %d source, %d target)",
                          c->src_vocab, c->tgt_vocab);
    if (c->emb < 1 || c->emb > 65536)
        return tr_err_set(err, TR_ERR_ARG, "--emb must be in [1, 65536], got %d", c->emb);
    if (c->hidden < 1 || c->hidden > 65536)
        return tr_err_set(err, TR_ERR_ARG, "--hidden must be in [1, 65536], got %d", c->hidden);
    if (c->dec_hidden < 1 || c->dec_hidden > 65536)
        return tr_err_set(err, TR_ERR_ARG, "--dec-hidden must be in [1, 65536], got %d", c->dec_hidden);
    if (c->enc_layers < 1 || c->enc_layers > TR_S2S_MAX_LAYERS)
        return tr_err_set(err, TR_ERR_ARG, "--enc-layers must be in [1, %d], got %d", TR_S2S_MAX_LAYERS, c->enc_layers);
    if (c->dec_layers < 1 || c->dec_layers > TR_S2S_MAX_LAYERS)
        return tr_err_set(err, TR_ERR_ARG, "--dec-layers must be in [1, %d], got %d", TR_S2S_MAX_LAYERS, c->dec_layers);
    if (c->attention != TR_S2S_ATT_GENERAL && c->attention != TR_S2S_ATT_DOT)
        return tr_err_set(err, TR_ERR_ARG, "--attention must be general or dot, got kind %d", c->attention);
    if (c->attention == TR_S2S_ATT_DOT && c->dec_hidden != 2 * c->hidden)
        return tr_err_set(err, TR_ERR_ARG, "--attention dot needs --dec-hidden = 2 x --hidden (the bidirectional memory's size), got %d and %d",
                          c->dec_hidden, c->hidden);
    if (c->input_feed != 0 && c->input_feed != 1)
        return tr_err_set(err, TR_ERR_ARG, "input_feed must be 0 or 1, got %d", c->input_feed);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return tr_err_set(err, TR_ERR_ARG, "--dropout must be in [0, 1), got %g", (double)c->dropout);
    return TR_OK;
}

char *tr_s2s_config_to_json(const tr_s2s_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "src_vocab", c->src_vocab);
    cJSON_AddNumberToObject(o, "tgt_vocab", c->tgt_vocab);
    cJSON_AddNumberToObject(o, "emb", c->emb);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "dec_hidden", c->dec_hidden);
    cJSON_AddNumberToObject(o, "enc_layers", c->enc_layers);
    cJSON_AddNumberToObject(o, "dec_layers", c->dec_layers);
    cJSON_AddStringToObject(o, "attention", tr_s2s_attention_name(c->attention));
    cJSON_AddBoolToObject(o, "input_feed", c->input_feed);
    cJSON_AddNumberToObject(o, "dropout", (double)c->dropout);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    TR_ASSERT(s != NULL);
    return s;
}

static int json_int(const cJSON *o, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return 0;
    *out = (int)v->valuedouble;
    return 1;
}

tr_status tr_s2s_config_from_json(tr_s2s_config *c, const char *json,
                                  const char *where, tr_err *err)
{
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return tr_err_set(err, TR_ERR_FORMAT, "%s: model config is not a JSON object", where);
    }
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(o, "attention");
    const cJSON *feed = cJSON_GetObjectItemCaseSensitive(o, "input_feed");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(o, "dropout");
    tr_status st = TR_OK;
    tr_err inner;
    if (!json_int(o, "src_vocab", &c->src_vocab) || !json_int(o, "tgt_vocab", &c->tgt_vocab) ||
        !json_int(o, "emb", &c->emb) || !json_int(o, "hidden", &c->hidden) ||
        !json_int(o, "dec_hidden", &c->dec_hidden) || !json_int(o, "enc_layers", &c->enc_layers) ||
        !json_int(o, "dec_layers", &c->dec_layers) || !cJSON_IsString(att) || !cJSON_IsBool(feed) ||
        !cJSON_IsNumber(drop)) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: model config lacks a field or has one of the wrong type", where);
    } else if (tr_s2s_attention_parse(att->valuestring, &c->attention, &inner)) {
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: bad model config: %s", where, inner.msg);
    } else {
        c->input_feed = cJSON_IsTrue(feed);
        c->dropout = (float)drop->valuedouble;
        if (tr_s2s_config_check(c, &inner))
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: bad model config: %s", where, inner.msg);
    }
    cJSON_Delete(o);
    return st;
}

/* ---------------------------------------------------------------- parameters */

int tr_s2s_enc_in_dim(const tr_s2s_config *c, int l)
{
    return l == 0 ? c->emb : 2 * c->hidden;
}

int tr_s2s_dec_in_dim(const tr_s2s_config *c, int l)
{
    return l == 0 ? c->emb + (c->input_feed ? c->dec_hidden : 0) : c->dec_hidden;
}

/* Declares every parameter with its PyTorch name; called twice (plan, alloc). */
static void s2s_declare(tr_s2s *m, tr_arena *a)
{
    const tr_s2s_config *c = &m->cfg;
    const int64_t He = c->hidden, Hd = c->dec_hidden, C = 2 * He, E = c->emb;
    const int64_t Ld = c->dec_layers;
    char name[64];
    tr_params_init(&m->params, 8 * c->enc_layers + 4 * c->dec_layers + 8);
    m->src_emb = tr_params_add(&m->params, a, "encoder.embedding.weight", 2, (int64_t[]){c->src_vocab, E}, TR_PARAM_SPARSE);
    for (int l = 0; l < c->enc_layers; l++)
        for (int d = 0; d < 2; d++) {
            const char *sfx = d ? "_reverse" : "";
            int64_t I = tr_s2s_enc_in_dim(c, l);
            snprintf(name, sizeof name, "encoder.rnn.weight_ih_l%d%s", l, sfx);
            m->enc_w_ih[l][d] = tr_params_add(&m->params, a, name, 2, (int64_t[]){4 * He, I}, 0);
            snprintf(name, sizeof name, "encoder.rnn.weight_hh_l%d%s", l, sfx);
            m->enc_w_hh[l][d] = tr_params_add(&m->params, a, name, 2, (int64_t[]){4 * He, He}, 0);
            snprintf(name, sizeof name, "encoder.rnn.bias_ih_l%d%s", l, sfx);
            m->enc_b_ih[l][d] = tr_params_add(&m->params, a, name, 1, (int64_t[]){4 * He}, 0);
            snprintf(name, sizeof name, "encoder.rnn.bias_hh_l%d%s", l, sfx);
            m->enc_b_hh[l][d] = tr_params_add(&m->params, a, name, 1, (int64_t[]){4 * He}, 0);
        }
    m->bridge_w = tr_params_add(&m->params, a, "bridge.weight", 2, (int64_t[]){Ld * Hd, C}, 0);
    m->bridge_b = tr_params_add(&m->params, a, "bridge.bias", 1, (int64_t[]){Ld * Hd}, 0);
    m->tgt_emb = tr_params_add(&m->params, a, "decoder.embedding.weight", 2, (int64_t[]){c->tgt_vocab, E}, TR_PARAM_SPARSE);
    for (int l = 0; l < c->dec_layers; l++) {
        int64_t I = tr_s2s_dec_in_dim(c, l);
        snprintf(name, sizeof name, "decoder.rnn.weight_ih_l%d", l);
        m->dec_w_ih[l] = tr_params_add(&m->params, a, name, 2, (int64_t[]){4 * Hd, I}, 0);
        snprintf(name, sizeof name, "decoder.rnn.weight_hh_l%d", l);
        m->dec_w_hh[l] = tr_params_add(&m->params, a, name, 2, (int64_t[]){4 * Hd, Hd}, 0);
        snprintf(name, sizeof name, "decoder.rnn.bias_ih_l%d", l);
        m->dec_b_ih[l] = tr_params_add(&m->params, a, name, 1, (int64_t[]){4 * Hd}, 0);
        snprintf(name, sizeof name, "decoder.rnn.bias_hh_l%d", l);
        m->dec_b_hh[l] = tr_params_add(&m->params, a, name, 1, (int64_t[]){4 * Hd}, 0);
    }
    m->att_in = c->attention == TR_S2S_ATT_GENERAL
                    ? tr_params_add(&m->params, a, "attention.linear_in.weight", 2, (int64_t[]){Hd, C}, 0)
                    : NULL;
    m->att_out = tr_params_add(&m->params, a, "attention.linear_out.weight", 2, (int64_t[]){Hd, C + Hd}, 0);
    m->gen_w = tr_params_add(&m->params, a, "generator.weight", 2, (int64_t[]){c->tgt_vocab, Hd}, 0);
    m->gen_b = tr_params_add(&m->params, a, "generator.bias", 1, (int64_t[]){c->tgt_vocab}, 0);
}

tr_status tr_s2s_init(tr_s2s *m, const tr_s2s_config *cfg, tr_err *err)
{
    memset(m, 0, sizeof *m);
    tr_status st = tr_s2s_config_check(cfg, err);
    if (st)
        return st;
    m->cfg = *cfg;
    tr_arena plan;
    tr_arena_plan(&plan);
    s2s_declare(m, &plan);
    tr_params_free(&m->params);
    if ((st = tr_arena_init(&m->arena, plan.cap, err)))
        return st;
    s2s_declare(m, &m->arena);
    return TR_OK;
}

void tr_s2s_free(tr_s2s *m)
{
    tr_params_free(&m->params);
    tr_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

void tr_s2s_init_weights(tr_s2s *m, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 0x5325);
    for (int i = 0; i < m->params.n; i++)
        tr_rng_fill_uniform(&r, &m->params.p[i].value, 0.1f);
}

/* ---------------------------------------------------------------- worker state */

static size_t maxz(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void state_declare(tr_s2s_state *s, const tr_s2s *m, tr_arena *a)
{
    const tr_s2s_config *c = &m->cfg;
    const size_t B = (size_t)s->B, S = (size_t)s->S, T = (size_t)s->T;
    const size_t E = (size_t)c->emb, He = (size_t)c->hidden, Hd = (size_t)c->dec_hidden, C = 2 * He;
    const size_t V = (size_t)c->tgt_vocab, I0 = (size_t)tr_s2s_dec_in_dim(c, 0), Hm = maxz(He, Hd);
    s->src = tr_arena_bytes(a, S * B * sizeof(int32_t));
    s->src_len = tr_arena_bytes(a, B * sizeof(int));
    s->tgt_in = tr_arena_bytes(a, T * B * sizeof(int32_t));
    s->tgt_out = tr_arena_bytes(a, T * B * sizeof(int32_t));
    s->tgt_len = tr_arena_bytes(a, B * sizeof(int));
    s->weight = tr_arena_floats(a, B);
    s->row_w = tr_arena_floats(a, T * B);
    s->nll = tr_arena_bytes(a, B * sizeof(double));
    for (int l = 0; l < c->enc_layers; l++) {
        size_t I = (size_t)tr_s2s_enc_in_dim(c, l);
        s->enc_in[l] = tr_arena_floats(a, S * B * I);
        s->enc_mask[l] = tr_arena_floats(a, S * B * I);
        s->enc_rev[l] = tr_arena_floats(a, S * B * I);
        for (int d = 0; d < 2; d++) {
            s->enc_h[l][d] = tr_arena_floats(a, S * B * He);
            s->enc_c[l][d] = tr_arena_floats(a, S * B * He);
            s->enc_g[l][d] = tr_arena_floats(a, S * B * 4 * He);
        }
        s->enc_out[l] = tr_arena_floats(a, S * B * C);
    }
    s->keys = tr_arena_floats(a, S * B * Hd);
    s->final = tr_arena_floats(a, B * C);
    for (int l = 0; l < c->dec_layers; l++)
        s->dec_h0[l] = tr_arena_floats(a, B * Hd);
    s->zero = tr_arena_floats(a, B * Hm);
    s->dec_emb = tr_arena_floats(a, T * B * E);
    s->dec_emb_mask = tr_arena_floats(a, T * B * E);
    s->dec_x = tr_arena_floats(a, T * B * I0);
    for (int l = 0; l < c->dec_layers; l++) {
        s->dec_h[l] = tr_arena_floats(a, T * B * Hd);
        s->dec_c[l] = tr_arena_floats(a, T * B * Hd);
        s->dec_g[l] = tr_arena_floats(a, T * B * 4 * Hd);
        s->dec_drop[l] = tr_arena_floats(a, T * B * Hd);
        s->dec_mask[l] = tr_arena_floats(a, T * B * Hd);
    }
    s->alpha = tr_arena_floats(a, T * B * S);
    s->ctx = tr_arena_floats(a, T * B * C);
    s->att_h = tr_arena_floats(a, T * B * Hd);
    s->att_d = tr_arena_floats(a, T * B * Hd);
    s->att_mask = tr_arena_floats(a, T * B * Hd);
    s->probs = tr_arena_floats(a, T * B * V);
    s->row_nll = tr_arena_floats(a, T * B);
    s->d_att = tr_arena_floats(a, T * B * Hd);
    s->d_pre = tr_arena_floats(a, T * B * Hd);
    s->d_feed = tr_arena_floats(a, B * Hd);
    s->d_ctx = tr_arena_floats(a, B * C);
    s->d_q = tr_arena_floats(a, B * Hd);
    s->d_qa = tr_arena_floats(a, B * Hd);
    s->d_score = tr_arena_floats(a, B * S);
    for (int k = 0; k < 2; k++)
        s->d_x[k] = tr_arena_floats(a, B * maxz(I0, Hd));
    s->d_emb = tr_arena_floats(a, T * B * E);
    for (int l = 0; l < c->dec_layers; l++) {
        s->d_hc[l] = tr_arena_floats(a, B * Hd);
        s->d_cc[l] = tr_arena_floats(a, B * Hd);
    }
    s->d_gates = tr_arena_floats(a, maxz(S * B * 4 * He, B * 4 * Hd));
    s->d_state = tr_arena_floats(a, 2 * B * Hm);
    s->d_keys = tr_arena_floats(a, S * B * Hd);
    for (int k = 0; k < 2; k++) {
        s->d_mem[k] = tr_arena_floats(a, S * B * C);
        s->d_dir[k] = tr_arena_floats(a, S * B * He);
        s->d_in[k] = tr_arena_floats(a, S * B * maxz(E, C));
    }
    s->d_final = tr_arena_floats(a, B * C);
    s->d_z = tr_arena_floats(a, B * Hd);
}

tr_status tr_s2s_state_init(tr_s2s_state *s, const tr_s2s *m, int B, int S,
                            int T, uint64_t seed, uint64_t stream, tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (B < 1 || S < 1 || T < 1)
        return tr_err_set(err, TR_ERR_ARG, "batch size and lengths must be at least 1, got batch %d, source %d, target %d",
                          B, S, T);
    s->B = B;
    s->S = S;
    s->T = T;
    tr_arena plan;
    tr_arena_plan(&plan);
    state_declare(s, m, &plan);
    tr_status st = tr_arena_init(&s->arena, plan.cap, err);
    if (st)
        return st;
    state_declare(s, m, &s->arena);
    tr_rng_seed(&s->rng, seed, stream);
    return TR_OK;
}

void tr_s2s_state_free(tr_s2s_state *s)
{
    tr_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- batch */

void tr_s2s_set_batch(tr_s2s_state *s, const tr_s2s *m,
                      const int32_t *const *src, const int *src_len,
                      const int32_t *const *tgt, const int *tgt_len,
                      const float *weight, int b)
{
    const tr_s2s_config *c = &m->cfg;
    TR_ASSERT(b >= 1 && b <= s->B);
    int S = 0, T = 0;
    for (int i = 0; i < b; i++) {
        TR_ASSERT(src_len[i] >= 1 && src_len[i] <= s->S);
        S = src_len[i] > S ? src_len[i] : S;
        if (tgt) {
            TR_ASSERT(tgt_len[i] >= 0 && tgt_len[i] + 1 <= s->T);
            T = tgt_len[i] + 1 > T ? tgt_len[i] + 1 : T;
        }
    }
    s->b = b;
    s->s = S;
    s->t = T;
    for (int i = 0; i < b; i++) {
        s->src_len[i] = src_len[i];
        s->weight[i] = weight ? weight[i] : 1.0f;
        s->tgt_len[i] = tgt ? tgt_len[i] + 1 : 0;
        for (int t = 0; t < S; t++) {
            int32_t id = t < src_len[i] ? src[i][t] : 0;
            TR_ASSERT(id >= 0 && id < c->src_vocab);
            s->src[(size_t)t * b + i] = id;
        }
        for (int t = 0; t < T; t++) {
            int n = tgt_len[i];
            int32_t in = t == 0 || t > n ? TR_EOS_ID : tgt[i][t - 1];
            int32_t out = t < n ? tgt[i][t] : t == n ? TR_EOS_ID : -1;
            TR_ASSERT(in >= 0 && in < c->tgt_vocab && out >= -1 && out < c->tgt_vocab);
            s->tgt_in[(size_t)t * b + i] = in;
            s->tgt_out[(size_t)t * b + i] = out;
            s->row_w[(size_t)t * b + i] = s->weight[i];
        }
    }
}

void tr_s2s_set_weights(tr_s2s_state *s, const float *weight)
{
    for (int i = 0; i < s->b; i++) {
        s->weight[i] = weight[i];
        for (int t = 0; t < s->t; t++)
            s->row_w[(size_t)t * s->b + i] = weight[i];
    }
}

/* ---------------------------------------------------------------- encoder */

/* dst[t][i] = src[len_i - 1 - t][i] for t < len_i, 0 after; (S, b, n) each. */
static void reverse_lanes(float *dst, const float *src, const int *len, int S, int b, int n)
{
    for (int t = 0; t < S; t++)
        for (int i = 0; i < b; i++) {
            float *d = dst + ((size_t)t * b + i) * n;
            if (t < len[i])
                memcpy(d, src + ((size_t)(len[i] - 1 - t) * b + i) * n, (size_t)n * sizeof(float));
            else
                memset(d, 0, (size_t)n * sizeof(float));
        }
}

void tr_s2s_encode(tr_s2s_state *s, const tr_s2s *m, int train)
{
    const tr_s2s_config *c = &m->cfg;
    const int b = s->b, S = s->s, E = c->emb, He = c->hidden, C = 2 * He, Hd = c->dec_hidden;
    const int Le = c->enc_layers;
    TR_ASSERT(b >= 1 && S >= 1);
    s->dropped = train && c->dropout > 0.0f;
    /* enc_in[0] (S, b, E) = source embeddings, 0 at padding */
    for (int t = 0; t < S; t++)
        for (int i = 0; i < b; i++) {
            float *row = s->enc_in[0] + ((size_t)t * b + i) * E;
            if (t < s->src_len[i])
                tr_embedding_forward(row, &s->src[(size_t)t * b + i], m->src_emb->value.data, 1, c->src_vocab, E);
            else
                memset(row, 0, (size_t)E * sizeof(float));
        }
    if (s->dropped)
        tr_dropout_forward(s->enc_in[0], s->enc_mask[0], s->enc_in[0], c->dropout, &s->rng, (int64_t)S * b * E);
    for (int l = 0; l < Le; l++) {
        const int I = tr_s2s_enc_in_dim(c, l);
        reverse_lanes(s->enc_rev[l], s->enc_in[l], s->src_len, S, b, I);
        for (int d = 0; d < 2; d++)
            tr_lstm_forward(s->enc_h[l][d], s->enc_c[l][d], s->enc_g[l][d], d ? s->enc_rev[l] : s->enc_in[l],
                            s->zero, s->zero, m->enc_w_ih[l][d]->value.data, m->enc_w_hh[l][d]->value.data,
                            m->enc_b_ih[l][d]->value.data, m->enc_b_hh[l][d]->value.data, S, b, I, He);
        /* out (S, b, 2He) = [h_fwd(t); h_bwd(len-1-t)], the backward direction back in source order */
        for (int t = 0; t < S; t++)
            for (int i = 0; i < b; i++) {
                float *o = s->enc_out[l] + ((size_t)t * b + i) * C;
                if (t < s->src_len[i]) {
                    memcpy(o, s->enc_h[l][0] + ((size_t)t * b + i) * He, (size_t)He * sizeof(float));
                    memcpy(o + He, s->enc_h[l][1] + ((size_t)(s->src_len[i] - 1 - t) * b + i) * He,
                           (size_t)He * sizeof(float));
                } else {
                    memset(o, 0, (size_t)C * sizeof(float));
                }
            }
        if (l + 1 < Le) {
            if (s->dropped)
                tr_dropout_forward(s->enc_in[l + 1], s->enc_mask[l + 1], s->enc_out[l], c->dropout, &s->rng,
                                   (int64_t)S * b * C);
            else
                memcpy(s->enc_in[l + 1], s->enc_out[l], (size_t)S * b * C * sizeof(float));
        }
    }
    const float *top = s->enc_out[Le - 1];
    /* keys (S*b, Hd) = M W_a^T */
    if (m->att_in)
        tr_linear_forward(s->keys, top, m->att_in->value.data, NULL, S * b, C, Hd);
    /* final (b, 2He) = [h_fwd at len-1; h_bwd at position 0] */
    for (int i = 0; i < b; i++) {
        memcpy(s->final + (size_t)i * C, top + ((size_t)(s->src_len[i] - 1) * b + i) * C, (size_t)He * sizeof(float));
        memcpy(s->final + (size_t)i * C + He, top + (size_t)i * C + He, (size_t)He * sizeof(float));
    }
    /* dec_h0[l] (b, Hd) = tanh(final W_b,l^T + b_b,l) */
    for (int l = 0; l < c->dec_layers; l++) {
        float *h0 = s->dec_h0[l];
        tr_linear_forward(h0, s->final, m->bridge_w->value.data + (size_t)l * Hd * C,
                          m->bridge_b->value.data + (size_t)l * Hd, b, C, Hd);
        for (size_t k = 0; k < (size_t)b * Hd; k++)
            h0[k] = tr_tanhf(h0[k]);
    }
}

/* ---------------------------------------------------------------- decoder */

void tr_s2s_att_out(float *ht, const float *ctx, const float *q, const float *Wc,
                    int b, int C, int Hd)
{
    tr_sgemm(0, 1, b, Hd, C, 1.0f, ctx, C, Wc, C + Hd, 0.0f, ht, Hd);
    tr_sgemm(0, 1, b, Hd, Hd, 1.0f, q, Hd, Wc + C, C + Hd, 1.0f, ht, Hd);
    for (size_t k = 0; k < (size_t)b * Hd; k++)
        ht[k] = tr_tanhf(ht[k]);
}

double tr_s2s_forward(tr_s2s_state *s, const tr_s2s *m, int train)
{
    const tr_s2s_config *c = &m->cfg;
    TR_ASSERT(s->t >= 1);
    tr_s2s_encode(s, m, train);
    const int b = s->b, S = s->s, T = s->t, E = c->emb, Hd = c->dec_hidden, C = 2 * c->hidden;
    const int Ld = c->dec_layers, V = c->tgt_vocab, I0 = tr_s2s_dec_in_dim(c, 0);
    const float *mem = s->enc_out[c->enc_layers - 1];
    const float *keys = m->att_in ? s->keys : mem;
    /* dec_emb (T, b, E) = target embeddings of the inputs, dropout */
    tr_embedding_forward(s->dec_emb, s->tgt_in, m->tgt_emb->value.data, T * b, V, E);
    if (s->dropped)
        tr_dropout_forward(s->dec_emb, s->dec_emb_mask, s->dec_emb, c->dropout, &s->rng, (int64_t)T * b * E);
    for (int t = 0; t < T; t++) {
        const size_t r = (size_t)t * b; /* first row of step t */
        const float *x = s->dec_emb + r * E;
        if (c->input_feed) {
            /* dec_x[t] (b, E + Hd) = [emb; ht_{t-1}], ht_{-1} = 0 */
            for (int i = 0; i < b; i++) {
                float *xi = s->dec_x + (r + i) * I0;
                memcpy(xi, s->dec_emb + (r + i) * E, (size_t)E * sizeof(float));
                if (t)
                    memcpy(xi + E, s->att_d + (r - b + i) * Hd, (size_t)Hd * sizeof(float));
                else
                    memset(xi + E, 0, (size_t)Hd * sizeof(float));
            }
            x = s->dec_x + r * I0;
        }
        int I = I0;
        for (int l = 0; l < Ld; l++) {
            const float *h0 = t ? s->dec_h[l] + (r - b) * Hd : s->dec_h0[l];
            const float *c0 = t ? s->dec_c[l] + (r - b) * Hd : s->zero;
            float *h = s->dec_h[l] + r * Hd;
            tr_lstm_forward(h, s->dec_c[l] + r * Hd, s->dec_g[l] + r * 4 * Hd, x, h0, c0,
                            m->dec_w_ih[l]->value.data, m->dec_w_hh[l]->value.data, m->dec_b_ih[l]->value.data,
                            m->dec_b_hh[l]->value.data, 1, b, I, Hd);
            x = h;
            if (l + 1 < Ld && s->dropped) {
                tr_dropout_forward(s->dec_drop[l] + r * Hd, s->dec_mask[l] + r * Hd, h, c->dropout, &s->rng,
                                   (int64_t)b * Hd);
                x = s->dec_drop[l] + r * Hd;
            }
            I = Hd;
        }
        const float *q = s->dec_h[Ld - 1] + r * Hd;
        tr_attention_forward(s->alpha + r * S, s->ctx + r * C, q, keys, mem, s->src_len, S, b, Hd, C);
        tr_s2s_att_out(s->att_h + r * Hd, s->ctx + r * C, q, m->att_out->value.data, b, C, Hd);
        if (s->dropped)
            tr_dropout_forward(s->att_d + r * Hd, s->att_mask + r * Hd, s->att_h + r * Hd, c->dropout, &s->rng,
                               (int64_t)b * Hd);
        else
            memcpy(s->att_d + r * Hd, s->att_h + r * Hd, (size_t)b * Hd * sizeof(float));
    }
    /* probs (T*b, V) = softmax(att_d W_g^T + b_g) */
    tr_linear_forward(s->probs, s->att_d, m->gen_w->value.data, m->gen_b->value.data, T * b, Hd, V);
    tr_xent_forward(s->probs, s->row_nll, s->probs, s->tgt_out, T * b, V);
    double total = 0.0;
    for (int i = 0; i < b; i++) {
        double n = 0.0;
        for (int t = 0; t < T; t++)
            n += s->row_nll[(size_t)t * b + i];
        s->nll[i] = n;
        total += (double)s->weight[i] * n;
    }
    return total;
}

/* ---------------------------------------------------------------- backward */

void tr_s2s_backward(tr_s2s_state *s, tr_s2s *m, float scale)
{
    const tr_s2s_config *c = &m->cfg;
    const int b = s->b, S = s->s, T = s->t, E = c->emb, He = c->hidden, Hd = c->dec_hidden, C = 2 * He;
    const int Ld = c->dec_layers, Le = c->enc_layers, V = c->tgt_vocab, I0 = tr_s2s_dec_in_dim(c, 0);
    const size_t bHd = (size_t)b * Hd;
    TR_ASSERT(T >= 1);
    const float *mem = s->enc_out[Le - 1];
    const float *keys = m->att_in ? s->keys : mem;
    const float *Wc = m->att_out->value.data;
    float *dmem = s->d_mem[0]; /* (S, b, C) gradient of the top encoder output */

    /* dlogits (T*b, V) = scale w_b (p - onehot(y)), in place of probs; then
     * d_att (T*b, Hd), dW_g, db_g through the generator */
    tr_xent_backward(s->probs, s->probs, s->tgt_out, s->row_w, scale, T * b, V);
    tr_linear_backward(s->d_att, m->gen_w->grad.data, m->gen_b->grad.data, s->probs, s->att_d,
                       m->gen_w->value.data, T * b, Hd, V);
    memset(s->d_feed, 0, bHd * sizeof(float));
    for (int l = 0; l < Ld; l++) {
        memset(s->d_hc[l], 0, bHd * sizeof(float));
        memset(s->d_cc[l], 0, bHd * sizeof(float));
    }
    memset(s->d_keys, 0, (size_t)S * bHd * sizeof(float));
    memset(dmem, 0, (size_t)S * b * C * sizeof(float));

    for (int t = T - 1; t >= 0; t--) {
        const size_t r = (size_t)t * b;
        float *da = s->d_att + r * Hd;   /* (b, Hd) gradient of att_d[t] */
        const float *ah = s->att_h + r * Hd;
        float *dp = s->d_pre + r * Hd;
        if (c->input_feed)
            for (size_t k = 0; k < bHd; k++)
                da[k] += s->d_feed[k];
        if (s->dropped)
            tr_dropout_backward(da, da, s->att_mask + r * Hd, (int64_t)bHd);
        for (size_t k = 0; k < bHd; k++)
            dp[k] = da[k] * (1.0f - ah[k] * ah[k]);
        /* d_ctx (b, C) = dp W_c[:, :C];  d_q (b, Hd) = dp W_c[:, C:] */
        tr_sgemm(0, 0, b, C, Hd, 1.0f, dp, Hd, Wc, C + Hd, 0.0f, s->d_ctx, C);
        tr_sgemm(0, 0, b, Hd, Hd, 1.0f, dp, Hd, Wc + C, C + Hd, 0.0f, s->d_q, Hd);
        const float *q = s->dec_h[Ld - 1] + r * Hd;
        tr_attention_backward(s->d_qa, s->d_keys, dmem, s->d_score, s->d_ctx, s->alpha + r * S, q, keys, mem,
                              s->src_len, S, b, Hd, C);
        for (size_t k = 0; k < bHd; k++)
            s->d_q[k] += s->d_qa[k];
        /* the decoder layers at step t, top down */
        const float *dh = s->d_q;
        int cur = 0;
        for (int l = Ld - 1; l >= 0; l--) {
            const int I = tr_s2s_dec_in_dim(c, l);
            const float *x;
            if (l == 0)
                x = c->input_feed ? s->dec_x + r * I0 : s->dec_emb + r * E;
            else
                x = s->dropped ? s->dec_drop[l - 1] + r * Hd : s->dec_h[l - 1] + r * Hd;
            const float *h0 = t ? s->dec_h[l] + (r - b) * Hd : s->dec_h0[l];
            const float *c0 = t ? s->dec_c[l] + (r - b) * Hd : s->zero;
            float *dx = s->d_x[cur];
            tr_lstm_backward(dx, s->d_hc[l], s->d_cc[l], m->dec_w_ih[l]->grad.data, m->dec_w_hh[l]->grad.data,
                             m->dec_b_ih[l]->grad.data, m->dec_b_hh[l]->grad.data, s->d_gates, s->d_state, dh,
                             s->d_hc[l], s->d_cc[l], s->dec_h[l] + r * Hd, s->dec_c[l] + r * Hd,
                             s->dec_g[l] + r * 4 * Hd, x, h0, c0, m->dec_w_ih[l]->value.data,
                             m->dec_w_hh[l]->value.data, 1, b, I, Hd);
            if (l > 0) {
                if (s->dropped)
                    tr_dropout_backward(dx, dx, s->dec_mask[l - 1] + r * Hd, (int64_t)bHd);
                dh = dx;
                cur ^= 1;
            } else {
                /* split [d emb; d ht_{t-1}] */
                for (int i = 0; i < b; i++) {
                    memcpy(s->d_emb + (r + i) * E, dx + (size_t)i * I0, (size_t)E * sizeof(float));
                    if (c->input_feed)
                        memcpy(s->d_feed + (size_t)i * Hd, dx + (size_t)i * I0 + E, (size_t)Hd * sizeof(float));
                }
            }
        }
    }
    /* dW_c (Hd, C + Hd) += d_pre^T [ctx, h_top] over all T*b rows */
    float *dWc = m->att_out->grad.data;
    tr_sgemm(1, 0, Hd, C, T * b, 1.0f, s->d_pre, Hd, s->ctx, C, 1.0f, dWc, C + Hd);
    tr_sgemm(1, 0, Hd, Hd, T * b, 1.0f, s->d_pre, Hd, s->dec_h[Ld - 1], Hd, 1.0f, dWc + C, C + Hd);
    /* target embeddings of the real steps */
    if (s->dropped)
        tr_dropout_backward(s->d_emb, s->d_emb, s->dec_emb_mask, (int64_t)T * b * E);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < b; i++)
            if (t < s->tgt_len[i]) {
                size_t row = (size_t)t * b + i;
                tr_embedding_backward(m->tgt_emb, s->d_emb + row * E, &s->tgt_in[row], 1, E);
            }

    /* bridge: h0_l = tanh(z_l), c0 = 0 is constant */
    memset(s->d_final, 0, (size_t)b * C * sizeof(float));
    for (int l = 0; l < Ld; l++) {
        const float *h0 = s->dec_h0[l];
        for (size_t k = 0; k < bHd; k++)
            s->d_z[k] = s->d_hc[l][k] * (1.0f - h0[k] * h0[k]);
        const float *Wb = m->bridge_w->value.data + (size_t)l * Hd * C;
        tr_linear_backward(NULL, m->bridge_w->grad.data + (size_t)l * Hd * C, m->bridge_b->grad.data + (size_t)l * Hd,
                           s->d_z, s->final, Wb, b, C, Hd);
        tr_sgemm(0, 0, b, C, Hd, 1.0f, s->d_z, Hd, Wb, C, 1.0f, s->d_final, C);
    }
    /* keys -> memory: dM += dK W_a, dW_a += dK^T M (general); dM += dK (dot) */
    if (m->att_in) {
        tr_sgemm(0, 0, S * b, C, Hd, 1.0f, s->d_keys, Hd, m->att_in->value.data, C, 1.0f, dmem, C);
        tr_sgemm(1, 0, Hd, C, S * b, 1.0f, s->d_keys, Hd, mem, C, 1.0f, m->att_in->grad.data, C);
    } else {
        for (size_t k = 0; k < (size_t)S * b * C; k++)
            dmem[k] += s->d_keys[k];
    }
    for (int i = 0; i < b; i++) {
        float *df = dmem + ((size_t)(s->src_len[i] - 1) * b + i) * C, *db = dmem + (size_t)i * C + He;
        const float *g = s->d_final + (size_t)i * C;
        for (int k = 0; k < He; k++) {
            df[k] += g[k];
            db[k] += g[He + k];
        }
    }

    tr_s2s_encoder_backward(s, m, dmem);
}

void tr_s2s_encoder_backward(tr_s2s_state *s, tr_s2s *m, const float *dmem)
{
    const tr_s2s_config *c = &m->cfg;
    const int b = s->b, S = s->s, E = c->emb, He = c->hidden, C = 2 * He, Le = c->enc_layers;
    /* encoder layers, top down; dm is the gradient of enc_out[l] */
    const float *dm = dmem;
    for (int l = Le - 1; l >= 0; l--) {
        const int I = tr_s2s_enc_in_dim(c, l);
        /* d_dir[0] (S, b, He) = dm[:, :, :He]; d_dir[1] = dm[:, :, He:] reversed per lane */
        for (int t = 0; t < S; t++)
            for (int i = 0; i < b; i++) {
                const size_t row = (size_t)t * b + i;
                const int n = s->src_len[i];
                if (t < n) {
                    memcpy(s->d_dir[0] + row * He, dm + row * C, (size_t)He * sizeof(float));
                    memcpy(s->d_dir[1] + row * He, dm + ((size_t)(n - 1 - t) * b + i) * C + He,
                           (size_t)He * sizeof(float));
                } else {
                    memset(s->d_dir[0] + row * He, 0, (size_t)He * sizeof(float));
                    memset(s->d_dir[1] + row * He, 0, (size_t)He * sizeof(float));
                }
            }
        for (int d = 0; d < 2; d++)
            tr_lstm_backward(s->d_in[d], NULL, NULL, m->enc_w_ih[l][d]->grad.data, m->enc_w_hh[l][d]->grad.data,
                             m->enc_b_ih[l][d]->grad.data, m->enc_b_hh[l][d]->grad.data, s->d_gates, s->d_state,
                             s->d_dir[d], NULL, NULL, s->enc_h[l][d], s->enc_c[l][d], s->enc_g[l][d],
                             d ? s->enc_rev[l] : s->enc_in[l], s->zero, s->zero, m->enc_w_ih[l][d]->value.data,
                             m->enc_w_hh[l][d]->value.data, S, b, I, He);
        /* gradient of the layer's input (S, b, I): forward part plus the
         * backward direction's part put back in source order */
        float *dx = s->d_in[0];
        for (int t = 0; t < S; t++)
            for (int i = 0; i < b; i++) {
                const int n = s->src_len[i];
                float *o = dx + ((size_t)t * b + i) * I;
                if (t < n) {
                    const float *g = s->d_in[1] + ((size_t)(n - 1 - t) * b + i) * I;
                    for (int k = 0; k < I; k++)
                        o[k] += g[k];
                } else {
                    memset(o, 0, (size_t)I * sizeof(float));
                }
            }
        if (s->dropped)
            tr_dropout_backward(dx, dx, s->enc_mask[l], (int64_t)S * b * I);
        if (l > 0) {
            memcpy(s->d_mem[1], dx, (size_t)S * b * I * sizeof(float));
            dm = s->d_mem[1];
        } else {
            for (int t = 0; t < S; t++)
                for (int i = 0; i < b; i++)
                    if (t < s->src_len[i]) {
                        size_t row = (size_t)t * b + i;
                        tr_embedding_backward(m->src_emb, dx + row * E, &s->src[row], 1, E);
                    }
        }
    }
}

double tr_s2s_nll(tr_s2s_state *s, const tr_s2s *m, const tr_s2s_data *d, int64_t *tokens)
{
    TR_ASSERT(d->max_src <= s->S && d->max_tgt + 1 <= s->T);
    const int32_t **src = tr_xmalloc((size_t)s->B * sizeof *src), **tgt = tr_xmalloc((size_t)s->B * sizeof *tgt);
    int *ns = tr_xmalloc((size_t)s->B * sizeof *ns), *nt = tr_xmalloc((size_t)s->B * sizeof *nt);
    double total = 0.0;
    int64_t count = 0;
    for (int64_t i0 = 0; i0 < d->n; i0 += s->B) {
        int b = (int)(d->n - i0 < s->B ? d->n - i0 : s->B);
        for (int j = 0; j < b; j++) {
            int64_t i = i0 + j;
            src[j] = d->src + d->src_off[i];
            ns[j] = (int)(d->src_off[i + 1] - d->src_off[i]);
            tgt[j] = d->tgt + d->tgt_off[i];
            nt[j] = (int)(d->tgt_off[i + 1] - d->tgt_off[i]);
            count += nt[j] + 1;
        }
        tr_s2s_set_batch(s, m, src, ns, tgt, nt, NULL, b);
        total += tr_s2s_forward(s, m, 0);
    }
    free(src);
    free(tgt);
    free(ns);
    free(nt);
    if (tokens)
        *tokens = count;
    return total;
}
