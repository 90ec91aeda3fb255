/* check-preload.c -- preloaded after libasan by `make check` (run-tests, step
 * asan). The busted process runs with the sanitizer runtime in LD_PRELOAD and
 * the ASan build of core.so first on LUA_CPATH; the commands the specs start
 * through io.popen / os.execute (sh, curl, nginx with LuaJIT, python3,
 * openssl, make...) must not inherit either: nginx's LuaJIT cannot allocate
 * under ASan and curl deadlocks in a futex. popen() and system() are the only
 * ways Lua 5.4 starts a process, and both run "/bin/sh -c CMD", so the command
 * is prefixed with a shell snippet that restores the normal environment:
 * LUA_CPATH from COREPLUS_CHILD_LUA_CPATH (the normal build), no preload and
 * no sanitizer options. A spec that starts `lua5.4 ...` itself, passing its
 * own package.cpath (the ASan build), still gets the sanitizer runtime: the
 * snippet defines an alias lua5.4 that puts it back for that command (dash
 * expands aliases in scripts; a function may not have a dot in its name).
 * ASan intercepts popen itself and reaches this one as the next definition
 * (RTLD_NEXT); system() is not intercepted. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char check_prefix[] =
    "_cp_lp=$LD_PRELOAD _cp_ao=$ASAN_OPTIONS _cp_lo=$LSAN_OPTIONS "
    "_cp_uo=$UBSAN_OPTIONS; "
    "unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; "
    "alias lua5.4='LD_PRELOAD=$_cp_lp ASAN_OPTIONS=$_cp_ao LSAN_OPTIONS=$_cp_lo "
    "UBSAN_OPTIONS=$_cp_uo command lua5.4'; "
    "if [ -n \"${COREPLUS_CHILD_LUA_CPATH+x}\" ]; then "
    "LUA_CPATH=$COREPLUS_CHILD_LUA_CPATH; export LUA_CPATH; "
    "unset COREPLUS_CHILD_LUA_CPATH; fi\n";

static char *check_wrap(const char *cmd)
{
    size_t a = sizeof check_prefix - 1, b = strlen(cmd);
    char *s = malloc(a + b + 1);
    if (s != NULL) {
        memcpy(s, check_prefix, a);
        memcpy(s + a, cmd, b + 1);
    }
    return s;
}

FILE *popen(const char *cmd, const char *mode)
{
    FILE *(*next)(const char *, const char *) =
        (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "popen");
    char *w = cmd ? check_wrap(cmd) : NULL;
    FILE *f = next(w ? w : cmd, mode);
    free(w);
    return f;
}

int system(const char *cmd)
{
    int (*next)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "system");
    char *w = cmd ? check_wrap(cmd) : NULL;
    int rc = next(w ? w : cmd);
    free(w);
    return rc;
}

/* Lua 5.4 unloads C modules (dlclose) when the state closes, before
 * LeakSanitizer reports at exit: a leak in a module would show only as
 * "<unknown module>" frames, which neither a reader nor scripts/lsan.supp
 * can place. Modules stay mapped until the process ends instead (the busted
 * process only: its children run without this preload). */
int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
