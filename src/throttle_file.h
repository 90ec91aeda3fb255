/* throttle_file.h -- windows in a file that processes on one machine share
 * (see throttle.h); used by throttle.c only. */
#ifndef COREPLUS_THROTTLE_FILE_H
#define COREPLUS_THROTTLE_FILE_H

#include <pthread.h>
#include <stddef.h>

#include "throttle_ring.h"

typedef struct thr_file thr_file;

/* Maps path, initialising it when new; NULL and a message in err when it
 * cannot be used. */
thr_file *thr_file_map(const char *path, char *err, size_t errlen);
void thr_file_unmap(thr_file *f);
/* The file's process-shared, robust lock. */
pthread_mutex_t *thr_file_mutex(thr_file *f);
/* The window of key in the file (claimed when new), or NULL (err says why). */
thr_ring *thr_file_slot(thr_file *f, const char *key, size_t keylen,
                        const char *path, char *err, size_t errlen);

#endif
