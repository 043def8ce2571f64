/*
 * Open objects of the file server: a process-wide cache from content ID to
 * an open data file plus its decoded metadata, shared by the worker
 * threads. It also remembers which pieces have been verified since this
 * process started: a piece is hashed the first time it is about to be
 * served after a start (damage done while the box was down is never
 * served) and never again in this process. A piece that fails is dropped:
 * logged, cleared from the metadata on disk and from the index, and treated
 * as missing from then on.
 */
#ifndef ST_OBJECT_H
#define ST_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "st_format.h"
#include "cb_index.h"
#include "st_shard.h"

struct st_obj {
	uint8_t id[ST_ID_LEN];
	uint64_t gen;
	uint64_t size;
	uint32_t piece_size;
	uint32_t npieces;
	int fd;	 /* O_RDONLY data file; the generation's bytes even after replacement */
	int dfd; /* the same file with O_DIRECT, or -1 where the filesystem refuses it */
	int64_t last_modified;
	char etag[ST_ETAG_MAX];
	struct st_meta meta; /* hashes and presence, as loaded */
	uint8_t *verified;   /* bitmap (atomic bytes): hashed and good in this process */
	uint8_t *bad;	     /* bitmap: piece failed; never served again */
	/* cache bookkeeping, under the cache lock */
	unsigned refs;
	bool stale; /* replaced in the cache by a newer generation */
	struct st_obj *next;
};

struct st_objcache;

/* NULL with errno (ENOMEM, or the lock's EAGAIN). ss and ix must outlive the cache. */
struct st_objcache *st_objcache_new(const struct st_shards *ss, struct cb_index *ix,
				    unsigned max_open);
void st_objcache_free(struct st_objcache *oc);

/*
 * A referenced open object for the index record (same ID and generation),
 * opening the data file and reading the metadata if needed. NULL with errno
 * (ENOENT: the files are gone, e.g. replaced meanwhile; EINVAL: corrupt).
 */
struct st_obj *st_obj_get(struct st_objcache *oc, const struct cb_index_rec *rec);
/*
 * Closes the unreferenced objects the index no longer names (evicted or
 * replaced by another process), so their unlinked files give their space
 * back. Called about once a second.
 */
void st_objcache_sweep(struct st_objcache *oc);
/* Drops a reference from st_obj_get; the last one of a stale object closes it. */
void st_obj_put(struct st_objcache *oc, struct st_obj *o);

/* Pieces that failed their SHA-256 when read back, since the file server started. */
uint64_t st_objcache_corrupt_pieces(struct st_objcache *oc);

/*
 * Makes sure every piece overlapping bytes [first, last] is present and
 * verified, hashing those not yet verified in this process (scratch must
 * hold piece_size bytes). Returns 0, -ENOENT if a piece is missing or
 * failed its hash (now or before), or -errno of a read error.
 */
int st_obj_verify(struct st_objcache *oc, struct st_obj *o, uint64_t first, uint64_t last,
		  uint8_t *scratch);

/* Whether bytes [first, last] are all present (no hashing). */
bool st_obj_present(const struct st_obj *o, uint64_t first, uint64_t last);

#endif
