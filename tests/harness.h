/* Helpers shared by the tests: fixture and temp paths, files, running the CLI.
 * Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp, stdint). */
#ifndef TRIAD_TEST_HARNESS_H
#define TRIAD_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

/* Path of a file under tests/ (TRIAD_TEST_DIR) into buf; returns buf. */
char *th_fixture(char *buf, size_t n, const char *rel);
/* Path of a scratch file in the test build directory (TRIAD_TMP). */
char *th_tmp(char *buf, size_t n, const char *name);
/* Writes len bytes to path (asserts on failure). */
void th_write(const char *path, const void *data, size_t len);
void th_write_str(const char *path, const char *s);
/* Reads a whole file (malloc'ed, NUL-terminated); *len may be NULL. */
char *th_read(const char *path, size_t *len);
/* Runs `$TRIAD_BIN args` through the shell, stdout+stderr into out (may be
 * NULL); returns the exit status (-1 if it did not exit normally). */
int th_triad(char *out, size_t n, const char *fmt, ...);
/* Runs any shell command the same way. */
int th_sh(char *out, size_t n, const char *fmt, ...);
/* 1 when the file exists. */
int th_exists(const char *path);
/* Fails the test (naming file:line) unless hay contains needle. */
void th_check_contains(const char *hay, const char *needle, const char *file, int line);
/* Fails unless a command failed as it should: exit status 1 or 2, no
 * sanitizer report in its output, and the needle in it. */
void th_check_failed(int rc, const char *out, const char *needle, const char *file, int line);

#endif

/* Finite-difference gradient check. loss(ctx) runs a forward pass and returns
 * the scalar loss accumulated in double. For up to max_checks entries of x
 * (all if n <= max_checks, else a seeded random sample), the central
 * difference (loss(x+eps) - loss(x-eps)) / 2eps is compared with grad;
 * |analytic - numeric| must be <= atol + rtol * |numeric|. Fails the test
 * with the name, index and both values otherwise. Returns the largest error
 * seen. */
typedef double (*th_loss_fn)(void *ctx);
double th_gradcheck(const char *what, float *x, const float *grad, int64_t n,
                    th_loss_fn loss, void *ctx, float eps, double atol,
                    double rtol, int max_checks);
/* Fills with uniform values in [-a, a) from a seeded stream. */
void th_fill(float *x, int64_t n, float a, uint64_t seed);
/* A new zeroed vector of n floats (free it), filled by th_fill(a, seed)
 * when a > 0. */
float *th_vec(int64_t n, float a, uint64_t seed);
/* sum a[i] * b[i] in double. */
double th_dot(const float *a, const float *b, int64_t n);
