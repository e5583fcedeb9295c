/* Translation: the parallel text reader and its bad-input paths, subword
 * ids and detokenisation (round trips), the length limit, pairs left out
 * by --max-len, checkpoints carrying the subword units, and the mt
 * commands end to end on a made-up word-for-word language pair. */
#include "harness.h"
#include "triad/bpe.h"
#include "triad/io.h"
#include "triad/seq2seq.h"

#include <stdlib.h>
#include <string.h>

#define OUTSZ (1 << 16)
static char out[OUTSZ];

#define assert_contains(h, n) th_check_contains((h), (n), __FILE__, __LINE__)
#define assert_failed(rc, n) th_check_failed((rc), out, (n), __FILE__, __LINE__)

/* ------------------------------------------------------------ made-up language pair */

static const char *const EN[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};
static const char *const FR[] = {"un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix"};

/* n pairs PREFIX.en / PREFIX.fr: 2-6 number words translated word for word,
 * the first capitalised, ending with " ." or " ?" (kept as is). */
static void write_pairs(const char *prefix, int n, uint64_t seed)
{
    char pe[600], pf[600];
    snprintf(pe, sizeof pe, "%s.en", prefix);
    snprintf(pf, sizeof pf, "%s.fr", prefix);
    FILE *fe = fopen(pe, "w"), *ff = fopen(pf, "w");
    assert_non_null(fe);
    assert_non_null(ff);
    tr_rng r;
    tr_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        int len = 2 + (int)tr_rng_below(&r, 5);
        for (int k = 0; k < len; k++) {
            int w = (int)tr_rng_below(&r, 10);
            fprintf(fe, "%s%c%s", k ? " " : "", k ? EN[w][0] : EN[w][0] - 32, EN[w] + 1);
            fprintf(ff, "%s%c%s", k ? " " : "", k ? FR[w][0] : FR[w][0] - 32, FR[w] + 1);
        }
        const char *end = tr_rng_below(&r, 4) == 0 ? " ?" : ".";
        fprintf(fe, "%s\n", end);
        fprintf(ff, "%s\n", end);
    }
    fclose(fe);
    fclose(ff);
}

/* ------------------------------------------------------------ library */

static void test_corpus_reader(void **state)
{
    (void)state;
    char s[512], t[512];
    th_tmp(s, sizeof s, "mt_read.en");
    th_tmp(t, sizeof t, "mt_read.fr");
    tr_mt_corpus c;
    tr_err err;
    th_write_str(s, "Hello.\nTwo words\r\nthree\n");
    th_write_str(t, "Bonjour.\nDeux mots\nTrois");
    assert_int_equal(tr_mt_corpus_read(&c, s, t, &err), TR_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.src[1], "Two words\r"); /* the carriage return is refused later, by the subword units */
    assert_string_equal(c.tgt[2], "Trois");
    tr_mt_corpus_free(&c);
    /* different line counts: both files and both counts */
    th_write_str(t, "Bonjour.\nDeux mots\n");
    assert_int_not_equal(tr_mt_corpus_read(&c, s, t, &err), TR_OK);
    assert_non_null(strstr(err.msg, "has 3 lines but"));
    assert_non_null(strstr(err.msg, "has 2"));
    assert_non_null(strstr(err.msg, t));
    assert_null(c.src);
    /* empty lines, an empty file, a NUL byte, a missing file */
    th_write_str(t, "Bonjour.\n\nTrois\n");
    assert_int_not_equal(tr_mt_corpus_read(&c, s, t, &err), TR_OK);
    assert_non_null(strstr(err.msg, ":2: empty line"));
    th_write_str(t, "");
    assert_int_not_equal(tr_mt_corpus_read(&c, s, t, &err), TR_OK);
    assert_non_null(strstr(err.msg, "no sentences"));
    th_write(t, "a\nb\0c\nd\n", 8);
    assert_int_not_equal(tr_mt_corpus_read(&c, s, t, &err), TR_OK);
    assert_non_null(strstr(err.msg, ":2: NUL byte"));
    assert_int_not_equal(tr_mt_corpus_read(&c, s, "/nonexistent.fr", &err), TR_OK);
    assert_non_null(strstr(err.msg, "cannot open /nonexistent.fr"));
}

/* BPE, vocabularies and pairs of a written corpus of n pairs. */
typedef struct {
    tr_mt_corpus c;
    tr_bpe *b;
    tr_vocab *sv, *tv;
} fixture;

static void fixture_make(fixture *f, int n, int merges)
{
    char p[512];
    th_tmp(p, sizeof p, "mt_fix");
    write_pairs(p, n, 7);
    char s[600], t[600];
    snprintf(s, sizeof s, "%s.en", p);
    snprintf(t, sizeof t, "%s.fr", p);
    tr_err err;
    assert_int_equal(tr_mt_corpus_read(&f->c, s, t, &err), TR_OK);
    assert_int_equal(tr_mt_learn_bpe(&f->b, &f->c, merges, &err), TR_OK);
    assert_int_equal(tr_mt_vocab(&f->sv, f->b, f->c.src, f->c.n, s, &err), TR_OK);
    assert_int_equal(tr_mt_vocab(&f->tv, f->b, f->c.tgt, f->c.n, t, &err), TR_OK);
}

static void fixture_free(fixture *f)
{
    tr_vocab_free(f->sv);
    tr_vocab_free(f->tv);
    tr_bpe_free(f->b);
    tr_mt_corpus_free(&f->c);
}

static void test_ids_detok_roundtrip(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 200, 40);
    int32_t ids[TR_MT_MAX_LEN];
    tr_err err;
    for (int64_t i = 0; i < f.c.n; i++) {
        int n = tr_mt_ids(f.b, f.tv, f.c.tgt[i], ids, TR_MT_MAX_LEN, "t", i + 1, &err);
        assert_true(n > 0);
        for (int k = 0; k < n; k++)
            assert_true(ids[k] >= 2); /* every unit of the training text is known */
        char *back = tr_mt_detok(f.tv, ids, n);
        assert_string_equal(back, f.c.tgt[i]);
        free(back);
    }
    /* fewer units than characters: merges were learnt and used */
    int n = tr_mt_ids(f.b, f.sv, "One two three.", ids, TR_MT_MAX_LEN, "t", 1, &err);
    assert_true(n > 0 && n < (int)strlen("One two three."));
    /* an unseen character is <unk>; the rest still maps */
    n = tr_mt_ids(f.b, f.sv, "one Z two", ids, TR_MT_MAX_LEN, "t", 1, &err);
    assert_true(n >= 3);
    int unk = 0;
    for (int k = 0; k < n; k++)
        unk += ids[k] == 0;
    assert_true(unk >= 1 && unk < n);
    /* limits and bad text name the place */
    assert_int_equal(tr_mt_ids(f.b, f.sv, "one two three four", ids, 2, "<stdin>", 5, &err), -1);
    assert_non_null(strstr(err.msg, "<stdin>:5: the sentence has"));
    assert_non_null(strstr(err.msg, "the limit is 2"));
    assert_int_equal(tr_mt_ids(f.b, f.sv, "one \xff two", ids, TR_MT_MAX_LEN, "<stdin>", 3, &err), -1);
    assert_non_null(strstr(err.msg, "<stdin>:3"));
    assert_int_equal(tr_mt_ids(f.b, f.sv, "one\rtwo", ids, TR_MT_MAX_LEN, "x.en", 9, &err), -1);
    assert_non_null(strstr(err.msg, "x.en:9"));
    fixture_free(&f);
}

static void test_pairs_left_out_by_length(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 300, 0); /* no merges: a unit per character */
    int32_t ids[TR_MT_MAX_LEN];
    tr_err err;
    const int max_len = 20;
    int64_t expect = 0;
    for (int64_t i = 0; i < f.c.n; i++) {
        int ns = tr_mt_ids(f.b, f.sv, f.c.src[i], ids, TR_MT_MAX_LEN, "s", i + 1, &err);
        int nt = tr_mt_ids(f.b, f.tv, f.c.tgt[i], ids, TR_MT_MAX_LEN, "t", i + 1, &err);
        expect += ns > max_len || nt > max_len;
    }
    assert_true(expect > 0 && expect < f.c.n);
    tr_s2s_data d;
    int64_t skipped = -1;
    assert_int_equal(tr_mt_pairs(&f.c, f.b, f.sv, f.tv, max_len, &d, &skipped, &err), TR_OK);
    assert_int_equal(skipped, expect);
    assert_int_equal(d.n + skipped, f.c.n);
    assert_true(d.max_src <= max_len && d.max_tgt <= max_len);
    tr_s2s_data_free(&d);
    /* all sources, whatever their length */
    assert_int_equal(tr_mt_sources(&f.c, f.b, f.sv, &d, &err), TR_OK);
    assert_int_equal(d.n, f.c.n);
    assert_int_equal(d.tgt_off[d.n], 0);
    tr_s2s_data_free(&d);
    fixture_free(&f);
}

static void test_checkpoint_carries_subword_units(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 100, 30);
    tr_s2s_config c = {tr_vocab_size(f.sv), tr_vocab_size(f.tv), 8, 8, 8, 1, 1, TR_S2S_ATT_GENERAL, 1, 0.0f};
    tr_s2s m;
    tr_err err;
    assert_int_equal(tr_s2s_init(&m, &c, &err), TR_OK);
    tr_s2s_init_weights(&m, 3);
    char path[512];
    th_tmp(path, sizeof path, "mt_ckpt.st");
    char *bpe = tr_bpe_to_string(f.b);
    tr_meta extra[] = {{"triad.bpe", bpe}, {"triad.langs", "en>fr"}};
    assert_int_equal(tr_s2s_save(&m, "mt", f.sv, f.tv, 9, extra, 2, path, &err), TR_OK);
    tr_st_file *sf;
    assert_int_equal(tr_st_open(&sf, path, &err), TR_OK);
    assert_string_equal(tr_st_meta(sf, "triad.bpe"), bpe);
    assert_string_equal(tr_st_meta(sf, "triad.langs"), "en>fr");
    tr_bpe *b2;
    assert_int_equal(tr_bpe_from_string(&b2, tr_st_meta(sf, "triad.bpe"), path, &err), TR_OK);
    tr_st_close(sf);
    /* the units read back split text exactly as before */
    char *u1 = tr_bpe_encode_str(f.b, f.c.src[0], &err), *u2 = tr_bpe_encode_str(b2, f.c.src[0], &err);
    assert_string_equal(u1, u2);
    free(u1);
    free(u2);
    tr_bpe_free(b2);
    tr_s2s m2;
    tr_vocab *s2, *t2;
    int64_t step;
    assert_int_equal(tr_s2s_load(&m2, &s2, &t2, &step, "mt", path, &err), TR_OK);
    assert_int_equal(step, 9);
    assert_int_equal(tr_vocab_size(t2), tr_vocab_size(f.tv));
    tr_s2s_free(&m2);
    tr_vocab_free(s2);
    tr_vocab_free(t2);
    assert_int_not_equal(tr_s2s_load(&m2, &s2, &t2, NULL, "g2p", path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "is a mt model, not a g2p model"));
    free(bpe);
    tr_s2s_free(&m);
    fixture_free(&f);
}

/* ------------------------------------------------------------ the commands */

static char g_train[512], g_dev[512], g_model[512];

#define TINY_MODEL "--emb 32 --hidden 64 --batch 8 --threads 1 --quiet --lr 0.01 --merges 200 --dropout 0"

static int setup_cli(void **state)
{
    (void)state;
    th_tmp(g_train, sizeof g_train, "mt_numbers_train");
    th_tmp(g_dev, sizeof g_dev, "mt_numbers_dev");
    th_tmp(g_model, sizeof g_model, "mt_numbers.st");
    write_pairs(g_train, 500, 1);
    write_pairs(g_dev, 60, 2);
    int rc = th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt fr --output %s --force --epochs 20 --decay 1 --patience 0 " TINY_MODEL,
                      g_train, g_dev, g_model);
    if (rc) {
        fprintf(stderr, "training the shared model failed:\n%s\n", out);
        return -1;
    }
    return 0;
}

static double parse_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    assert_non_null(p);
    return atof(p + strlen(key));
}

static void test_cli_mt_learns(void **state)
{
    (void)state;
    int rc = th_triad(out, OUTSZ, "mt eval --model %s --data %s --beam 1", g_model, g_dev);
    assert_int_equal(rc, 0);
    assert_contains(out, "(en -> fr, 60 sentences, beam 1");
    double greedy = parse_after(out, "BLEU = ");
    /* word for word with a ten-word vocabulary: far above an untrained model's ~0 */
    if (!(greedy > 60.0))
        fail_msg("the made-up language pair was not learnt: %s", out);
    rc = th_triad(out, OUTSZ, "mt eval --model %s --data %s --beam 4", g_model, g_dev);
    assert_int_equal(rc, 0);
    assert_true(parse_after(out, "BLEU = ") > 60.0);
    /* translate: the same text as eval's --output, in input order */
    char hyp[512], en[600];
    th_tmp(hyp, sizeof hyp, "mt_hyp.txt");
    snprintf(en, sizeof en, "%s.en", g_dev);
    assert_int_equal(th_triad(out, OUTSZ, "mt eval --model %s --data %s --beam 2 --output %s", g_model, g_dev, hyp), 0);
    char *want = th_read(hyp, NULL);
    assert_int_equal(th_sh(out, OUTSZ, "'%s' mt translate --model %s --beam 2 < '%s'", getenv("TRIAD_BIN"), g_model, en),
                     0);
    assert_string_equal(out, want);
    free(want);
    /* k-best lists: ranks with non-increasing log-probabilities */
    rc = th_sh(out, OUTSZ, "printf 'One two.\\n' | '%s' mt translate --model %s --beam 3 --nbest 3", getenv("TRIAD_BIN"),
               g_model);
    assert_int_equal(rc, 0);
    double l1 = parse_after(out, "1\t"), l2 = parse_after(out, "\n2\t"), l3 = parse_after(out, "\n3\t");
    assert_true(l1 >= l2 && l2 >= l3 && l1 < 0);
}

static void test_cli_resume_keeps_units(void **state)
{
    (void)state;
    char a[512];
    th_tmp(a, sizeof a, "mt_resume.st");
    assert_int_equal(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt fr --output %s --force --epochs 2 "
                              "--max-steps 10 " TINY_MODEL, g_train, g_dev, a), 0);
    assert_int_equal(th_triad(out, OUTSZ, "mt train --train %s --dev %s --output %s --resume --threads 1 --quiet", g_train,
                              g_dev, a), 0);
    assert_contains(out, "dev BLEU");
    assert_int_equal(th_triad(out, OUTSZ, "mt eval --model %s --data %s --beam 1", a, g_dev), 0);
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --output %s --resume --merges 5", g_train, g_dev, a),
                  "--merges and --units cannot be combined with --resume");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src fr --tgt en --output %s --resume --epochs 3",
                           g_train, g_dev, a), "translates en into fr, not fr into en");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --output %s --resume --epochs 3 --select nll", g_train,
                           g_dev, a), "chooses its weights by dev bleu; it cannot go on with --select nll");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --output %s --resume --select loss", g_train, g_dev, a),
                  "--select must be bleu or nll");
    /* the reverse direction with the same units and vocabularies */
    char r[512];
    th_tmp(r, sizeof r, "mt_reverse.st");
    assert_int_equal(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src fr --tgt en --output %s --force --units %s "
                              "--max-steps 3 " TINY_MODEL, g_train, g_dev, r, a), 0);
    tr_st_file *f1, *f2;
    tr_err err;
    assert_int_equal(tr_st_open(&f1, a, &err), TR_OK);
    assert_int_equal(tr_st_open(&f2, r, &err), TR_OK);
    assert_string_equal(tr_st_meta(f1, "triad.bpe"), tr_st_meta(f2, "triad.bpe"));
    assert_string_equal(tr_st_meta(f1, "triad.src_vocab"), tr_st_meta(f2, "triad.tgt_vocab"));
    assert_string_equal(tr_st_meta(f2, "triad.langs"), "fr>en");
    tr_st_close(f1);
    tr_st_close(f2);
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt de --output %s --force --units %s",
                           g_train, g_dev, r, a), "not between en and de");
}

static void test_cli_bad_inputs(void **state)
{
    (void)state;
    const char *bin = getenv("TRIAD_BIN");
    char bad[512], be[600], bf[600], o[512];
    th_tmp(bad, sizeof bad, "mt_bad");
    snprintf(be, sizeof be, "%s.en", bad);
    snprintf(bf, sizeof bf, "%s.fr", bad);
    th_tmp(o, sizeof o, "mt_bad_out.st");
    remove(o);
    /* translate: empty line (the line before is answered), over-long line, wrong task */
    assert_failed(th_sh(out, OUTSZ, "printf 'One.\\n\\n' | '%s' mt translate --model %s --beam 1", bin, g_model),
                  "<stdin>:2: empty sentence");
    assert_true(strlen(out) > 0 && strchr(out, '\n') < strstr(out, "<stdin>:2"));
    char cmd[4096];
    int k = snprintf(cmd, sizeof cmd, "printf '");
    for (int i = 0; i < TR_MT_MAX_LEN + 1; i++)
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s", i ? " ten" : "Ten");
    snprintf(cmd + k, sizeof cmd - (size_t)k, "\\n' | '%s' mt translate --model %s", bin, g_model);
    assert_failed(th_sh(out, OUTSZ, "%s", cmd), "<stdin>:1: the sentence has");
    assert_contains(out, "the limit is 256");
    /* --keep-going: a bad line (empty, over-long) gets an empty answer in its place and a warning */
    k = snprintf(cmd, sizeof cmd, "printf 'One two.\\n\\n");
    for (int i = 0; i < TR_MT_MAX_LEN + 1; i++)
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s", i ? " ten" : "Ten");
    snprintf(cmd + k, sizeof cmd - (size_t)k, "\\nOne two.\\n' | '%s' mt translate --model %s --keep-going", bin, g_model);
    assert_int_equal(th_sh(out, OUTSZ, "%s 2>/dev/null | cat", cmd), 0);
    char *l2 = strchr(out, '\n');
    assert_non_null(l2);
    assert_true(l2 > out && l2[1] == '\n' && l2[2] == '\n');
    assert_int_equal(strncmp(out, l2 + 3, (size_t)(l2 - out + 1)), 0);
    assert_int_equal(strlen(l2 + 3), (size_t)(l2 - out + 1));
    assert_int_equal(th_sh(out, OUTSZ, "%s 2>&1 >/dev/null | cat", cmd), 0);
    assert_contains(out, "<stdin>:2: empty sentence; answered with an empty line");
    assert_contains(out, "<stdin>:3: the sentence has 257 subword units");
    char g2p[512];
    th_tmp(g2p, sizeof g2p, "mt_lexicon.txt");
    th_write_str(g2p, "CAT  K AE T\n");
    assert_failed(th_triad(out, OUTSZ, "g2p eval --model %s --data %s", g_model, g2p), "is a mt model, not a g2p model");
    /* training and eval: mismatched, empty-line and missing files fail before anything is written */
    th_write_str(be, "One two.\nThree.\nFour.\n");
    th_write_str(bf, "Un deux.\nTrois.\n");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt fr --output %s " TINY_MODEL, bad, g_dev,
                           o), "has 3 lines but");
    assert_contains(out, "has 2");
    assert_failed(th_triad(out, OUTSZ, "mt eval --model %s --data %s", g_model, bad), "has 3 lines but");
    th_write_str(bf, "Un deux.\n\nQuatre.\n");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt fr --output %s " TINY_MODEL, g_train, bad,
                           o), ".fr:2: empty line");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt de --output %s " TINY_MODEL, g_train,
                           g_dev, o), "cannot open");
    assert_false(th_exists(o));
    /* options */
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --output %s", g_train, g_dev, o),
                  "--src and --tgt are required");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src e/n --tgt fr --output %s", g_train, g_dev, o),
                  "--src and --tgt are file suffixes");
    assert_failed(th_triad(out, OUTSZ, "mt train --train %s --dev %s --src en --tgt fr --output %s", g_train, g_dev, g_model),
                  "exists; use --resume");
    assert_failed(th_triad(out, OUTSZ, "mt translate --model %s --beam 2 --nbest 3", g_model), "--nbest 3 needs --beam");
    assert_failed(th_triad(out, OUTSZ, "mt fly"), "unknown subcommand 'fly'");
    assert_int_equal(th_triad(out, OUTSZ, "mt translate --help"), 0);
    assert_contains(out, "up to 256 subword units");
    assert_false(th_exists(o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_reader),
        cmocka_unit_test(test_ids_detok_roundtrip),
        cmocka_unit_test(test_pairs_left_out_by_length),
        cmocka_unit_test(test_checkpoint_carries_subword_units),
    };
    const struct CMUnitTest cli[] = {
        cmocka_unit_test(test_cli_mt_learns),
        cmocka_unit_test(test_cli_resume_keeps_units),
        cmocka_unit_test(test_cli_bad_inputs),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests(cli, setup_cli, NULL);
}
