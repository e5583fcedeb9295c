/* Metrics: BLEU against sacreBLEU 2.6's own scores on the corpora in
 * tests/fixtures/bleu (expected.tsv, every field to 1e-9), hand-checked 13a
 * tokenisations and small BLEU cases; edit distance (hand cases and a
 * full-matrix reference on random sequences); pronunciation WER/PER with
 * several references, the closest reference, ties and empty predictions. */
#include "harness.h"
#include "triad/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Splits a file's text as Python's text.split("\n")[:-1]: the segments are
 * the lines, each without its "\n"; the pieces point into text (modified). */
static char **split_lines(char *text, int64_t *n)
{
    int64_t cap = 16, k = 0;
    char **lines = malloc((size_t)cap * sizeof *lines);
    char *p = text;
    for (;;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (k == cap) {
            cap *= 2;
            lines = realloc(lines, (size_t)cap * sizeof *lines);
        }
        lines[k++] = p;
        p = nl + 1;
    }
    assert_int_equal(*p, '\0'); /* the files end with "\n" */
    *n = k;
    return lines;
}

static void parse_i64x4(const char *s, int64_t *v)
{
    char *end;
    for (int k = 0; k < 4; k++) {
        v[k] = strtoll(s, &end, 10);
        assert_true(end != s);
        s = end + (k < 3 ? 1 : 0);
    }
}

static void parse_dx4(const char *s, double *v)
{
    char *end;
    for (int k = 0; k < 4; k++) {
        v[k] = strtod(s, &end);
        assert_true(end != s);
        s = end + (k < 3 ? 1 : 0);
    }
}

static void expect_close(const char *what, const char *name, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %s = %.17g, expected %.17g", name, what, got, want);
}

static tr_bleu bleu_of(const char *const *hyps, const char *const *refs, int64_t n)
{
    tr_bleu b;
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_bleu_corpus(hyps, refs, n, &b, &err), TR_OK);
    return b;
}

static void expect_tok(const char *in, const char *want)
{
    char *got = tr_bleu_tokenize_13a(in);
    if (strcmp(got, want) != 0)
        fail_msg("13a(\"%s\") = \"%s\", expected \"%s\"", in, got, want);
    free(got);
}

/* ---------------------------------------------------------------- BLEU */

static void test_bleu_sacrebleu_fixtures(void **state)
{
    (void)state;
    char path[1024];
    char *tsv = th_read(th_fixture(path, sizeof path, "fixtures/bleu/expected.tsv"), NULL);
    int64_t nrows;
    char **rows = split_lines(tsv, &nrows);
    assert_true(nrows >= 16);
    assert_int_equal(strncmp(rows[0], "name\tscore\tcounts\ttotals\tprecisions\tbp\tsys_len\tref_len", 52), 0);
    for (int64_t r = 1; r < nrows; r++) {
        char *field[8];
        char *p = rows[r];
        for (int f = 0; f < 8; f++) {
            field[f] = p;
            char *tab = strchr(p, '\t');
            assert_true(f == 7 ? tab == NULL : tab != NULL);
            if (tab) {
                *tab = '\0';
                p = tab + 1;
            }
        }
        const char *name = field[0];
        double score = strtod(field[1], NULL), bp = strtod(field[5], NULL);
        int64_t counts[4], totals[4];
        double prec[4];
        parse_i64x4(field[2], counts);
        parse_i64x4(field[3], totals);
        parse_dx4(field[4], prec);
        int64_t sys_len = strtoll(field[6], NULL, 10), ref_len = strtoll(field[7], NULL, 10);

        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/bleu/%s.hyp", name);
        char *htext = th_read(th_fixture(path, sizeof path, rel), NULL);
        snprintf(rel, sizeof rel, "fixtures/bleu/%s.ref", name);
        char *rtext = th_read(th_fixture(path, sizeof path, rel), NULL);
        int64_t nh, nr;
        char **hyps = split_lines(htext, &nh);
        char **refs = split_lines(rtext, &nr);
        assert_int_equal(nh, nr);

        tr_bleu b = bleu_of((const char *const *)hyps, (const char *const *)refs, nh);
        expect_close("score", name, b.score, score, 1e-9);
        expect_close("bp", name, b.bp, bp, 1e-9);
        for (int k = 0; k < 4; k++) {
            if (b.counts[k] != counts[k] || b.totals[k] != totals[k])
                fail_msg("%s: %d-grams %lld/%lld, expected %lld/%lld", name, k + 1, (long long)b.counts[k],
                         (long long)b.totals[k], (long long)counts[k], (long long)totals[k]);
            expect_close("precision", name, b.precisions[k], prec[k], 1e-9);
        }
        if (b.sys_len != sys_len || b.ref_len != ref_len)
            fail_msg("%s: lengths %lld/%lld, expected %lld/%lld", name, (long long)b.sys_len,
                     (long long)b.ref_len, (long long)sys_len, (long long)ref_len);
        free(hyps);
        free(refs);
        free(htext);
        free(rtext);
    }
    free(rows);
    free(tsv);
}

static void test_tokenize_13a(void **state)
{
    (void)state;
    /* Punctuation of the first expression is split off; ' and - stay. */
    expect_tok("Hello, world!", "Hello , world !");
    expect_tok("don't (see) [1] {x} a/b c\\d e_f g~h a|b ^ `q` @ # % $ * + = ; :",
               "don't ( see ) [ 1 ] { x } a / b c \\ d e _ f g ~ h a | b ^ ` q ` @ # % $ * + = ; :");
    /* Periods and commas: split unless between digits. */
    expect_tok("3.14 and 1,000.50, ok.", "3.14 and 1,000.50 , ok .");
    expect_tok("x.y 5-7 a-b end.", "x . y 5 - 7 a-b end .");
    expect_tok("Pages 5 -7, 1.", "Pages 5 -7 , 1 .");
    expect_tok("..., .5 ,5 a.,b", ". . . , . 5 , 5 a . , b");
    /* Entities: &quot; &amp; &lt; &gt; only, in that order (so &amp;lt; is <). */
    expect_tok("&amp;lt;b&amp;gt; &apos;x&apos; &quot;q&quot;", "< b > & apos ; x & apos ; \" q \"");
    /* <skipped> is removed in one pass. */
    expect_tok("a<skipped>b  <skip<skipped>ped>", "ab < skipped >");
    /* Python's whitespace: NBSP and U+3000 separate, U+200B does not. */
    expect_tok("a\xc2\xa0" "b\xe2\x80\x8b" "c\xe3\x80\x80" "d", "a b\xe2\x80\x8b" "c d");
    /* "-\n" joins (after rstrip), "\n" is a space. */
    expect_tok("x-\ny\nz -", "xy z -");
    expect_tok("trail-   ", "trail-");
    expect_tok("", "");
    expect_tok(" \t ", "");
    expect_tok("caf\xc3\xa9, na\xc3\xafve.", "caf\xc3\xa9 , na\xc3\xafve .");
}

static void test_bleu_hand_cases(void **state)
{
    (void)state;
    /* One substitution at the end: 4/5, 3/4, 2/3, 1/2, no brevity penalty. */
    const char *h1[] = {"a b c d e"}, *r1[] = {"a b c d f"};
    tr_bleu b = bleu_of(h1, r1, 1);
    assert_int_equal(b.counts[0], 4);
    assert_int_equal(b.counts[3], 1);
    assert_int_equal(b.totals[0], 5);
    assert_int_equal(b.totals[3], 2);
    expect_close("score", "subst", b.score, pow(80.0 * 75.0 * (200.0 / 3.0) * 50.0, 0.25), 1e-9);
    expect_close("bp", "subst", b.bp, 1.0, 0.0);

    /* No 4-gram match: exp smoothing gives 100 / (2 * 2). */
    const char *h2[] = {"a b c d e"}, *r2[] = {"a b c x e"};
    b = bleu_of(h2, r2, 1);
    assert_int_equal(b.counts[1], 2);
    assert_int_equal(b.counts[2], 1);
    assert_int_equal(b.counts[3], 0);
    expect_close("p4", "smooth", b.precisions[3], 25.0, 1e-12);
    expect_close("score", "smooth", b.score, pow(80.0 * 50.0 * (100.0 / 3.0) * 25.0, 0.25), 1e-9);

    /* Clipping: "the" counts once; the smoothing factor doubles per order. */
    const char *h3[] = {"the the the the"}, *r3[] = {"the cat"};
    b = bleu_of(h3, r3, 1);
    assert_int_equal(b.counts[0], 1);
    assert_int_equal(b.totals[0], 4);
    expect_close("p2", "clip", b.precisions[1], 100.0 / 6.0, 1e-12);
    expect_close("p3", "clip", b.precisions[2], 12.5, 1e-12);
    expect_close("p4", "clip", b.precisions[3], 12.5, 1e-12);
    expect_close("score", "clip", b.score, pow(25.0 * (100.0 / 6.0) * 12.5 * 12.5, 0.25), 1e-9);

    /* Brevity: 2 of 6 tokens, no 3-grams at all: score 0, bp = e^(1 - 3). */
    const char *h4[] = {"the cat"}, *r4[] = {"the cat sat on the mat"};
    b = bleu_of(h4, r4, 1);
    expect_close("bp", "short", b.bp, exp(-2.0), 1e-15);
    expect_close("score", "short", b.score, 0.0, 0.0);
    expect_close("p2", "short", b.precisions[1], 100.0, 0.0);
    expect_close("p3", "short", b.precisions[2], 0.0, 0.0);

    /* Two segments pool their statistics; an empty reference counts 0. */
    const char *h5[] = {"a b c d e", "x y"}, *r5[] = {"a b c d f", ""};
    b = bleu_of(h5, r5, 2);
    assert_int_equal(b.sys_len, 7);
    assert_int_equal(b.ref_len, 5);
    assert_int_equal(b.totals[0], 7);
    assert_int_equal(b.totals[1], 5);
    assert_int_equal(b.counts[0], 4);

    /* An empty hypothesis: bp 0. An empty corpus: all zero, bp 1. */
    const char *h6[] = {"  "}, *r6[] = {"some words"};
    b = bleu_of(h6, r6, 1);
    expect_close("bp", "empty", b.bp, 0.0, 0.0);
    assert_int_equal(b.sys_len, 0);
    b = bleu_of(NULL, NULL, 0);
    expect_close("bp", "none", b.bp, 1.0, 0.0);
    expect_close("score", "none", b.score, 0.0, 0.0);

    /* Tokenisation decides the matches: "tab." == "tab ." */
    const char *h7[] = {"Press the Tab key."}, *r7[] = {"Press the Tab key ."};
    b = bleu_of(h7, r7, 1);
    expect_close("score", "tok", b.score, 100.0, 1e-12);
}

static void test_bleu_invalid_utf8(void **state)
{
    (void)state;
    const char *h[] = {"fine", "caf\xc3"}, *r[] = {"fine", "caf\xc3\xa9"};
    tr_bleu b;
    b.score = 42.0;
    tr_err err;
    assert_int_equal(tr_bleu_corpus(h, r, 2, &b, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "BLEU: hypothesis 2: invalid UTF-8 at byte 4");
    expect_close("score", "bad", b.score, 0.0, 0.0);
    const char *h2[] = {"ok"}, *r2[] = {"\xff ok"};
    assert_int_equal(tr_bleu_corpus(h2, r2, 1, &b, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "BLEU: reference 1: invalid UTF-8 at byte 1");
}

/* ---------------------------------------------------------------- edit distance */

static int naive_edit(const int32_t *a, int na, const int32_t *b, int nb)
{
    int *d = malloc((size_t)(na + 1) * (size_t)(nb + 1) * sizeof *d);
#define D(i, j) d[(i) * (nb + 1) + (j)]
    for (int i = 0; i <= na; i++)
        D(i, 0) = i;
    for (int j = 0; j <= nb; j++)
        D(0, j) = j;
    for (int i = 1; i <= na; i++)
        for (int j = 1; j <= nb; j++) {
            int v = D(i - 1, j - 1) + (a[i - 1] != b[j - 1]);
            if (D(i - 1, j) + 1 < v)
                v = D(i - 1, j) + 1;
            if (D(i, j - 1) + 1 < v)
                v = D(i, j - 1) + 1;
            D(i, j) = v;
        }
    int r = D(na, nb);
#undef D
    free(d);
    return r;
}

static void test_edit_distance(void **state)
{
    (void)state;
    const int32_t kitten[] = {'k', 'i', 't', 't', 'e', 'n'}, sitting[] = {'s', 'i', 't', 't', 'i', 'n', 'g'};
    assert_int_equal(tr_edit_distance(kitten, 6, sitting, 7), 3);
    assert_int_equal(tr_edit_distance(sitting, 7, kitten, 6), 3);
    assert_int_equal(tr_edit_distance(kitten, 6, kitten, 6), 0);
    assert_int_equal(tr_edit_distance(NULL, 0, kitten, 6), 6);
    assert_int_equal(tr_edit_distance(kitten, 6, NULL, 0), 6);
    assert_int_equal(tr_edit_distance(NULL, 0, NULL, 0), 0);
    const int32_t abc[] = {1, 2, 3}, cab[] = {3, 1, 2}, x[] = {9};
    assert_int_equal(tr_edit_distance(abc, 3, cab, 3), 2); /* delete 3, insert 3 */
    assert_int_equal(tr_edit_distance(abc, 3, x, 1), 3);
    assert_int_equal(tr_edit_distance(abc, 3, abc + 1, 2), 1);

    /* Against the full matrix on random sequences over small alphabets. */
    uint64_t s = 12345;
    int32_t a[40], b[40];
    for (int trial = 0; trial < 300; trial++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int na = (int)((s >> 33) % 25), nb = (int)((s >> 45) % 25), alpha = 2 + (int)((s >> 20) % 5);
        for (int i = 0; i < na; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            a[i] = (int32_t)((s >> 33) % (uint64_t)alpha);
        }
        for (int i = 0; i < nb; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            b[i] = (int32_t)((s >> 33) % (uint64_t)alpha);
        }
        assert_int_equal(tr_edit_distance(a, na, b, nb), naive_edit(a, na, b, nb));
    }
}

/* ---------------------------------------------------------------- pronunciations */

static void test_pron_scores(void **state)
{
    (void)state;
    tr_pron_score sc;
    memset(&sc, 0, sizeof sc);
    expect_close("wer", "none", tr_pron_wer(&sc), 0.0, 0.0);
    expect_close("per", "none", tr_pron_per(&sc), 0.0, 0.0);

    /* A word with references "1 2 3" and "1 2 3 4". */
    const int32_t r1[] = {1, 2, 3}, r2[] = {1, 2, 3, 4};
    const int32_t *refs[] = {r1, r2};
    const int lens[] = {3, 4};
    /* Matching the second reference: right, 0 errors over its 4 phones. */
    const int32_t h1[] = {1, 2, 3, 4};
    tr_pron_score_add(&sc, h1, 4, refs, lens, 2);
    assert_int_equal(sc.words, 1);
    assert_int_equal(sc.wrong_words, 0);
    assert_int_equal(sc.phone_errors, 0);
    assert_int_equal(sc.ref_phones, 4);
    /* "1 2": wrong; 1 edit from the first, 2 from the second: the first. */
    const int32_t h2[] = {1, 2};
    tr_pron_score_add(&sc, h2, 2, refs, lens, 2);
    assert_int_equal(sc.wrong_words, 1);
    assert_int_equal(sc.phone_errors, 1);
    assert_int_equal(sc.ref_phones, 7);

    /* Tie at distance 1 between "1 2 5" and "1 2": the shorter one counts. */
    const int32_t t1[] = {1, 2, 5}, t2[] = {1, 2};
    const int32_t *trefs[] = {t1, t2};
    const int tlens[] = {3, 2};
    const int32_t h3[] = {1, 2, 9};
    tr_pron_score_add(&sc, h3, 3, trefs, tlens, 2);
    assert_int_equal(sc.phone_errors, 2);
    assert_int_equal(sc.ref_phones, 9);

    /* An empty prediction: every phone of the closest (shortest) reference. */
    const int32_t e1[] = {7, 8, 9}, e2[] = {7, 8};
    const int32_t *erefs[] = {e1, e2};
    const int elens[] = {3, 2};
    tr_pron_score_add(&sc, NULL, 0, erefs, elens, 2);
    assert_int_equal(sc.words, 4);
    assert_int_equal(sc.wrong_words, 3);
    assert_int_equal(sc.phone_errors, 4);
    assert_int_equal(sc.ref_phones, 11);
    expect_close("wer", "sum", tr_pron_wer(&sc), 75.0, 1e-12);
    expect_close("per", "sum", tr_pron_per(&sc), 400.0 / 11.0, 1e-12);

    /* One reference, predicted exactly: right even when it is not the first. */
    tr_pron_score one;
    memset(&one, 0, sizeof one);
    const int32_t *one_ref[] = {r2};
    const int one_len[] = {4};
    tr_pron_score_add(&one, h1, 4, one_ref, one_len, 1);
    const int32_t *rev[] = {r2, r1};
    const int rev_len[] = {4, 3};
    tr_pron_score_add(&one, r1, 3, rev, rev_len, 2);
    expect_close("wer", "one", tr_pron_wer(&one), 0.0, 0.0);
    expect_close("per", "one", tr_pron_per(&one), 0.0, 0.0);
    assert_int_equal(one.ref_phones, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bleu_sacrebleu_fixtures),
        cmocka_unit_test(test_tokenize_13a),
        cmocka_unit_test(test_bleu_hand_cases),
        cmocka_unit_test(test_bleu_invalid_utf8),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_pron_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
