/*
 * The shared index: content ID -> object entry, in one shared-memory file
 * (<state_dir>/index.shm) mapped by the file server, the control process
 * and the discovery responder, which links only this library
 * (cb_shm) and not the storage engine. Layout (common/cb_shm.h, versioned
 * by CB_INDEX_LAYOUT): a header page, per-worker statistics, then an
 * open-addressing table of fixed-size entries (linear probing, power-of-two
 * capacity, tombstones).
 *
 * Readers never lock: each entry has a sequence counter (seqlock), odd
 * while a writer changes it; a reader copies the entry and retries if the
 * counter moved. Writers are rare (import, fill progress and completion,
 * eviction) and serialise on a robust process-shared mutex in the header,
 * so a writer that dies holding it does not wedge the others; the next
 * writer repairs any entry left half-written (it is dropped: the disk is
 * the truth).
 *
 * The index is rebuilt from the shards at start by the storage side
 * (st_index_rebuild in storage/st_rebuild.h).
 */
#ifndef CB_INDEX_H
#define CB_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "cb_shm.h"

struct cb_index;

/*
 * Creates a new, empty index file at path with room for capacity objects
 * (rounded up to a power of two), replacing any old one atomically. Returns
 * the mapped index, or NULL with errno: ENAMETOOLONG, ENOMEM, the errno of
 * open, ftruncate (ENOSPC), mmap or rename, or of the lock's initialisation.
 * Nothing is left behind on failure (the old file stays).
 */
struct cb_index *cb_index_create(const char *path, unsigned capacity);
/*
 * Maps an existing index file; NULL with errno: open's (ENOENT, EACCES),
 * EPROTO (another layout, or a file of the wrong size), ENOMEM, mmap's.
 */
struct cb_index *cb_index_attach(const char *path);
/*
 * The same, mapped PROT_READ from a descriptor opened O_RDONLY: for readers
 * that must not write (the dataplane). Only cb_index_lookup, foreach, count
 * and capacity may be called on it; a writer call faults.
 */
struct cb_index *cb_index_attach_ro(const char *path);
void cb_index_close(struct cb_index *ix);

/* Lock-free lookup: 0 and *out filled, or -ENOENT. */
int cb_index_lookup(const struct cb_index *ix, const uint8_t id[CB_ID_LEN],
		    struct cb_index_rec *out);
/* Records an access (for eviction); lock-free, relaxed. */
void cb_index_touch(struct cb_index *ix, const uint8_t id[CB_ID_LEN], int64_t now);

/* Writer side: hold the lock around put/del and the disk changes they mirror. */
void cb_index_lock(struct cb_index *ix);
void cb_index_unlock(struct cb_index *ix);
/* Inserts or replaces rec; 0 or -ENOSPC (table full). Lock held. */
int cb_index_put(struct cb_index *ix, const struct cb_index_rec *rec);
/* Removes id; 0 or -ENOENT. Lock held. */
int cb_index_del(struct cb_index *ix, const uint8_t id[CB_ID_LEN]);
/*
 * A fill committed pieces of version gen of id: raises the entry's
 * pieces_present to n (never lowers it, never above npieces), so commits
 * landing out of order cannot move it back. Takes the lock itself (call it
 * without). 0, -ENOENT (not indexed) or -ESTALE (another version is).
 */
int cb_index_pieces_raise(struct cb_index *ix, const uint8_t id[CB_ID_LEN], uint64_t gen,
			  uint32_t n);

/* Calls fn for a consistent copy of every live entry; stops if fn returns non-zero. */
int cb_index_foreach(const struct cb_index *ix, int (*fn)(const struct cb_index_rec *, void *),
		     void *arg);
unsigned cb_index_count(const struct cb_index *ix);
unsigned cb_index_capacity(const struct cb_index *ix);
struct cb_worker_stats *cb_index_stats(struct cb_index *ix, unsigned worker);

/*
 * Empties the table (lock held). For a rebuild, which then puts every
 * object found on disk.
 */
void cb_index_clear(struct cb_index *ix);

#endif
