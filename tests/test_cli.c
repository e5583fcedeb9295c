/* The triad command line, end to end: `triad lm train|eval|generate` run as a
 * subprocess (TRIAD_BIN) on tiny corpora (tests/fixtures/tiny_*.txt: 200 and
 * 30 made-up sentences) with tiny models (hidden 8), each run a few tens of
 * milliseconds.
 *
 * Covered: --help and unknown commands/options; nonsense option values;
 * bad corpora; existing checkpoints never replaced by a failed run; bad
 * checkpoints for eval, generate and --resume (missing, truncated, corrupted
 * header, another kind of file, extra/missing tensors, shapes that disagree
 * with the config, crafted with the io API); resume == uninterrupted (logs
 * and model bytes) after --max-steps stops and after SIGINT; determinism of
 * train, generate and eval and eval's token count; perplexity against
 * scripts/torch_lm.py when PyTorch is there (skipped otherwise).
 *
 * Every failure check asks for a non-zero exit, a message naming the file or
 * option and what was wrong, no sanitizer report, and nothing written. */
#include "harness.h"
#include "triad/core.h"
#include "triad/io.h"
#include "triad/lm.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- helpers */

#define OUTSZ (1 << 16)
static char out[OUTSZ]; /* stdout + stderr of the last command */

/* Paths shared by the tests, filled by the group setup. */
static char g_train[1024], g_valid[1024], g_golden[1024];
static char g_base[1024];  /* a finished 1-epoch model (2 layers, emb 6, hidden 8) */
static char g_mid[1024];   /* a run stopped at update 5 of 2 epochs (hidden 8), with .state */
static char g_mid6[1024];  /* the same stopped at update 5 but hidden 6 */

/* Options of every tiny training run: small batches and windows, one
 * thread, no progress output. */
#define TINY "--batch 4 --bptt 10 --threads 1 --quiet"

static void check_contains(const char *hay, const char *needle, const char *file, int line)
{
    if (!strstr(hay, needle))
        fail_msg("%s:%d: expected the output to contain \"%s\"; it was:\n%s", file, line, needle, hay);
}
#define assert_contains(h, n) check_contains((h), (n), __FILE__, __LINE__)

static void check_lacks(const char *hay, const char *needle, const char *file, int line)
{
    if (strstr(hay, needle))
        fail_msg("%s:%d: the output should not contain \"%s\"; it was:\n%s", file, line, needle, hay);
}
#define assert_lacks(h, n) check_lacks((h), (n), __FILE__, __LINE__)

/* A failed command: non-zero exit (not a signal), no sanitizer report, and
 * every needle (NULL-terminated list) in its output. */
static void check_failed(int rc, const char *file, int line, ...)
{
    if (rc == 0)
        fail_msg("%s:%d: expected a non-zero exit; got 0 with:\n%s", file, line, out);
    if (rc < 0 || rc >= 128)
        fail_msg("%s:%d: the command crashed (status %d):\n%s", file, line, rc, out);
    check_lacks(out, "Sanitizer", file, line);
    check_lacks(out, "runtime error", file, line);
    va_list ap;
    va_start(ap, line);
    for (const char *n; (n = va_arg(ap, const char *));)
        check_contains(out, n, file, line);
    va_end(ap);
}
#define assert_failed(rc, ...) check_failed((rc), __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)

static void check_ok(int rc, const char *file, int line)
{
    if (rc != 0)
        fail_msg("%s:%d: expected exit 0, got %d:\n%s", file, line, rc, out);
    check_lacks(out, "Sanitizer", file, line);
    check_lacks(out, "runtime error", file, line);
}
#define assert_ok(rc) check_ok((rc), __FILE__, __LINE__)

/* The output is one line (one trailing newline at most). */
static void check_one_line(const char *file, int line)
{
    const char *nl = strchr(out, '\n');
    if (!out[0] || (nl && nl[1]))
        fail_msg("%s:%d: expected a one-line message, got:\n%s", file, line, out);
}
#define assert_one_line() check_one_line(__FILE__, __LINE__)

/* A fresh, empty scratch directory TRIAD_TMP/cli_NAME into dir. */
static char *scratch(char *dir, size_t n, const char *name)
{
    char leaf[256];
    snprintf(leaf, sizeof leaf, "cli_%s", name);
    th_tmp(dir, n, leaf);
    assert_int_equal(th_sh(NULL, 0, "rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    return dir;
}

static char *join(char *buf, size_t n, const char *dir, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < n);
    return buf;
}

/* Number of entries in dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int k = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            k++;
    closedir(d);
    return k;
}

/* Nothing at all was written for the checkpoint dir/name: no model, no
 * .state, no temporary file. */
static void check_nothing_written(const char *dir, const char *name, const char *file, int line)
{
    if (count_prefixed(dir, name))
        fail_msg("%s:%d: a failed run left files named %s* in %s; output:\n%s", file, line, name, dir, out);
}
#define assert_nothing_written(dir, name) check_nothing_written((dir), (name), __FILE__, __LINE__)

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *b = th_read(from, &n);
    th_write(to, b, n);
    free(b);
}

/* A file's bytes, to compare after a command that must not touch it. */
typedef struct {
    char *data;
    size_t len;
} snapshot;

/* Snapshots still held when an assertion ends a test are freed by its
 * teardown, so that a failing test leaves no leak report. */
static char *g_held[16];

static snapshot snap(const char *path)
{
    snapshot s;
    s.data = th_read(path, &s.len);
    for (int i = 0; i < 16; i++)
        if (!g_held[i]) {
            g_held[i] = s.data;
            return s;
        }
    fail_msg("snap: too many snapshots held");
    return s;
}

static void check_unchanged(const snapshot *s, const char *path, const char *file, int line)
{
    if (!th_exists(path))
        fail_msg("%s:%d: %s was removed; output:\n%s", file, line, path, out);
    size_t n;
    char *now = th_read(path, &n);
    int same = n == s->len && !memcmp(now, s->data, n);
    free(now);
    if (!same)
        fail_msg("%s:%d: %s was changed (%zu bytes before, %zu after); output:\n%s", file, line, path, s->len, n, out);
}
#define assert_unchanged(s, path) check_unchanged((s), (path), __FILE__, __LINE__)

static void snap_free(snapshot *s)
{
    for (int i = 0; i < 16; i++)
        if (s->data && g_held[i] == s->data)
            g_held[i] = NULL;
    free(s->data);
    s->data = NULL;
}

static int free_held(void **state)
{
    (void)state;
    for (int i = 0; i < 16; i++) {
        free(g_held[i]);
        g_held[i] = NULL;
    }
    return 0;
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *x = th_read(a, &na), *y = th_read(b, &nb);
    int eq = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return eq;
}

static void check_files_equal(const char *a, const char *b, const char *file, int line)
{
    if (!files_equal(a, b))
        fail_msg("%s:%d: %s and %s differ", file, line, a, b);
}
#define assert_files_equal(a, b) check_files_equal((a), (b), __FILE__, __LINE__)

/* Deterministic bytes (an LCG), NULs included. */
static void write_garbage(const char *path, size_t n, uint64_t seed)
{
    unsigned char *b = malloc(n);
    assert_non_null(b);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        b[i] = (unsigned char)(s >> 56);
    }
    b[0] = 0xC3;   /* a lead byte followed by a non-continuation: never valid UTF-8 */
    b[1] = 0x28;
    b[n / 2] = 0;  /* and a NUL */
    th_write(path, b, n);
    free(b);
}

/* Copies the safetensors file src to dst through the io API, replacing the
 * metadata value of key (value NULL: the entry is dropped) and the tensor
 * tname (ndim 0: dropped; else zeros of the given shape). key and tname may
 * be NULL. */
static void craft(const char *src, const char *dst, const char *key, const char *value,
                  const char *tname, int ndim, const int64_t *shape)
{
    tr_st_file *f = NULL;
    tr_err err;
    tr_err_clear(&err);
    if (tr_st_open(&f, src, &err))
        fail_msg("craft: %s", err.msg);
    int n = tr_st_count(f), k = 0;
    tr_st_entry *e = calloc((size_t)n, sizeof *e);
    assert_non_null(e);
    float *buf = NULL;
    tr_tensor repl;
    for (int i = 0; i < n; i++) {
        const char *name = tr_st_name(f, i);
        if (tname && !strcmp(name, tname)) {
            if (ndim == 0)
                continue;
            int64_t size = 1;
            for (int d = 0; d < ndim; d++)
                size *= shape[d];
            buf = calloc((size_t)size, sizeof(float));
            assert_non_null(buf);
            repl = tr_tensor_make(buf, ndim, shape);
            e[k].name = name;
            e[k++].t = &repl;
        } else {
            e[k].name = name;
            e[k++].t = tr_st_get(f, name);
        }
    }
    static const char *keys[] = {"triad.model", "triad.config", "triad.vocab", "triad.step", "triad.train"};
    tr_meta meta[8];
    int nm = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = tr_st_meta(f, keys[i]);
        if (key && !strcmp(key, keys[i]))
            v = value;
        if (v)
            meta[nm++] = (tr_meta){keys[i], v};
    }
    if (tr_st_write(dst, e, k, meta, nm, &err))
        fail_msg("craft: %s", err.msg);
    free(buf);
    free(e);
    tr_st_close(f);
}

/* The config of a checkpoint with one field changed, as JSON (malloc'ed). */
static char *config_with(const char *ckpt, const char *field, int value)
{
    tr_st_file *f = NULL;
    tr_err err;
    tr_err_clear(&err);
    if (tr_st_open(&f, ckpt, &err))
        fail_msg("config_with: %s", err.msg);
    tr_lm_config c;
    if (tr_lm_config_from_json(&c, tr_st_meta(f, "triad.config"), ckpt, &err))
        fail_msg("config_with: %s", err.msg);
    tr_st_close(f);
    if (!strcmp(field, "hidden"))
        c.hidden = value;
    else if (!strcmp(field, "vocab_size"))
        c.vocab_size = value;
    else if (!strcmp(field, "layers"))
        c.layers = value;
    else
        fail_msg("config_with: unknown field %s", field);
    return tr_lm_config_to_json(&c);
}

/* A tensor's shape in a checkpoint (ndim returned, shape filled). */
static int tensor_shape(const char *ckpt, const char *name, int64_t *shape)
{
    tr_st_file *f = NULL;
    tr_err err;
    tr_err_clear(&err);
    if (tr_st_open(&f, ckpt, &err))
        fail_msg("tensor_shape: %s", err.msg);
    const tr_tensor *t = tr_st_get(f, name);
    assert_non_null(t);
    int nd = t->ndim;
    for (int d = 0; d < nd; d++)
        shape[d] = t->shape[d];
    tr_st_close(f);
    return nd;
}

/* Reads a training log (step,epoch,loss,lr,grad_norm,valid_ppl lines) and
 * returns the step of the first evaluation line (the updates in epoch 1)
 * and the number of lines. */
static int64_t steps_in_first_epoch(const char *csv, int *nlines)
{
    char *s = th_read(csv, NULL);
    int64_t first = -1;
    int k = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"), k++) {
        long long step;
        int epoch;
        double loss, lr, gn, ppl;
        assert_int_equal(sscanf(line, "%lld,%d,%lf,%lf,%lf,%lf", &step, &epoch, &loss, &lr, &gn, &ppl), 6);
        if (ppl > 0 && first < 0)
            first = step;
    }
    free(s);
    if (nlines)
        *nlines = k;
    return first;
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    (void)state;
    th_fixture(g_train, sizeof g_train, "fixtures/tiny_train.txt");
    th_fixture(g_valid, sizeof g_valid, "fixtures/tiny_valid.txt");
    th_fixture(g_golden, sizeof g_golden, "golden/lm_tiny.safetensors");
    char dir[1024];
    scratch(dir, sizeof dir, "shared");
    join(g_base, sizeof g_base, dir, "base.st");
    join(g_mid, sizeof g_mid, dir, "mid.st");
    join(g_mid6, sizeof g_mid6, dir, "mid6.st");
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                      " --emb 6 --hidden 8 --layers 2 --epochs 1 --seed 3",
                      g_train, g_valid, g_base);
    if (rc) {
        fprintf(stderr, "setup: training the base model failed (%d):\n%s", rc, out);
        return -1;
    }
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                  " --hidden 8 --epochs 2 --max-steps 5 --seed 4",
                  g_train, g_valid, g_mid);
    if (rc) {
        fprintf(stderr, "setup: training the stopped model failed (%d):\n%s", rc, out);
        return -1;
    }
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                  " --hidden 6 --epochs 2 --max-steps 5 --seed 4",
                  g_train, g_valid, g_mid6);
    if (rc) {
        fprintf(stderr, "setup: training the second stopped model failed (%d):\n%s", rc, out);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- 1. help */

static void test_help(void **state)
{
    (void)state;
    int rc = th_triad(out, OUTSZ, "--help");
    assert_ok(rc);
    assert_contains(out, "usage: triad");
    assert_contains(out, "lm");

    rc = th_triad(out, OUTSZ, "--version");
    assert_ok(rc);
    assert_contains(out, "triad ");

    rc = th_triad(out, OUTSZ, "lm --help");
    assert_ok(rc);
    assert_contains(out, "train");
    assert_contains(out, "eval");
    assert_contains(out, "generate");

    rc = th_triad(out, OUTSZ, "lm train --help");
    assert_ok(rc);
    static const char *train_opts[] = {"--train", "--valid", "--output", "--resume", "--force", "--vocab",
                                       "--emb", "--hidden", "--layers", "--dropout", "--bptt", "--batch",
                                       "--epochs", "--optim", "--lr", "--clip", "--seed", "--threads",
                                       "--max-steps", "--log", "--test", "--help"};
    for (size_t i = 0; i < sizeof train_opts / sizeof train_opts[0]; i++)
        assert_contains(out, train_opts[i]);

    rc = th_triad(out, OUTSZ, "lm eval --help");
    assert_ok(rc);
    assert_contains(out, "--model");
    assert_contains(out, "--text");
    assert_contains(out, "--batch");
    assert_contains(out, "--bptt");

    rc = th_triad(out, OUTSZ, "lm generate -h");
    assert_ok(rc);
    assert_contains(out, "--model");
    assert_contains(out, "--prime");
    assert_contains(out, "--length");
    assert_contains(out, "--temperature");
    assert_contains(out, "--seed");
}

static void test_unknown_command_and_options(void **state)
{
    (void)state;
    /* no command at all: usage on stderr, non-zero */
    int rc = th_triad(out, OUTSZ, "");
    assert_failed(rc, "usage");

    /* the first line names the unknown command (the usage follows) */
    rc = th_triad(out, OUTSZ, "frobnicate");
    assert_failed(rc, "frobnicate");
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_contains(out, "unknown command 'frobnicate'");

    rc = th_triad(out, OUTSZ, "lm frobnicate");
    assert_failed(rc, "unknown subcommand 'frobnicate'");

    rc = th_triad(out, OUTSZ, "lm");
    assert_failed(rc, "usage");

    static const char *sub[] = {"train", "eval", "generate"};
    for (int i = 0; i < 3; i++) {
        rc = th_triad(out, OUTSZ, "lm %s --frobnicate 3", sub[i]);
        assert_failed(rc, "--frobnicate", "unknown option");
        assert_one_line();
        rc = th_triad(out, OUTSZ, "lm %s stray", sub[i]);
        assert_failed(rc, "'stray'");
        assert_one_line();
        rc = th_triad(out, OUTSZ, "lm %s --threads", sub[i]);
        assert_failed(rc, "--threads", "needs a value");
        assert_one_line();
    }
    /* a flag given a value */
    rc = th_triad(out, OUTSZ, "lm train --force=1");
    assert_failed(rc, "--force", "takes no value");
    assert_one_line();
    /* required options */
    rc = th_triad(out, OUTSZ, "lm eval --model x.st");
    assert_failed(rc, "--text");
    rc = th_triad(out, OUTSZ, "lm generate --length 3");
    assert_failed(rc, "--model");
    rc = th_triad(out, OUTSZ, "lm train --train a --valid b");
    assert_failed(rc, "--output");
}

/* ---------------------------------------------------------------- 2. option values */

static void test_nonsense_options(void **state)
{
    (void)state;
    char dir[1024], o[1024];
    scratch(dir, sizeof dir, "opts");
    join(o, sizeof o, dir, "bad.st");
    static const struct {
        const char *args, *option, *value;
    } cases[] = {
        {"--hidden 0", "--hidden", "0"},
        {"--hidden -3", "--hidden", "-3"},
        {"--hidden 99999999999", "--hidden", "99999999999"},
        {"--hidden 8x", "--hidden", "8x"},
        {"--lr -0.1", "--lr", "-0.1"},
        {"--lr abc", "--lr", "abc"},
        {"--lr 0", "--lr", "0"},
        {"--lr 1e39", "--lr", "--lr"},   /* overflows a float: inf */
        {"--lr nan", "--lr", "nan"},
        {"--dropout 1.5", "--dropout", "1.5"},
        {"--dropout -0.1", "--dropout", "-0.1"},
        {"--layers 0", "--layers", "0"},
        {"--layers 9", "--layers", "9"},
        {"--batch 0", "--batch", "0"},
        {"--bptt 0", "--bptt", "0"},
        {"--vocab 2", "--vocab", "2"},
        {"--epochs 0", "--epochs", "0"},
        {"--optim rmsprop", "--optim", "rmsprop"},
        {"--clip -1", "--clip", "-1"},
        {"--clip 1e39", "--clip", "--clip"},
        {"--decay 0.5", "--decay", "0.5"},
        {"--momentum 1", "--momentum", "1"},
        {"--weight-decay -1", "--weight-decay", "-1"},
        {"--emb -1", "--emb", "-1"},
        {"--min-count 0", "--min-count", "0"},
        {"--seed -1", "--seed", "-1"},
        {"--threads 0", "--threads", "0"},
        {"--max-steps -1", "--max-steps", "-1"},
        {"--max-time -5", "--max-time", "-5"},
        {"--save-every -1", "--save-every", "-1"},
        {"--eval-batch 0", "--eval-batch", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 %s",
                          g_train, g_valid, o, cases[i].args);
        assert_failed(rc, cases[i].option, cases[i].value);
        assert_one_line();
        assert_nothing_written(dir, "bad.st");
    }
    /* lanes that the corpus cannot fill */
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' --threads 1 --quiet --batch 500",
                      g_train, g_valid, o);
    assert_failed(rc, g_train, "500");
    assert_nothing_written(dir, "bad.st");
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --eval-batch 100",
                  g_train, g_valid, o);
    assert_failed(rc, g_valid, "100");
    assert_nothing_written(dir, "bad.st");

    /* eval and generate check theirs too */
    static const struct {
        const char *cmd, *args, *option;
    } other[] = {
        {"eval", "--batch 0", "--batch"},
        {"eval", "--bptt 0", "--bptt"},
        {"eval", "--threads abc", "--threads"},
        {"generate", "--length 0", "--length"},
        {"generate", "--temperature 0", "--temperature"},
        {"generate", "--temperature -1", "--temperature"},
        {"generate", "--seed x", "--seed"},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (!strcmp(other[i].cmd, "eval"))
            rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s' %s", g_base, g_valid, other[i].args);
        else /* generate has no --text */
            rc = th_triad(out, OUTSZ, "lm generate --model '%s' %s", g_base, other[i].args);
        assert_failed(rc, other[i].option);
        assert_one_line();
    }
}

/* ---------------------------------------------------------------- 3. bad corpora */

typedef struct {
    char dir[1024];
    char missing[1024], empty[1024], blank[1024], garbage[1024], badutf[1024], nul[1024];
} bad_corpora;

static void make_bad_corpora(bad_corpora *b, const char *name)
{
    scratch(b->dir, sizeof b->dir, name);
    join(b->missing, sizeof b->missing, b->dir, "no_such_file.txt");
    join(b->empty, sizeof b->empty, b->dir, "empty.txt");
    join(b->blank, sizeof b->blank, b->dir, "blank.txt");
    join(b->garbage, sizeof b->garbage, b->dir, "garbage.bin");
    join(b->badutf, sizeof b->badutf, b->dir, "badutf.txt");
    join(b->nul, sizeof b->nul, b->dir, "nul.txt");
    th_write(b->empty, "", 0);
    th_write_str(b->blank, "\n\n   \n\t\n\n");
    write_garbage(b->garbage, 4096, 99);
    th_write_str(b->badutf, "the cat sees the dog .\nthe dog sees the cat .\nthe bird \xff\xfe sings .\nmore words here .\n");
    th_write(b->nul, "the cat sleeps .\nthe dog\0 runs .\nok .\n", 38);
}

static void test_bad_training_corpora(void **state)
{
    (void)state;
    bad_corpora b;
    make_bad_corpora(&b, "corpora");
    char o[1024];
    join(o, sizeof o, b.dir, "out.st");
    const char *fmt = "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --epochs 1";
    int rc;

    rc = th_triad(out, OUTSZ, fmt, b.missing, g_valid, o);
    assert_failed(rc, b.missing, "cannot open");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.empty, g_valid, o);
    assert_failed(rc, b.empty, "empty");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.blank, g_valid, o);
    assert_failed(rc, b.blank, "blank");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.garbage, g_valid, o);
    assert_failed(rc, b.garbage, ":1:", "UTF-8");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.badutf, g_valid, o);
    assert_failed(rc, b.badutf, ":3", "UTF-8");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.nul, g_valid, o);
    assert_failed(rc, b.nul, ":2", "NUL");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, b.dir, g_valid, o); /* a directory */
    assert_failed(rc, b.dir);
    assert_nothing_written(b.dir, "out.st");

    /* the same files as --valid: refused before any update is saved */
    rc = th_triad(out, OUTSZ, fmt, g_train, b.missing, o);
    assert_failed(rc, b.missing, "cannot open");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, g_train, b.empty, o);
    assert_failed(rc, b.empty, "empty");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, g_train, b.blank, o);
    assert_failed(rc, b.blank, "blank");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, g_train, b.garbage, o);
    assert_failed(rc, b.garbage, "UTF-8");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, g_train, b.badutf, o);
    assert_failed(rc, b.badutf, ":3", "UTF-8");
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, fmt, g_train, b.nul, o);
    assert_failed(rc, b.nul, ":2", "NUL");
    assert_nothing_written(b.dir, "out.st");

    /* --valid not given */
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --output '%s' " TINY, g_train, o);
    assert_failed(rc, "--valid");
    assert_one_line();
    assert_nothing_written(b.dir, "out.st");
    rc = th_triad(out, OUTSZ, "lm train --valid '%s' --output '%s' " TINY, g_valid, o);
    assert_failed(rc, "--train");
    assert_nothing_written(b.dir, "out.st");

    /* an unwritable --log is refused before training */
    char log[1024];
    join(log, sizeof log, b.dir, "no_dir/train.csv");
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --log '%s'",
                  g_train, g_valid, o, log);
    assert_failed(rc, log, "--log");
    assert_nothing_written(b.dir, "out.st");
}

static void test_bad_eval_texts(void **state)
{
    (void)state;
    bad_corpora b;
    make_bad_corpora(&b, "texts");
    const char *fmt = "lm eval --model '%s' --text '%s'";
    int rc = th_triad(out, OUTSZ, fmt, g_base, b.missing);
    assert_failed(rc, b.missing, "cannot open");
    rc = th_triad(out, OUTSZ, fmt, g_base, b.empty);
    assert_failed(rc, b.empty, "empty");
    rc = th_triad(out, OUTSZ, fmt, g_base, b.blank);
    assert_failed(rc, b.blank, "blank");
    rc = th_triad(out, OUTSZ, fmt, g_base, b.garbage);
    assert_failed(rc, b.garbage, "UTF-8");
    rc = th_triad(out, OUTSZ, fmt, g_base, b.badutf);
    assert_failed(rc, b.badutf, ":3", "UTF-8");
    rc = th_triad(out, OUTSZ, fmt, g_base, b.nul);
    assert_failed(rc, b.nul, ":2", "NUL");
    /* more lanes than lines */
    rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s' --batch 100", g_base, g_valid);
    assert_failed(rc, g_valid, "100");
    /* --prime with invalid UTF-8 */
    rc = th_triad(out, OUTSZ, "lm generate --model '%s' --prime \"$(printf 'the \\377 cat')\"", g_base);
    assert_failed(rc, "--prime", "UTF-8");
}

/* ---------------------------------------------------------------- 4. no overwrite */

static void test_failed_runs_keep_existing_checkpoint(void **state)
{
    (void)state;
    char dir[1024], o[1024], ostate[1024], badtrain[1024];
    scratch(dir, sizeof dir, "keep");
    join(o, sizeof o, dir, "model.st");
    join(ostate, sizeof ostate, dir, "model.st.state");
    join(badtrain, sizeof badtrain, dir, "bad.txt");
    th_write_str(badtrain, "one line .\ntwo \xc3 line .\n");
    const char *base = "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --epochs 1";
    int rc = th_triad(out, OUTSZ, base, g_train, g_valid, o);
    assert_ok(rc);
    assert_true(th_exists(o) && th_exists(ostate));
    snapshot m = snap(o), s = snap(ostate);

    /* (a) no --force: refused, pointing at --resume and --force */
    rc = th_triad(out, OUTSZ, base, g_train, g_valid, o);
    assert_failed(rc, o, "exists", "--resume", "--force");
    assert_one_line();
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    assert_int_equal(count_prefixed(dir, "model.st"), 2);

    /* (b) --force with a bad --train, a missing one, a bad --valid, a bad option */
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --force",
                  badtrain, g_valid, o);
    assert_failed(rc, badtrain, ":2");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    rc = th_triad(out, OUTSZ, "lm train --train '%s/nope.txt' --valid '%s' --output '%s' " TINY " --force",
                  dir, g_valid, o);
    assert_failed(rc, "nope.txt");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --force",
                  g_train, badtrain, o);
    assert_failed(rc, badtrain, ":2");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --clip -1 --force",
                  g_train, g_valid, o);
    assert_failed(rc, "--clip");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);

    /* (c) --force and a learning rate that makes the first updates blow up */
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                  " --hidden 8 --epochs 1 --force --lr 1e30 --clip 0",
                  g_train, g_valid, o);
    assert_failed(rc, "diverged", "--lr");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    /* a rate whose losses stay finite but whose validation perplexity does not */
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                  " --hidden 8 --epochs 1 --force --lr 1e10 --clip 0",
                  g_train, g_valid, o);
    assert_failed(rc, "diverged", "--lr");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    assert_int_equal(count_prefixed(dir, "model.st"), 2); /* no temporary file left */
    snap_free(&m);
    snap_free(&s);
}

/* A bad --test file is only read after training; a run that will fail on it
 * must not first replace the checkpoint it was given with --force. */
static void test_bad_test_file_fails_before_overwriting(void **state)
{
    (void)state;
    char dir[1024], o[1024], ostate[1024];
    scratch(dir, sizeof dir, "keep_test");
    join(o, sizeof o, dir, "model.st");
    join(ostate, sizeof ostate, dir, "model.st.state");
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --epochs 1",
                      g_train, g_valid, o);
    assert_ok(rc);
    snapshot m = snap(o), s = snap(ostate);
    rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                  " --hidden 8 --epochs 1 --seed 2 --force --test '%s/missing_test.txt'",
                  g_train, g_valid, o, dir);
    assert_failed(rc, "missing_test.txt");
    assert_unchanged(&m, o);
    assert_unchanged(&s, ostate);
    snap_free(&m);
    snap_free(&s);
}

/* An --output in a directory that does not exist cannot be saved: that must
 * be found before training (as an unwritable --log is), not after the first
 * epoch of updates. */
static void test_unwritable_output_fails_before_training(void **state)
{
    (void)state;
    char dir[1024], o[1024], log[1024];
    scratch(dir, sizeof dir, "nodir");
    join(o, sizeof o, dir, "no_such_dir/model.st");
    join(log, sizeof log, dir, "train.csv");
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --epochs 1 --log '%s'",
                      g_train, g_valid, o, log);
    assert_failed(rc, "no_such_dir/model.st");
    assert_false(th_exists(o));
    size_t n = 0;
    if (th_exists(log))
        free(th_read(log, &n));
    if (n)
        fail_msg("the run trained (its log has %zu bytes) before finding that %s cannot be written", n, o);
}

/* ---------------------------------------------------------------- 5. bad checkpoints */

typedef struct {
    const char *label;
    char path[1024];
    const char *expect; /* besides the path */
} bad_ckpt;

enum { NBAD = 14 };

/* Bad model files, made from g_mid (hidden 8, 1 layer). */
static void make_bad_checkpoints(const char *dir, bad_ckpt *b)
{
    size_t len;
    char *model = th_read(g_mid, &len);
    int k = 0;

    b[k].label = "missing";
    join(b[k].path, sizeof b[k].path, dir, "missing.st");
    b[k++].expect = "cannot open";

    b[k].label = "empty";
    join(b[k].path, sizeof b[k].path, dir, "empty.st");
    th_write(b[k].path, "", 0);
    b[k++].expect = "bytes";

    b[k].label = "truncated";
    join(b[k].path, sizeof b[k].path, dir, "truncated.st");
    th_write(b[k].path, model, len / 2);
    b[k++].expect = "truncated";

    b[k].label = "header cut";
    join(b[k].path, sizeof b[k].path, dir, "headercut.st");
    th_write(b[k].path, model, 40);
    b[k++].expect = "header";

    b[k].label = "corrupted header";
    join(b[k].path, sizeof b[k].path, dir, "corrupt.st");
    {
        char *c = malloc(len);
        memcpy(c, model, len);
        memcpy(c + 8, "\x01\x02GARBAGE\xff\xfe{{{{}}}}]]]]\"\"\"\"nonsense", 32);
        th_write(b[k].path, c, len);
        free(c);
    }
    b[k++].expect = "header";

    b[k].label = "huge header length";
    join(b[k].path, sizeof b[k].path, dir, "hugelen.st");
    {
        char *c = malloc(len);
        memcpy(c, model, len);
        memset(c, 0x7f, 8);
        th_write(b[k].path, c, len);
        free(c);
    }
    b[k++].expect = "header length";

    b[k].label = "training state";
    join(b[k].path, sizeof b[k].path, dir, "state_as_model.st");
    {
        char st[1100];
        snprintf(st, sizeof st, "%s.state", g_mid);
        copy_file(st, b[k].path);
    }
    b[k++].expect = "lm-train-state";

    b[k].label = "other model kind";
    join(b[k].path, sizeof b[k].path, dir, "other.st");
    craft(g_mid, b[k].path, "triad.model", "other", NULL, 0, NULL);
    b[k++].expect = "other";

    b[k].label = "no triad.model";
    join(b[k].path, sizeof b[k].path, dir, "nokind.st");
    craft(g_mid, b[k].path, "triad.model", NULL, NULL, 0, NULL);
    b[k++].expect = "not a triad language model";

    b[k].label = "extra tensors";
    snprintf(b[k].path, sizeof b[k].path, "%s", g_golden);
    b[k++].expect = "unexpected tensor";

    b[k].label = "missing tensor";
    join(b[k].path, sizeof b[k].path, dir, "notensor.st");
    craft(g_mid, b[k].path, NULL, NULL, "decoder.bias", 0, NULL);
    b[k++].expect = "decoder.bias";

    int64_t shape[4];
    int nd = tensor_shape(g_mid, "rnn.weight_hh_l0", shape);
    assert_int_equal(nd, 2);
    b[k].label = "tensor shape vs config";
    join(b[k].path, sizeof b[k].path, dir, "badshape.st");
    shape[1] += 1; /* (4H, H+1) */
    craft(g_mid, b[k].path, NULL, NULL, "rnn.weight_hh_l0", 2, shape);
    b[k++].expect = "rnn.weight_hh_l0";

    b[k].label = "config hidden 9 vs tensors";
    join(b[k].path, sizeof b[k].path, dir, "hidden9.st");
    {
        char *cfg = config_with(g_mid, "hidden", 9);
        craft(g_mid, b[k].path, "triad.config", cfg, NULL, 0, NULL);
        free(cfg);
    }
    b[k++].expect = "shape";

    b[k].label = "config vocab_size vs vocabulary";
    join(b[k].path, sizeof b[k].path, dir, "vocabsize.st");
    {
        tr_st_file *f = NULL;
        assert_int_equal(tr_st_open(&f, g_mid, NULL), TR_OK);
        tr_lm_config c;
        assert_int_equal(tr_lm_config_from_json(&c, tr_st_meta(f, "triad.config"), g_mid, NULL), TR_OK);
        tr_st_close(f);
        char *cfg = config_with(g_mid, "vocab_size", c.vocab_size - 1);
        craft(g_mid, b[k].path, "triad.config", cfg, NULL, 0, NULL);
        free(cfg);
    }
    b[k++].expect = "vocabulary";

    assert_int_equal(k, NBAD);
    free(model);
}

static void test_bad_checkpoints_eval_generate(void **state)
{
    (void)state;
    char dir[1024];
    scratch(dir, sizeof dir, "badckpt");
    bad_ckpt b[NBAD];
    make_bad_checkpoints(dir, b);
    /* the untouched model works, so every failure below is the file's */
    assert_ok(th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", g_mid, g_valid));
    assert_ok(th_triad(out, OUTSZ, "lm generate --model '%s' --length 5", g_mid));
    for (int i = 0; i < NBAD; i++) {
        int present = th_exists(b[i].path);
        snapshot s = {NULL, 0};
        if (present)
            s = snap(b[i].path);
        print_message("  bad checkpoint: %s\n", b[i].label);
        int rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", b[i].path, g_valid);
        assert_failed(rc, b[i].path, b[i].expect);
        assert_one_line();
        rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 5", b[i].path);
        assert_failed(rc, b[i].path, b[i].expect);
        assert_one_line();
        if (present) {
            assert_unchanged(&s, b[i].path);
            snap_free(&s);
        }
    }
    /* a directory as --model */
    int rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", dir, g_valid);
    assert_failed(rc, dir);
}

static void test_bad_checkpoints_resume(void **state)
{
    (void)state;
    char dir[1024], o[1024], ostate[1024], midstate[1100];
    scratch(dir, sizeof dir, "badresume");
    bad_ckpt b[NBAD];
    make_bad_checkpoints(dir, b);
    join(o, sizeof o, dir, "run.st");
    join(ostate, sizeof ostate, dir, "run.st.state");
    snprintf(midstate, sizeof midstate, "%s.state", g_mid);
    const char *resume = "lm train --output '%s' --resume --threads 1 --quiet";

    /* the untouched pair resumes (one more update), so the failures below are the files' */
    copy_file(g_mid, o);
    copy_file(midstate, ostate);
    assert_ok(th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --max-steps 6", o));

    /* a bad model with a good state */
    for (int i = 0; i < NBAD; i++) {
        print_message("  bad model for --resume: %s\n", b[i].label);
        th_sh(NULL, 0, "rm -f '%s' '%s'", o, ostate);
        copy_file(midstate, ostate);
        int present = th_exists(b[i].path);
        if (present)
            copy_file(b[i].path, o);
        snapshot s = snap(ostate), m = {NULL, 0};
        if (present)
            m = snap(o);
        int rc = th_triad(out, OUTSZ, resume, o);
        assert_failed(rc, o, b[i].expect);
        assert_one_line();
        assert_unchanged(&s, ostate);
        if (present)
            assert_unchanged(&m, o);
        else
            assert_false(th_exists(o));
        snap_free(&s);
        snap_free(&m);
    }

    /* a good model with a bad state */
    char cut[1024], hdr[1024], other6[1100], wrongstep[1024], kind[1024], wrongbatch[1024];
    join(cut, sizeof cut, dir, "state_cut");
    join(hdr, sizeof hdr, dir, "state_hdr");
    join(wrongstep, sizeof wrongstep, dir, "state_step");
    join(kind, sizeof kind, dir, "state_kind");
    join(wrongbatch, sizeof wrongbatch, dir, "state_batch");
    snprintf(other6, sizeof other6, "%s.state", g_mid6);
    size_t len;
    char *st = th_read(midstate, &len);
    th_write(cut, st, len / 2);
    memcpy(st + 8, "GARBAGE GARBAGE GARBAGE GARBAGE!", 32);
    th_write(hdr, st, len);
    free(st);
    craft(midstate, kind, "triad.model", "lm", NULL, 0, NULL);
    {
        /* the same state claiming another step, and one whose batch size
         * disagrees with its saved position and hidden state */
        tr_st_file *f = NULL;
        assert_int_equal(tr_st_open(&f, midstate, NULL), TR_OK);
        const char *js = tr_st_meta(f, "triad.train");
        assert_non_null(js);
        char *a = strdup(js), *bb = strdup(js);
        tr_st_close(f);
        char *p = strstr(a, "\"step\":5,");
        assert_non_null(p);
        p[7] = '7';
        craft(midstate, wrongstep, "triad.train", a, NULL, 0, NULL);
        p = strstr(bb, "\"batch\":4,");
        assert_non_null(p);
        p[8] = '5';
        craft(midstate, wrongbatch, "triad.train", bb, NULL, 0, NULL);
        free(a);
        free(bb);
    }
    static const struct {
        const char *label, *expect;
        int which;
    } sc[] = {
        {"missing state", "cannot open", 0},
        {"truncated state", "", 1},
        {"corrupted state header", "header", 2},
        {"model file as state", "not a triad training state", 3},
        {"state of another model (hidden 6) at the same step", "hidden.h_l0", 4},
        {"state from another step", "step", 5},
        {"state with triad.model lm", "not a triad training state", 6},
        {"state whose batch disagrees with its position", "", 7},
    };
    const char *srcs[] = {NULL, cut, hdr, g_mid, other6, wrongstep, kind, wrongbatch};
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        print_message("  bad state for --resume: %s\n", sc[i].label);
        th_sh(NULL, 0, "rm -f '%s' '%s'", o, ostate);
        copy_file(g_mid, o);
        if (srcs[sc[i].which])
            copy_file(srcs[sc[i].which], ostate);
        snapshot m = snap(o), s = {NULL, 0};
        if (srcs[sc[i].which])
            s = snap(ostate);
        int rc = th_triad(out, OUTSZ, resume, o);
        assert_failed(rc, ostate, sc[i].expect);
        assert_one_line();
        assert_unchanged(&m, o);
        if (srcs[sc[i].which])
            assert_unchanged(&s, ostate);
        snap_free(&m);
        snap_free(&s);
    }
}

/* ---------------------------------------------------------------- 6. resume */

#define RESUME_RUN "--hidden 8 --epochs 2 --dropout 0.3 --seed 11 --log '%s'"

/* Trains dir/NAME.st in pieces: stops after each of the updates in stops[]
 * (increasing), resumes, and finally finishes; everything logged to
 * dir/NAME.csv. */
static void train_in_pieces(const char *dir, const char *name, const int64_t *stops, int nstops)
{
    char o[1024], log[1024], leaf[64];
    snprintf(leaf, sizeof leaf, "%s.st", name);
    join(o, sizeof o, dir, leaf);
    snprintf(leaf, sizeof leaf, "%s.csv", name);
    join(log, sizeof log, dir, leaf);
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " " RESUME_RUN
                      " --max-steps %lld",
                      g_train, g_valid, o, log, (long long)stops[0]);
    assert_ok(rc);
    for (int i = 1; i < nstops; i++) {
        rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --log '%s' --max-steps %lld",
                      o, log, (long long)stops[i]);
        assert_ok(rc);
    }
    rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --log '%s'", o, log);
    assert_ok(rc);
    assert_contains(out, "valid ppl");
}

/* The uninterrupted run in dir/A.st and A.csv; returns the updates per epoch. */
static int64_t train_whole(const char *dir)
{
    char a[1024], alog[1024];
    join(a, sizeof a, dir, "A.st");
    join(alog, sizeof alog, dir, "A.csv");
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " " RESUME_RUN,
                      g_train, g_valid, a, alog);
    assert_ok(rc);
    int nlines = 0;
    int64_t per_epoch = steps_in_first_epoch(alog, &nlines);
    assert_true(per_epoch >= 8);
    assert_int_equal(nlines, 2 * per_epoch + 2); /* two epochs of updates and evaluations */
    return per_epoch;
}

static void check_same_run(const char *dir, const char *name, const char *file, int line)
{
    char a[1024], alog[1024], b[1024], blog[1024], leaf[64];
    join(a, sizeof a, dir, "A.st");
    join(alog, sizeof alog, dir, "A.csv");
    snprintf(leaf, sizeof leaf, "%s.st", name);
    join(b, sizeof b, dir, leaf);
    snprintf(leaf, sizeof leaf, "%s.csv", name);
    join(blog, sizeof blog, dir, leaf);
    if (!files_equal(alog, blog)) {
        char *x = th_read(alog, NULL), *y = th_read(blog, NULL), lx[256], ly[256];
        size_t k = 0;
        while (x[k] && x[k] == y[k])
            k++;
        while (k > 0 && x[k - 1] != '\n')
            k--;
        snprintf(lx, sizeof lx, "%.*s", (int)strcspn(x + k, "\n"), x + k);
        snprintf(ly, sizeof ly, "%.*s", (int)strcspn(y + k, "\n"), y + k);
        free(x);
        free(y);
        fail_msg("%s:%d: the log of the resumed run %s differs from the uninterrupted one; first difference:\n"
                 "uninterrupted: %s\nresumed:       %s", file, line, blog, lx, ly);
    }
    if (!files_equal(a, b))
        fail_msg("%s:%d: the resumed model %s differs from the uninterrupted %s", file, line, b, a);
}
#define assert_same_run(dir, name) check_same_run((dir), (name), __FILE__, __LINE__)

static void test_resume_mid_epoch_equals_uninterrupted(void **state)
{
    (void)state;
    char dir[1024];
    scratch(dir, sizeof dir, "resume_mid");
    int64_t S = train_whole(dir);

    int64_t half[] = {S / 2};
    train_in_pieces(dir, "B", half, 1);
    assert_same_run(dir, "B");

    int64_t after[] = {S + 1}; /* the first update of epoch 2 */
    train_in_pieces(dir, "C", after, 1);
    assert_same_run(dir, "C");

    int64_t chain[] = {1, S / 3, S + 3, 2 * S - 1}; /* four stops, the last before the last update */
    train_in_pieces(dir, "D", chain, 4);
    assert_same_run(dir, "D");
}

/* Stopped by --max-steps at the last update of epoch 1 (before its
 * evaluation), the resumed run must log that evaluation with its step. */
static void test_resume_at_epoch_end_equals_uninterrupted(void **state)
{
    (void)state;
    char dir[1024];
    scratch(dir, sizeof dir, "resume_end");
    int64_t S = train_whole(dir);
    int64_t end[] = {S};
    train_in_pieces(dir, "B", end, 1);
    assert_same_run(dir, "B");
}

/* Ctrl-C (SIGINT) in the middle of a run saves a checkpoint that resumes to
 * the same log and model as a run never interrupted. The signal is sent as
 * soon as the model file appears (the end of epoch 1, about 120 updates of
 * --batch 2), so the run stops early in epoch 2, far from an epoch end. */
static void test_sigint_then_resume_equals_uninterrupted(void **state)
{
    (void)state;
    char dir[1024], a[1024], alog[1024], b[1024], blog[1024];
    scratch(dir, sizeof dir, "sigint");
    join(a, sizeof a, dir, "A.st");
    join(alog, sizeof alog, dir, "A.csv");
    join(b, sizeof b, dir, "B.st");
    join(blog, sizeof blog, dir, "B.csv");
    const char *run = "--hidden 8 --epochs 6 --dropout 0.3 --seed 12 --batch 2 --bptt 10 --threads 1";
    int rc = th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' %s --quiet --log '%s'",
                      g_train, g_valid, a, run, alog);
    assert_ok(rc);
    const char *bin = getenv("TRIAD_BIN");
    assert_non_null(bin);
    /* a busy wait without forks, so the signal follows the file closely */
    rc = th_sh(out, OUTSZ,
               "{ '%s' lm train --train '%s' --valid '%s' --output '%s' %s --log '%s' 2>&1 & pid=$!; i=0; "
               "while [ ! -e '%s' ] && [ $i -lt 3000000 ]; do i=$((i+1)); done; "
               "kill -INT $pid; wait $pid; }",
               bin, g_train, g_valid, b, run, blog, b);
    assert_ok(rc);
    assert_contains(out, "stopped by signal");
    assert_contains(out, "--resume");
    assert_false(files_equal(alog, blog)); /* it did stop early */
    rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --log '%s'", b, blog);
    assert_ok(rc);
    assert_same_run(dir, "B");
}

static void test_resume_refuses_fixed_options(void **state)
{
    (void)state;
    char dir[1024], o[1024], ostate[1024], midstate[1100];
    scratch(dir, sizeof dir, "resume_fixed");
    join(o, sizeof o, dir, "run.st");
    join(ostate, sizeof ostate, dir, "run.st.state");
    snprintf(midstate, sizeof midstate, "%s.state", g_mid);
    copy_file(g_mid, o);
    copy_file(midstate, ostate);
    snapshot m = snap(o), s = snap(ostate);
    static const char *fixed[][2] = {
        {"--hidden 8", "--hidden"}, {"--lr 1", "--lr"},           {"--dropout 0.3", "--dropout"},
        {"--force", "--force"},     {"--seed 2", "--seed"},       {"--batch 4", "--batch"},
        {"--vocab 50", "--vocab"},  {"--optim adam", "--optim"}, {"--bptt 10", "--bptt"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 %s", o, fixed[i][0]);
        assert_failed(rc, fixed[i][1], "--resume");
        assert_one_line();
        assert_unchanged(&m, o);
        assert_unchanged(&s, ostate);
    }
    /* and --resume of nothing */
    char none[1024];
    join(none, sizeof none, dir, "none.st");
    int rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1", none);
    assert_failed(rc, none);
    assert_nothing_written(dir, "none.st");
    snap_free(&m);
    snap_free(&s);
}

/* Resuming a run that already finished all its epochs changes nothing and
 * must not report a made-up perplexity. */
static void test_resume_finished_run(void **state)
{
    (void)state;
    char dir[1024], o[1024], ostate[1024], log[1024], basestate[1100];
    scratch(dir, sizeof dir, "resume_done");
    join(o, sizeof o, dir, "run.st");
    join(ostate, sizeof ostate, dir, "run.st.state");
    join(log, sizeof log, dir, "run.csv");
    snprintf(basestate, sizeof basestate, "%s.state", g_base);
    copy_file(g_base, o);
    copy_file(basestate, ostate);
    snapshot m = snap(o);
    int rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --log '%s'", o, log);
    assert_unchanged(&m, o);
    if (rc == 0)
        assert_lacks(out, "ppl 0.00");
    else
        assert_failed(rc, "--epochs");
    snap_free(&m);
    /* more epochs continue it */
    rc = th_triad(out, OUTSZ, "lm train --output '%s' --resume --threads 1 --quiet --epochs 2", o);
    assert_ok(rc);
    assert_contains(out, "valid ppl");
    assert_false(files_equal(o, g_base));
}

/* ---------------------------------------------------------------- 7. determinism */

static void test_training_is_deterministic(void **state)
{
    (void)state;
    char dir[1024], a[1024], b[1024], c[1024];
    scratch(dir, sizeof dir, "determinism");
    join(a, sizeof a, dir, "a.st");
    join(b, sizeof b, dir, "b.st");
    join(c, sizeof c, dir, "c.st");
    const char *fmt = "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --dropout 0.3 --epochs 1 --seed %d";
    assert_ok(th_triad(out, OUTSZ, fmt, g_train, g_valid, a, 5));
    char ppl_a[256];
    assert_true(strlen(out) < sizeof ppl_a);
    strcpy(ppl_a, out);
    assert_ok(th_triad(out, OUTSZ, fmt, g_train, g_valid, b, 5));
    assert_string_equal(out, ppl_a);
    assert_files_equal(a, b);
    assert_ok(th_triad(out, OUTSZ, fmt, g_train, g_valid, c, 6));
    assert_false(files_equal(a, c)); /* the seed matters */
    /* saving along the way does not change the run */
    th_sh(NULL, 0, "rm -f '%s' '%s.state'", c, c);
    assert_ok(th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                       " --hidden 8 --dropout 0.3 --epochs 1 --seed 5 --save-every 7", g_train, g_valid, c));
    assert_files_equal(a, c);
}

static void test_generate_is_deterministic(void **state)
{
    (void)state;
    char one[OUTSZ];
    int rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 60 --seed 5", g_base);
    assert_ok(rc);
    assert_true(strlen(out) > 20);
    snprintf(one, sizeof one, "%s", out);
    rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 60 --seed 5", g_base);
    assert_ok(rc);
    assert_string_equal(out, one);
    rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 60 --seed 6", g_base);
    assert_ok(rc);
    assert_string_not_equal(out, one);
    /* a prime is echoed, lower-cased like the training text */
    rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 10 --seed 5 --prime 'The Cat sees'", g_base);
    assert_ok(rc);
    assert_true(!strncmp(out, "the cat sees", 12) && (out[12] == ' ' || out[12] == '\n'));
    /* unknown words become <unk> */
    rc = th_triad(out, OUTSZ, "lm generate --model '%s' --length 3 --prime 'zyzzyva'", g_base);
    assert_ok(rc);
    assert_true(!strncmp(out, "<unk>", 5) && (out[5] == ' ' || out[5] == '\n'));
}

/* eval prints "ppl X tokens N"; returns X and checks N. */
static double eval_ppl(const char *model, const char *text, const char *extra, long long expect_tokens)
{
    int rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s' %s", model, text, extra);
    assert_ok(rc);
    double ppl = 0;
    long long n = -1;
    char tail[8] = "";
    if (sscanf(out, "ppl %lf tokens %lld%7s", &ppl, &n, tail) != 2)
        fail_msg("eval printed \"%s\", expected \"ppl X tokens N\"", out);
    assert_int_equal(n, expect_tokens);
    assert_true(isfinite(ppl) && ppl >= 1.0);
    return ppl;
}

static void test_eval_counts_tokens(void **state)
{
    (void)state;
    char dir[1024], t1[1024], t2[1024], t3[1024];
    scratch(dir, sizeof dir, "eval");
    join(t1, sizeof t1, dir, "words.txt");
    join(t2, sizeof t2, dir, "nonewline.txt");
    join(t3, sizeof t3, dir, "blankline.txt");
    /* 6 + 4 + 7 + 1 = 18 words on 4 lines: 22 tokens, 21 predicted */
    th_write_str(t1, "the cat sees the red ball\nqwerty zzz the dog\na b c d e f g\nhello\n");
    /* the last line has no newline: still a line */
    th_write_str(t2, "the cat sees the red ball\nqwerty zzz the dog\na b c d e f g\nhello");
    /* a blank line has no tokens and no <eos> (as scripts/torch_lm.py) */
    th_write_str(t3, "the cat sees the red ball\n\nqwerty zzz the dog\n   \na b c d e f g\nhello\n");
    double p1 = eval_ppl(g_base, t1, "", 21);
    double p2 = eval_ppl(g_base, t2, "", 21);
    double p3 = eval_ppl(g_base, t3, "", 21);
    assert_true(p1 == p2 && p1 == p3);
    /* deterministic, also with short windows and more threads */
    assert_true(eval_ppl(g_base, t1, "", 21) == p1);
    double p4 = eval_ppl(g_base, t1, "--bptt 3", 21);
    assert_true(fabs(p4 - p1) <= 1e-5 * p1);
    double p5 = eval_ppl(g_base, t1, "--threads 2", 21);
    assert_true(fabs(p5 - p1) <= 1e-5 * p1);
    /* the validation corpus: its words and lines, counted here */
    size_t n;
    char *v = th_read(g_valid, &n);
    long long words = 0, lines = 0;
    int in = 0, line_has = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '\n') {
            lines += line_has;
            line_has = in = 0;
        } else if (ch == ' ' || ch == '\t') {
            in = 0;
        } else {
            words += !in;
            in = line_has = 1;
        }
    }
    lines += line_has;
    free(v);
    eval_ppl(g_base, g_valid, "", words + lines - 1);
    /* one word: the word and its <eos>, one prediction */
    char t4[1024];
    join(t4, sizeof t4, dir, "one.txt");
    th_write_str(t4, "\nhello\n\n");
    eval_ppl(g_base, t4, "", 1);
}

/* ---------------------------------------------------------------- 8. PyTorch */

static void test_torch_perplexity(void **state)
{
    (void)state;
    if (th_sh(NULL, 0, "/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        print_message("  [ SKIP     ] /usr/bin/python3 cannot import torch: no PyTorch cross-check\n");
        skip();
    }
    char script[1024], dir[1024], text[1024], model2[1024];
    th_fixture(script, sizeof script, "../scripts/torch_lm.py");
    scratch(dir, sizeof dir, "torch");
    join(text, sizeof text, dir, "text.txt");
    join(model2, sizeof model2, dir, "adam.st");
    /* ASCII with punctuation, unknown words, a blank line, no final newline */
    th_write_str(text, "the cat sees the red ball in the morning .\n"
                       "a zebra , the quokka and my brother's kite-string wait at the market !\n"
                       "\n"
                       "the little girl paints a new hat , and then the bird sings .\n"
                       "our teacher opens the window before dinner ?");
    /* a second model: one layer, adam, no dropout */
    assert_ok(th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY
                       " --hidden 8 --emb 5 --optim adam --lr 0.01 --dropout 0 --epochs 1 --vocab 40",
                       g_train, g_valid, model2));
    const char *models[] = {g_base, model2};
    const char *texts[] = {text, g_valid};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int rc = th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", models[i], texts[j]);
            assert_ok(rc);
            double ppl = 0, tppl = 0;
            long long n = -1, tn = -2;
            assert_int_equal(sscanf(out, "ppl %lf tokens %lld", &ppl, &n), 2);
            rc = th_sh(out, OUTSZ, "/usr/bin/python3 '%s' ppl '%s' '%s'", script, models[i], texts[j]);
            if (rc != 0)
                fail_msg("torch_lm.py failed (%d):\n%s", rc, out);
            const char *p = strstr(out, "ppl "), *q = strstr(out, "tokens ");
            assert_non_null(p);
            assert_non_null(q);
            assert_int_equal(sscanf(p, "ppl %lf", &tppl), 1);
            assert_int_equal(sscanf(q, "tokens %lld", &tn), 1);
            if (n != tn || !(fabs(ppl - tppl) <= 1e-4 * tppl))
                fail_msg("%s on %s: triad ppl %.6f over %lld tokens, PyTorch ppl %.6f over %lld tokens", models[i],
                         texts[j], ppl, n, tppl, tn);
        }
}

/* ---------------------------------------------------------------- 9. LightRNN through the same commands */

/* Training with re-allocation after each epoch, evaluation, the same token
 * count as the word LM, and a checkpoint that the lm commands refuse. */
static void test_lightrnn_train_eval(void **state)
{
    (void)state;
    char dir[1024], o[1024], lmo[1024];
    scratch(dir, sizeof dir, "lightrnn");
    join(o, sizeof o, dir, "lr.st");
    join(lmo, sizeof lmo, dir, "lm.st");
    assert_ok(th_triad(out, OUTSZ, "lightrnn train --train '%s' --valid '%s' --output '%s' --batch 4 --bptt 10 "
                       "--threads 1 --hidden 8 --epochs 2 --solver alternating", g_train, g_valid, o));
    assert_contains(out, "re-allocated (alternating)");
    assert_contains(out, "valid ppl");
    assert_ok(th_triad(out, OUTSZ, "lightrnn eval --model '%s' --text '%s'", o, g_valid));
    char tokens_lr[64], *t = strstr(out, "tokens ");
    assert_non_null(t);
    snprintf(tokens_lr, sizeof tokens_lr, "%s", t);
    assert_ok(th_triad(out, OUTSZ, "lm train --train '%s' --valid '%s' --output '%s' " TINY " --hidden 8 --epochs 1",
                       g_train, g_valid, lmo));
    assert_ok(th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", lmo, g_valid));
    assert_contains(out, tokens_lr);
    /* each command refuses the other's checkpoints */
    assert_failed(th_triad(out, OUTSZ, "lm eval --model '%s' --text '%s'", o, g_valid), o, "lightrnn");
    assert_failed(th_triad(out, OUTSZ, "lightrnn eval --model '%s' --text '%s'", lmo, g_valid), lmo, "lightrnn");
    assert_failed(th_triad(out, OUTSZ, "lightrnn train --train '%s' --valid '%s' --output '%s' --force " TINY
                           " --solver simplex", g_train, g_valid, o), "--solver", "simplex");

    /* generate: the prime, then words of the vocabulary; the same seed, the same text */
    assert_ok(th_triad(out, OUTSZ, "lightrnn generate --model '%s' --prime 'the cat sees' --length 20 --seed 4", o));
    assert_true(!strncmp(out, "the cat sees", 12) && (out[12] == ' ' || out[12] == '\n'));
    char first[OUTSZ];
    snprintf(first, sizeof first, "%s", out);
    assert_ok(th_triad(out, OUTSZ, "lightrnn generate --model '%s' --prime 'the cat sees' --length 20 --seed 4", o));
    assert_string_equal(out, first);
    assert_failed(th_triad(out, OUTSZ, "lightrnn generate --model '%s'", lmo), lmo, "lightrnn");

    /* the loss matrices of the trained model, and the solvers run on them */
    char L[1024];
    join(L, sizeof L, dir, "losses.st");
    assert_ok(th_triad(out, OUTSZ, "lightrnn losses --model '%s' --text '%s' --output '%s'", o, g_train, L));
    assert_contains(out, "cost of the model's table");
    assert_ok(th_triad(out, OUTSZ, "lightrnn realloc --losses '%s'", L));
    assert_contains(out, "greedy");
    assert_contains(out, "exact");
    assert_contains(out, "alternating");
    assert_failed(th_triad(out, OUTSZ, "lightrnn losses --model '%s' --text '%s'", o, g_train), "--output");
    assert_failed(th_triad(out, OUTSZ, "lightrnn losses --model '%s' --text '%s' --output '%s'", lmo, g_train, L),
                  lmo, "lightrnn");

    /* training throughput of both kinds */
    const char *kinds[2] = {"lm", "lightrnn"};
    for (int k = 0; k < 2; k++) {
        assert_ok(th_triad(out, OUTSZ, "bench lm --model %s --train '%s' --vocab 50 --hidden 8 --batch 4 --bptt 5 "
                           "--seconds 0.05", kinds[k], g_train));
        assert_contains(out, "\"tokens_per_s\"");
        assert_contains(out, kinds[k]);
    }
    assert_failed(th_triad(out, OUTSZ, "bench lm --model rnn --train '%s'", g_train), "--model", "rnn");
}

/* A LightRNN run stopped in its first epoch and resumed re-allocates at the
 * same point and ends bit-identical to an uninterrupted run. */
static void test_lightrnn_resume_equals_uninterrupted(void **state)
{
    (void)state;
    char dir[1024], a[1024], b[1024], la[1024], lb[1024];
    scratch(dir, sizeof dir, "lightrnn_resume");
    join(a, sizeof a, dir, "a.st");
    join(b, sizeof b, dir, "b.st");
    join(la, sizeof la, dir, "a.csv");
    join(lb, sizeof lb, dir, "b.csv");
    const char *fmt = "lightrnn train --train '%s' --valid '%s' --output '%s' " TINY
                      " --hidden 8 --dropout 0.3 --epochs 2 --log '%s'";
    assert_ok(th_triad(out, OUTSZ, fmt, g_train, g_valid, a, la));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --max-steps 7", fmt);
    assert_ok(th_triad(out, OUTSZ, cmd, g_train, g_valid, b, lb));
    assert_ok(th_triad(out, OUTSZ, "lightrnn train --output '%s' --resume --threads 1 --quiet --log '%s'", b, lb));
    assert_files_equal(la, lb);
    assert_files_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_help, free_held),
        cmocka_unit_test_teardown(test_unknown_command_and_options, free_held),
        cmocka_unit_test_teardown(test_nonsense_options, free_held),
        cmocka_unit_test_teardown(test_bad_training_corpora, free_held),
        cmocka_unit_test_teardown(test_bad_eval_texts, free_held),
        cmocka_unit_test_teardown(test_failed_runs_keep_existing_checkpoint, free_held),
        cmocka_unit_test_teardown(test_bad_test_file_fails_before_overwriting, free_held),
        cmocka_unit_test_teardown(test_unwritable_output_fails_before_training, free_held),
        cmocka_unit_test_teardown(test_bad_checkpoints_eval_generate, free_held),
        cmocka_unit_test_teardown(test_bad_checkpoints_resume, free_held),
        cmocka_unit_test_teardown(test_resume_mid_epoch_equals_uninterrupted, free_held),
        cmocka_unit_test_teardown(test_resume_at_epoch_end_equals_uninterrupted, free_held),
        cmocka_unit_test_teardown(test_sigint_then_resume_equals_uninterrupted, free_held),
        cmocka_unit_test_teardown(test_resume_refuses_fixed_options, free_held),
        cmocka_unit_test_teardown(test_resume_finished_run, free_held),
        cmocka_unit_test_teardown(test_training_is_deterministic, free_held),
        cmocka_unit_test_teardown(test_generate_is_deterministic, free_held),
        cmocka_unit_test_teardown(test_eval_counts_tokens, free_held),
        cmocka_unit_test_teardown(test_torch_perplexity, free_held),
        cmocka_unit_test_teardown(test_lightrnn_train_eval, free_held),
        cmocka_unit_test_teardown(test_lightrnn_resume_equals_uninterrupted, free_held),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
