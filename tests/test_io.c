/* io: safetensors round trips (bit-identical values, shapes, metadata), the
 * exact bytes of a tiny file, hand-written files (0-dim tensors, unaligned
 * offsets), every reader error, parameter-set save/load (all or nothing),
 * atomic writes (failing writer, short write, missing directory) and the
 * Python checker scripts/safetensors_check.py on triad's output. */
#include "harness.h"
#include "triad/core.h"
#include "triad/io.h"

#include <cJSON.h>

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static void put_u64_le(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Writes a safetensors file by hand: length prefix, header as given (no
 * padding), then ndata data bytes. */
static void write_raw(const char *path, const char *header, const void *data, size_t ndata)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + ndata + 1);
    assert_non_null(buf);
    put_u64_le(buf, hl);
    memcpy(buf + 8, header, hl);
    if (ndata)
        memcpy(buf + 8 + hl, data, ndata);
    th_write(path, buf, 8 + hl + ndata);
    free(buf);
}

/* Opens path expecting failure with code; the message must name the file and
 * contain expect. */
static void expect_open_error(const char *path, tr_status code, const char *expect)
{
    tr_st_file *f = (tr_st_file *)1;
    tr_err err;
    tr_err_clear(&err);
    tr_status st = tr_st_open(&f, path, &err);
    if (st != code || !strstr(err.msg, path) || !strstr(err.msg, expect))
        print_error("open %s: status %d (want %d), message '%s' (want '%s')\n", path, st, code,
                    err.msg, expect);
    assert_int_equal(st, code);
    assert_int_equal(err.code, code);
    assert_null(f);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, expect));
    assert_null(strchr(err.msg, '\n'));
}

/* Number of entries in dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* A fresh scratch directory under the test build directory. */
static char *scratch_dir(char *buf, size_t n, const char *name)
{
    th_tmp(buf, n, name);
    assert_int_equal(th_sh(NULL, 0, "rm -rf '%s' && mkdir -p '%s'", buf, buf), 0);
    return buf;
}

static void fill(tr_tensor *t, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 7);
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = tr_rng_normal(&r);
}

/* ---------------------------------------------------------------- round trip */

static void test_roundtrip(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_roundtrip.safetensors");

    int64_t sa[2] = {3, 4}, sb[1] = {7}, sc[4] = {2, 1, 3, 2}, sd[2] = {0, 3};
    float da[12], db[7], dc[12];
    tr_tensor a = tr_tensor_make(da, 2, sa), b = tr_tensor_make(db, 1, sb);
    tr_tensor c = tr_tensor_make(dc, 4, sc), d = tr_tensor_make(NULL, 2, sd);
    fill(&a, 1);
    fill(&c, 2);
    /* Values whose bits a sloppy writer would change: NaN payload, -0,
     * infinities, a denormal, the largest float. */
    uint32_t bits[7] = {0x7fc12345u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x00000001u,
                        0x7f7fffffu, 0x3f800000u};
    memcpy(db, bits, sizeof bits);

    char note[3000];
    size_t k = 0;
    while (k < 2000)
        k += (size_t)snprintf(note + k, sizeof note - k,
                              "line %zu: \"quoted\" back\\slash\ttab na\xc3\xafve "
                              "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80\n", k);
    tr_st_entry e[4] = {{"layer.weight", &a}, {"odd \"name\" \xc3\xa9", &b}, {"c", &c}, {"empty", &d}};
    tr_meta m[3] = {{"epoch", "3"}, {"note", note}, {"", "empty key"}};
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_st_write(path, e, 4, m, 3, &err), TR_OK);

    tr_st_file *f = NULL;
    if (tr_st_open(&f, path, &err) != TR_OK)
        print_error("%s\n", err.msg);
    assert_non_null(f);
    assert_int_equal(tr_st_count(f), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(tr_st_name(f, i), e[i].name);
        const tr_tensor *t = tr_st_get(f, e[i].name);
        assert_non_null(t);
        assert_true(tr_tensor_same_shape(t, e[i].t));
        assert_int_equal(t->size, e[i].t->size);
        assert_true((uintptr_t)t->data % 4 == 0);
        if (t->size)
            assert_memory_equal(t->data, e[i].t->data, (size_t)t->size * sizeof(float));
    }
    assert_string_equal(tr_st_meta(f, "epoch"), "3");
    assert_string_equal(tr_st_meta(f, "note"), note);
    assert_string_equal(tr_st_meta(f, ""), "empty key");
    assert_null(tr_st_meta(f, "missing"));
    assert_null(tr_st_get(f, "missing"));
    assert_null(tr_st_get(f, "__metadata__"));
    tr_st_close(f);

    /* No metadata, no tensors: still a valid file. */
    assert_int_equal(tr_st_write(path, NULL, 0, NULL, 0, &err), TR_OK);
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    assert_int_equal(tr_st_count(f), 0);
    assert_null(tr_st_meta(f, "epoch"));
    tr_st_close(f);
}

/* The exact bytes of the smallest interesting file, computed by hand. */
static void test_tiny_file_bytes(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_tiny.safetensors");
    float v[2] = {1.0f, 2.0f};
    int64_t s[1] = {2};
    tr_tensor t = tr_tensor_make(v, 1, s);
    tr_st_entry e = {"a", &t};
    tr_err err;
    assert_int_equal(tr_st_write(path, &e, 1, NULL, 0, &err), TR_OK);

    /* 54 bytes of JSON, padded with 2 spaces to 56 = 0x38. */
    static const char json[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    assert_int_equal(strlen(json), 56);
    unsigned char want[72];
    const unsigned char len8[8] = {0x38, 0, 0, 0, 0, 0, 0, 0};
    const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40};
    memcpy(want, len8, 8);
    memcpy(want + 8, json, 56);
    memcpy(want + 64, data, 8);
    size_t n = 0;
    char *got = th_read(path, &n);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(got, want, sizeof want);
    free(got);
}

/* The documented layout: N a multiple of 8, the JSON padded with spaces,
 * "__metadata__" first, tensors in the given order, contiguous offsets. */
static void test_header_layout(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_layout.safetensors");
    int64_t s1[2] = {2, 3}, s2[1] = {5}, s3[3] = {1, 1, 1};
    float d1[6] = {0}, d2[5] = {0}, d3[1] = {0};
    tr_tensor t1 = tr_tensor_make(d1, 2, s1), t2 = tr_tensor_make(d2, 1, s2);
    tr_tensor t3 = tr_tensor_make(d3, 3, s3);
    tr_st_entry e[3] = {{"zeta", &t1}, {"alpha", &t2}, {"mid", &t3}};
    tr_meta m[2] = {{"format", "pt"}, {"k", "v"}};
    tr_err err;
    assert_int_equal(tr_st_write(path, e, 3, m, 2, &err), TR_OK);

    size_t n = 0;
    char *buf = th_read(path, &n);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)(unsigned char)buf[i] << (8 * i);
    assert_int_equal(hl % 8, 0);
    assert_int_equal(n, 8 + hl + 4 * (6 + 5 + 1));
    assert_int_equal(buf[8], '{');
    char *header = buf + 8;
    size_t end = hl;
    while (end > 0 && header[end - 1] == ' ')
        end--;
    assert_true(hl - end < 8);
    assert_int_equal(header[end - 1], '}');

    cJSON *root = cJSON_ParseWithLength(header, hl);
    assert_non_null(root);
    assert_true(cJSON_IsObject(root));
    const cJSON *item = root->child;
    assert_string_equal(item->string, "__metadata__");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "format")->valuestring, "pt");
    int64_t at = 0;
    for (int i = 0; i < 3; i++) {
        item = item->next;
        assert_non_null(item);
        assert_string_equal(item->string, e[i].name);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(item, "dtype")->valuestring, "F32");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        assert_int_equal(cJSON_GetArraySize(shape), e[i].t->ndim);
        for (int d = 0; d < e[i].t->ndim; d++)
            assert_int_equal(cJSON_GetArrayItem(shape, d)->valueint, e[i].t->shape[d]);
        const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        assert_int_equal(cJSON_GetArrayItem(offs, 0)->valueint, at);
        at += 4 * e[i].t->size;
        assert_int_equal(cJSON_GetArrayItem(offs, 1)->valueint, at);
    }
    assert_null(item->next);
    cJSON_Delete(root);
    free(buf);
}

/* ---------------------------------------------------------------- hand-written files */

static void test_read_scalar_and_unaligned(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_scalar.safetensors");
    float vals[3] = {3.5f, -1.0f, 0.25f};
    write_raw(path,
              "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
              "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              vals, sizeof vals);
    tr_st_file *f = NULL;
    tr_err err;
    tr_err_clear(&err);
    if (tr_st_open(&f, path, &err) != TR_OK)
        print_error("%s\n", err.msg);
    assert_non_null(f);
    const tr_tensor *s = tr_st_get(f, "s");
    assert_non_null(s);
    assert_int_equal(s->ndim, 1);
    assert_int_equal(s->shape[0], 1);
    assert_int_equal(s->size, 1);
    assert_true(s->data[0] == 3.5f);
    const tr_tensor *v = tr_st_get(f, "v");
    assert_true(v->data[0] == -1.0f && v->data[1] == 0.25f);
    tr_st_close(f);

    /* A 2-byte gap makes the tensor start at an odd offset: the reader must
     * still hand out 4-byte aligned floats (it copies). Also: whitespace
     * padding other than spaces, extra fields in an entry, trailing bytes. */
    unsigned char raw[2 + 8 + 3];
    memset(raw, 0xAB, sizeof raw);
    float w[2] = {7.0f, -8.5f};
    memcpy(raw + 2, w, 8);
    write_raw(path,
              "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10],\"extra\":1}}\n\t ",
              raw, sizeof raw);
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    const tr_tensor *t = tr_st_get(f, "w");
    assert_non_null(t);
    assert_true((uintptr_t)t->data % 4 == 0);
    assert_true(t->data[0] == 7.0f && t->data[1] == -8.5f);
    tr_st_close(f);
}

/* ---------------------------------------------------------------- reader errors */

static void test_open_missing_and_short(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_does_not_exist.safetensors");
    unlink(path);
    expect_open_error(path, TR_ERR_IO, "cannot open");

    th_tmp(path, sizeof path, "io_short.safetensors");
    th_write(path, "\x10\0\0", 3);
    expect_open_error(path, TR_ERR_FORMAT, "file is 3 bytes");
    th_write(path, "", 0);
    expect_open_error(path, TR_ERR_FORMAT, "file is 0 bytes");

    /* Header length larger than the file. */
    unsigned char buf[24] = {0};
    put_u64_le(buf, 1000);
    memcpy(buf + 8, "{}", 2);
    th_write(path, buf, sizeof buf);
    expect_open_error(path, TR_ERR_FORMAT, "header length 1000 is larger than the 16 bytes");

    /* Header length beyond the 100 MB limit (not even allocated). */
    put_u64_le(buf, (uint64_t)1 << 40);
    th_write(path, buf, sizeof buf);
    expect_open_error(path, TR_ERR_FORMAT, "exceeds the limit");

    /* A directory is not a file. */
    char dir[1024];
    scratch_dir(dir, sizeof dir, "io_a_directory");
    expect_open_error(dir, TR_ERR_IO, "not a regular file");
}

typedef struct {
    const char *header;
    size_t ndata; /* zero bytes of data after the header */
    const char *expect;
} bad_case;

static void test_open_bad_headers(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{\"a\": ", 0, "not valid JSON"},
        {"", 0, "not valid JSON"},
        {"{} x", 0, "not valid JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"\"str\"", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\xff", 4, "not valid UTF-8"},
        /* wrong dtype */
        {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "tensor 'w' has dtype F16, triad reads only F32"},
        {"{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has no dtype"},
        {"{\"w\":[1,2]}", 0, "tensor 'w': expected an object"},
        /* shapes */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "tensor 'w' has 5 dims"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
         "tensor 'w': shape entry 0 is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
         "shape entry 0"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
         "tensor 'w' has no shape list"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}",
         8, "too large"},
        /* offsets */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
         "truncated: header says 16 bytes of tensor data, file has 8"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16,
         "tensor 'w' has shape (3) (12 bytes as F32) but data_offsets [0, 16] span 16 bytes"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
         "end before they begin"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
         "data_offsets must be a list of two"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
         "data_offsets must be a list of two"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
         "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
         "tensors 'a' [0, 16] and 'b' [4, 8] overlap"},
        /* duplicates and metadata */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "names 'a' twice"},
        {"{\"__metadata__\":{\"epoch\":3}}", 0, "metadata 'epoch' is not a string"},
        {"{\"__metadata__\":[\"x\"]}", 0, "__metadata__ must be an object"},
    };
    char path[1024];
    th_tmp(path, sizeof path, "io_bad.safetensors");
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].header, zeros, cases[i].ndata);
        expect_open_error(path, TR_ERR_FORMAT, cases[i].expect);
    }
}

static void test_open_truncated_and_garbage(void **state)
{
    (void)state;
    char path[1024], cut[1024];
    th_tmp(path, sizeof path, "io_full.safetensors");
    th_tmp(cut, sizeof cut, "io_cut.safetensors");
    float d[1000];
    int64_t s[2] = {100, 10};
    tr_tensor t = tr_tensor_make(d, 2, s);
    fill(&t, 5);
    tr_st_entry e[2] = {{"first", &t}, {"second", &t}};
    tr_err err;
    assert_int_equal(tr_st_write(path, e, 2, NULL, 0, &err), TR_OK);
    size_t n = 0;
    char *buf = th_read(path, &n);
    /* Cut in the data: the header promises 8000 bytes. */
    th_write(cut, buf, n / 2);
    expect_open_error(cut, TR_ERR_FORMAT, "truncated: header says 8000 bytes of tensor data");
    expect_open_error(cut, TR_ERR_FORMAT, "tensor 'second' ends at 8000");
    /* Cut inside the header. */
    th_write(cut, buf, 40);
    expect_open_error(cut, TR_ERR_FORMAT, "is larger than the 32 bytes that follow it");
    free(buf);

    /* Random bytes: never accepted, never a crash. Half of the runs get a
     * plausible header length so that the JSON parser sees the garbage. */
    tr_rng r;
    tr_rng_seed(&r, 99, 3);
    unsigned char g[4096];
    for (int run = 0; run < 40; run++) {
        for (size_t i = 0; i < sizeof g; i++)
            g[i] = (unsigned char)tr_rng_below(&r, 256);
        if (run % 2)
            put_u64_le(g, 1 + tr_rng_below(&r, 4000));
        if (run % 4 == 1)
            g[8] = '{';
        th_write(cut, g, sizeof g);
        tr_st_file *f = NULL;
        tr_err_clear(&err);
        assert_int_not_equal(tr_st_open(&f, cut, &err), TR_OK);
        assert_null(f);
        assert_non_null(strstr(err.msg, cut));
    }
}

/* ---------------------------------------------------------------- writer errors */

static void test_write_refuses_bad_input(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_refused.safetensors");
    unlink(path);
    float v[2] = {1, 2};
    int64_t s[1] = {2};
    tr_tensor t = tr_tensor_make(v, 1, s);
    tr_err err;
    tr_st_entry dup[2] = {{"x", &t}, {"x", &t}};
    assert_int_equal(tr_st_write(path, dup, 2, NULL, 0, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "duplicate tensor name 'x'"));
    assert_non_null(strstr(err.msg, path));
    tr_st_entry meta[1] = {{"__metadata__", &t}};
    assert_int_equal(tr_st_write(path, meta, 1, NULL, 0, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "__metadata__"));
    tr_meta dm[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(tr_st_write(path, &dup[0], 1, dm, 2, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "duplicate metadata key 'k'"));
    tr_st_entry bad_utf8[1] = {{"bad\xff", &t}};
    assert_int_equal(tr_st_write(path, bad_utf8, 1, NULL, 0, &err), TR_ERR_ARG);
    assert_false(th_exists(path));

    /* Into a directory that does not exist: the message names the path. */
    char nodir[1024];
    th_tmp(nodir, sizeof nodir, "io_no_such_dir/sub/model.safetensors");
    tr_err_clear(&err);
    assert_int_equal(tr_st_write(nodir, &dup[0], 1, NULL, 0, &err), TR_ERR_IO);
    assert_non_null(strstr(err.msg, nodir));
}

/* ---------------------------------------------------------------- parameter sets */

typedef struct {
    tr_arena a;
    tr_params ps;
} model;

/* A parameter set with the given names and shapes (ndim 1 or 2). */
static void model_make(model *m, int n, const char *const *names, const int64_t (*shapes)[2],
                       const int *ndims)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            tr_arena_plan(&m->a);
        else
            assert_int_equal(tr_arena_init(&m->a, m->a.cap, NULL), TR_OK);
        tr_params_init(&m->ps, n);
        for (int i = 0; i < n; i++)
            tr_params_add(&m->ps, &m->a, names[i], ndims[i], shapes[i], 0);
        if (pass == 0)
            tr_params_free(&m->ps);
    }
}

static void model_fill(model *m, float v)
{
    for (int i = 0; i < m->ps.n; i++)
        for (int64_t j = 0; j < m->ps.p[i].value.size; j++)
            m->ps.p[i].value.data[j] = v + (float)j;
}

static int model_all(const model *m, float v)
{
    for (int i = 0; i < m->ps.n; i++)
        for (int64_t j = 0; j < m->ps.p[i].value.size; j++)
            if (m->ps.p[i].value.data[j] != v + (float)j)
                return 0;
    return 1;
}

static void model_free(model *m)
{
    tr_params_free(&m->ps);
    tr_arena_free(&m->a);
}

static void test_params_save_load(void **state)
{
    (void)state;
    char path[1024];
    th_tmp(path, sizeof path, "io_params.safetensors");
    static const char *const names[3] = {"rnn.weight_ih_l0", "decoder.bias", "extra.weight"};
    const int64_t shapes[3][2] = {{8, 5}, {3, 0}, {2, 2}};
    const int nd[3] = {2, 1, 2};
    model src, dst;
    model_make(&src, 2, names, shapes, nd);
    fill(&src.ps.p[0].value, 11);
    fill(&src.ps.p[1].value, 12);
    tr_meta meta[1] = {{"step", "1200"}};
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_params_save(path, &src.ps, meta, 1, &err), TR_OK);

    tr_st_file *f = NULL;
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    assert_string_equal(tr_st_meta(f, "step"), "1200");

    /* Same model: values copied exactly. */
    model_make(&dst, 2, names, shapes, nd);
    model_fill(&dst, 100.0f);
    assert_int_equal(tr_params_load(f, &dst.ps, &err), TR_OK);
    for (int i = 0; i < 2; i++)
        assert_memory_equal(dst.ps.p[i].value.data, src.ps.p[i].value.data,
                            (size_t)src.ps.p[i].value.size * sizeof(float));
    model_free(&dst);

    /* Shape mismatch on the second parameter: nothing copied. */
    const int64_t other[3][2] = {{8, 5}, {4, 0}, {2, 2}};
    model_make(&dst, 2, names, other, nd);
    model_fill(&dst, 100.0f);
    assert_int_equal(tr_params_load(f, &dst.ps, &err), TR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "tensor 'decoder.bias' has shape (3), expected (4)"));
    assert_true(model_all(&dst, 100.0f));
    model_free(&dst);

    /* Model with a parameter the file lacks (checked last). */
    model_make(&dst, 3, names, shapes, nd);
    model_fill(&dst, 100.0f);
    assert_int_equal(tr_params_load(f, &dst.ps, &err), TR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "missing tensor 'extra.weight' (expected shape (2, 2))"));
    assert_true(model_all(&dst, 100.0f));
    model_free(&dst);

    /* File with a tensor the model lacks. */
    model_make(&dst, 1, names, shapes, nd);
    model_fill(&dst, 100.0f);
    assert_int_equal(tr_params_load(f, &dst.ps, &err), TR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "unexpected tensor 'decoder.bias'"));
    assert_true(model_all(&dst, 100.0f));
    model_free(&dst);

    tr_st_close(f);
    model_free(&src);
}

/* ---------------------------------------------------------------- atomic writes */

typedef struct {
    const char *text;
    size_t repeat;
    int fail;
} writer;

static tr_status write_text(FILE *f, void *ctx, tr_err *err)
{
    const writer *w = ctx;
    for (size_t i = 0; i < w->repeat; i++)
        fputs(w->text, f); /* errors deliberately ignored: the caller must catch them */
    if (w->fail)
        return tr_err_set(err, TR_ERR_FORMAT, "writer failed on purpose");
    return TR_OK;
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[1024], path[1100];
    scratch_dir(dir, sizeof dir, "io_atomic");
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    th_write_str(path, "old content");
    chmod(path, 0640);

    /* fn fails: old content stays, no temp file. */
    writer w = {"new content that must not appear ", 1000, 1};
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_atomic_write(path, write_text, &w, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "writer failed on purpose");
    char *got = th_read(path, NULL);
    assert_string_equal(got, "old content");
    free(got);
    assert_int_equal(count_prefixed(dir, "ckpt.bin.tmp."), 0);

    /* A short write (file size limit, like a full disk) that fn does not
     * notice: old content stays, no temp file, the message names the path. */
    struct rlimit old_lim, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    struct sigaction ign, old_sa;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGXFSZ, &ign, &old_sa), 0);
    lim = old_lim;
    lim.rlim_cur = 16384;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    w.fail = 0;
    tr_status st = tr_atomic_write(path, write_text, &w, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    assert_int_equal(sigaction(SIGXFSZ, &old_sa, NULL), 0);
    assert_int_equal(st, TR_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    got = th_read(path, NULL);
    assert_string_equal(got, "old content");
    free(got);
    assert_int_equal(count_prefixed(dir, "ckpt.bin.tmp."), 0);

    /* Success: replaced, mode kept, no temp file. */
    w.text = "new";
    w.repeat = 2;
    assert_int_equal(tr_atomic_write(path, write_text, &w, &err), TR_OK);
    got = th_read(path, NULL);
    assert_string_equal(got, "newnew");
    free(got);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(count_prefixed(dir, "ckpt.bin.tmp."), 0);

    /* A missing directory: fails, names the path. */
    char nodir[1200];
    snprintf(nodir, sizeof nodir, "%s/missing/ckpt.bin", dir);
    assert_int_equal(tr_atomic_write(nodir, write_text, &w, &err), TR_ERR_IO);
    assert_non_null(strstr(err.msg, nodir));
    assert_false(th_exists(nodir));

    /* A relative path (no directory part) works too. */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(tr_atomic_write("rel.bin", write_text, &w, &err), TR_OK);
    assert_int_equal(chdir(cwd), 0);
    snprintf(path, sizeof path, "%s/rel.bin", dir);
    got = th_read(path, NULL);
    assert_string_equal(got, "newnew");
    free(got);
}

/* ---------------------------------------------------------------- Python checker */

static void test_python_checker(void **state)
{
    (void)state;
    if (th_sh(NULL, 0, "python3 -c 1") != 0)
        skip();
    char script[1024], path[1024], out[8192];
    th_fixture(script, sizeof script, "../scripts/safetensors_check.py");
    th_tmp(path, sizeof path, "io_python.safetensors");
    int64_t s1[2] = {4, 3}, s2[1] = {6};
    float d1[12], d2[6];
    tr_tensor t1 = tr_tensor_make(d1, 2, s1), t2 = tr_tensor_make(d2, 1, s2);
    fill(&t1, 3);
    fill(&t2, 4);
    tr_st_entry e[2] = {{"encoder.weight", &t1}, {"encoder.bias", &t2}};
    tr_meta m[2] = {{"epoch", "2"}, {"note", "caf\xc3\xa9 \"x\"\n"}};
    tr_err err;
    assert_int_equal(tr_st_write(path, e, 2, m, 2, &err), TR_OK);
    int rc = th_sh(out, sizeof out, "python3 '%s' '%s'", script, path);
    if (rc != 0)
        print_error("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "encoder.weight\tF32\t[4, 3]"));
    assert_non_null(strstr(out, "encoder.bias\tF32\t[6]"));
    assert_non_null(strstr(out, "metadata keys: epoch, note"));

    /* read_safetensors (the reusable part) sees the bytes and metadata written. */
    char py[1024], code[2048];
    th_tmp(py, sizeof py, "io_python_read.py");
    snprintf(code, sizeof code,
             "import sys\n"
             "sys.path.insert(0, sys.argv[1])\n"
             "import safetensors_check as c\n"
             "t, m = c.read_safetensors(sys.argv[2])\n"
             "dtype, shape, data = t['encoder.bias']\n"
             "print(dtype, shape, data.hex(), m['note'] == 'caf\\u00e9 \"x\"\\n')\n");
    th_write_str(py, code);
    char sdir[1024];
    th_fixture(sdir, sizeof sdir, "../scripts");
    rc = th_sh(out, sizeof out, "python3 '%s' '%s' '%s'", py, sdir, path);
    if (rc != 0)
        print_error("%s\n", out);
    assert_int_equal(rc, 0);
    char want[256];
    size_t k = (size_t)snprintf(want, sizeof want, "F32 (6,) ");
    for (int i = 0; i < 6; i++) {
        uint32_t u;
        memcpy(&u, &d2[i], 4);
        for (int j = 0; j < 4; j++) /* little-endian bytes, whatever the host */
            k += (size_t)snprintf(want + k, sizeof want - k, "%02x", (unsigned)(u >> (8 * j)) & 0xffu);
    }
    snprintf(want + k, sizeof want - k, " True");
    if (!strstr(out, want))
        print_error("python printed '%s', want '%s'\n", out, want);
    assert_non_null(strstr(out, want));

    /* The checker can fail: a truncated file. */
    char cut[1024];
    th_tmp(cut, sizeof cut, "io_python_cut.safetensors");
    size_t n = 0;
    char *buf = th_read(path, &n);
    th_write(cut, buf, n - 4);
    free(buf);
    rc = th_sh(out, sizeof out, "python3 '%s' '%s'", script, cut);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "truncated"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tiny_file_bytes),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_read_scalar_and_unaligned),
        cmocka_unit_test(test_open_missing_and_short),
        cmocka_unit_test(test_open_bad_headers),
        cmocka_unit_test(test_open_truncated_and_garbage),
        cmocka_unit_test(test_write_refuses_bad_input),
        cmocka_unit_test(test_params_save_load),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_python_checker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
