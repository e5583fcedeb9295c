/* The tasks of the sequence-to-sequence commands: spelling <-> pronunciation
 * on CMUdict lexicons and translation on parallel text. Each gives its
 * model loader, its data readers and a dev scorer that tr_s2s_train and
 * tr_dual_train call after each epoch or evaluation interval. */
#ifndef TRIAD_CLI_TASKS_H
#define TRIAD_CLI_TASKS_H

#include "s2s.h"
#include "triad/bpe.h"
#include "triad/io.h"
#include "triad/metrics.h"

/* ---------------------------------------------------------------- pronunciations */

/* The lexicon at path as evaluation items of the task; 0 or 1 (message printed). */
int pron_load_items(const char *cmd, const char *path, tr_pron_task task, const tr_vocab *src,
                    const tr_vocab *tgt, tr_lexicon *lx, tr_pron_items *it);

/* Dev WER and PER of greedy (beam) decoding. */
typedef struct {
    tr_s2s_decoder dec;
    tr_pron_items items;
    tr_pron_task task;
    int beam;
    double wer, per;
} pron_dev;

/* Reads the dev lexicon at path as items of the task and plans greedy
 * decoding of them with m (batch items at once); 0 or 1 (message printed). */
int pron_dev_init(pron_dev *e, const char *cmd, const char *path, tr_pron_task task, const s2s_model *mf, int batch);
void pron_dev_free(pron_dev *e);
/* tr_s2s_validate_fn: WER decides, PER breaks ties. */
tr_status pron_validate(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err);

/* ---------------------------------------------------------------- translation */

/* triad.task of translation checkpoints. */
#define MT_TASK "mt"

/* A translation checkpoint with its subword units and language pair. */
typedef struct {
    s2s_model s;
    tr_bpe *bpe;
    char langs[64];     /* "en>fr", as triad.langs */
    char select[8];     /* what chose its weights on dev: "bleu" or "nll" (triad.select) */
    char src[32], tgt[32];
} mt_model;

/* Default longest training sentence, in subword units (mt train, dual). */
#define MT_TRAIN_MAX_LEN 80

/* Translations are at most 2n + 10 subword units for a source of n (and
 * TR_MT_MAX_LEN): a weak model that never says <eos> stops there. */
#define MT_LEN_A 2
#define MT_LEN_B 10
void mt_decoder_limits(tr_s2s_decoder *d);

/* Language names become file suffixes: letters, digits, '_' and '-'. */
int mt_lang_ok(const char *l);
void mt_set_langs(mt_model *mm, const char *src, const char *tgt);
/* Loads a translation checkpoint; 0 or 1 (message printed). */
int mt_load(mt_model *mm, const char *cmd, const char *path);
void mt_free(mt_model *mm);
/* PREFIX.SRC and PREFIX.TGT of the model's languages as a corpus. */
int mt_read_corpus(const char *cmd, const char *prefix, const mt_model *mm, tr_mt_corpus *c);

/* A corpus ready to be translated and scored. */
typedef struct {
    tr_mt_corpus text;
    tr_s2s_data src;    /* sources as ids */
    char **hyps;        /* (n) translations of the last decode */
} mt_set;

int mt_set_load(mt_set *e, const char *cmd, const char *prefix, const mt_model *mm);
void mt_set_free(mt_set *e);
/* Translates the set (into e->hyps) and scores it against its targets. */
tr_status mt_set_bleu(mt_set *e, tr_s2s_decoder *d, const mt_model *mm, int beam, float len_norm,
                      tr_bleu *b, tr_err *err);
/* sacreBLEU's one-line summary, after label. */
void mt_print_bleu(FILE *f, const char *label, const tr_bleu *b);

/* Dev BLEU of greedy decoding, and the dev NLL. */
typedef struct {
    mt_set dev;
    tr_s2s_data pairs;     /* dev as pairs, for its NLL */
    tr_s2s_state st;
    tr_s2s_decoder dec;
    const mt_model *mm;
    int by_nll;            /* the dev NLL decides instead of BLEU */
    tr_bleu bleu;
} mt_dev;

/* Reads the dev text PREFIX.SRC/.TGT of the model's languages and plans its
 * greedy translation (batch sentences at once) and NLL; 0 or 1. */
int mt_dev_init(mt_dev *e, const char *cmd, const char *prefix, const mt_model *mm, int batch);
void mt_dev_free(mt_dev *e);
/* tr_s2s_validate_fn: greedy dev BLEU decides, the dev NLL per token
 * breaking ties (such as BLEU 0 early in training); or, with by_nll, the dev
 * NLL alone (steadier when BLEU stays near 0 for many epochs, as with little
 * data). */
tr_status mt_validate(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err);

#endif
