/* Command-line option parsing with types, ranges and help text. */
#include "opts.h"
#include "cli.h"
#include "triad/core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

opt_spec *opts_find(opt_spec *specs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(specs[i].name, name))
            return &specs[i];
    TR_ASSERT(!"option not in table");
    return NULL;
}

static void default_str(const opt_spec *s, char *buf, size_t n)
{
    buf[0] = '\0';
    switch (s->type) {
    case OPT_INT: snprintf(buf, n, "%d", *(int *)s->ptr); break;
    case OPT_I64: snprintf(buf, n, "%" PRId64, *(int64_t *)s->ptr); break;
    case OPT_U64: snprintf(buf, n, "%" PRIu64, *(uint64_t *)s->ptr); break;
    case OPT_FLOAT: snprintf(buf, n, "%g", (double)*(float *)s->ptr); break;
    case OPT_DOUBLE: snprintf(buf, n, "%g", *(double *)s->ptr); break;
    case OPT_STR:
        if (*(const char **)s->ptr)
            snprintf(buf, n, "%s", *(const char **)s->ptr);
        break;
    case OPT_FLAG: break;
    }
}

void opts_help(FILE *f, const opt_spec *specs, int n, const char *usage, const char *what)
{
    fprintf(f, "usage: %s\n\n%s\n\noptions:\n", usage, what);
    for (int i = 0; i < n; i++) {
        char d[128], left[64];
        default_str(&specs[i], d, sizeof d);
        const char *meta = specs[i].type == OPT_FLAG ? "" : specs[i].type == OPT_STR ? " S" : " N";
        snprintf(left, sizeof left, "--%s%s", specs[i].name, meta);
        fprintf(f, "  %-22s %s", left, specs[i].help);
        if (d[0])
            fprintf(f, " (default %s)", d);
        fputc('\n', f);
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

static int bad(const char *what, const char *name, const char *fmt, const char *val)
{
    fprintf(stderr, "%s: --%s ", what, name);
    fprintf(stderr, fmt, val);
    fputc('\n', stderr);
    return 2;
}

static int set_value(opt_spec *s, const char *val, const char *what)
{
    char *end = NULL;
    errno = 0;
    double x = 0;
    switch (s->type) {
    case OPT_STR:
        *(const char **)s->ptr = val;
        return 0;
    case OPT_FLAG:
        *(int *)s->ptr = 1;
        return 0;
    case OPT_INT:
    case OPT_I64:
    case OPT_U64: {
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end || (s->type == OPT_U64 && v < 0))
            return bad(what, s->name, "expects an integer, got '%s'", val);
        x = (double)v;
        if (s->type == OPT_INT)
            *(int *)s->ptr = (int)v;
        else if (s->type == OPT_I64)
            *(int64_t *)s->ptr = v;
        else
            *(uint64_t *)s->ptr = (uint64_t)v;
        if (s->type == OPT_INT && (v < -2147483647LL || v > 2147483647LL))
            return bad(what, s->name, "is out of range: '%s'", val);
        break;
    }
    case OPT_FLOAT:
    case OPT_DOUBLE:
        x = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(x))
            return bad(what, s->name, "expects a number, got '%s'", val);
        if (s->type == OPT_FLOAT)
            *(float *)s->ptr = (float)x;
        else
            *(double *)s->ptr = x;
        break;
    }
    if (s->min <= s->max && (x < s->min || x > s->max)) {
        fprintf(stderr, "%s: --%s must be in [%g, %g], got %s\n", what, s->name, s->min, s->max, val);
        return 2;
    }
    return 0;
}

int opts_parse(opt_spec *specs, int n, int argc, char **argv, int first,
               const char *usage, const char *what)
{
    const char *prog = usage; /* the usage line starts with the command */
    char cmd[64];
    size_t k = 0;
    while (prog[k] && k < sizeof cmd - 1 && !(prog[k] == ' ' && prog[k + 1] == '-'))
        k++;
    snprintf(cmd, sizeof cmd, "%.*s", (int)k, prog);
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opts_help(stdout, specs, n, usage, what);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (options start with --; see --help)\n", cmd, a);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        opt_spec *s = NULL;
        for (int j = 0; j < n; j++)
            if (strlen(specs[j].name) == len && !strncmp(specs[j].name, name, len))
                s = &specs[j];
        if (!s) {
            fprintf(stderr, "%s: unknown option '--%.*s' (see --help)\n", cmd, (int)len, name);
            return 2;
        }
        const char *val = NULL;
        if (s->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: --%s takes no value\n", cmd, s->name);
                return 2;
            }
        } else if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "%s: --%s needs a value\n", cmd, s->name);
            return 2;
        }
        if (set_value(s, val, cmd))
            return 2;
        s->set = 1;
    }
    return 0;
}

int tr_cli_dispatch(const char *group, const tr_cli_command *sub, int n,
                    int argc, char **argv)
{
    if (argc >= 2)
        for (int i = 0; i < n; i++)
            if (!strcmp(argv[1], sub[i].name))
                return sub[i].run(argc - 1, argv + 1);
    int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    FILE *f = help ? stdout : stderr;
    if (argc >= 2 && !help)
        fprintf(stderr, "triad %s: unknown subcommand '%s'\n", group, argv[1]);
    fprintf(f, "usage: triad %s <", group);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "|" : "", sub[i].name);
    fprintf(f, "> [options]   (--help on each)\n\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "  %-9s %s\n", sub[i].name, sub[i].summary);
    return help ? 0 : 2;
}
