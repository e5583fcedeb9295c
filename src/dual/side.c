/* The text of one side of a dual task as ids of the side's vocabulary:
 * spellings, pronunciations or subword-split sentences. */
#include "triad/dual.h"

#include <stdlib.h>
#include <string.h>

int tr_side_max_len(const tr_side *s)
{
    return s->kind == TR_SIDE_SUBWORDS ? TR_MT_MAX_LEN : TR_PRON_MAX_LEN;
}

int tr_side_ids(const tr_side *s, const char *line, int32_t *ids,
                const char *where, int64_t line_no, tr_err *err)
{
    switch (s->kind) {
    case TR_SIDE_SPELLING:
        return tr_pron_spelling_ids(s->v, line, ids, where, line_no, err);
    case TR_SIDE_PHONEMES:
        return tr_pron_phoneme_ids(s->v, line, ids, where, line_no, err);
    case TR_SIDE_SUBWORDS:
        TR_ASSERT(s->bpe != NULL);
        return tr_mt_ids_upto(s->bpe, s->v, line, ids, TR_MT_MAX_LEN, where, line_no, err);
    }
    TR_ASSERT(0 && "unknown side kind");
    return -1;
}

char *tr_side_text(const tr_side *s, const int32_t *ids, int n)
{
    if (s->kind == TR_SIDE_SUBWORDS)
        return tr_mt_detok(s->v, ids, n);
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(tr_vocab_word(s->v, ids[i])) + 1;
    char *t = tr_xmalloc(len), *p = t;
    for (int i = 0; i < n; i++) {
        if (i && s->kind == TR_SIDE_PHONEMES)
            *p++ = ' ';
        const char *w = tr_vocab_word(s->v, ids[i]);
        size_t k = strlen(w);
        memcpy(p, w, k);
        p += k;
    }
    *p = '\0';
    return t;
}

tr_status tr_side_read(const tr_side *s, const char *path, int max_len, tr_s2s_data *out, int64_t *left_out,
                       tr_err *err)
{
    TR_ASSERT(max_len >= 1 && max_len <= tr_side_max_len(s));
    char **lines;
    int64_t n;
    tr_status st = tr_lines_read(path, &lines, &n, err);
    if (st)
        return st;
    int32_t *ids = tr_xmalloc((size_t)tr_side_max_len(s) * sizeof(int32_t));
    tr_s2s_data_init(out);
    *left_out = 0;
    for (int64_t i = 0; i < n && !st; i++) {
        int k = tr_side_ids(s, lines[i], ids, path, i + 1, err);
        if (k < 0)
            st = err->code;
        else if (k > max_len)
            (*left_out)++;
        else
            tr_s2s_data_add(out, ids, k, NULL, 0);
    }
    free(ids);
    tr_lines_free(lines, n);
    if (st)
        tr_s2s_data_free(out);
    return st;
}
