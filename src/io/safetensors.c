/* The safetensors format (https://huggingface.co/docs/safetensors), float32
 * only: writing tensors and string metadata (atomically, via atomic.c),
 * reading a whole file into memory with full validation of the header, and
 * saving / loading parameter sets under their PyTorch state_dict names.
 *
 * Layout written: u64 little-endian header length N; N bytes of JSON, a
 * "__metadata__" object first (omitted when there is no metadata) and then the
 * tensors in the order given, padded with spaces so that N is a multiple of 8
 * (the data then starts 8-byte aligned in the file); the tensors' bytes,
 * contiguous, in the same order, little-endian.
 *
 * Reading accepts any file the format allows for F32 tensors, with these
 * triad-specific rules: a 0-dim (scalar) tensor, shape [], becomes a tensor of
 * ndim 1 and shape (1); tensors of more than 4 dims are refused (TR_MAX_DIMS);
 * gaps between tensors and trailing bytes after the last one are tolerated
 * (the reference implementation refuses them; triad never writes them).
 * Not here: memory mapping (the file is read into memory), other dtypes. */
#include "triad/io.h"

#include <cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The reference implementation's limit: larger headers are refused before
 * they are read, so a corrupt length cannot make us allocate gigabytes. */
#define ST_MAX_HEADER 100000000u
#define ST_META_KEY "__metadata__"
/* Largest integer a JSON number (a double) holds exactly. */
#define ST_MAX_INT 9007199254740992.0

struct tr_st_file {
    char *path;
    cJSON *root;       /* the parsed header: names and metadata point into it */
    const cJSON *meta; /* the "__metadata__" object, or NULL */
    unsigned char *data; /* the data section, 64-byte aligned */
    size_t data_bytes;
    int n;
    const char **names; /* (n,) in file order */
    tr_tensor *tensors; /* (n,) views into data */
};

/* ---------------------------------------------------------------- helpers */

static const char *errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b[4];
    memcpy(b, &one, 4);
    return b[0] == 1;
}

static void put_u64_le(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64_le(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void swap_f32_bytes(unsigned char *p, size_t count)
{
    for (size_t i = 0; i < count; i++, p += 4) {
        unsigned char t0 = p[0], t1 = p[1];
        p[0] = p[3];
        p[1] = p[2];
        p[2] = t1;
        p[3] = t0;
    }
}

/* 1 when s (len bytes) is well-formed UTF-8 without NUL bytes (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). JSON text must be
 * UTF-8, and a NUL would silently cut a name short in C. */
static int valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        int k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i <= (size_t)k)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (int j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF)
                return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

static int valid_utf8_str(const char *s)
{
    return valid_utf8((const unsigned char *)s, strlen(s));
}

/* Shape as text, "(2600, 650)", "()" for 0 dims. */
static void shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, ")");
}

/* Number of elements of a shape, or -1 when it does not fit in int64. */
static int64_t shape_numel(const int64_t *shape, int ndim)
{
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0)
            return 0;
    int64_t p = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || p > INT64_MAX / 4 / shape[i])
            return -1;
        p *= shape[i];
    }
    return p;
}

/* A JSON integer written exactly (cJSON prints large doubles as %1.15g). */
static cJSON *json_int(uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* An exact non-negative integer from a JSON number, or -1. */
static int64_t json_uint(const cJSON *item)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_INT) || d != floor(d))
        return -1;
    return (int64_t)d;
}

/* ---------------------------------------------------------------- writing */

/* cJSON_AddItemTo* that free the item when it cannot be attached (including
 * when the item or the parent is NULL after a failed allocation). */
static int add_to_object(cJSON *obj, const char *key, cJSON *item)
{
    if (obj && item && cJSON_AddItemToObject(obj, key, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static int add_to_array(cJSON *arr, cJSON *item)
{
    if (arr && item && cJSON_AddItemToArray(arr, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

typedef struct {
    const char *header;
    size_t header_len, padded_len;
    const tr_st_entry *entries;
    int n;
} st_write_ctx;

static tr_status st_write_body(FILE *f, void *vctx, tr_err *err)
{
    (void)err; /* write errors are caught by tr_atomic_write's checks */
    const st_write_ctx *c = vctx;
    unsigned char len8[8];
    put_u64_le(len8, c->padded_len);
    fwrite(len8, 1, 8, f);
    fwrite(c->header, 1, c->header_len, f);
    for (size_t i = c->header_len; i < c->padded_len; i++)
        fputc(' ', f);
    int le = host_is_little_endian();
    for (int i = 0; i < c->n && !ferror(f); i++) {
        const tr_tensor *t = c->entries[i].t;
        size_t count = (size_t)t->size;
        if (count == 0)
            continue;
        if (le) {
            fwrite(t->data, sizeof(float), count, f);
            continue;
        }
        unsigned char chunk[4096];
        for (size_t j = 0; j < count;) {
            size_t m = count - j < sizeof chunk / 4 ? count - j : sizeof chunk / 4;
            memcpy(chunk, t->data + j, m * 4);
            swap_f32_bytes(chunk, m);
            fwrite(chunk, 4, m, f);
            j += m;
        }
    }
    return TR_OK;
}

tr_status tr_st_write(const char *path, const tr_st_entry *entries, int n,
                      const tr_meta *meta, int nmeta, tr_err *err)
{
    if (!path || !*path)
        return tr_err_set(err, TR_ERR_ARG, "safetensors write: empty path");
    if (n < 0 || nmeta < 0 || (n > 0 && !entries) || (nmeta > 0 && !meta))
        return tr_err_set(err, TR_ERR_ARG, "%s: bad tensor or metadata list (n=%d, nmeta=%d)",
                          path, n, nmeta);

    /* Validate everything before building the header. */
    for (int i = 0; i < n; i++) {
        const char *name = entries[i].name;
        const tr_tensor *t = entries[i].t;
        if (!name || !*name)
            return tr_err_set(err, TR_ERR_ARG, "%s: tensor %d has no name", path, i);
        if (strcmp(name, ST_META_KEY) == 0)
            return tr_err_set(err, TR_ERR_ARG, "%s: '%s' cannot be a tensor name", path, name);
        if (!valid_utf8_str(name))
            return tr_err_set(err, TR_ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, name);
        for (int j = 0; j < i; j++)
            if (strcmp(entries[j].name, name) == 0)
                return tr_err_set(err, TR_ERR_ARG, "%s: duplicate tensor name '%s'", path, name);
        if (!t || t->ndim < 1 || t->ndim > TR_MAX_DIMS)
            return tr_err_set(err, TR_ERR_ARG, "%s: tensor '%s' has %d dims, expected 1 to %d",
                              path, name, t ? t->ndim : 0, TR_MAX_DIMS);
        int64_t numel = shape_numel(t->shape, t->ndim);
        if (numel < 0 || numel != t->size) {
            char sb[128];
            shape_str(t->shape, t->ndim, sb, sizeof sb);
            return tr_err_set(err, TR_ERR_ARG, "%s: tensor '%s' has shape %s but size %lld",
                              path, name, sb, (long long)t->size);
        }
        if (t->size > 0 && !t->data)
            return tr_err_set(err, TR_ERR_ARG, "%s: tensor '%s' has no data", path, name);
    }
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return tr_err_set(err, TR_ERR_ARG, "%s: metadata entry %d has no key or no value", path, i);
        if (!valid_utf8_str(meta[i].key) || !valid_utf8_str(meta[i].value))
            return tr_err_set(err, TR_ERR_ARG, "%s: metadata '%s' is not valid UTF-8", path,
                              meta[i].key);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return tr_err_set(err, TR_ERR_ARG, "%s: duplicate metadata key '%s'", path,
                                  meta[i].key);
    }

    /* The header. Every cJSON item is attached to its parent as soon as it is
     * created, so one cJSON_Delete(root) frees everything on any failure. */
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && nmeta > 0) {
        cJSON *m = cJSON_CreateObject();
        ok = add_to_object(root, ST_META_KEY, m);
        for (int i = 0; ok && i < nmeta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const tr_tensor *t = entries[i].t;
        uint64_t bytes = (uint64_t)t->size * sizeof(float);
        cJSON *e = cJSON_CreateObject();
        ok = add_to_object(root, entries[i].name, e) &&
             cJSON_AddStringToObject(e, "dtype", "F32") != NULL;
        cJSON *shape = ok ? cJSON_CreateArray() : NULL;
        ok = ok && add_to_object(e, "shape", shape);
        for (int d = 0; ok && d < t->ndim; d++)
            ok = add_to_array(shape, json_int((uint64_t)t->shape[d]));
        cJSON *offs = ok ? cJSON_CreateArray() : NULL;
        ok = ok && add_to_object(e, "data_offsets", offs) &&
             add_to_array(offs, json_int(offset)) && add_to_array(offs, json_int(offset + bytes));
        offset += bytes;
    }
    char *header = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!header)
        return tr_err_set(err, TR_ERR_NOMEM, "%s: out of memory building the safetensors header", path);

    st_write_ctx c;
    c.header = header;
    c.header_len = strlen(header);
    c.padded_len = (c.header_len + 7) / 8 * 8;
    c.entries = entries;
    c.n = n;
    tr_status st = tr_atomic_write(path, st_write_body, &c, err);
    free(header);
    return st;
}

/* ---------------------------------------------------------------- reading */

void tr_st_close(tr_st_file *f)
{
    if (!f)
        return;
    free(f->path);
    cJSON_Delete(f->root);
    free(f->data);
    free(f->names);
    free(f->tensors);
    free(f);
}

/* One tensor's byte range, for the overlap check. */
typedef struct {
    uint64_t b, e;
    int idx;
} st_range;

static int range_cmp(const void *x, const void *y)
{
    const st_range *a = x, *b = y;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Validates one tensor entry and fills its shape and offsets. */
static tr_status parse_entry(const char *path, const cJSON *item, tr_tensor *t,
                             uint64_t *b, uint64_t *e, tr_err *err)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s': expected an object with dtype, "
                          "shape and data_offsets", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has no dtype string", path, name);
    if (strcmp(dtype->valuestring, "F32") != 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has dtype %s, triad reads only F32",
                          path, name, dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has no shape list", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TR_MAX_DIMS)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has %d dims, triad supports 0 to %d",
                          path, name, ndim, TR_MAX_DIMS);
    int64_t dims[TR_MAX_DIMS];
    int d = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, shape) {
        int64_t v = json_uint(x);
        if (v < 0)
            return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a "
                              "non-negative integer", path, name, d);
        dims[d++] = v;
    }
    int64_t numel = shape_numel(dims, ndim);
    char sb[128];
    shape_str(dims, ndim, sb, sizeof sb);
    if (numel < 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has shape %s, too large", path,
                          name, sb);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_uint(cJSON_GetArrayItem(offs, 0)) < 0 || json_uint(cJSON_GetArrayItem(offs, 1)) < 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s': data_offsets must be a list of "
                          "two non-negative integers [begin, end]", path, name);
    *b = (uint64_t)json_uint(cJSON_GetArrayItem(offs, 0));
    *e = (uint64_t)json_uint(cJSON_GetArrayItem(offs, 1));
    if (*b > *e)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end "
                          "before they begin", path, name, (unsigned long long)*b,
                          (unsigned long long)*e);
    if (*e - *b != (uint64_t)numel * 4)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' has shape %s (%llu bytes as F32) "
                          "but data_offsets [%llu, %llu] span %llu bytes", path, name, sb,
                          (unsigned long long)numel * 4, (unsigned long long)*b,
                          (unsigned long long)*e, (unsigned long long)(*e - *b));
    if (ndim == 0) { /* a scalar: triad tensors have at least one dim */
        dims[0] = 1;
        ndim = 1;
    }
    *t = tr_tensor_make(NULL, ndim, dims);
    return TR_OK;
}

/* Validates the parsed header against a data section of data_bytes bytes and
 * fills f's names, tensors (data still unset: offsets in ranges) and meta. */
static tr_status parse_header(tr_st_file *f, st_range **ranges_out, tr_err *err)
{
    const char *path = f->path;
    const cJSON *root = f->root;
    if (!cJSON_IsObject(root))
        return tr_err_set(err, TR_ERR_FORMAT, "%s: header is not a JSON object", path);

    int total = cJSON_GetArraySize(root);
    f->names = tr_xcalloc((size_t)total + 1, sizeof *f->names);
    f->tensors = tr_xcalloc((size_t)total + 1, sizeof *f->tensors);
    st_range *ranges = tr_xcalloc((size_t)total + 1, sizeof *ranges);
    *ranges_out = ranges;

    /* Duplicate keys are legal JSON for cJSON but ambiguous here. Names are
     * checked pairwise: headers hold tens to hundreds of tensors. */
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        for (const cJSON *p = root->child; p != item; p = p->next)
            if (strcmp(p->string, item->string) == 0)
                return tr_err_set(err, TR_ERR_FORMAT, "%s: header names '%s' twice", path,
                                  item->string);
        if (strcmp(item->string, ST_META_KEY) == 0) {
            if (!cJSON_IsObject(item))
                return tr_err_set(err, TR_ERR_FORMAT, "%s: %s must be an object of strings",
                                  path, ST_META_KEY);
            const cJSON *m;
            cJSON_ArrayForEach(m, item) {
                if (!cJSON_IsString(m))
                    return tr_err_set(err, TR_ERR_FORMAT, "%s: metadata '%s' is not a string",
                                      path, m->string);
                for (const cJSON *p = item->child; p != m; p = p->next)
                    if (strcmp(p->string, m->string) == 0)
                        return tr_err_set(err, TR_ERR_FORMAT, "%s: metadata names '%s' twice",
                                          path, m->string);
            }
            f->meta = item;
            continue;
        }
        int i = f->n;
        tr_status st = parse_entry(path, item, &f->tensors[i], &ranges[i].b, &ranges[i].e, err);
        if (st != TR_OK)
            return st;
        f->names[i] = item->string;
        ranges[i].idx = i;
        f->n++;
    }

    /* Truncation: report how much data the header promises. */
    uint64_t need = 0;
    int last = -1;
    for (int i = 0; i < f->n; i++)
        if (ranges[i].e > need) {
            need = ranges[i].e;
            last = i;
        }
    if (need > f->data_bytes)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: truncated: header says %llu bytes of tensor "
                          "data, file has %llu (tensor '%s' ends at %llu)", path,
                          (unsigned long long)need, (unsigned long long)f->data_bytes,
                          f->names[last], (unsigned long long)ranges[last].e);

    /* Overlaps: sort the non-empty ranges by start, compare neighbours. */
    st_range *sorted = tr_xmalloc(((size_t)f->n + 1) * sizeof *sorted);
    int m = 0;
    for (int i = 0; i < f->n; i++)
        if (ranges[i].e > ranges[i].b)
            sorted[m++] = ranges[i];
    qsort(sorted, (size_t)m, sizeof *sorted, range_cmp);
    for (int i = 1; i < m; i++)
        if (sorted[i].b < sorted[i - 1].e) {
            const st_range *a = &sorted[i - 1], *b = &sorted[i];
            tr_err_set(err, TR_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] "
                       "overlap", path, f->names[a->idx], (unsigned long long)a->b,
                       (unsigned long long)a->e, f->names[b->idx], (unsigned long long)b->b,
                       (unsigned long long)b->e);
            free(sorted);
            return TR_ERR_FORMAT;
        }
    free(sorted);
    return TR_OK;
}

/* Points the tensors into the data section. A tensor whose offset is not a
 * multiple of 4 (possible only in files with gaps) cannot be viewed as floats
 * in place; then all tensors are packed into a fresh aligned buffer. */
static tr_status place_tensors(tr_st_file *f, const st_range *ranges, tr_err *err)
{
    int aligned = 1;
    for (int i = 0; i < f->n; i++)
        if (ranges[i].b % 4 != 0)
            aligned = 0;
    if (!aligned) {
        size_t total = 0;
        for (int i = 0; i < f->n; i++)
            total += (size_t)(ranges[i].e - ranges[i].b);
        unsigned char *packed = aligned_alloc(64, (total + 63) / 64 * 64 + 64);
        if (!packed)
            return tr_err_set(err, TR_ERR_NOMEM, "%s: cannot allocate %zu bytes", f->path, total);
        size_t at = 0;
        for (int i = 0; i < f->n; i++) {
            size_t len = (size_t)(ranges[i].e - ranges[i].b);
            memcpy(packed + at, f->data + ranges[i].b, len);
            f->tensors[i].data = (float *)(void *)(packed + at);
            at += len;
        }
        free(f->data);
        f->data = packed;
        f->data_bytes = total;
    } else {
        for (int i = 0; i < f->n; i++)
            f->tensors[i].data = (float *)(void *)(f->data + ranges[i].b);
    }
    if (!host_is_little_endian())
        for (int i = 0; i < f->n; i++)
            swap_f32_bytes((unsigned char *)f->tensors[i].data, (size_t)f->tensors[i].size);
    return TR_OK;
}

/* Reads the file: the header into a NUL-terminated buffer, the data section
 * into a 64-byte aligned one (so that F32 tensors can be viewed in place). */
static tr_status read_file(tr_st_file *f, char **header_out, size_t *hlen_out, tr_err *err)
{
    char eb[128];
    const char *path = f->path;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tr_err_set(err, TR_ERR_IO, "%s: cannot open: %s", path, errstr(errno, eb, sizeof eb));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        return tr_err_set(err, TR_ERR_IO, "%s: cannot stat: %s", path, errstr(e, eb, sizeof eb));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_FORMAT, "%s: file is %llu bytes, a safetensors file has at "
                          "least 8", path, (unsigned long long)size);
    }
    unsigned char len8[8];
    if (fread(len8, 1, 8, fp) != 8) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_IO, "%s: cannot read the header length", path);
    }
    uint64_t hlen = get_u64_le(len8);
    if (hlen > ST_MAX_HEADER) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u "
                          "bytes (not a safetensors file?)", path, (unsigned long long)hlen,
                          ST_MAX_HEADER);
    }
    if (hlen > size - 8) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_FORMAT, "%s: header length %llu is larger than the %llu "
                          "bytes that follow it", path, (unsigned long long)hlen,
                          (unsigned long long)(size - 8));
    }
    uint64_t dbytes = size - 8 - hlen;
    if (dbytes > SIZE_MAX - 128) {
        fclose(fp);
        return tr_err_set(err, TR_ERR_NOMEM, "%s: %llu bytes of data do not fit in memory", path,
                          (unsigned long long)dbytes);
    }
    char *header = malloc((size_t)hlen + 1);
    f->data = aligned_alloc(64, ((size_t)dbytes + 63) / 64 * 64 + 64);
    if (!header || !f->data) {
        free(header);
        fclose(fp);
        return tr_err_set(err, TR_ERR_NOMEM, "%s: cannot allocate %llu bytes to read it", path,
                          (unsigned long long)size);
    }
    f->data_bytes = (size_t)dbytes;
    if (fread(header, 1, (size_t)hlen, fp) != (size_t)hlen ||
        fread(f->data, 1, (size_t)dbytes, fp) != (size_t)dbytes) {
        int e = ferror(fp) ? errno : 0;
        free(header);
        fclose(fp);
        if (e)
            return tr_err_set(err, TR_ERR_IO, "%s: cannot read: %s", path, errstr(e, eb, sizeof eb));
        return tr_err_set(err, TR_ERR_IO, "%s: file shrank while being read (expected %llu bytes)",
                          path, (unsigned long long)size);
    }
    fclose(fp);
    header[hlen] = '\0';
    *header_out = header;
    *hlen_out = (size_t)hlen;
    return TR_OK;
}

tr_status tr_st_open(tr_st_file **out, const char *path, tr_err *err)
{
    TR_ASSERT(out != NULL);
    *out = NULL;
    if (!path || !*path)
        return tr_err_set(err, TR_ERR_ARG, "safetensors open: empty path");
    tr_st_file *f = tr_xcalloc(1, sizeof *f);
    size_t plen = strlen(path);
    f->path = tr_xmalloc(plen + 1);
    memcpy(f->path, path, plen + 1);

    char *header = NULL;
    size_t hlen = 0;
    st_range *ranges = NULL;
    tr_status st = read_file(f, &header, &hlen, err);
    if (st == TR_OK && !valid_utf8((const unsigned char *)header, hlen))
        st = tr_err_set(err, TR_ERR_FORMAT, "%s: header is not valid UTF-8 text (not a "
                        "safetensors file?)", path);
    if (st == TR_OK) {
        const char *end = NULL;
        f->root = cJSON_ParseWithLengthOpts(header, hlen, &end, 0);
        size_t at = end ? (size_t)(end - header) : 0;
        if (f->root) { /* only whitespace (the padding) may follow the JSON */
            while (at < hlen && strchr(" \t\r\n", header[at]))
                at++;
        }
        if (!f->root || at != hlen)
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: header is not valid JSON (error at byte %zu "
                            "of %zu)", path, at, hlen);
    }
    free(header);
    if (st == TR_OK)
        st = parse_header(f, &ranges, err);
    if (st == TR_OK)
        st = place_tensors(f, ranges, err);
    free(ranges);
    if (st != TR_OK) {
        tr_st_close(f);
        return st;
    }
    *out = f;
    return TR_OK;
}

const char *tr_st_meta(const tr_st_file *f, const char *key)
{
    if (!f->meta || !key)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int tr_st_count(const tr_st_file *f)
{
    return f->n;
}

const char *tr_st_name(const tr_st_file *f, int i)
{
    TR_ASSERT(i >= 0 && i < f->n);
    return f->names[i];
}

const tr_tensor *tr_st_get(const tr_st_file *f, const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0)
            return &f->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------- parameter sets */

tr_status tr_params_save(const char *path, const tr_params *ps,
                         const tr_meta *meta, int nmeta, tr_err *err)
{
    tr_st_entry *e = tr_xcalloc((size_t)ps->n + 1, sizeof *e);
    for (int i = 0; i < ps->n; i++) {
        e[i].name = ps->p[i].name;
        e[i].t = &ps->p[i].value;
    }
    tr_status st = tr_st_write(path, e, ps->n, meta, nmeta, err);
    free(e);
    return st;
}

tr_status tr_params_load(const tr_st_file *f, tr_params *ps, tr_err *err)
{
    /* Check everything first so that ps is untouched on failure. */
    for (int i = 0; i < ps->n; i++) {
        const tr_param *p = &ps->p[i];
        char want[128], got[128];
        tr_tensor_shape_str(&p->value, want, sizeof want);
        const tr_tensor *t = tr_st_get(f, p->name);
        if (!t)
            return tr_err_set(err, TR_ERR_SHAPE, "%s: missing tensor '%s' (expected shape %s)",
                              f->path, p->name, want);
        if (!tr_tensor_same_shape(t, &p->value)) {
            tr_tensor_shape_str(t, got, sizeof got);
            return tr_err_set(err, TR_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                              f->path, p->name, got, want);
        }
        if (p->value.size > 0 && !p->value.data)
            return tr_err_set(err, TR_ERR_ARG, "%s: parameter '%s' has no storage to load into",
                              f->path, p->name);
    }
    for (int i = 0; i < f->n; i++)
        if (!tr_params_find(ps, f->names[i]))
            return tr_err_set(err, TR_ERR_SHAPE, "%s: unexpected tensor '%s' (the model has no "
                              "parameter of that name)", f->path, f->names[i]);
    for (int i = 0; i < ps->n; i++) {
        tr_param *p = &ps->p[i];
        const tr_tensor *t = tr_st_get(f, p->name);
        if (p->value.size > 0)
            memcpy(p->value.data, t->data, (size_t)p->value.size * sizeof(float));
    }
    return TR_OK;
}

tr_status tr_params_load_prefixed(const tr_st_file *f, const char *prefix, tr_params *ps, float *flat,
                                  tr_err *err)
{
    char name[160];
    for (int i = 0; i < ps->n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, ps->p[i].name);
        const tr_tensor *src = tr_st_get(f, name);
        int64_t size = ps->p[i].value.size;
        if (!src)
            return tr_err_set(err, TR_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
        if (src->size != size)
            return tr_err_set(err, TR_ERR_SHAPE, "%s: tensor '%s' has %lld values, expected %lld", f->path, name,
                              (long long)src->size, (long long)size);
        memcpy(flat ? flat : ps->p[i].value.data, src->data, (size_t)size * sizeof(float));
        if (flat)
            flat += size;
    }
    return TR_OK;
}
