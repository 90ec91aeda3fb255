/* throttle_file.c -- windows in a file mapped MAP_SHARED, so that processes
 * on one machine share them (see throttle.h, throttle_file.h). */
#include "throttle_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define THR_MAGIC "coreplus-limit\n"
#define THR_FILE_VERSION 1u

typedef struct thr_slot {
    unsigned char id[32];       /* SHA-256 of the key: no secret in the file */
    uint32_t used;
    uint32_t pad;
    thr_ring ring;
} thr_slot;

struct thr_file {
    char magic[16];
    uint32_t version;
    uint32_t size;              /* sizeof(thr_file), a layout check */
    uint32_t ready;
    uint32_t pad;
    char boot[48];              /* the boot the times belong to */
    pthread_mutex_t mu;         /* process-shared, robust */
    thr_slot slot[THR_FILE_KEYS];
};

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

static int thr_file_lock(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

static int thr_file_init(thr_file *f, const char *boot)
{
    pthread_mutexattr_t a;
    memset(f, 0, sizeof *f);
    if (pthread_mutexattr_init(&a) != 0)
        return -1;
    if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0
        || pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0
        || pthread_mutex_init(&f->mu, &a) != 0) {
        pthread_mutexattr_destroy(&a);
        return -1;
    }
    pthread_mutexattr_destroy(&a);
    memcpy(f->magic, THR_MAGIC, sizeof f->magic);
    f->version = THR_FILE_VERSION;
    f->size = (uint32_t)sizeof *f;
    memcpy(f->boot, boot, sizeof f->boot);
    f->ready = 1;      /* last: the file is usable from here on */
    return 0;
}

/* Maps path, initialising it when new. The whole set-up runs under an fcntl
 * lock on the file, so two processes creating it at once cannot race. */
thr_file *thr_file_map(const char *path, char *err, size_t errlen)
{
    int fd;
    struct stat st;
    thr_file *f = NULL;
    char boot[48];
    void *m;

    /* No symlinks: a limit file under a shared directory such as /tmp must
     * not let another user point our writes at a file of theirs choosing. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (thr_file_lock(fd, F_WRLCK) != 0) {
        snprintf(err, errlen, "cannot lock '%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file", path);
        goto out;
    }
    if (st.st_size == 0 && ftruncate(fd, (off_t)sizeof(thr_file)) != 0) {
        snprintf(err, errlen, "cannot size '%s': %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size != 0 && st.st_size != (off_t)sizeof(thr_file)) {
        snprintf(err, errlen, "'%s' is not a coreplus limiter file", path);
        goto out;
    }
    m = mmap(NULL, sizeof(thr_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "cannot map '%s': %s", path, strerror(errno));
        goto out;
    }
    f = m;
    thr_boot_id(boot);
    if (st.st_size == 0 || !f->ready) {
        if (thr_file_init(f, boot) != 0) {
            snprintf(err, errlen, "cannot initialise the lock in '%s'", path);
            munmap(m, sizeof(thr_file));
            f = NULL;
        }
    } else if (memcmp(f->magic, THR_MAGIC, sizeof f->magic) != 0
               || f->version != THR_FILE_VERSION || f->size != sizeof(thr_file)) {
        snprintf(err, errlen, "'%s' is not a coreplus limiter file (or another version)",
                 path);
        munmap(m, sizeof(thr_file));
        f = NULL;
    } else if (memcmp(f->boot, boot, sizeof f->boot) != 0) {
        /* Monotonic times of an earlier boot mean nothing now. Every process
         * of that boot is gone, so nobody holds the lock either. */
        if (thr_file_init(f, boot) != 0) {
            snprintf(err, errlen, "cannot initialise the lock in '%s'", path);
            munmap(m, sizeof(thr_file));
            f = NULL;
        }
    }
out:
    thr_file_lock(fd, F_UNLCK);
    close(fd);
    return f;
}

thr_ring *thr_file_slot(thr_file *f, const char *key, size_t keylen,
                        const char *path, char *err, size_t errlen)
{
    unsigned char id[32];
    unsigned int idn = 0;
    thr_ring *r = NULL;
    int i;

    if (EVP_Digest(key, keylen, id, &idn, EVP_sha256(), NULL) != 1 || idn != 32) {
        snprintf(err, errlen, "SHA-256 failed in OpenSSL");
        return NULL;
    }
    if (pthread_mutex_lock(&f->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&f->mu);   /* see thr_lock in throttle.c */
    for (i = 0; i < THR_FILE_KEYS && r == NULL; i++) {
        if (f->slot[i].used && memcmp(f->slot[i].id, id, 32) == 0)
            r = &f->slot[i].ring;
    }
    for (i = 0; i < THR_FILE_KEYS && r == NULL; i++) {
        if (!f->slot[i].used) {
            memset(&f->slot[i].ring, 0, sizeof f->slot[i].ring);
            memcpy(f->slot[i].id, id, 32);
            f->slot[i].used = 1;
            r = &f->slot[i].ring;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (r == NULL)
        snprintf(err, errlen, "'%s' already holds %d keys (delete it to start afresh)",
                 path, THR_FILE_KEYS);
    return r;
}

void thr_file_unmap(thr_file *f)
{
    munmap(f, sizeof *f);
}

pthread_mutex_t *thr_file_mutex(thr_file *f)
{
    return &f->mu;
}
