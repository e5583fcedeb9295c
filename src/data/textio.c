/*
 * src/data/textio.c - file opening and line reading for the data module,
 * with error messages that name the file. Lines are read one at a time with
 * getline; nothing here holds a whole file.
 */
#include "data_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

tr_status tr_data_open(FILE **out, const char *path, tr_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    *out = f;
    return TR_OK;
}

int tr_data_read_line(FILE *f, char **buf, size_t *cap, size_t *len,
                      size_t *raw, const char *path, tr_err *err)
{
    errno = 0;
    ssize_t got = getline(buf, cap, f);
    if (got < 0) {
        if (ferror(f)) {
            int e = errno;
            tr_err_set(err, TR_ERR_IO, "%s: read error: %s", path, e ? strerror(e) : "unknown");
            return -1;
        }
        TR_ASSERT(errno != ENOMEM);
        return 0;
    }
    size_t n = (size_t)got;
    if (raw)
        *raw = n;
    if (n > 0 && (*buf)[n - 1] == '\n')
        n--;
    *len = n;
    return 1;
}

void *tr_data_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    TR_ASSERT(q != NULL);
    return q;
}
