/* Helpers shared by the tests (see harness.h). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

char *th_fixture(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", env_or("TRIAD_TEST_DIR", "tests"), rel);
    return buf;
}

char *th_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", env_or("TRIAD_TMP", "/tmp"), name);
    return buf;
}

void th_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void th_write_str(const char *path, const char *s)
{
    th_write(path, s, strlen(s));
}

char *th_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)sz;
    return buf;
}

static int run_cmd(char *out, size_t n, const char *cmd)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t k = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (out && k + 1 < n) {
            size_t c = got < n - 1 - k ? got : n - 1 - k;
            memcpy(out + k, chunk, c);
            k += c;
        }
    }
    if (out && n)
        out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int th_sh(char *out, size_t n, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run_cmd(out, n, cmd);
}

int th_triad(char *out, size_t n, const char *fmt, ...)
{
    char args[7000], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", env_or("TRIAD_BIN", "triad"), args);
    return run_cmd(out, n, cmd);
}

int th_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

double th_gradcheck(const char *what, float *x, const float *grad, int64_t n,
                    th_loss_fn loss, void *ctx, float eps, double atol,
                    double rtol, int max_checks)
{
    double worst = 0.0;
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int64_t k = 0; k < n && k < max_checks; k++) {
        int64_t i = k;
        if (n > max_checks) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            i = (int64_t)((s >> 33) % (uint64_t)n);
        }
        float keep = x[i];
        x[i] = keep + eps;
        double lp = loss(ctx);
        x[i] = keep - eps;
        double lm = loss(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * (double)eps);
        double err = fabs((double)grad[i] - num);
        if (err > worst)
            worst = err;
        if (err > atol + rtol * fabs(num)) {
            fprintf(stderr, "gradcheck %s[%lld]: analytic %.8g numeric %.8g\n",
                    what, (long long)i, (double)grad[i], num);
            fail();
        }
    }
    return worst;
}

void th_fill(float *x, int64_t n, float a, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = ((float)(s >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * a;
    }
}

float *th_vec(int64_t n, float a, uint64_t seed)
{
    float *x = calloc((size_t)n, sizeof(float));
    assert_non_null(x);
    if (a > 0)
        th_fill(x, n, a, seed);
    return x;
}

double th_dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

void th_check_contains(const char *hay, const char *needle, const char *file, int line)
{
    if (!strstr(hay, needle))
        fail_msg("%s:%d: expected the output to contain \"%s\"; it was:\n%s", file, line, needle, hay);
}

void th_check_failed(int rc, const char *out, const char *needle, const char *file, int line)
{
    if (rc != 1 && rc != 2)
        fail_msg("%s:%d: expected exit status 1 or 2, got %d; output:\n%s", file, line, rc, out);
    if (strstr(out, "Sanitizer") || strstr(out, "runtime error"))
        fail_msg("%s:%d: sanitizer report:\n%s", file, line, out);
    th_check_contains(out, needle, file, line);
}
