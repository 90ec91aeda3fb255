/* file.h -- windows in a file that processes on one machine share
 * (see limiter.h); used by window.c only (and path.h for the format).
 *
 * The file is never mapped: each operation takes an fcntl lock on it (the
 * kernel drops it when its holder dies, zombie or not), waits for it at most
 * THR_LOCK_WAIT or until a deadline, reads the header and one window with
 * pread, checks and mends them, and writes back what changed with pwrite. A
 * file truncated, shrunk, zeroed or overwritten while in use therefore costs
 * no signal: it is rebuilt under the lock. */
#ifndef COREPLUS_LIMITER_FILE_H
#define COREPLUS_LIMITER_FILE_H

#include <stddef.h>

#include "manual_clock.h"
#include "ring.h"

/* The file's format: its header says it, and the default file's name
 * carries it (path.h), so that processes of two releases with
 * different formats on one machine each share among themselves instead of
 * one of them refusing the other's file. Bump it with any change of layout
 * or meaning. */
#define THR_FILE_FORMAT 5          /* 3: a window records its span; 4: its capacity;
                                      5: the margin it learnt from 429s */

#define THR_FILE_IDLE 7200.0       /* a window's span when its own cannot be read */
#define THR_LOCK_WAIT 1.0          /* the longest wait for a file's lock */

/* A key's place in the files: its name there (the SHA-256 of the key, so a
 * file never holds a token) and where it was found last. */
typedef struct thr_file_key {
    unsigned char id[32];
    int hint;                  /* the slot it had last; -1: none yet */
    int had_slot;              /* it had one: a slot claimed again lost its history */
    unsigned moves;            /* the file's moves it has seen (thr_file_begin) */
} thr_file_key;

/* Names key (keylen bytes, NULL: the empty key). 0, or -1 when OpenSSL fails. */
int thr_file_key_init(thr_file_key *k, const char *key, size_t keylen);

typedef struct thr_file thr_file;

/* Opens path (one object per file and process, whatever the path's
 * spelling), creating it 0600 when absent. Refuses a symlink, anything but a
 * regular file, a file of another user or one that group or others may read
 * or write, and a file that is not a limiter file (or of another version).
 * NULL and a message in err when it cannot be used. Every operation then
 * checks that the path still names the file, and moves to the one it names
 * now (creating it when it names none), checked the same way. */
thr_file *thr_file_open(const char *path, char *err, size_t errlen);
void thr_file_close(thr_file *f);   /* drops a reference */
const char *thr_file_path(const thr_file *f);
/* Why the latest operation found the path's file unusable (THR_FILE_IO), or "". */
const char *thr_file_why(const thr_file *f);

/* Outcomes of thr_file_begin. */
enum { THR_FILE_OK = 0, THR_FILE_BUSY, THR_FILE_LATE, THR_FILE_FULL, THR_FILE_IO };

/* One window of a file, for the duration of an operation. */
typedef struct thr_file_op {
    thr_ring *ring;            /* the window, read and checked */
    int fresh;                 /* its slot was (re)claimed by this operation */
    int repaired;              /* values mended, and files rebuilt, on the way */
} thr_file_op;

/* Locks f (waiting at most wait seconds of clock, or until deadline when that
 * comes first: THR_FILE_BUSY, THR_FILE_LATE), reads the window of k and checks the
 * file, rebuilding it when damaged; a window whose history was lost (k's
 * slot had to be claimed again, or this process moved to the file the path
 * names now) counts as full as of now. THR_FILE_FULL: no
 * free slot for k. On THR_FILE_OK the caller runs its operation on op->ring
 * and calls thr_file_end. */
int thr_file_begin(thr_file *f, thr_file_key *k, const thr_config *cfg, thr_clock *clock,
                   double now, double wait, double deadline, thr_file_op *op);
/* Writes the window back when dirty and unlocks. */
void thr_file_end(thr_file *f, const thr_file_key *k, int dirty);

#endif
