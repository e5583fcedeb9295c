/* Small pieces every triad command uses: the error line, file checks made
 * before long work starts, durations for progress lines, and the stop flag
 * that Ctrl-C / SIGTERM raise during training. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Raised by SIGINT/SIGTERM while tr_cli_catch_stop is in force: training
 * finishes its update, saves and returns. The CLI's one piece of global
 * state (a signal handler can reach nothing else). */
volatile sig_atomic_t tr_cli_stop;

static void on_signal(int sig)
{
    (void)sig;
    tr_cli_stop = 1;
}

void tr_cli_catch_stop(int on)
{
    signal(SIGINT, on ? on_signal : SIG_DFL);
    signal(SIGTERM, on ? on_signal : SIG_DFL);
}

int tr_cli_fail(const char *cmd, const tr_err *err)
{
    fprintf(stderr, "%s: %s\n", cmd, err->msg);
    return 1;
}

int tr_cli_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tr_cli_dir_writable(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK) == 0;
}

void tr_cli_format_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

ssize_t tr_cli_getline(char **buf, size_t *cap, FILE *f, int64_t *line, tr_err *err)
{
    tr_err_clear(err);
    ssize_t got = getline(buf, cap, f);
    if (got < 0)
        return -1;
    (*line)++;
    size_t len = (size_t)got;
    while (len && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
        len--;
    (*buf)[len] = '\0';
    if (strlen(*buf) != len) {
        tr_err_set(err, TR_ERR_FORMAT, "<stdin>:%lld: NUL byte in the input", (long long)*line);
        return -1;
    }
    return (ssize_t)len;
}
