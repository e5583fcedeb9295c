/* Byte-pair encoding: words and the space marker, merges learned on tiny
 * corpora against hand-computed lists and against a naive re-counting
 * learner on random corpora, applying merges, the exact round trip
 * text -> units -> text on real-looking text (UTF-8, punctuation, odd
 * spacing), the text format (round trip, files, every malformed-input
 * message with its line number) and bad text. */
#include "harness.h"
#include "triad/bpe.h"

#include <stdlib.h>
#include <string.h>

#define SP TR_BPE_SPACE

/* ---------------------------------------------------------------- helpers */

static tr_bpe_counts *counts_of(const char *const *lines, int n)
{
    tr_bpe_counts *c = tr_bpe_counts_new();
    tr_err err;
    for (int i = 0; i < n; i++)
        assert_int_equal(tr_bpe_counts_add(c, lines[i], strlen(lines[i]), "t.txt", i + 1, &err), TR_OK);
    return c;
}

static tr_bpe *learn(const char *const *lines, int n, int merges, int64_t min_count)
{
    tr_bpe_counts *c = counts_of(lines, n);
    tr_bpe *b;
    tr_err err;
    assert_int_equal(tr_bpe_learn(&b, c, merges, min_count, &err), TR_OK);
    tr_bpe_counts_free(c);
    return b;
}

/* The merges as "l r|l r|..." (static buffer). */
static const char *merges_str(const tr_bpe *b)
{
    static char buf[8192];
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < tr_bpe_merges(b); i++) {
        const char *l, *r;
        tr_bpe_merge(b, i, &l, &r);
        int w = snprintf(buf + k, sizeof buf - k, "%s%s %s", i ? "|" : "", l, r);
        assert_true(w > 0 && (size_t)w < sizeof buf - k);
        k += (size_t)w;
    }
    return buf;
}

static void expect_encode(const tr_bpe *b, const char *text, const char *want)
{
    tr_err err;
    char *got = tr_bpe_encode_str(b, text, &err);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("encode(\"%s\") = \"%s\", expected \"%s\"", text, got, want);
    free(got);
}

typedef struct {
    char *units[512];
    int n;
} unit_list;

static void collect(void *ctx, const char *u, size_t len)
{
    unit_list *l = ctx;
    assert_true(l->n < 512 && len > 0);
    assert_null(memchr(u, ' ', len));
    l->units[l->n] = malloc(len + 1);
    memcpy(l->units[l->n], u, len);
    l->units[l->n][len] = '\0';
    l->n++;
}

/* text -> units -> text, through both decoders. */
static void expect_round_trip(const tr_bpe *b, const char *text)
{
    tr_err err;
    unit_list l;
    l.n = 0;
    assert_int_equal(tr_bpe_encode(b, text, strlen(text), collect, &l, NULL, 0, &err), TR_OK);
    char *back = tr_bpe_decode((const char *const *)l.units, l.n);
    if (strcmp(back, text) != 0)
        fail_msg("decode(encode(\"%s\")) = \"%s\"", text, back);
    free(back);
    char *joined = tr_bpe_encode_str(b, text, &err);
    back = tr_bpe_decode_str(joined);
    if (strcmp(back, text) != 0)
        fail_msg("decode_str(\"%s\") = \"%s\", expected \"%s\"", joined, back, text);
    free(back);
    free(joined);
    for (int i = 0; i < l.n; i++)
        free(l.units[i]);
}

static void expect_parse_error(const char *text, const char *name, const char *msg)
{
    tr_bpe *b = (tr_bpe *)&b;
    tr_err err;
    assert_int_equal(tr_bpe_from_string(&b, text, name, &err), TR_ERR_FORMAT);
    assert_null(b);
    assert_string_equal(err.msg, msg);
}

/* ---------------------------------------------------------------- words */

static void test_words(void **state)
{
    (void)state;
    const char *lines[] = {"Don't panic, Bob.", "l'été -- rock'n'roll  x "};
    tr_bpe_counts *c = counts_of(lines, 2);
    /* "_Don't" "_panic" "," "_Bob" "." and "_l'été" "_-" "-" "_rock'n'roll"
     * "_" "_x" "_" (_ = the marker) */
    assert_int_equal(tr_bpe_counts_total(c), 12);
    assert_int_equal(tr_bpe_counts_types(c), 11); /* the lone marker twice */
    tr_bpe *b;
    tr_err err;
    assert_int_equal(tr_bpe_learn(&b, c, 1000, 1, &err), TR_OK);
    tr_bpe_counts_free(c);
    /* Every word seen once becomes one unit: this shows the word cuts. */
    expect_encode(b, "Don't panic, Bob.", SP "Don't " SP "panic , " SP "Bob .");
    expect_encode(b, "l'été -- rock'n'roll  x ", SP "l'été " SP "- - " SP "rock'n'roll " SP " " SP "x " SP);
    expect_encode(b, "", "");
    tr_bpe_free(b);

    /* Without merges every character is a unit; the dummy space leads. */
    b = learn(lines, 2, 0, 1);
    assert_int_equal(tr_bpe_merges(b), 0);
    expect_encode(b, "ab c", SP " a b " SP " c");
    expect_encode(b, " a", SP " " SP " a");
    expect_encode(b, "\xc3\xa9\tz", SP " \xc3\xa9 \t z");
    tr_bpe_free(b);
}

/* ---------------------------------------------------------------- learning */

static const char *const low_corpus[] = {
    "low low low low low lower lower",
    "newest newest newest newest newest newest widest widest widest",
};

static void test_learn_hand_computed(void **state)
{
    (void)state;
    /* Words: _low x5, _lower x2, _newest x6, _widest x3 (_ = the marker).
     * Counts: (e,s) = (s,t) = 9: e < s, so (e,s); then (es,t) = 9; then
     * (_,l) = (l,o) = (o,w) = 7: "l" is the smallest left symbol (the
     * marker's first byte is 0xE2); then (lo,w) before (_,lo); ... */
    const char *want = "e s|es t|l o|lo w|" SP " low|e w|ew est|n ewest|" SP " newest|"
                       "d est|i dest|w idest|" SP " widest|e r|" SP "low er";
    tr_bpe *b = learn(low_corpus, 2, 100, 2);
    assert_string_equal(merges_str(b), want);
    assert_int_equal(tr_bpe_merges(b), 15);
    /* Applying: merges by rank, characters never seen stay alone. */
    expect_encode(b, "lowest newer", SP "low est " SP " n ew er");
    expect_encode(b, "lower widest", SP "lower " SP "widest");
    expect_encode(b, "slow", SP " s low");
    expect_encode(b, "LOW low!", SP " L O W " SP "low !");
    tr_bpe_free(b);

    /* The number of merges and the minimum count stop learning. */
    b = learn(low_corpus, 2, 4, 1);
    assert_string_equal(merges_str(b), "e s|es t|l o|lo w");
    tr_bpe_free(b);
    b = learn(low_corpus, 2, 100, 3);
    assert_int_equal(tr_bpe_merges(b), 13);
    tr_bpe_free(b);
    b = learn(low_corpus, 2, 100, 10);
    assert_int_equal(tr_bpe_merges(b), 0);
    tr_bpe_free(b);

    /* Overlapping pairs both count; merging goes left to right. */
    const char *aaa[] = {"aaa"};
    b = learn(aaa, 1, 10, 1);
    assert_string_equal(merges_str(b), "a a|aa a|" SP " aaa");
    expect_encode(b, "aaaa", SP " aa aa");
    expect_encode(b, "aaa aaaaa", SP "aaa " SP " aa aaa");
    tr_bpe_free(b);

    tr_bpe_counts *c = tr_bpe_counts_new();
    tr_err err;
    assert_int_equal(tr_bpe_learn(&b, c, -1, 1, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "BPE: the number of merges must be >= 0, not -1");
    assert_int_equal(tr_bpe_learn(&b, c, 5, 0, &err), TR_ERR_ARG);
    assert_int_equal(tr_bpe_learn(&b, c, 5, 1, &err), TR_OK); /* nothing to learn */
    assert_int_equal(tr_bpe_merges(b), 0);
    tr_bpe_free(b);
    tr_bpe_counts_free(c);
}

/* A naive learner: recounts every pair of every word at each step. Words
 * are arrays of symbol strings. */
typedef struct {
    char *sym[64];
    int n;
    int64_t freq;
} nword;

static void naive_learn(nword *w, int nw, int merges, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    for (int step = 0; step < merges; step++) {
        const char *bl = NULL, *br = NULL;
        int64_t bc = 0;
        for (int i = 0; i < nw; i++)
            for (int j = 0; j + 1 < w[i].n; j++) {
                const char *l = w[i].sym[j], *r = w[i].sym[j + 1];
                int64_t cnt = 0;
                for (int i2 = 0; i2 < nw; i2++)
                    for (int j2 = 0; j2 + 1 < w[i2].n; j2++)
                        if (!strcmp(w[i2].sym[j2], l) && !strcmp(w[i2].sym[j2 + 1], r))
                            cnt += w[i2].freq;
                int c1 = bl ? strcmp(l, bl) : 0, c2 = br ? strcmp(r, br) : 0;
                if (cnt > bc || (cnt == bc && (c1 < 0 || (c1 == 0 && c2 < 0)))) {
                    bc = cnt;
                    bl = l;
                    br = r;
                }
            }
        if (bc < 1)
            break;
        char left[256], right[256];
        snprintf(left, sizeof left, "%s", bl);
        snprintf(right, sizeof right, "%s", br);
        int wr = snprintf(out + k, cap - k, "%s%s %s", step ? "|" : "", left, right);
        assert_true(wr > 0 && (size_t)wr < cap - k);
        k += (size_t)wr;
        for (int i = 0; i < nw; i++) {
            int m = 0;
            for (int j = 0; j < w[i].n; j++) {
                if (j + 1 < w[i].n && !strcmp(w[i].sym[j], left) && !strcmp(w[i].sym[j + 1], right)) {
                    size_t la = strlen(left), lb = strlen(right);
                    char *s = malloc(la + lb + 1);
                    memcpy(s, left, la);
                    memcpy(s + la, right, lb + 1);
                    free(w[i].sym[j]);
                    free(w[i].sym[j + 1]);
                    w[i].sym[m++] = s;
                    j++;
                } else {
                    w[i].sym[m++] = w[i].sym[j];
                }
            }
            w[i].n = m;
        }
    }
}

static void test_learn_against_naive(void **state)
{
    (void)state;
    uint64_t s = 99;
    for (int trial = 0; trial < 12; trial++) {
        /* Random words over a 3-4 letter alphabet (plus an accented letter)
         * give many ties and overlapping pairs. */
        char text[4096];
        size_t k = 0;
        int nwords = 20 + trial * 5;
        for (int i = 0; i < nwords; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            int len = 1 + (int)((s >> 40) % 7);
            if (i)
                text[k++] = ' ';
            for (int j = 0; j < len; j++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                int ch = (int)((s >> 35) % (uint64_t)(3 + trial % 2));
                if (ch == 3) {
                    memcpy(text + k, "\xc3\xa9", 2);
                    k += 2;
                } else {
                    text[k++] = (char)('a' + ch);
                }
            }
        }
        text[k] = '\0';
        const char *lines[] = {text};
        tr_bpe_counts *c = counts_of(lines, 1);

        /* The same word counts for the naive learner. */
        nword words[200];
        int nw = 0;
        const char *p = text;
        for (;;) {
            const char *e = strchr(p, ' ');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char w[64];
            memcpy(w, SP, 3);
            memcpy(w + 3, p, len);
            w[3 + len] = '\0';
            int found = -1;
            for (int i = 0; i < nw && found < 0; i++) {
                char cur[256] = "";
                for (int j = 0; j < words[i].n; j++)
                    strcat(cur, words[i].sym[j]);
                if (!strcmp(cur, w))
                    found = i;
            }
            if (found >= 0) {
                words[found].freq++;
            } else {
                nword *x = &words[nw++];
                x->n = 0;
                x->freq = 1;
                for (size_t i = 0; i < 3 + len;) {
                    size_t cl = i == 0 ? 3 : ((unsigned char)w[i] >= 0xC0 ? 2 : 1);
                    x->sym[x->n] = malloc(cl + 1);
                    memcpy(x->sym[x->n], w + i, cl);
                    x->sym[x->n][cl] = '\0';
                    x->n++;
                    i += cl;
                }
            }
            if (!e)
                break;
            p = e + 1;
        }
        static char want[8192];
        naive_learn(words, nw, 40, want, sizeof want);
        for (int i = 0; i < nw; i++)
            for (int j = 0; j < words[i].n; j++)
                free(words[i].sym[j]);

        tr_bpe *b;
        tr_err err;
        assert_int_equal(tr_bpe_learn(&b, c, 40, 1, &err), TR_OK);
        if (strcmp(merges_str(b), want) != 0)
            fail_msg("trial %d: merges\n  %s\nexpected\n  %s", trial, merges_str(b), want);
        tr_bpe_free(b);
        tr_bpe_counts_free(c);
    }
}

/* ---------------------------------------------------------------- round trips */

static const char *const real_text[] = {
    "Choose Tools - Options - Language Settings - Writing Aids.",
    "Choisissez Outils - Options - Param\xc3\xa8tres linguistiques - Linguistique.",
    "Don't forget the user's settings; they're stored in ~/.config/app/settings.json.",
    "\xc2\xab Ceci n\xe2\x80\x99" "est pas une pipe \xc2\xbb, dit-il \xe2\x80\x94 c'\xc3\xa9tait l'\xc3\xa9t\xc3\xa9.",
    "Costs rose by 12.5% to $3,400 in Q3 2023 -- see note #4!",
    "URL: https://example.org/a-b_c?x=1&y=2 (see \"Help\").",
    "Stra\xc3\x9f" "e, \xc3\x9c" "bung, na\xc3\xafve caf\xc3\xa9, CO\xe2\x82\x82 and 10\xc2\xa0km.",
    "\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xaf\xe6\x97\xa5\xe6\x9c\xac\xe3\x81\xae\xe9\xa6\x96\xe9\x83\xbd\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82",
    "Emoji \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb and \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd.",
    "  leading spaces, double  spaces,\ttab and trailing   ",
    "e\xcc\x81t\xc3\xa9 (NFD and NFC)",
    "",
    " ",
    "a",
    "'quoted' -dash- end- x'",
};

static void test_round_trip(void **state)
{
    (void)state;
    int n = (int)(sizeof real_text / sizeof *real_text);
    for (int merges = 0; merges <= 400; merges += 200) {
        tr_bpe *b = learn(real_text, n, merges, 1);
        for (int i = 0; i < n; i++)
            expect_round_trip(b, real_text[i]);
        /* Unseen characters and words. */
        expect_round_trip(b, "\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1 \xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0!?");
        expect_round_trip(b, "The settings were stored; \xc3\xa9t\xc3\xa9s.");
        tr_bpe_free(b);
    }
    /* Decoding any units: markers become spaces, one leading space goes. */
    const char *u[] = {SP "Hello", ",", SP SP "wor", "ld"};
    char *t = tr_bpe_decode(u, 4);
    assert_string_equal(t, "Hello,  world");
    free(t);
    t = tr_bpe_decode(NULL, 0);
    assert_string_equal(t, "");
    free(t);
    const char *u2[] = {"no", SP "dummy"};
    t = tr_bpe_decode(u2, 2);
    assert_string_equal(t, "no dummy");
    free(t);
    t = tr_bpe_decode_str(SP "a b " SP "\xe2\x82\xac");
    assert_string_equal(t, "ab \xe2\x82\xac");
    free(t);
}

/* ---------------------------------------------------------------- storage */

static void test_text_format(void **state)
{
    (void)state;
    tr_bpe *b = learn(low_corpus, 2, 100, 2);
    char *s = tr_bpe_to_string(b);
    const char *head = "#triad-bpe v1\ne s\nes t\nl o\n";
    assert_int_equal(strncmp(s, head, strlen(head)), 0);
    tr_bpe *c;
    tr_err err;
    assert_int_equal(tr_bpe_from_string(&c, s, "m", &err), TR_OK);
    char *s2 = tr_bpe_to_string(c);
    assert_string_equal(s, s2);
    expect_encode(c, "lowest newer", SP "low est " SP " n ew er");

    /* Through a file. */
    char path[512];
    th_tmp(path, sizeof path, "bpe_merges.txt");
    assert_int_equal(tr_bpe_save(c, path, &err), TR_OK);
    char *file = th_read(path, NULL);
    assert_string_equal(file, s);
    free(file);
    tr_bpe *d;
    assert_int_equal(tr_bpe_load(&d, path, &err), TR_OK);
    assert_string_equal(merges_str(d), merges_str(b));
    tr_bpe_free(d);

    /* Hand-written, without a final newline. */
    assert_int_equal(tr_bpe_from_string(&d, "#triad-bpe v1\nl o\nlo w", NULL, &err), TR_OK);
    assert_int_equal(tr_bpe_merges(d), 2);
    expect_encode(d, "low lo", SP " low " SP " lo");
    tr_bpe_free(d);
    /* A tab is an ordinary character in a symbol. */
    assert_int_equal(tr_bpe_from_string(&d, "#triad-bpe v1\na \t\n", NULL, &err), TR_OK);
    assert_int_equal(tr_bpe_merges(d), 1);
    tr_bpe_free(d);
    assert_int_equal(tr_bpe_from_string(&d, "#triad-bpe v1", NULL, &err), TR_OK);
    assert_int_equal(tr_bpe_merges(d), 0);
    tr_bpe_free(d);
    /* A repeated merge keeps its first rank. */
    assert_int_equal(tr_bpe_from_string(&d, "#triad-bpe v1\nb c\na b\nb c\n", NULL, &err), TR_OK);
    expect_encode(d, "abc", SP " a bc");
    tr_bpe_free(d);

    free(s);
    free(s2);
    tr_bpe_free(b);
    tr_bpe_free(c);
}

static void test_malformed_merges(void **state)
{
    (void)state;
    expect_parse_error("", NULL, "<bpe>:1: not a BPE merges file: expected the header line '#triad-bpe v1'");
    expect_parse_error("#triad-bpe v2\na b\n", "m.bpe", "m.bpe:1: not a BPE merges file: expected the header line '#triad-bpe v1'");
    expect_parse_error("a b\n", "m.bpe", "m.bpe:1: not a BPE merges file: expected the header line '#triad-bpe v1'");
    expect_parse_error("#triad-bpe v1\na b\n\nab c\n", "m.bpe", "m.bpe:3: empty line");
    expect_parse_error("#triad-bpe v1\na b\nab\n", "m.bpe", "m.bpe:3: expected two symbols separated by one space, got 'ab'");
    expect_parse_error("#triad-bpe v1\na  b\n", "m.bpe", "m.bpe:2: expected two symbols separated by one space, got 'a  b'");
    expect_parse_error("#triad-bpe v1\na b c\n", "m.bpe", "m.bpe:2: expected two symbols separated by one space, got 'a b c'");
    expect_parse_error("#triad-bpe v1\n a\n", "m.bpe", "m.bpe:2: expected two symbols separated by one space, got ' a'");
    expect_parse_error("#triad-bpe v1\na b\nab c\nxy z\n", "m.bpe",
                       "m.bpe:4: symbol 'xy' is neither one character nor made by an earlier merge");
    expect_parse_error("#triad-bpe v1\na b\nab c\nc ba\n", "m.bpe",
                       "m.bpe:4: symbol 'ba' is neither one character nor made by an earlier merge");
    expect_parse_error("#triad-bpe v1\n<unk> x\n", "m.bpe",
                       "m.bpe:2: symbol '<unk>' is neither one character nor made by an earlier merge");
    expect_parse_error("#triad-bpe v1\na \xff\n", "m.bpe", "m.bpe:2: invalid UTF-8 at byte 3");
    expect_parse_error("#triad-bpe v1\na b\r\n", "m.bpe", "m.bpe:2: carriage return at byte 4 (CRLF line ends?)");

    /* From a file: the path names the source. */
    char path[512], want[700];
    th_tmp(path, sizeof path, "bpe_bad.txt");
    th_write_str(path, "#triad-bpe v1\nt h\nth e\nthe\n");
    tr_bpe *b;
    tr_err err;
    assert_int_equal(tr_bpe_load(&b, path, &err), TR_ERR_FORMAT);
    snprintf(want, sizeof want, "%s:4: expected two symbols separated by one space, got 'the'", path);
    assert_string_equal(err.msg, want);
    th_write(path, "#triad-bpe v1\na\0b\n", 18);
    assert_int_equal(tr_bpe_load(&b, path, &err), TR_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: NUL byte: not a BPE merges file", path);
    assert_string_equal(err.msg, want);
    th_tmp(path, sizeof path, "bpe_missing.txt");
    remove(path);
    assert_int_equal(tr_bpe_load(&b, path, &err), TR_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_bad_text(void **state)
{
    (void)state;
    tr_bpe *b = learn(low_corpus, 2, 10, 1);
    tr_err err;
    unit_list l;
    l.n = 0;
    const char *marker = "low " SP " x";
    assert_int_equal(tr_bpe_encode(b, marker, strlen(marker), collect, &l, "in.txt", 3, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "in.txt:3: U+2581 (reserved as the BPE space marker) at byte 5");
    assert_int_equal(l.n, 0);
    assert_int_equal(tr_bpe_encode(b, "ab\xc3", 3, collect, &l, "in.txt", 4, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "in.txt:4: invalid UTF-8 at byte 3");
    assert_int_equal(tr_bpe_encode(b, "a\0b", 3, collect, &l, NULL, 0, &err), TR_ERR_FORMAT);
    assert_string_equal(err.msg, "<input>: NUL byte at byte 2");
    assert_null(tr_bpe_encode_str(b, "two\nlines", &err));
    assert_string_equal(err.msg, "<input>: line break at byte 4");
    assert_null(tr_bpe_encode_str(b, "crlf\r", &err));
    assert_string_equal(err.msg, "<input>: carriage return at byte 5");
    assert_int_equal(l.n, 0);
    tr_bpe_free(b);

    /* Counting a file: the bad line is named; the lines before it count. */
    char path[512], want[700];
    th_tmp(path, sizeof path, "bpe_train.txt");
    th_write_str(path, "one two\nthree\nfour \xe2\x96\x81\nfive\n");
    tr_bpe_counts *c = tr_bpe_counts_new();
    assert_int_equal(tr_bpe_counts_add_file(c, path, &err), TR_ERR_FORMAT);
    snprintf(want, sizeof want, "%s:3: U+2581 (reserved as the BPE space marker) at byte 6", path);
    assert_string_equal(err.msg, want);
    assert_int_equal(tr_bpe_counts_total(c), 3);
    th_write_str(path, "one two\nthree\n");
    assert_int_equal(tr_bpe_counts_add_file(c, path, &err), TR_OK);
    assert_int_equal(tr_bpe_counts_total(c), 6);
    assert_int_equal(tr_bpe_counts_types(c), 3);
    th_tmp(path, sizeof path, "bpe_missing_train.txt");
    remove(path);
    assert_int_equal(tr_bpe_counts_add_file(c, path, &err), TR_ERR_IO);
    tr_bpe_counts_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_learn_hand_computed),
        cmocka_unit_test(test_learn_against_naive),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_malformed_merges),
        cmocka_unit_test(test_bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
