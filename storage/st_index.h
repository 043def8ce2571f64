/*
 * The shared index: content ID -> object entry, in one shared-memory file
 * (<state_dir>/index.shm) mapped by the file server, the control process
 * and, later, the discovery responder. Layout (versioned by ST_INDEX_LAYOUT):
 * a header page, per-worker statistics, then an open-addressing table of
 * fixed-size entries (linear probing, power-of-two capacity, tombstones).
 *
 * Readers never lock: each entry has a sequence counter (seqlock), odd
 * while a writer changes it; a reader copies the entry and retries if the
 * counter moved. Writers are rare (import, fill completion, eviction) and
 * serialise on a robust process-shared mutex in the header, so a writer
 * that dies holding it does not wedge the others; the next writer repairs
 * any entry left half-written (it is dropped: the disk is the truth).
 *
 * The index is rebuilt from the shards at start (st_index_rebuild).
 */
#ifndef ST_INDEX_H
#define ST_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "st_format.h"
#include "st_shard.h"

#define ST_INDEX_LAYOUT 2
#define ST_MAX_WORKERS	64

/* A copy of one entry, as readers see it. */
struct st_index_rec {
	uint8_t id[ST_ID_LEN];
	uint64_t size;
	uint64_t gen;
	int64_t last_modified;
	int64_t created;
	int64_t last_access;
	uint64_t hits; /* requests answered from this object since it was indexed */
	uint32_t piece_size;
	uint16_t shard;
	uint16_t flags; /* enum st_meta_flags */
	char etag[ST_ETAG_MAX];
};

/* Per-worker counters: written only by their worker, read by anyone. */
struct st_worker_stats {
	uint64_t requests;
	uint64_t hits; /* served wholly from the cache */
	uint64_t misses;
	uint64_t bytes_served; /* body bytes */
	uint64_t status_4xx;
	uint64_t status_5xx;
	uint64_t conns_open;
	uint64_t conns_total;
} __attribute__((aligned(64)));

struct st_index;

/*
 * Creates a new, empty index file at path with room for capacity objects
 * (rounded up to a power of two), replacing any old one atomically. Returns
 * the mapped index or NULL with errno.
 */
struct st_index *st_index_create(const char *path, unsigned capacity);
/* Maps an existing index file; NULL with errno (EPROTO: other layout). */
struct st_index *st_index_attach(const char *path);
void st_index_close(struct st_index *ix);

/* Lock-free lookup: 0 and *out filled, or -ENOENT. */
int st_index_lookup(const struct st_index *ix, const uint8_t id[ST_ID_LEN],
		    struct st_index_rec *out);
/* Records an access (for eviction); lock-free, relaxed. */
void st_index_touch(struct st_index *ix, const uint8_t id[ST_ID_LEN], int64_t now);

/* Writer side: hold the lock around put/del and the disk changes they mirror. */
void st_index_lock(struct st_index *ix);
void st_index_unlock(struct st_index *ix);
/* Inserts or replaces rec; 0 or -ENOSPC (table full). Lock held. */
int st_index_put(struct st_index *ix, const struct st_index_rec *rec);
/* Removes id; 0 or -ENOENT. Lock held. */
int st_index_del(struct st_index *ix, const uint8_t id[ST_ID_LEN]);

/* Calls fn for a consistent copy of every live entry; stops if fn returns non-zero. */
int st_index_foreach(const struct st_index *ix, int (*fn)(const struct st_index_rec *, void *),
		     void *arg);
unsigned st_index_count(const struct st_index *ix);
unsigned st_index_capacity(const struct st_index *ix);
struct st_worker_stats *st_index_stats(struct st_index *ix, unsigned worker);

/*
 * Empties the index and refills it from the shards' metadata files. Objects
 * whose metadata is corrupt, or whose data file is missing or of the wrong
 * size, are logged and deleted; stray data and temporary files are removed.
 * Returns the number of objects indexed, or -errno.
 */
int st_index_rebuild(struct st_index *ix, const struct st_shards *ss);

/* Fills rec from decoded metadata stored on shard. */
void st_index_rec_from_meta(struct st_index_rec *rec, const struct st_meta *m, unsigned shard);

#endif
