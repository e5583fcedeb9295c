/*
 * src/data/tokenize.c - the word tokenizer and the UTF-8 checker.
 *
 * A token is  \w+(?:['-]\w+)*  or one  [^\w\s]  code point (see data.h for
 * what \w means here). The tokenizer validates UTF-8 as it goes: overlong
 * forms, surrogates, code points above U+10FFFF, bytes C0, C1 and F5-FF,
 * stray continuation bytes, truncated sequences and NUL bytes are errors that
 * name the file, the line and the 1-based byte position within the line.
 *
 * Inside the ranges that data.h calls punctuation/space, these code points
 * are spaces (they separate tokens and are dropped): U+0085, U+00A0, U+00AD
 * (soft hyphen), U+2000-U+200F (spaces and zero-width marks), U+2028-U+202F,
 * U+205F-U+206F and U+3000; the rest of those ranges are punctuation. The
 * byte-order mark U+FEFF is also dropped, so a BOM does not glue itself to
 * the first word of a file. Not here: vocabulary lookups (vocab.c).
 */
#include "data_internal.h"

#include <string.h>

enum { C_SPACE, C_WORD, C_PUNCT };

/* Decodes the code point at s[i] (i < n) into *cp; returns its length 1..4,
 * or 0 when the bytes there are not valid UTF-8 or are a NUL byte. */
static int utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = c;
        return c ? 1 : 0;
    }
    if (c < 0xC2) /* continuation byte, or C0/C1 (always overlong) */
        return 0;
    if (c < 0xE0) {
        if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
            return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (i + 2 >= n)
            return 0;
        unsigned c1 = s[i + 1], c2 = s[i + 2];
        if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && c1 < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && c1 >= 0xA0) /* UTF-16 surrogate */
            return 0;
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(c1 & 0x3F) << 6) | (c2 & 0x3F);
        return 3;
    }
    if (c < 0xF5) {
        if (i + 3 >= n)
            return 0;
        unsigned c1 = s[i + 1], c2 = s[i + 2], c3 = s[i + 3];
        if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80 || (c3 & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && c1 < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && c1 >= 0x90) /* above U+10FFFF */
            return 0;
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(c1 & 0x3F) << 12) |
              ((uint32_t)(c2 & 0x3F) << 6) | (c3 & 0x3F);
        return 4;
    }
    return 0; /* F5-FF */
}

static int classify(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_')
            return C_WORD;
        /* Python's \s: \t \n \v \f \r, the separators 1C-1F, and space. */
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F))
            return C_SPACE;
        return C_PUNCT;
    }
    if (cp <= 0xBF)
        return (cp == 0x85 || cp == 0xA0 || cp == 0xAD) ? C_SPACE : C_PUNCT;
    if (cp >= 0x2000 && cp <= 0x206F) {
        if (cp <= 0x200F || (cp >= 0x2028 && cp <= 0x202F) || cp >= 0x205F)
            return C_SPACE;
        return C_PUNCT;
    }
    if (cp >= 0x3000 && cp <= 0x303F)
        return cp == 0x3000 ? C_SPACE : C_PUNCT;
    if (cp == 0xFEFF)
        return C_SPACE;
    return C_WORD;
}

static tr_status bad_input(tr_err *err, const char *file, int64_t line, const unsigned char *s, size_t i)
{
    const char *f = file ? file : "<input>";
    const char *what = s[i] ? "invalid UTF-8" : "NUL byte";
    if (line > 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: %s at byte %zu", f, (long long)line, what, i + 1);
    return tr_err_set(err, TR_ERR_FORMAT, "%s: %s at byte %zu", f, what, i + 1);
}

/* Decodes the code point at i, ASCII first. */
static inline int next_cp(const unsigned char *u, size_t n, size_t i, uint32_t *cp)
{
    if (u[i] - 1u < 0x7Fu) { /* 01..7F */
        *cp = u[i];
        return 1;
    }
    return utf8_decode(u, n, i, cp);
}

tr_status tr_tokenize(const char *s, size_t n, int lower, tr_token_fn fn,
                      void *ctx, const char *file, int64_t line, tr_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    char tok[TR_MAX_TOKEN];
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = next_cp(u, n, i, &cp);
        if (!k)
            return bad_input(err, file, line, u, i);
        int cls = classify(cp);
        if (cls == C_SPACE) {
            i += (size_t)k;
            continue;
        }
        if (cls == C_PUNCT) {
            fn(ctx, s + i, (size_t)k);
            i += (size_t)k;
            continue;
        }
        /* A word: runs of word characters joined by single ' or -. Bytes past
         * TR_MAX_TOKEN are dropped at a character boundary. */
        size_t len = 0;
        int full = 0;
        for (;;) {
            if (!full && len + (size_t)k <= TR_MAX_TOKEN) {
                memcpy(tok + len, s + i, (size_t)k);
                if (lower) {
                    if (k == 1 && cp >= 'A' && cp <= 'Z')
                        tok[len] = (char)(cp + 32);
                    else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) /* Latin-1 capitals */
                        tok[len + 1] = (char)(u[i + 1] + 0x20);
                }
                len += (size_t)k;
            } else {
                full = 1;
            }
            i += (size_t)k;
            if (i >= n)
                break;
            uint32_t c2;
            int k2 = next_cp(u, n, i, &c2);
            if (!k2)
                return bad_input(err, file, line, u, i);
            if (classify(c2) == C_WORD) {
                cp = c2;
                k = k2;
                continue;
            }
            if ((c2 == '\'' || c2 == '-') && i + 1 < n) {
                uint32_t c3;
                int k3 = next_cp(u, n, i + 1, &c3);
                if (!k3)
                    return bad_input(err, file, line, u, i + 1);
                if (classify(c3) == C_WORD) {
                    if (!full && len + 1 + (size_t)k3 <= TR_MAX_TOKEN)
                        tok[len++] = (char)c2;
                    else
                        full = 1;
                    i += 1;
                    cp = c3;
                    k = k3;
                    continue;
                }
            }
            break;
        }
        fn(ctx, tok, len);
    }
    return TR_OK;
}

size_t tr_data_utf8_bad(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = next_cp(u, n, i, &cp);
        if (!k)
            return i + 1;
        i += (size_t)k;
    }
    return 0;
}
