/* The LightRNN word table: which cell (row, column) of the R x C grid each
 * word occupies, in both directions, and its text form for checkpoints. */
#include "triad/lightrnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tr_status tr_word_table_init(tr_word_table *t, int V, tr_err *err)
{
    memset(t, 0, sizeof *t);
    if (V < 1)
        return tr_err_set(err, TR_ERR_ARG, "a word table needs at least one word, got %d", V);
    int R = (int)ceil(sqrt((double)V));
    while ((int64_t)R * R < V) /* guard against rounding in sqrt */
        R++;
    t->V = V;
    t->R = t->C = R;
    t->row = tr_xmalloc(sizeof(int32_t) * (size_t)V);
    t->col = tr_xmalloc(sizeof(int32_t) * (size_t)V);
    t->word = tr_xmalloc(sizeof(int32_t) * (size_t)R * R);
    for (int64_t k = 0; k < (int64_t)R * R; k++)
        t->word[k] = -1;
    for (int w = 0; w < V; w++) {
        t->row[w] = w / R;
        t->col[w] = w % R;
        t->word[w] = w;
    }
    return TR_OK;
}

void tr_word_table_free(tr_word_table *t)
{
    free(t->row);
    free(t->col);
    free(t->word);
    memset(t, 0, sizeof *t);
}

tr_status tr_word_table_set(tr_word_table *t, const int32_t *row,
                            const int32_t *col, tr_err *err)
{
    tr_status st = tr_alloc_check(row, col, t->V, t->R, t->C, err);
    if (st)
        return st;
    for (int64_t k = 0; k < (int64_t)t->R * t->C; k++)
        t->word[k] = -1;
    for (int w = 0; w < t->V; w++) {
        t->row[w] = row[w];
        t->col[w] = col[w];
        t->word[(int64_t)row[w] * t->C + col[w]] = w;
    }
    return TR_OK;
}

char *tr_word_table_to_string(const tr_word_table *t)
{
    size_t cap = (size_t)t->V * 16 + 1, k = 0;
    char *s = tr_xmalloc(cap);
    for (int w = 0; w < t->V; w++)
        k += (size_t)snprintf(s + k, cap - k, "%d %d\n", t->row[w], t->col[w]);
    s[k] = '\0';
    return s;
}

tr_status tr_word_table_from_string(tr_word_table *t, const char *s,
                                    const char *where, tr_err *err)
{
    int32_t *row = tr_xmalloc(sizeof(int32_t) * (size_t)t->V);
    int32_t *col = tr_xmalloc(sizeof(int32_t) * (size_t)t->V);
    tr_status st = TR_OK;
    const char *p = s;
    for (int w = 0; w < t->V && !st; w++) {
        char *end;
        long r = strtol(p, &end, 10);
        if (end == p || *end != ' ') {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: word table line %d is not 'row col'", where, w + 1);
            break;
        }
        p = end + 1;
        long c = strtol(p, &end, 10);
        if (end == p || *end != '\n') {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: word table line %d is not 'row col'", where, w + 1);
            break;
        }
        p = end + 1;
        row[w] = (int32_t)(r < 0 || r > t->R ? -1 : r);
        col[w] = (int32_t)(c < 0 || c > t->C ? -1 : c);
    }
    if (!st && *p)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: word table has more than %d lines", where, t->V);
    if (!st) {
        tr_err inner;
        if (tr_word_table_set(t, row, col, &inner))
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: bad word table: %s", where, inner.msg);
    }
    free(row);
    free(col);
    return st;
}
