/* path.h -- where a user's shared limit file lives by default (a
 * private directory of theirs), without Lua. */
#ifndef COREPLUS_LIMITER_PATH_H
#define COREPLUS_LIMITER_PATH_H

#include <stddef.h>

#include "file.h"

#define THR_PATH_STR_(x) #x
#define THR_PATH_STR(x) THR_PATH_STR_(x)
/* "coreplus-v5.limit": named by the file's format (file.h). */
#define THR_PATH_FILE "coreplus-v" THR_PATH_STR(THR_FILE_FORMAT) ".limit"

/* runtime_dir (normally $XDG_RUNTIME_DIR; NULL or "" when unset) when this
 * user owns it and its mode is 0700; else <temp_dir>/coreplus-<uid>/
 * (temp_dir normally /tmp), created 0700 and checked with lstat: a
 * directory, not a symbolic link, this user's, that nobody else may write.
 * Writes <dir>/THR_PATH_FILE into out and returns 0, or -1 with a message
 * in err (a directory of someone else's, or not usable). */
int thr_default_path(const char *runtime_dir, const char *temp_dir, char *out, size_t n,
                     char *err, size_t errlen);

#endif
