/* path.c -- the default shared limit file (see path.h).
 *
 * The file must be private: another local user who could create or write it
 * could hang the limit or switch it off (issue 14). So the directory is the
 * user's own, and file.c checks the file itself again with fstat
 * after an O_NOFOLLOW open. */
#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* $XDG_RUNTIME_DIR is used only as the spec describes it: the user's, 0700. */
static int thr_runtime_ok(const char *dir)
{
    struct stat st;
    return dir != NULL && dir[0] == '/' && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode)
        && st.st_uid == geteuid() && (st.st_mode & 0777) == 0700;
}

/* dir, made 0700 when absent, then checked: 0, or -1 with err set. */
static int thr_private_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) != 0) {
        snprintf(err, errlen, "cannot stat '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "'%s' is %s, not a directory of this user's", dir,
                 S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "'%s' belongs to uid %ld, not to this user (uid %ld)", dir,
                 (long)st.st_uid, (long)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "'%s' may be written by other users (mode %04o): chmod 700 it",
                 dir, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

int thr_default_path(const char *runtime_dir, const char *temp_dir, char *out, size_t n,
                     char *err, size_t errlen)
{
    char dir[4096];
    if (thr_runtime_ok(runtime_dir)) {
        if ((size_t)snprintf(out, n, "%s/%s", runtime_dir, THR_PATH_FILE) < n)
            return 0;
    } else if ((size_t)snprintf(dir, sizeof dir, "%s/coreplus-%ld", temp_dir ? temp_dir : "/tmp",
                                (long)geteuid()) < sizeof dir) {
        if (thr_private_dir(dir, err, errlen) != 0)
            return -1;
        if ((size_t)snprintf(out, n, "%s/%s", dir, THR_PATH_FILE) < n)
            return 0;
    }
    snprintf(err, errlen, "the limit file's path is too long");
    return -1;
}
