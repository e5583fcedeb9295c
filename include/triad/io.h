/*
 * triad/io.h - files: atomic writes (temp file, fsync, rename) and the
 * safetensors format (https://huggingface.co/docs/safetensors):
 *   8 bytes  little-endian u64 N, the header length
 *   N bytes  JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
 *                   ..., "__metadata__": {"key": "string value", ...}}
 *            padded with spaces to a multiple of 8
 *   rest     the tensors' bytes, little-endian, offsets relative to here
 * Only F32 tensors are written and read; others are refused with a message.
 * Parameter sets are saved under their PyTorch state_dict names, so
 * safetensors.torch.load_file + load_state_dict opens a triad checkpoint.
 */
#ifndef TRIAD_IO_H
#define TRIAD_IO_H

#include "triad/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a file atomically: fn writes the content to a temporary file in the
 * same directory, which is flushed, fsync'ed and renamed over path only if fn
 * returned TR_OK. On any failure path is left untouched and the temp file is
 * removed. */
typedef tr_status (*tr_write_fn)(FILE *f, void *ctx, tr_err *err);
tr_status tr_atomic_write(const char *path, tr_write_fn fn, void *ctx, tr_err *err);

/* A metadata entry: both strings are copied when written. */
typedef struct {
    const char *key;
    const char *value;
} tr_meta;

/* A tensor to write: name and float32 data with its shape. */
typedef struct {
    const char *name;
    const tr_tensor *t;
} tr_st_entry;

/* Writes tensors and metadata to path atomically. Tensor names must be
 * unique and not "__metadata__". */
tr_status tr_st_write(const char *path, const tr_st_entry *entries, int n,
                      const tr_meta *meta, int nmeta, tr_err *err);

/* A safetensors file read into memory and validated: header JSON well formed,
 * every tensor F32 with offsets inside the file, not overlapping, and
 * consistent with its shape. A 0-dim (scalar) tensor, shape [], is returned
 * with ndim 1 and shape (1); more than 4 dims is an error. Gaps between
 * tensors are tolerated (triad never writes them). */
typedef struct tr_st_file tr_st_file;

tr_status tr_st_open(tr_st_file **out, const char *path, tr_err *err);
void tr_st_close(tr_st_file *f);
/* Metadata value for key, or NULL. */
const char *tr_st_meta(const tr_st_file *f, const char *key);
int tr_st_count(const tr_st_file *f);
const char *tr_st_name(const tr_st_file *f, int i);
/* The tensor called name (data points into the file's memory), or NULL. */
const tr_tensor *tr_st_get(const tr_st_file *f, const char *name);

/* Writes every parameter's value under its name, plus metadata. */
tr_status tr_params_save(const char *path, const tr_params *ps,
                         const tr_meta *meta, int nmeta, tr_err *err);
/* Copies values from f into ps. Every parameter must be present with the same
 * shape and f must hold no other tensor; the message names the file and the
 * tensor that differs. ps is unchanged on failure. */
tr_status tr_params_load(const tr_st_file *f, tr_params *ps, tr_err *err);
/* Copies the tensor PREFIX + NAME of f for each parameter of ps into the
 * parameter's value or, when flat is not NULL, one after another into flat
 * (tr_params_count floats): the run-state files that hold several copies of
 * a parameter set ("current.", "best.", "ab.", ...). Other tensors of f are
 * ignored. Errors name f and the tensor: missing, or of another size. */
tr_status tr_params_load_prefixed(const tr_st_file *f, const char *prefix, tr_params *ps, float *flat,
                                  tr_err *err);

#ifdef __cplusplus
}
#endif
#endif
