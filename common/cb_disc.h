/*
 * The dataplane's shared file, <state_dir>/discovery.shm (layout in
 * cb_shm.h): what cachebox-dataplane is doing (state, pid, backend, where it
 * listens and what its OFFERs advertise) and its counters, one block per
 * packet loop. The dataplane is the only writer; control maps it read-only
 * for `cacheboxctl status`, `stats` and /metrics. The file outlives the
 * process, so the counters keep counting across a restart (Prometheus
 * counters stay monotonic) and control can still show the last state of a
 * dataplane that died.
 */
#ifndef CB_DISC_H
#define CB_DISC_H

#include <stdint.h>

#include "cb_shm.h"

struct cb_disc;

/* A copy of the file for a reader: the header fields and every lane summed. */
struct cb_disc_info {
	enum cb_disc_state state;
	uint32_t pid;
	int64_t started;
	uint64_t starts, reloads;
	char backend[16];
	char listen[CB_DISC_TEXT];
	char advertise[CB_DISC_TEXT];
	struct cb_disc_lane total;
};

/*
 * The writer's open (the dataplane, at start): creates the file if needed,
 * starts it afresh when it holds another layout (its counters are lost,
 * and logged), then records pid, start time and backend with state
 * STARTING. NULL with errno: open's (EACCES, ENOENT for a missing folder),
 * ENOMEM, or that of fstat, ftruncate (ENOSPC) or mmap.
 */
struct cb_disc *cb_disc_open(const char *path, const char *backend);
/* A reader's read-only map. NULL with errno: open's (ENOENT: never started), EPROTO, mmap's. */
struct cb_disc *cb_disc_attach(const char *path);
void cb_disc_close(struct cb_disc *d);

/* Writer only. */
void cb_disc_set_state(struct cb_disc *d, enum cb_disc_state s);
void cb_disc_set_text(struct cb_disc *d, const char *listen, const char *advertise);
void cb_disc_count_reload(struct cb_disc *d);
/* Lane i's counters (i < CB_DISC_LANES), for that packet loop alone to bump with cb_disc_add. */
struct cb_disc_lane *cb_disc_lane(struct cb_disc *d, unsigned i);

/* Reader: a copy of the header and the sum of every lane. */
void cb_disc_read(const struct cb_disc *d, struct cb_disc_info *out);

/* One writer per counter: a relaxed store is enough for readers to see whole values. */
static inline void cb_disc_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

const char *cb_disc_state_name(enum cb_disc_state s);

#endif
