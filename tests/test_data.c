/* Data module: tokenizer (hand-written cases, lower-casing, punctuation,
 * UTF-8 validation), vocabulary (build, ranking, limits, serialisation) and
 * the lane batcher (hand-checked batches, lane cuts, end of epoch, rewind,
 * tell/seek, a reference model on random files, errors). */
#include "harness.h"
#include "triad/data.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

typedef struct {
    char buf[4096];
    size_t len;
    int n;
} joined;

static void join_token(void *ctx, const char *tok, size_t n)
{
    joined *j = ctx;
    if (j->n++)
        j->buf[j->len++] = '|';
    assert_true(j->len + n + 1 < sizeof j->buf);
    memcpy(j->buf + j->len, tok, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

/* Tokenizes s and returns the tokens joined by '|' (static buffer). */
static const char *toks(const char *s, int lower)
{
    static joined j;
    memset(&j, 0, sizeof j);
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_tokenize(s, strlen(s), lower, join_token, &j, "t.txt", 1, &err), TR_OK);
    return j.buf;
}

static void expect_bad_utf8(const char *s, size_t n, const char *msg)
{
    joined j;
    memset(&j, 0, sizeof j);
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_tokenize(s, n, 1, join_token, &j, "corpus.txt", 17, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, msg);
}

static char *tmp_file(char *buf, size_t n, const char *name, const char *content)
{
    th_tmp(buf, n, name);
    th_write_str(buf, content);
    return buf;
}

static tr_vocab *vocab_of(const char *s)
{
    tr_vocab *v;
    tr_err err;
    assert_int_equal(tr_vocab_from_string(&v, s, &err), TR_OK);
    return v;
}

/* ---------------------------------------------------------------- tokenizer */

static void test_tokenize_words_and_punctuation(void **state)
{
    (void)state;
    assert_string_equal(toks("Don't stop, well-known!", 1), "don't|stop|,|well-known|!");
    assert_string_equal(toks("Don't stop", 0), "Don't|stop");
    assert_string_equal(toks("rock'n'roll state-of-the-art", 1), "rock'n'roll|state-of-the-art");
    /* A quote or hyphen that does not join two word characters is its own token. */
    assert_string_equal(toks("'quoted' end- -start a--b x'", 1), "'|quoted|'|end|-|-|start|a|-|-|b|x|'");
    assert_string_equal(toks("It costs $3.14 (1,000 x2) under_score 42nd", 1),
                        "it|costs|$|3|.|14|(|1|,|000|x2|)|under_score|42nd");
    assert_string_equal(toks("a\tb\r\n  c\v\fd", 1), "a|b|c|d");
    assert_string_equal(toks("", 1), "");
    assert_string_equal(toks("   \t ", 1), "");
    assert_string_equal(toks("?!.", 1), "?|!|.");
    /* No token is empty and <unk>/<eos> can never come out of text. */
    assert_string_equal(toks("<unk> <eos>", 1), "<|unk|>|<|eos|>");
}

static void test_tokenize_unicode(void **state)
{
    (void)state;
    assert_string_equal(toks("Café naïve ÉCOLE Ÿ", 1), "café|naïve|école|Ÿ");
    assert_string_equal(toks("Café naïve ÉCOLE", 0), "Café|naïve|ÉCOLE");
    /* Latin-1 capitals À..Þ lower-case, but not the multiplication sign. */
    assert_string_equal(toks("ÀÞ×Ö", 1), "àþ×ö");
    /* Beyond Latin-1 nothing is lower-cased; Greek and CJK are word characters. */
    assert_string_equal(toks("ΑΒΓ 東京", 1), "ΑΒΓ|東京");
    /* Punctuation-like code points are single tokens. */
    assert_string_equal(toks("Ça—va «oui» 「x」 ¿qué? don’t", 1), "ça|—|va|«|oui|»|「|x|」|¿|qué|?|don|’|t");
    /* Non-breaking, ideographic and zero-width spaces separate; a BOM vanishes. */
    assert_string_equal(toks("a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x8b" "d", 1), "a|b|c|d");
    assert_string_equal(toks("\xef\xbb\xbfIn the", 1), "in|the");
    /* Hyphen-joined words may hold non-ASCII letters. */
    assert_string_equal(toks("Jean-Étienne l'été", 1), "jean-étienne|l'été");
}

static void test_tokenize_long_token_is_cut(void **state)
{
    (void)state;
    char s[400];
    memset(s, 'a', 300);
    s[300] = '\0';
    const char *t = toks(s, 1);
    assert_int_equal(strlen(t), TR_MAX_TOKEN);
    /* The cut falls on a character boundary: 255 'a' + 'é' (2 bytes) keeps 255. */
    memset(s, 'A', 255);
    strcpy(s + 255, "\xc3\xa9xyz !");
    t = toks(s, 1);
    assert_int_equal(strlen(t), 255 + 2);
    assert_true(t[254] == 'a' && t[255] == '|' && t[256] == '!');
}

static void test_tokenize_invalid_utf8(void **state)
{
    (void)state;
    expect_bad_utf8("caf\xc3", 4, "corpus.txt:17: invalid UTF-8 at byte 4");            /* truncated at end */
    expect_bad_utf8("ab \xe2\x82 x", 7, "corpus.txt:17: invalid UTF-8 at byte 4");      /* truncated 3-byte */
    expect_bad_utf8("abcd\xc0\xaf", 6, "corpus.txt:17: invalid UTF-8 at byte 5");       /* overlong '/' */
    expect_bad_utf8("\xe0\x80\xaf", 3, "corpus.txt:17: invalid UTF-8 at byte 1");       /* overlong 3-byte */
    expect_bad_utf8("x \xf0\x82\x82\xac", 6, "corpus.txt:17: invalid UTF-8 at byte 3"); /* overlong 4-byte */
    expect_bad_utf8("\xed\xa0\x80", 3, "corpus.txt:17: invalid UTF-8 at byte 1");       /* surrogate D800 */
    expect_bad_utf8("a\xf4\x90\x80\x80", 5, "corpus.txt:17: invalid UTF-8 at byte 2");  /* > U+10FFFF */
    expect_bad_utf8("\xf5\x80\x80\x80", 4, "corpus.txt:17: invalid UTF-8 at byte 1");   /* byte F5 */
    expect_bad_utf8("ok\xff", 3, "corpus.txt:17: invalid UTF-8 at byte 3");             /* byte FF */
    expect_bad_utf8("\x80" "abc", 4, "corpus.txt:17: invalid UTF-8 at byte 1");         /* stray continuation */
    expect_bad_utf8("don'\xc3", 5, "corpus.txt:17: invalid UTF-8 at byte 5");           /* after a joiner */
    expect_bad_utf8("ab\0cd", 5, "corpus.txt:17: NUL byte at byte 3");
    /* Valid edge cases pass: U+07FF, U+FFFF, U+10000, U+10FFFF, U+E000. */
    assert_string_equal(toks("\xdf\xbf \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xee\x80\x80", 1),
                        "\xdf\xbf|\xef\xbf\xbf|\xf0\x90\x80\x80|\xf4\x8f\xbf\xbf|\xee\x80\x80");
    /* Without a file name the message still says where. */
    tr_err err;
    joined j;
    memset(&j, 0, sizeof j);
    assert_int_equal(tr_tokenize("\xc1\x81", 2, 1, join_token, &j, NULL, 0, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "<input>: invalid UTF-8 at byte 1");
}

static void test_invalid_utf8_in_files(void **state)
{
    (void)state;
    char p[512];
    tr_err err;
    tr_vocab *v = NULL;
    tmp_file(p, sizeof p, "data_bad.txt", "good line\nsecond\nabc \xc3\x28 d\nmore\n");
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, NULL, NULL, &err), TR_ERR_FORMAT);
    assert_null(v);
    char want[700];
    snprintf(want, sizeof want, "%s:3: invalid UTF-8 at byte 5", p);
    assert_string_equal(err.msg, want);

    tr_vocab *vv = vocab_of("<unk>\n<eos>\ngood");
    tr_batcher *b = NULL;
    assert_int_equal(tr_batcher_open(&b, p, vv, 1, 1, 4, &err), TR_ERR_FORMAT);
    assert_null(b);
    assert_string_equal(err.msg, want);

    th_tmp(p, sizeof p, "data_nul.txt");
    th_write(p, "one\ntwo\nthree\nfo\0ur\n", 20);
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, NULL, NULL, &err), TR_ERR_FORMAT);
    snprintf(want, sizeof want, "%s:4: NUL byte at byte 3", p);
    assert_string_equal(err.msg, want);
    tr_vocab_free(vv);
}

/* ---------------------------------------------------------------- vocabulary */

static void test_vocab_basics(void **state)
{
    (void)state;
    tr_vocab *v = tr_vocab_new();
    assert_int_equal(tr_vocab_size(v), 2);
    assert_string_equal(tr_vocab_word(v, TR_UNK_ID), TR_UNK);
    assert_string_equal(tr_vocab_word(v, TR_EOS_ID), TR_EOS);
    assert_int_equal(tr_vocab_find(v, "<eos>", 5), TR_EOS_ID);
    assert_int_equal(tr_vocab_find(v, "cat", 3), -1);
    assert_int_equal(tr_vocab_id(v, "cat", 3), TR_UNK_ID);
    assert_int_equal(tr_vocab_add(v, "cat", 3), 2);
    assert_int_equal(tr_vocab_add(v, "catalog", 3), 2); /* only n bytes count */
    const char *cat = tr_vocab_word(v, 2);
    /* Many words: the table grows, ids stay dense, old pointers stay valid. */
    char w[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(w, sizeof w, "w%d", i);
        assert_int_equal(tr_vocab_add(v, w, (size_t)n), 3 + i);
    }
    assert_int_equal(tr_vocab_size(v), 20003);
    for (int i = 0; i < 20000; i += 997) {
        int n = snprintf(w, sizeof w, "w%d", i);
        assert_int_equal(tr_vocab_find(v, w, (size_t)n), 3 + i);
        assert_string_equal(tr_vocab_word(v, 3 + i), w);
    }
    assert_ptr_equal(tr_vocab_word(v, 2), cat);
    assert_string_equal(cat, "cat");
    tr_vocab_free(v);
}

static void test_vocab_build_counts_and_order(void **state)
{
    (void)state;
    char p[512];
    tr_err err;
    /* counts: the 4, b 3, a 2, ab 2, Zed->zed 2, c 1, d 1; eos 5 lines */
    tmp_file(p, sizeof p, "data_vocab.txt",
             "the b a ab\n"
             "\n"
             "The b zed c\n"
             "   \n"
             "the ab\n"
             "THE Zed b a\n"
             "d");
    tr_vocab *v;
    int64_t nl = -1, nt = -1;
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, &nl, &nt, &err), TR_OK);
    assert_int_equal(nl, 4 + 1);
    assert_int_equal(nt, 15 + 5);
    char *s = tr_vocab_to_string(v);
    assert_string_equal(s, "<unk>\n<eos>\nthe\nb\na\nab\nzed\nc\nd");
    free(s);
    tr_vocab_free(v);

    /* min_count drops the singletons; max_size counts the specials. */
    assert_int_equal(tr_vocab_build(&v, p, 1, 2, 0, NULL, NULL, &err), TR_OK);
    s = tr_vocab_to_string(v);
    assert_string_equal(s, "<unk>\n<eos>\nthe\nb\na\nab\nzed");
    free(s);
    tr_vocab_free(v);
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 4, NULL, NULL, &err), TR_OK);
    s = tr_vocab_to_string(v);
    assert_string_equal(s, "<unk>\n<eos>\nthe\nb");
    free(s);
    tr_vocab_free(v);
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 2, NULL, NULL, &err), TR_OK);
    assert_int_equal(tr_vocab_size(v), 2);
    tr_vocab_free(v);

    /* Without lower-casing The/THE/Zed are types of their own; ties in byte order. */
    assert_int_equal(tr_vocab_build(&v, p, 0, 1, 0, NULL, NULL, &err), TR_OK);
    s = tr_vocab_to_string(v);
    assert_string_equal(s, "<unk>\n<eos>\nb\na\nab\nthe\nTHE\nThe\nZed\nc\nd\nzed");
    free(s);
    tr_vocab_free(v);

    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 1, NULL, NULL, &err), TR_ERR_ARG);
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, -5, NULL, NULL, &err), TR_ERR_ARG);
}

static void test_vocab_build_errors(void **state)
{
    (void)state;
    char p[512], want[700];
    tr_err err;
    tr_vocab *v = NULL;
    th_tmp(p, sizeof p, "data_no_such_file.txt");
    remove(p);
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, NULL, NULL, &err), TR_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
    assert_string_equal(err.msg, want);
    tmp_file(p, sizeof p, "data_empty.txt", "");
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, NULL, NULL, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "no tokens"));
    tmp_file(p, sizeof p, "data_blank.txt", "\n   \n\t\n\xc2\xa0\n");
    assert_int_equal(tr_vocab_build(&v, p, 1, 1, 0, NULL, NULL, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no tokens"));
    assert_null(v);
}

static void test_vocab_string_round_trip(void **state)
{
    (void)state;
    tr_vocab *v = tr_vocab_new();
    const char *words[] = {"the", "café", "well-known", "don't", "—", "ΑΒΓ"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        tr_vocab_add(v, words[i], strlen(words[i]));
    char *s = tr_vocab_to_string(v);
    tr_vocab *w;
    tr_err err;
    assert_int_equal(tr_vocab_from_string(&w, s, &err), TR_OK);
    assert_int_equal(tr_vocab_size(w), tr_vocab_size(v));
    for (int32_t i = 0; i < tr_vocab_size(v); i++) {
        assert_string_equal(tr_vocab_word(w, i), tr_vocab_word(v, i));
        const char *x = tr_vocab_word(v, i);
        assert_int_equal(tr_vocab_find(w, x, strlen(x)), i);
    }
    char *s2 = tr_vocab_to_string(w);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    tr_vocab_free(w);
    tr_vocab_free(v);

    /* A trailing newline is accepted. */
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>\nx\n", &err), TR_OK);
    assert_int_equal(tr_vocab_size(w), 3);
    tr_vocab_free(w);
    /* Only the specials. */
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>", &err), TR_OK);
    assert_int_equal(tr_vocab_size(w), 2);
    tr_vocab_free(w);
}

static void test_vocab_string_rejects(void **state)
{
    (void)state;
    tr_vocab *w = (tr_vocab *)&w;
    tr_err err;
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>\na\nb\na", &err), TR_ERR_FORMAT);
    assert_null(w);
    assert_string_equal(err.msg, "vocabulary:5: word 'a' repeats id 2");
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>\n<eos>", &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "repeats id 1"));
    assert_int_equal(tr_vocab_from_string(&w, "a\nb\nc", &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "<unk>"));
    assert_int_equal(tr_vocab_from_string(&w, "<eos>\n<unk>\nc", &err), TR_ERR_FORMAT);
    assert_int_equal(tr_vocab_from_string(&w, "<unk>", &err), TR_ERR_FORMAT);
    assert_int_equal(tr_vocab_from_string(&w, "", &err), TR_ERR_FORMAT);
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>\n\nx", &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "vocabulary:3: empty word");
    assert_int_equal(tr_vocab_from_string(&w, "<unk>\n<eos>\nx\xed\xa0\x80", &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "vocabulary:3: invalid UTF-8 at byte 2");
    assert_null(w);
}

/* ---------------------------------------------------------------- batcher */

#define VOCAB_AH "<unk>\n<eos>\na\nb\nc\nd\ne\nf\ng\nh" /* a=2 ... h=9 */

static void expect_batch(tr_batcher *b, int T, int B, int steps, const int32_t *wx, const int32_t *wy)
{
    int32_t x[64], y[64];
    int n = -1;
    tr_err err;
    assert_true(T * B <= 64);
    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
    assert_int_equal(n, steps);
    for (int i = 0; i < steps * B; i++) {
        assert_int_equal(x[i], wx[i]);
        assert_int_equal(y[i], wy[i]);
    }
}

static void test_batcher_hand_checked(void **state)
{
    (void)state;
    char p[512];
    tr_err err;
    /* Lines of 3 tokens (18 in all); B = 2 cuts at 9 tokens: line 4, byte 12.
     * lane 0: a b <eos> c d <eos> e f <eos>  = 2 3 1 4 5 1 6 7 1
     * lane 1: g h <eos> a c <eos> b d <eos>  = 8 9 1 2 4 1 3 5 1 */
    tmp_file(p, sizeof p, "data_hand.txt", "a b\nc d\ne f\ng h\na c\nb d\n");
    tr_vocab *v = vocab_of(VOCAB_AH);
    tr_batcher *b;
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 2, 3, &err), TR_OK);
    assert_int_equal(tr_batcher_lanes(b), 2);
    assert_int_equal(tr_batcher_total_tokens(b), 18);
    assert_int_equal(tr_batcher_served(b), 0);
    int64_t pos[5];
    tr_batcher_tell(b, pos);
    int64_t start[5] = {0, 0, 12, 0, 0};
    assert_memory_equal(pos, start, sizeof pos);
    for (int epoch = 0; epoch < 2; epoch++) {
        /* x[t*B + i]; each batch starts with the previous batch's last target. */
        const int32_t x1[] = {2, 8, 3, 9, 1, 1}, y1[] = {3, 9, 1, 1, 4, 2};
        const int32_t x2[] = {4, 2, 5, 4, 1, 1}, y2[] = {5, 4, 1, 1, 6, 3};
        const int32_t x3[] = {6, 3, 7, 5}, y3[] = {7, 5, 1, 1};
        expect_batch(b, 3, 2, 3, x1, y1);
        assert_int_equal(tr_batcher_served(b), 6);
        tr_batcher_tell(b, pos);
        int64_t p1[5] = {4, 0, 16, 0, 6};
        assert_memory_equal(pos, p1, sizeof pos);
        expect_batch(b, 3, 2, 3, x2, y2);
        expect_batch(b, 3, 2, 2, x3, y3); /* the last batch is shorter */
        assert_int_equal(tr_batcher_served(b), 16);
        expect_batch(b, 3, 2, 0, NULL, NULL); /* end of epoch, and it stays there */
        expect_batch(b, 3, 2, 0, NULL, NULL);
        assert_int_equal(tr_batcher_rewind(b, &err), TR_OK);
        assert_int_equal(tr_batcher_served(b), 0);
    }
    tr_batcher_close(b);

    /* T = 2: positions inside a line; the <eos> is the line's last token. */
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 2, 2, &err), TR_OK);
    const int32_t x1[] = {2, 8, 3, 9}, y1[] = {3, 9, 1, 1};
    expect_batch(b, 2, 2, 2, x1, y1);
    tr_batcher_tell(b, pos);
    int64_t p1[5] = {0, 2, 12, 2, 4};
    assert_memory_equal(pos, p1, sizeof pos);
    tr_batcher_close(b);

    /* B = 1 reads the whole file; every token but the first is a target. */
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 1, 4, &err), TR_OK);
    const int32_t all[] = {2, 3, 1, 4, 5, 1, 6, 7, 1, 8, 9, 1, 2, 4, 1, 3, 5, 1};
    int32_t x[4], y[4];
    int n, k = 0;
    while (tr_batcher_next(b, x, y, &n, &err) == TR_OK && n > 0) {
        for (int t = 0; t < n; t++) {
            assert_int_equal(x[t], all[k + t]);
            assert_int_equal(y[t], all[k + t + 1]);
        }
        k += n;
    }
    assert_int_equal(k, 17);
    assert_int_equal(tr_batcher_served(b), 17);
    tr_batcher_close(b);
    tr_vocab_free(v);
}

static void test_batcher_lane_cuts_and_unknowns(void **state)
{
    (void)state;
    char p[512];
    tr_err err;
    /* Lines of 9, 2, 2, 2, 2 tokens (17 in all) starting at bytes 0, 16, 18,
     * 20, 22. B = 2 cuts at 8 tokens, so lane 1 starts at the first line
     * with at least 8 tokens before it: byte 16. */
    tmp_file(p, sizeof p, "data_uneven.txt", "a b c d e f g H\na\nb\nc\nzz\n");
    tr_vocab *v = vocab_of(VOCAB_AH);
    tr_batcher *b;
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 2, 10, &err), TR_OK);
    int32_t x[20], y[20];
    int n;
    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
    /* lane 0: 9 tokens, lane 1: a <eos> b <eos> c <eos> <unk> <eos> = 8 tokens. */
    assert_int_equal(n, 7);
    const int32_t lane0[] = {2, 3, 4, 5, 6, 7, 8, 9, 1}, lane1[] = {2, 1, 3, 1, 4, 1, 0, 1};
    for (int t = 0; t < n; t++) {
        assert_int_equal(x[t * 2], lane0[t]);
        assert_int_equal(y[t * 2], lane0[t + 1]);
        assert_int_equal(x[t * 2 + 1], lane1[t]);
        assert_int_equal(y[t * 2 + 1], lane1[t + 1]);
    }
    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
    assert_int_equal(n, 0);
    tr_batcher_close(b);
    /* Without lower-casing "H" is unknown. */
    assert_int_equal(tr_batcher_open(&b, p, v, 0, 2, 10, &err), TR_OK);
    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
    assert_int_equal(y[12], TR_UNK_ID);
    tr_batcher_close(b);

    /* B = 4 cuts at 4, 8 and 12 tokens: the first line holds 9 of the 17, so
     * lanes 1 and 2 would both start at line 2 and lane 1 be empty. */
    b = (tr_batcher *)&b;
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 4, 10, &err), TR_ERR_ARG);
    assert_null(b);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "lane 1 of 4"));
    tr_vocab_free(v);
}

static void test_batcher_errors(void **state)
{
    (void)state;
    char p[512], want[700];
    tr_err err;
    tr_vocab *v = vocab_of(VOCAB_AH);
    tr_batcher *b = NULL;
    th_tmp(p, sizeof p, "data_missing.txt");
    remove(p);
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 2, 5, &err), TR_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
    assert_string_equal(err.msg, want);
    tmp_file(p, sizeof p, "data_empty2.txt", "");
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 1, 5, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "no tokens"));
    tmp_file(p, sizeof p, "data_blank2.txt", "  \n\n \t \n");
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 1, 5, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no tokens"));
    /* Blank lines do not count as lines. */
    tmp_file(p, sizeof p, "data_few.txt", "a b\n\n\nc\n");
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 3, 5, &err), TR_ERR_ARG);
    snprintf(want, sizeof want, "%s: 2 lines with tokens, fewer than the 3 lanes", p);
    assert_string_equal(err.msg, want);
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 0, 5, &err), TR_ERR_ARG);
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 1, 0, &err), TR_ERR_ARG);
    assert_null(b);
    /* Two lines, two lanes: fine, one batch of one step each... */
    assert_int_equal(tr_batcher_open(&b, p, v, 1, 2, 5, &err), TR_OK);
    int32_t x[10], y[10];
    int n;
    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
    assert_int_equal(n, 1); /* lane 1 is "c <eos>" */
    assert_int_equal(x[1], 4);
    assert_int_equal(y[1], 1);
    /* ...and seek refuses positions that are not token starts of the lane. */
    int64_t pos[5];
    tr_batcher_tell(b, pos);
    int64_t good[5];
    memcpy(good, pos, sizeof pos);
    pos[0] = 1; /* inside a line */
    assert_int_equal(tr_batcher_seek(b, pos, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "not the start of a line"));
    memcpy(pos, good, sizeof pos);
    pos[0] = pos[2]; /* lane 1's line, given to lane 0 */
    assert_int_equal(tr_batcher_seek(b, pos, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "outside the lane"));
    memcpy(pos, good, sizeof pos);
    pos[1] = 3; /* "a b" has tokens 0..2 */
    assert_int_equal(tr_batcher_seek(b, pos, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "no token 3"));
    memcpy(pos, good, sizeof pos);
    pos[4] = -1;
    assert_int_equal(tr_batcher_seek(b, pos, &err), TR_ERR_ARG);
    assert_int_equal(tr_batcher_seek(b, good, &err), TR_OK);
    tr_batcher_close(b);
    tr_vocab_free(v);
}

/* ---- a reference model of the lanes, on random files */

typedef struct {
    const tr_vocab *v;
    int32_t *ids;
    int64_t n;
} ref_ctx;

static void ref_token(void *p, const char *tok, size_t n)
{
    ref_ctx *c = p;
    c->ids[c->n++] = tr_vocab_id(c->v, tok, n);
}

/* Token ids of every lane of text (size bytes), computed in memory from the
 * documented rule: lane i starts at the first line before which at least
 * floor(i * total / B) tokens lie. lanes[i] gets malloc'ed arrays, lens[i]
 * their lengths. */
static int64_t ref_line_tokens(const tr_vocab *v, const char *text, int64_t o, int64_t e)
{
    ref_ctx c = {v, malloc(sizeof(int32_t) * (size_t)(e - o + 1)), 0};
    tr_err err;
    assert_int_equal(tr_tokenize(text + o, (size_t)(e - o), 1, ref_token, &c, NULL, 0, &err), TR_OK);
    free(c.ids);
    return c.n > 0 ? c.n + 1 : 0;
}

static void reference_lanes(const char *text, int64_t size, const tr_vocab *v, int B, int32_t **lanes, int64_t *lens)
{
    int64_t *starts = calloc((size_t)B + 1, sizeof *starts), total = 0, cum = 0;
    for (int64_t o = 0; o < size;) {
        const char *nl = memchr(text + o, '\n', (size_t)(size - o));
        int64_t e = nl ? nl - text : size;
        total += ref_line_tokens(v, text, o, e);
        o = e + 1;
    }
    int i = 0;
    for (int64_t o = 0; o < size;) {
        const char *nl = memchr(text + o, '\n', (size_t)(size - o));
        int64_t e = nl ? nl - text : size;
        while (i < B && (int64_t)i * total / B <= cum) /* small files: no overflow */
            starts[i++] = o;
        cum += ref_line_tokens(v, text, o, e);
        o = e + 1;
    }
    while (i < B)
        starts[i++] = size;
    starts[B] = size;
    for (int i = 0; i < B; i++) {
        ref_ctx c = {v, malloc(sizeof(int32_t) * (size_t)(size + 1)), 0};
        int64_t o = starts[i];
        while (o < starts[i + 1]) {
            const char *nl = memchr(text + o, '\n', (size_t)(size - o));
            int64_t e = nl ? nl - text : size;
            int64_t before = c.n;
            tr_err err;
            assert_int_equal(tr_tokenize(text + o, (size_t)(e - o), 1, ref_token, &c, NULL, 0, &err), TR_OK);
            if (c.n > before)
                c.ids[c.n++] = TR_EOS_ID;
            o = e + 1;
        }
        lanes[i] = c.ids;
        lens[i] = c.n;
    }
    free(starts);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Collects every remaining batch into out (steps then x then y per batch). */
static size_t drain(tr_batcher *b, int B, int T, int32_t *out)
{
    size_t k = 0;
    int32_t *x = malloc(sizeof(int32_t) * (size_t)(B * T)), *y = malloc(sizeof(int32_t) * (size_t)(B * T));
    int n;
    tr_err err;
    for (;;) {
        assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
        if (!n)
            break;
        out[k++] = n;
        memcpy(out + k, x, sizeof(int32_t) * (size_t)(n * B));
        k += (size_t)(n * B);
        memcpy(out + k, y, sizeof(int32_t) * (size_t)(n * B));
        k += (size_t)(n * B);
    }
    free(x);
    free(y);
    return k;
}

static void test_batcher_matches_reference(void **state)
{
    (void)state;
    const char *words[] = {"the", "The", "LORD", "café", "Über", "well-known", "don't", "x", ",", ".", "—", "zzz"};
    uint64_t seed = 12345;
    char *text = malloc(1 << 16);
    char p[512];
    th_tmp(p, sizeof p, "data_random.txt");
    tr_vocab *v = vocab_of("<unk>\n<eos>\nthe\nlord\ncafé\nüber\nwell-known\n,\n.\n—");
    int Bs[] = {1, 2, 3, 5, 8}, Ts[] = {1, 3, 7};
    int ran = 0, refused = 0;
    for (int rep = 0; rep < 4; rep++) {
        int64_t size = 0;
        int nlines = 20 + (int)(lcg(&seed) % 40);
        for (int l = 0; l < nlines; l++) {
            int nw = (int)(lcg(&seed) % 13) - 1; /* some blank lines */
            if (nw < 0 && lcg(&seed) % 2)
                size += sprintf(text + size, "   ");
            for (int w = 0; w < nw; w++)
                size += sprintf(text + size, "%s%s", w ? " " : "", words[lcg(&seed) % 12]);
            if (l + 1 < nlines || rep % 2 == 0) /* with and without a final newline */
                text[size++] = '\n';
        }
        th_write(p, text, (size_t)size);
        for (size_t bi = 0; bi < sizeof Bs / sizeof *Bs; bi++) {
            for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
                int B = Bs[bi], T = Ts[ti];
                int32_t *lanes[8];
                int64_t lens[8], total = 0, minlen = INT64_MAX;
                reference_lanes(text, size, v, B, lanes, lens);
                int empty = 0;
                for (int i = 0; i < B; i++) {
                    total += lens[i];
                    if (lens[i] < minlen)
                        minlen = lens[i];
                    empty |= lens[i] == 0;
                }
                tr_batcher *b;
                tr_err err;
                tr_status st = tr_batcher_open(&b, p, v, 1, B, T, &err);
                if (empty) { /* the rule leaves a lane without tokens */
                    assert_int_equal(st, TR_ERR_ARG);
                    refused++;
                    for (int i = 0; i < B; i++)
                        free(lanes[i]);
                    continue;
                }
                assert_int_equal(st, TR_OK);
                ran++;
                assert_int_equal(tr_batcher_total_tokens(b), total);
                /* Reference batches: every lane advances together until the
                 * shortest one runs out. */
                size_t cap = (size_t)(2 * total + 4 * minlen + 16);
                int32_t *want = malloc(sizeof(int32_t) * cap), *got = malloc(sizeof(int32_t) * cap);
                size_t k = 0;
                for (int64_t h = 0; h + 1 < minlen;) {
                    int n = (int)(minlen - 1 - h < T ? minlen - 1 - h : T);
                    want[k++] = n;
                    for (int t = 0; t < n; t++)
                        for (int i = 0; i < B; i++)
                            want[k + (size_t)(t * B + i)] = lanes[i][h + t];
                    k += (size_t)(n * B);
                    for (int t = 0; t < n; t++)
                        for (int i = 0; i < B; i++)
                            want[k + (size_t)(t * B + i)] = lanes[i][h + t + 1];
                    k += (size_t)(n * B);
                    h += n;
                }
                size_t g = drain(b, B, T, got);
                assert_int_equal(g, k);
                assert_memory_equal(got, want, sizeof(int32_t) * k);
                assert_int_equal(tr_batcher_served(b), (minlen - 1) * B);
                if (B == 1)
                    assert_int_equal(tr_batcher_served(b), total - 1);

                /* Rewind gives the same epoch; tell/seek in the middle resumes it
                 * exactly, also in a freshly opened batcher. */
                assert_int_equal(tr_batcher_rewind(b, &err), TR_OK);
                g = drain(b, B, T, got);
                assert_int_equal(g, k);
                assert_memory_equal(got, want, sizeof(int32_t) * k);
                assert_int_equal(tr_batcher_rewind(b, &err), TR_OK);
                int nb = (int)(lcg(&seed) % 4);
                int32_t *x = malloc(sizeof(int32_t) * (size_t)(B * T)), *y = malloc(sizeof(int32_t) * (size_t)(B * T));
                int n = 1;
                for (int j = 0; j < nb && n; j++)
                    assert_int_equal(tr_batcher_next(b, x, y, &n, &err), TR_OK);
                int64_t pos[17];
                tr_batcher_tell(b, pos);
                int64_t served = tr_batcher_served(b);
                size_t rest = drain(b, B, T, got);
                tr_batcher *c;
                assert_int_equal(tr_batcher_open(&c, p, v, 1, B, T, &err), TR_OK);
                assert_int_equal(tr_batcher_seek(c, pos, &err), TR_OK);
                assert_int_equal(tr_batcher_served(c), served);
                int32_t *got2 = malloc(sizeof(int32_t) * cap);
                assert_int_equal(drain(c, B, T, got2), rest);
                assert_memory_equal(got2, got, sizeof(int32_t) * rest);
                assert_int_equal(tr_batcher_served(c), tr_batcher_served(b));
                /* Seeking back in the same batcher works too. */
                assert_int_equal(tr_batcher_seek(b, pos, &err), TR_OK);
                assert_int_equal(drain(b, B, T, got2), rest);
                assert_memory_equal(got2, got, sizeof(int32_t) * rest);
                tr_batcher_close(c);
                free(got2);
                free(x);
                free(y);
                free(want);
                free(got);
                tr_batcher_close(b);
                for (int i = 0; i < B; i++)
                    free(lanes[i]);
            }
        }
    }
    assert_true(ran >= 40); /* the comparison did run, mostly */
    print_message("reference comparison: %d configurations, %d with an empty lane\n", ran, refused);
    tr_vocab_free(v);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_words_and_punctuation),
        cmocka_unit_test(test_tokenize_unicode),
        cmocka_unit_test(test_tokenize_long_token_is_cut),
        cmocka_unit_test(test_tokenize_invalid_utf8),
        cmocka_unit_test(test_invalid_utf8_in_files),
        cmocka_unit_test(test_vocab_basics),
        cmocka_unit_test(test_vocab_build_counts_and_order),
        cmocka_unit_test(test_vocab_build_errors),
        cmocka_unit_test(test_vocab_string_round_trip),
        cmocka_unit_test(test_vocab_string_rejects),
        cmocka_unit_test(test_batcher_hand_checked),
        cmocka_unit_test(test_batcher_lane_cuts_and_unknowns),
        cmocka_unit_test(test_batcher_errors),
        cmocka_unit_test(test_batcher_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
