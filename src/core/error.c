/* Status codes, error messages and always-on assertions. */
#include "triad/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

tr_status tr_err_set(tr_err *err, tr_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void tr_err_clear(tr_err *err)
{
    if (err) {
        err->code = TR_OK;
        err->msg[0] = '\0';
    }
}

const char *tr_status_str(tr_status code)
{
    switch (code) {
    case TR_OK: return "ok";
    case TR_ERR_ARG: return "bad argument";
    case TR_ERR_IO: return "i/o error";
    case TR_ERR_FORMAT: return "bad format";
    case TR_ERR_SHAPE: return "shape mismatch";
    case TR_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}

void tr_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "triad: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

void *tr_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    TR_ASSERT(p != NULL);
    return p;
}

void *tr_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    TR_ASSERT(p != NULL);
    return p;
}
