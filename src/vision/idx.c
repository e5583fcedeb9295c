/* IDX image and label files (the MNIST format, http://yann.lecun.com/exdb/mnist/):
 *   images: u32 0x00000803, u32 n, u32 rows, u32 cols, then n*rows*cols bytes
 *   labels: u32 0x00000801, u32 n, then n bytes
 * all integers big-endian. Read through zlib, which takes gzipped and plain
 * files alike; written plain through atomic writes. */
#include "triad/io.h"
#include "triad/vision.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_SIDE 32768
#define IDX_CLASSES 10
#define IDX_CHUNK (1u << 20)

/* An open IDX file: its path (for messages) and zlib handle. */
typedef struct {
    const char *path;
    gzFile gz;
} idx_file;

static tr_status idx_open(idx_file *f, const char *path, tr_err *err)
{
    f->path = path;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    return TR_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* Reads up to len bytes; returns the count read (short only at the end of the
 * data), or -1 with err set on a read or decompression error. */
static int64_t idx_read(idx_file *f, void *buf, size_t len, tr_err *err)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got < IDX_CHUNK ? len - got : IDX_CHUNK;
        int r = gzread(f->gz, (unsigned char *)buf + got, (unsigned)want);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        /* a gzip stream cut short ends with Z_BUF_ERROR: a short count that
         * the caller reports as truncation */
        int code;
        const char *msg = gzerror(f->gz, &code);
        if (code == Z_ERRNO) {
            tr_err_set(err, TR_ERR_IO, "%s: read error: %s", f->path, strerror(errno));
            return -1;
        }
        if (code != Z_OK && code != Z_BUF_ERROR) {
            tr_err_set(err, TR_ERR_FORMAT, "%s: corrupted gzip data: %s", f->path, msg);
            return -1;
        }
        break;
    }
    return (int64_t)got;
}

/* Reads exactly len bytes of `what`, else a truncation error. */
static tr_status idx_read_all(idx_file *f, void *buf, size_t len,
                              const char *what, tr_err *err)
{
    int64_t got = idx_read(f, buf, len, err);
    if (got < 0)
        return err ? err->code : TR_ERR_IO;
    if ((size_t)got < len)
        return tr_err_set(err, TR_ERR_FORMAT,
                          "%s: truncated: expected %zu bytes of %s, got %lld",
                          f->path, len, what, (long long)got);
    return TR_OK;
}

/* The file must end here. */
static tr_status idx_expect_end(idx_file *f, tr_err *err)
{
    unsigned char b[64];
    int64_t got = idx_read(f, b, sizeof b, err);
    if (got < 0)
        return err ? err->code : TR_ERR_IO;
    if (got > 0)
        return tr_err_set(err, TR_ERR_FORMAT,
                          "%s: unexpected data after the last item", f->path);
    return TR_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Reads the header: count, and for images rows and cols. */
static tr_status idx_header(idx_file *f, int images, uint32_t *n, uint32_t *rows,
                            uint32_t *cols, tr_err *err)
{
    unsigned char h[16];
    size_t len = images ? 16 : 8;
    const char *kind = images ? "IDX image file" : "IDX label file";
    uint32_t want = images ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC;
    int64_t got = idx_read(f, h, len, err);
    if (got < 0)
        return err ? err->code : TR_ERR_IO;
    if (got >= 4 && be32(h) != want)
        return tr_err_set(err, TR_ERR_FORMAT,
                          "%s: bad magic number 0x%08x, expected 0x%08x (%s)",
                          f->path, be32(h), want, kind);
    if ((size_t)got < len)
        return tr_err_set(err, TR_ERR_FORMAT,
                          "%s: truncated: the %s header has %zu bytes, got %lld",
                          f->path, kind, len, (long long)got);
    *n = be32(h + 4);
    if (*n == 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: holds no items", f->path);
    if (images) {
        *rows = be32(h + 8);
        *cols = be32(h + 12);
        if (*rows < 1 || *rows > IDX_MAX_SIDE || *cols < 1 || *cols > IDX_MAX_SIDE)
            return tr_err_set(err, TR_ERR_FORMAT,
                              "%s: images of %u x %u pixels, expected 1 to %d on each side",
                              f->path, *rows, *cols, IDX_MAX_SIDE);
    }
    return TR_OK;
}

/* Reads n*hw pixels into x scaled to [0, 1], a chunk at a time. */
static tr_status idx_pixels(idx_file *f, float *x, int64_t total, tr_err *err)
{
    unsigned char *buf = tr_xmalloc(IDX_CHUNK);
    tr_status st = TR_OK;
    for (int64_t done = 0; done < total && st == TR_OK;) {
        size_t want = total - done < IDX_CHUNK ? (size_t)(total - done) : IDX_CHUNK;
        int64_t got = idx_read(f, buf, want, err);
        if (got < 0) {
            st = err ? err->code : TR_ERR_IO;
            break;
        }
        for (int64_t i = 0; i < got; i++)
            x[done + i] = (float)buf[i] * (1.0f / 255.0f);
        done += got;
        if ((size_t)got < want)
            st = tr_err_set(err, TR_ERR_FORMAT,
                            "%s: truncated: expected %lld bytes of pixel data, got %lld",
                            f->path, (long long)total, (long long)done);
    }
    free(buf);
    return st;
}

tr_status tr_images_load(tr_images *out, const char *images_path,
                         const char *labels_path, tr_err *err)
{
    memset(out, 0, sizeof *out);
    idx_file fi = {images_path, NULL}, fl = {labels_path, NULL};
    uint32_t n = 0, rows = 0, cols = 0, nl = 0;
    tr_images d;
    memset(&d, 0, sizeof d);
    tr_status st = idx_open(&fi, images_path, err);
    if (!st)
        st = idx_header(&fi, 1, &n, &rows, &cols, err);
    if (!st)
        st = idx_open(&fl, labels_path, err);
    if (!st)
        st = idx_header(&fl, 0, &nl, NULL, NULL, err);
    if (!st && nl != n)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s holds %u labels but %s holds %u images",
                        labels_path, nl, images_path, n);
    if (!st) {
        d.n = n;
        d.h = (int)rows;
        d.w = (int)cols;
        d.classes = IDX_CLASSES;
        d.y = malloc(n);
        d.x = malloc((size_t)n * rows * cols * sizeof(float));
        if (!d.x || !d.y)
            st = tr_err_set(err, TR_ERR_NOMEM, "%s: cannot allocate %u images of %u x %u",
                            images_path, n, rows, cols);
    }
    if (!st)
        st = idx_read_all(&fl, d.y, n, "labels", err);
    for (uint32_t i = 0; !st && i < n; i++)
        if (d.y[i] >= IDX_CLASSES)
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: label %u of item %u is not in 0..%d",
                            labels_path, (unsigned)d.y[i], i, IDX_CLASSES - 1);
    if (!st)
        st = idx_expect_end(&fl, err);
    if (!st)
        st = idx_pixels(&fi, d.x, (int64_t)n * rows * cols, err);
    if (!st)
        st = idx_expect_end(&fi, err);
    idx_close(&fi);
    idx_close(&fl);
    if (st) {
        tr_images_free(&d);
        return st;
    }
    *out = d;
    return TR_OK;
}

void tr_images_free(tr_images *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- save */

typedef struct {
    const tr_images *d;
    int images; /* 1: the image file, 0: the label file */
} idx_writer;

static tr_status idx_write(FILE *f, void *ctx, tr_err *err)
{
    (void)err;
    const idx_writer *w = ctx;
    const tr_images *d = w->d;
    unsigned char h[16];
    put_be32(h, w->images ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC);
    put_be32(h + 4, (uint32_t)d->n);
    put_be32(h + 8, (uint32_t)d->h);
    put_be32(h + 12, (uint32_t)d->w);
    fwrite(h, 1, w->images ? 16 : 8, f);
    if (!w->images) {
        fwrite(d->y, 1, (size_t)d->n, f);
        return TR_OK;
    }
    /* pixels rounded to the nearest of 0/255 .. 255/255, clamped */
    unsigned char buf[4096];
    int64_t total = d->n * d->h * d->w;
    for (int64_t done = 0; done < total;) {
        size_t k = 0;
        for (; k < sizeof buf && done < total; k++, done++) {
            float v = d->x[done] * 255.0f + 0.5f;
            buf[k] = (unsigned char)(!(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (int)v);
        }
        fwrite(buf, 1, k, f);
    }
    return TR_OK; /* tr_atomic_write checks the stream for write errors */
}

tr_status tr_images_save(const tr_images *d, const char *images_path,
                         const char *labels_path, tr_err *err)
{
    TR_ASSERT(d->n >= 1 && d->n <= UINT32_MAX && d->h >= 1 && d->w >= 1);
    idx_writer wi = {d, 1}, wl = {d, 0};
    tr_status st = tr_atomic_write(images_path, idx_write, &wi, err);
    if (!st)
        st = tr_atomic_write(labels_path, idx_write, &wl, err);
    return st;
}
