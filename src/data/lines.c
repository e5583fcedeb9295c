/* Small text files read whole, one string per line. */
#include "triad/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tr_status tr_lines_read(const char *path, char ***lines, int64_t *n, tr_err *err)
{
    *lines = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return tr_err_set(err, TR_ERR_IO, "cannot open %s", path);
    int64_t cap = 1024;
    char **v = tr_xmalloc((size_t)cap * sizeof *v);
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t got;
    tr_status st = TR_OK;
    int64_t k = 0;
    while ((got = getline(&buf, &bcap, f)) >= 0) {
        size_t len = (size_t)got;
        if (len && buf[len - 1] == '\n')
            len--;
        if (len == 0) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: empty line", path, (long long)(k + 1));
            break;
        }
        if (memchr(buf, '\0', len)) {
            st = tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: NUL byte in the line", path, (long long)(k + 1));
            break;
        }
        if (k == cap) {
            cap *= 2;
            v = realloc(v, (size_t)cap * sizeof *v);
            TR_ASSERT(v != NULL);
        }
        v[k] = tr_xmalloc(len + 1);
        memcpy(v[k], buf, len);
        v[k][len] = '\0';
        k++;
    }
    if (!st && ferror(f))
        st = tr_err_set(err, TR_ERR_IO, "error reading %s", path);
    free(buf);
    fclose(f);
    if (!st && k == 0)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: no sentences", path);
    if (st) {
        for (int64_t i = 0; i < k; i++)
            free(v[i]);
        free(v);
        return st;
    }
    *lines = v;
    *n = k;
    return TR_OK;
}

void tr_lines_free(char **lines, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}
