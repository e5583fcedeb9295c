/* Pieces of the sequence-to-sequence module shared between its files (not
 * part of the public API). */
#ifndef TRIAD_S2S_INTERNAL_H
#define TRIAD_S2S_INTERNAL_H

#include "triad/seq2seq.h"

/* Input width of encoder layer l (E, then 2He) and decoder layer l
 * (E (+ Hd with input feeding), then Hd). */
int tr_s2s_enc_in_dim(const tr_s2s_config *c, int l);
int tr_s2s_dec_in_dim(const tr_s2s_config *c, int l);

/* The attention output of one step for b lanes:
 * ht (b, Hd) = tanh(ctx (b, C) W_c[:, :C]^T + q (b, Hd) W_c[:, C:]^T),
 * W_c (Hd, C + Hd). */
void tr_s2s_att_out(float *ht, const float *ctx, const float *q, const float *Wc,
                    int b, int C, int Hd);

#endif
