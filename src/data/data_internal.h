/*
 * src/data/data_internal.h - helpers shared by the files of the data module
 * (tokenizer, vocabulary, batcher). Not part of the public API.
 */
#ifndef TRIAD_DATA_INTERNAL_H
#define TRIAD_DATA_INTERNAL_H

#include "triad/data.h"

#include <stdio.h>

/* Opens path for reading; on failure sets "path: cannot open: strerror". */
tr_status tr_data_open(FILE **out, const char *path, tr_err *err);

/* Reads one line with getline into *buf (growing it), strips the '\n'.
 * Returns 1 with *len set (and *raw, if not NULL, to the bytes consumed,
 * newline included), 0 at end of file, or -1 with err set on a read error
 * (the message names path). */
int tr_data_read_line(FILE *f, char **buf, size_t *cap, size_t *len,
                      size_t *raw, const char *path, tr_err *err);

/* Checks that s[0..n) is valid UTF-8 without NUL bytes; returns 0 when it is,
 * else the 1-based position of the first bad byte. */
size_t tr_data_utf8_bad(const char *s, size_t n);

/* realloc that asserts on failure (set-up code only). */
void *tr_data_xrealloc(void *p, size_t bytes);

#endif
