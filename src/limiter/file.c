/* file.c -- operations on a window of a shared file (see file.h): the lock,
 * building and checking the header, finding a key's slot, reading and
 * mending its window, writing back what changed. Opening the file, and
 * following its path, is file_open.c; the layout is file_layout.h. */
#include "file_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ===== the lock ===== */

/* The fcntl lock on the whole file, polled so that the wait is bounded (by
 * wait seconds, or the deadline when that comes first): a holder that is
 * stopped (SIGSTOP, Ctrl-Z) keeps it. Returns THR_FILE_OK, THR_FILE_LATE
 * (the deadline came first), THR_FILE_BUSY or THR_FILE_IO. */
static int thr_file_lock(int fd, thr_clock *clock, double now, double wait, double deadline)
{
    struct flock fl;
    double until = now + wait, pause = 1e-4;
    int late = deadline > 0 && deadline < until;

    if (late)
        until = deadline;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return THR_FILE_OK;
        if (errno != EACCES && errno != EAGAIN && errno != EINTR)
            return THR_FILE_IO;
        now = thr_clock_now(clock);
        if (now >= until)
            return late ? THR_FILE_LATE : THR_FILE_BUSY;
        thr_clock_sleep(clock, pause < until - now ? pause : until - now);
        if (pause < 0.004)
            pause *= 2;
    }
}

static void thr_file_unlock(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fcntl(fd, F_SETLK, &fl);
}

/* ===== the header ===== */

static int thr_pread_all(int fd, void *buf, size_t n, off_t at)
{
    ssize_t got = pread(fd, buf, n, at);
    return got == (ssize_t)n ? 0 : -1;
}

static int thr_pwrite_all(int fd, const void *buf, size_t n, off_t at)
{
    ssize_t put = pwrite(fd, buf, n, at);
    return put == (ssize_t)n ? 0 : -1;
}

static off_t thr_slot_at(int i)
{
    return (off_t)THR_HEAD_SIZE + (off_t)i * (off_t)THR_FILE_RING_BYTES;
}

/* A new, empty file (under the lock): every window is gone. */
static int thr_file_build(thr_file *f, uint64_t generation)
{
    thr_head *h = &f->head;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, THR_MAGIC, sizeof h->magic);
    h->version = THR_FILE_VERSION;
    h->head_size = THR_HEAD_SIZE;
    h->keys = THR_FILE_KEYS;
    h->ring_size = (uint32_t)THR_FILE_RING_BYTES;
    h->file_size = (uint64_t)THR_FILE_SIZE;
    h->generation = generation;
    memcpy(h->boot, f->boot, sizeof h->boot);
    if (ftruncate(f->fd, 0) != 0 || ftruncate(f->fd, THR_FILE_SIZE) != 0
        || thr_pwrite_all(f->fd, h, sizeof *h, 0) != 0)
        return -1;
    return 0;
}

static int thr_head_ok(const thr_head *h, const char boot[48])
{
    return memcmp(h->magic, THR_MAGIC, sizeof h->magic) == 0
        && h->version == THR_FILE_VERSION && h->head_size == THR_HEAD_SIZE
        && h->keys == THR_FILE_KEYS && h->ring_size == THR_FILE_RING_BYTES
        && h->file_size == (uint64_t)THR_FILE_SIZE
        && memcmp(h->boot, boot, sizeof h->boot) == 0;
}

/* Reads the header, building the file when it is empty and rebuilding it
 * when it is short, damaged or of an earlier boot (whose monotonic times mean
 * nothing now). Under the lock. Returns 1 after a rebuild, 0, or -1 when the
 * file cannot be written. */
static int thr_file_check(thr_file *f)
{
    struct stat st;
    int fresh = fstat(f->fd, &st) == 0 && st.st_size == 0;
    if (!fresh && st.st_size == THR_FILE_SIZE
        && thr_pread_all(f->fd, &f->head, sizeof f->head, 0) == 0
        && thr_head_ok(&f->head, f->boot))
        return 0;
    if (thr_file_build(f, f->head.generation + 1) != 0)
        return -1;
    return fresh ? 0 : 1;   /* a new file is not a mended one */
}

/* ===== operations ===== */

/* When slot i's window stops mattering: its latest booking time or lease,
 * plus how long a departure counts for its key (span, bounded: a damaged
 * value must not make a slot free early); 0 for a window that cannot be
 * read. f->ring is scratch here (its cap as read is not used). */
static double thr_file_last_use(thr_file *f, int i)
{
    double last = 0, span;
    int k;
    if (thr_pread_all(f->fd, f->ring, THR_FILE_RING_BYTES, thr_slot_at(i)) != 0)
        return 0;
    span = f->ring->span;
    if (!(span > 0 && span <= 3600.0 + 1.0))
        span = THR_FILE_IDLE;
    for (k = 0; k < THR_RING; k++) {
        const thr_entry *e = &f->ring->e[k];
        if (e->state == THR_EMPTY)
            continue;
        if (e->t > last)
            last = e->t;
        if (e->state == THR_PENDING && e->lease > last)
            last = e->lease;
    }
    return last + span;
}

/* A full file gives up the slot of a key whose window no longer holds
 * anything back (its last departure is older than its span, plus a second):
 * every client sharing one machine's limit file (the default) takes a slot
 * for its key, and keys come and go (practices, test mocks). The key that
 * returns later starts an empty window, which is what it would have had.
 * -1: none. */
static int thr_file_idle_slot(thr_file *f, double now)
{
    int i, best = -1;
    double oldest = now - 1.0;
    for (i = 0; i < THR_FILE_KEYS; i++) {
        double last = thr_file_last_use(f, i);
        if (last < oldest) {
            oldest = last;
            best = i;
        }
    }
    return best;
}

/* Finds id's slot, or claims a free one (or an idle one) with *fresh = 1.
 * -1 when none can be had. */
static int thr_file_slot(thr_file *f, const unsigned char id[32], int hint, double now,
                         int *fresh)
{
    static const unsigned char none[32];
    thr_head *h = &f->head;
    int i;
    *fresh = 0;
    if (hint >= 0 && hint < THR_FILE_KEYS && memcmp(h->id[hint], id, 32) == 0)
        return hint;
    for (i = 0; i < THR_FILE_KEYS; i++)
        if (memcmp(h->id[i], id, 32) == 0)
            return i;
    for (i = 0; i < THR_FILE_KEYS && memcmp(h->id[i], none, 32) != 0; i++)
        ;
    if (i == THR_FILE_KEYS && (i = thr_file_idle_slot(f, now)) < 0)
        return -1;
    memcpy(h->id[i], id, 32);
    if (thr_pwrite_all(f->fd, h->id[i], 32, (off_t)(offsetof(thr_head, id) + 32u * (unsigned)i)) != 0)
        return -1;
    *fresh = 1;
    return i;
}

/* Reads slot i's window into f->ring (its bytes also into f->seen) and
 * mends it. Returns values mended. */
static int thr_file_load(thr_file *f, int i, int fresh, const thr_config *cfg, double now)
{
    f->whole = 1;
    if (fresh) {
        memset(f->ring, 0, THR_FILE_RING_BYTES);
        f->ring->cap = THR_RING;
        return 0;
    }
    if (thr_pread_all(f->fd, f->ring, THR_FILE_RING_BYTES, thr_slot_at(i)) != 0) {
        f->ring->cap = THR_RING;
        thr_ring_fill(f->ring, cfg, now);   /* cut short under us: history lost */
        return 1;
    }
    memcpy(f->seen, f->ring, THR_FILE_RING_BYTES);
    f->whole = 0;
    return thr_ring_repair(f->ring, cfg, now);
}

int thr_file_key_init(thr_file_key *k, const char *key, size_t keylen)
{
    unsigned int n = 0;
    memset(k, 0, sizeof *k);
    k->hint = -1;
    return EVP_Digest(key ? key : "", key ? keylen : 0, k->id, &n, EVP_sha256(), NULL) == 1
        && n == 32 ? 0 : -1;
}

int thr_file_begin(thr_file *f, thr_file_key *k, const thr_config *cfg, thr_clock *clock,
                   double now, double wait, double deadline, thr_file_op *op)
{
    int rc, i, rebuilt;
    double seen;

    memset(op, 0, sizeof *op);
    pthread_mutex_lock(&f->mu);
    f->why[0] = '\0';
    if (thr_file_moved(f) && thr_file_follow(f) != 0) {
        pthread_mutex_unlock(&f->mu);
        return THR_FILE_IO;
    }
    if ((rc = thr_file_lock(f->fd, clock, now, wait, deadline)) != THR_FILE_OK) {
        pthread_mutex_unlock(&f->mu);
        return rc;
    }
    /* Values are judged against the time after the lock came: another
     * process may have written them while this one waited. */
    seen = thr_clock_now(clock);
    if (seen < now)
        seen = now;
    rebuilt = thr_file_check(f);
    if (rebuilt < 0 || (i = thr_file_slot(f, k->id, k->hint, seen, &op->fresh)) < 0) {
        thr_file_unlock(f->fd);
        pthread_mutex_unlock(&f->mu);
        return rebuilt < 0 ? THR_FILE_IO : THR_FILE_FULL;
    }
    k->hint = i;
    op->repaired = rebuilt + thr_file_load(f, i, op->fresh, cfg, seen);
    if (op->fresh && k->had_slot) {
        thr_ring_fill(f->ring, cfg, seen);
        op->repaired++;
    } else if (k->moves != f->moves && k->had_slot) {
        thr_ring_block(f->ring, cfg, seen);   /* its departures were in the other file */
        op->repaired++;
    }
    k->had_slot = 1;
    k->moves = f->moves;
    f->mended = op->repaired > 0;   /* written back even by an operation that reads */
    f->ring->span = cfg->per + cfg->margin + thr_ring_learnt(f->ring, seen);
    op->ring = f->ring;
    return THR_FILE_OK;
}

/* Entries compared at once when looking for the changed ones (one memcmp
 * of a block is much cheaper than one per entry). */
#define THR_DIFF_BLOCK 64

static int thr_entries_same(const thr_file *f, int from, int count)
{
    return memcmp(&f->ring->e[from], &f->seen->e[from], (size_t)count * sizeof(thr_entry)) == 0;
}

/* Writes back the bytes of slot i's window that differ from those read:
 * its counters, and the run of entries from the first changed one to the
 * last (under the lock, the file still holds what was read). */
static void thr_file_write_back(thr_file *f, int i)
{
    const size_t head = offsetof(thr_ring, e);
    off_t at = thr_slot_at(i);
    int first = 0, last = THR_RING;   /* entries [first, last) changed */

    if (f->whole) {
        (void)thr_pwrite_all(f->fd, f->ring, THR_FILE_RING_BYTES, at);
        return;
    }
    if (memcmp(f->ring, f->seen, head) != 0)
        (void)thr_pwrite_all(f->fd, f->ring, head, at);
    while (first < THR_RING && thr_entries_same(f, first, THR_DIFF_BLOCK))
        first += THR_DIFF_BLOCK;
    if (first == THR_RING)
        return;
    while (thr_entries_same(f, last - THR_DIFF_BLOCK, THR_DIFF_BLOCK))
        last -= THR_DIFF_BLOCK;
    while (thr_entries_same(f, first, 1))
        first++;
    while (thr_entries_same(f, last - 1, 1))
        last--;
    (void)thr_pwrite_all(f->fd, &f->ring->e[first], (size_t)(last - first) * sizeof(thr_entry),
                         at + (off_t)head + (off_t)first * (off_t)sizeof(thr_entry));
}

/* The blocks tile the ring (a negative array size fails the build if not). */
typedef char thr_diff_tiles[THR_RING % THR_DIFF_BLOCK == 0 ? 1 : -1];

void thr_file_end(thr_file *f, const thr_file_key *k, int dirty)
{
    if (dirty || f->mended)
        thr_file_write_back(f, k->hint);
    thr_file_unlock(f->fd);
    pthread_mutex_unlock(&f->mu);
}
