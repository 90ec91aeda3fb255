/* file_open.c -- opening a shared limit file (see file.h): one object per
 * file and process, whatever the path's spelling; the checks of whose file
 * it is; and following the path when it comes to name another file. */
#include "file_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t thr_files_mu = PTHREAD_MUTEX_INITIALIZER;
static thr_file *thr_files;

static void thr_boot_id(char out[48])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    size_t n = 0;
    memset(out, 0, 48);
    if (f != NULL) {
        n = fread(out, 1, 47, f);
        fclose(f);
    }
    out[n] = '\0';
}

/* What a file found at open holds: 1 ours (or damaged ours, or empty), 0
 * something else, -1 ours of another version. */
static int thr_file_kind(int fd, const struct stat *st)
{
    thr_head h;
    static const char zero[16];
    if (st->st_size == 0 || st->st_size == THR_FILE_SIZE)
        return 1;   /* new, or our size: damaged or not, it is ours */
    memset(&h, 0, sizeof h);
    if (pread(fd, &h, sizeof h, 0) < (ssize_t)sizeof h.magic)
        return 0;
    if (memcmp(h.magic, zero, sizeof zero) == 0)
        return 1;   /* zeroed, then shrunk or extended */
    if (memcmp(h.magic, THR_MAGIC, sizeof h.magic) != 0)
        return 0;
    return h.version == THR_FILE_VERSION ? 1 : -1;
}

/* The checks of an opened path: a regular file of ours that nobody else may
 * read or write (a user who may read it may hold a read lock on it, which
 * switches sharing off), holding a limiter (or nothing yet). 0, or -1 with
 * err set. */
static int thr_file_vet(int fd, const struct stat *st, const char *path, char *err,
                        size_t errlen)
{
    int kind;
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file", path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, errlen, "'%s' belongs to uid %ld, not to this user (uid %ld)", path,
                 (long)st->st_uid, (long)geteuid());
        return -1;
    }
    if (st->st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        snprintf(err, errlen, "'%s' may be %s by other users (mode %04o), who could then hold "
                 "its lock: chmod 600 it", path,
                 st->st_mode & (S_IWGRP | S_IWOTH) ? "written" : "read",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    kind = thr_file_kind(fd, st);
    if (kind == 0)
        snprintf(err, errlen, "'%s' is not a coreplus limiter file", path);
    else if (kind < 0)
        snprintf(err, errlen, "'%s' is a limiter file of another lua-coreplus version "
                 "(delete it once no process uses it)", path);
    return kind > 0 ? 0 : -1;
}

static thr_file *thr_file_new(int fd, const struct stat *st, const char *path)
{
    thr_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL || (f->ring = thr_ring_new(THR_RING)) == NULL
        || (f->seen = thr_ring_new(THR_RING)) == NULL || pthread_mutex_init(&f->mu, NULL) != 0) {
        if (f != NULL) {
            free(f->path);
            free(f->ring);
            free(f->seen);
        }
        free(f);
        return NULL;
    }
    f->fd = fd;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->refs = 1;
    thr_boot_id(f->boot);
    return f;
}

/* Another open of a file this process has open already: one descriptor per
 * file, since closing any descriptor of a file drops the process's fcntl
 * locks on it (the extra one is closed while no operation holds the lock).
 * Called with thr_files_mu held. */
static thr_file *thr_file_known(int fd, const struct stat *st)
{
    thr_file *f;
    for (f = thr_files; f != NULL; f = f->next) {
        if (f->dev == st->st_dev && f->ino == st->st_ino) {
            pthread_mutex_lock(&f->mu);
            close(fd);
            pthread_mutex_unlock(&f->mu);
            f->refs++;
            return f;
        }
    }
    return NULL;
}

/* Called with thr_files_mu held, so that no descriptor of a file this
 * process has open is closed while another thread holds its lock. */
static thr_file *thr_file_adopt(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    thr_file *f;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
    } else if ((f = thr_file_known(fd, &st)) != NULL) {
        return f;
    } else if (thr_file_vet(fd, &st, path, err, errlen) == 0) {
        if ((f = thr_file_new(fd, &st, path)) != NULL) {
            f->next = thr_files;
            thr_files = f;
            return f;
        }
        snprintf(err, errlen, "out of memory");
    }
    close(fd);
    return NULL;
}

thr_file *thr_file_open(const char *path, char *err, size_t errlen)
{
    thr_file *f;
    /* No symlinks: a limit file under a shared directory such as /tmp must
     * not let another user point our writes at a file of theirs choosing. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path,
                 errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&thr_files_mu);
    f = thr_file_adopt(fd, path, err, errlen);
    pthread_mutex_unlock(&thr_files_mu);
    return f;
}

void thr_file_close(thr_file *f)
{
    thr_file **p;
    if (f == NULL)
        return;
    pthread_mutex_lock(&thr_files_mu);
    if (--f->refs > 0) {
        pthread_mutex_unlock(&thr_files_mu);
        return;
    }
    for (p = &thr_files; *p != NULL; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    pthread_mutex_unlock(&thr_files_mu);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    free(f->path);
    free(f->ring);
    free(f->seen);
    free(f);
}

const char *thr_file_path(const thr_file *f)
{
    return f->path;
}

/* ===== the file the path names ===== */

/* 1 when f's path no longer names f's file (it names another, or none).
 * Under f->mu. */
int thr_file_moved(const thr_file *f)
{
    struct stat st;
    return stat(f->path, &st) != 0 || st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Moves f to the file its path names now, creating it when the path names
 * none, so that every process ends up on one file: a file deleted or
 * replaced while processes run would otherwise split the limit in two.
 * Called with f->mu held and no lock taken (the old descriptor is closed);
 * takes thr_files_mu, which orders before f->mu, to change what the
 * process's registry of files matches. 0, or -1 (f->why says why). */
int thr_file_follow(thr_file *f)
{
    struct stat st;
    char err[200];
    int fd;
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_lock(&thr_files_mu);
    pthread_mutex_lock(&f->mu);
    if (!thr_file_moved(f)) {   /* another thread moved it */
        pthread_mutex_unlock(&thr_files_mu);
        return 0;
    }
    fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(f->why, sizeof f->why, "cannot be opened again: %s",
                 errno == ELOOP ? "it is a symbolic link now" : strerror(errno));
    } else if (fstat(fd, &st) != 0 || thr_file_vet(fd, &st, f->path, err, sizeof err) != 0) {
        snprintf(f->why, sizeof f->why, "now names a file that cannot be used (%s)", err);
        close(fd);
        fd = -1;
    } else {
        close(f->fd);
        f->fd = fd;
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->moves++;
    }
    pthread_mutex_unlock(&thr_files_mu);
    return fd < 0 ? -1 : 0;
}

const char *thr_file_why(const thr_file *f)
{
    return f->why;
}
