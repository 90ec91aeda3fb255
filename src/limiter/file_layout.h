/* file_layout.h -- a shared limit file's layout and this process's object
 * for one, private to file.c (operations) and file_open.c (opening).
 *
 * Layout: a header (magic, version, sizes, the boot the times belong to, a
 * generation and the slot table: the SHA-256 of each key, so the file never
 * holds a token), then THR_FILE_KEYS windows (thr_ring) at fixed offsets. */
#ifndef COREPLUS_LIMITER_FILE_LAYOUT_H
#define COREPLUS_LIMITER_FILE_LAYOUT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "file.h"

#define THR_MAGIC "coreplus-limit\n"
#define THR_FILE_VERSION ((uint32_t)THR_FILE_FORMAT)
#define THR_HEAD_SIZE 4096

typedef struct thr_head {
    char magic[16];
    uint32_t version;
    uint32_t head_size;         /* THR_HEAD_SIZE */
    uint32_t keys;              /* THR_FILE_KEYS */
    uint32_t ring_size;         /* THR_FILE_RING_BYTES */
    uint64_t file_size;
    uint64_t generation;        /* counts rebuilds, for people reading */
    char boot[48];
    unsigned char id[THR_FILE_KEYS][32];   /* all zero: a free slot */
} thr_head;

#define THR_FILE_RING_BYTES THR_RING_BYTES(THR_RING)
#define THR_FILE_SIZE ((off_t)THR_HEAD_SIZE + (off_t)THR_FILE_KEYS * (off_t)THR_FILE_RING_BYTES)

/* The header fits its page (a negative array size fails the build if not). */
typedef char thr_head_fits[sizeof(thr_head) <= THR_HEAD_SIZE ? 1 : -1];

struct thr_file {
    struct thr_file *next;      /* this process's open files */
    dev_t dev;
    ino_t ino;
    int fd, refs;
    pthread_mutex_t mu;         /* one thread of this process at a time: the
                                   fcntl lock belongs to the whole process */
    char *path;                 /* for messages */
    char boot[48];
    thr_head head;              /* as read by the operation under way */
    thr_ring *ring;             /* the window of the operation under way */
    thr_ring *seen;             /* its bytes as read, so that the end writes
                                   back only what changed (a booking changes
                                   one entry of 1,024) */
    int whole;                  /* the window's bytes in the file are unknown
                                   or stale: write it all */
    int mended;                 /* values were mended: write them back */
    char why[256];              /* why the path's file cannot be used now */
    unsigned moves;             /* times it moved to the file the path names */
};

/* file_open.c: 1 when f's path no longer names f's file; thr_file_follow
 * moves f to the file it names now (see there). Both under f->mu. */
int thr_file_moved(const thr_file *f);
int thr_file_follow(thr_file *f);

#endif
