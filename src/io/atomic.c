/* Atomic file writes: the content goes to a temporary file next to the target
 * (same directory, hence same file system), which is flushed, fsync'ed and
 * renamed over the target; the directory is then fsync'ed so that the rename
 * itself survives a crash. Readers see either the old file or the complete new
 * one, never a partial write. Not here: the file formats themselves
 * (safetensors.c). POSIX only. */
#include "triad/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* strerror without the shared static buffer (XSI strerror_r). */
static const char *errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

/* The process umask, read without changing it (umask(2) can only be read by
 * setting it, which would race with other threads). Linux exposes it in
 * /proc/self/status; elsewhere assume the common 022. */
static mode_t current_umask(void)
{
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return m;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "Umask: %o", &v) == 1) {
            m = (mode_t)v;
            break;
        }
    }
    fclose(f);
    return m;
}

/* fsync the directory holding path so that the rename is durable. Some file
 * systems refuse fsync on directories (EINVAL); that is not an error. */
static int fsync_parent_dir(const char *path)
{
    size_t n = strlen(path);
    char *dir = tr_xmalloc(n + 2);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        rc = errno;
    } else {
        if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
            rc = errno;
        close(fd);
    }
    free(dir);
    return rc;
}

tr_status tr_atomic_write(const char *path, tr_write_fn fn, void *ctx, tr_err *err)
{
    char eb[128];
    if (!path || !*path || !fn)
        return tr_err_set(err, TR_ERR_ARG, "atomic write: empty path or no writer function");

    static const char suffix[] = ".tmp.XXXXXX";
    size_t n = strlen(path);
    char *tmp = tr_xmalloc(n + sizeof suffix);
    memcpy(tmp, path, n);
    memcpy(tmp + n, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        tr_err_set(err, TR_ERR_IO, "%s: cannot create temporary file %s%s: %s", path, path,
                   suffix, errstr(e, eb, sizeof eb));
        free(tmp);
        return TR_ERR_IO;
    }
    /* mkstemp makes the file 0600; give it the mode a plain fopen would
     * (0666 & ~umask), or keep the mode of the file it replaces. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
    (void)fchmod(fd, mode); /* best effort: the content matters more than the mode */

    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        tr_err_set(err, TR_ERR_IO, "%s: cannot open temporary file %s: %s", path, tmp,
                   errstr(e, eb, sizeof eb));
        free(tmp);
        return TR_ERR_IO;
    }

    tr_status st_fn = fn(f, ctx, err);
    if (st_fn != TR_OK) {
        /* fn has set err; keep its message. */
        fclose(f);
        unlink(tmp);
        free(tmp);
        return st_fn;
    }

    /* fn may have ignored fwrite's result: a short write (ENOSPC, EFBIG, EIO)
     * shows up in the stream's error flag, in fflush, fsync or fclose. */
    int e = 0;
    const char *what = NULL;
    if (ferror(f)) {
        e = errno ? errno : EIO;
        what = "cannot write";
    } else if (fflush(f) != 0) {
        e = errno;
        what = "cannot write";
    } else if (fsync(fileno(f)) != 0) {
        e = errno;
        what = "cannot fsync";
    }
    if (fclose(f) != 0 && !what) {
        e = errno;
        what = "cannot close";
    }
    if (!what && rename(tmp, path) != 0) {
        e = errno;
        what = "cannot rename temporary file over it";
    }
    if (what) {
        unlink(tmp);
        tr_err_set(err, TR_ERR_IO, "%s: %s: %s", path, what, errstr(e, eb, sizeof eb));
        free(tmp);
        return TR_ERR_IO;
    }
    free(tmp);

    e = fsync_parent_dir(path);
    if (e)
        return tr_err_set(err, TR_ERR_IO, "%s: written, but cannot fsync its directory: %s", path,
                          errstr(e, eb, sizeof eb));
    return TR_OK;
}
