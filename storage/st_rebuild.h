/*
 * The storage side of the shared index: what only the owner of the shards
 * can do, because it reads the on-disk format. The index itself (common/
 * cb_index.h) knows nothing of metadata files; this header turns decoded
 * metadata into index entries and refills the index from the shards at
 * start. Linked by the file server and by control (eviction, scrub).
 */
#ifndef ST_REBUILD_H
#define ST_REBUILD_H

#include <stdint.h>

#include "cb_index.h"
#include "st_format.h"
#include "st_shard.h"

/*
 * Empties the index and refills it from the shards' metadata files. Objects
 * whose metadata is corrupt, or whose data file is missing or of the wrong
 * size, are logged and deleted; stray data and temporary files are removed.
 * Returns the number of objects indexed, or -errno.
 */
int st_index_rebuild(struct cb_index *ix, const struct st_shards *ss);

/*
 * One object's entry checked against its metadata, under the index lock,
 * when a reader found them disagreeing (st_obj_get failed on an indexed
 * object). Under the lock no live writer is between its metadata and its
 * index update, so a disagreement means one died there (a crash after the
 * rename, a torn metadata file): the entry is set from the metadata when
 * that decodes and its data file has the right size, and removed when
 * not. Files are left alone (a live writer may be making the next
 * version's); the next start's rebuild sweeps what is stray. Returns 1 when
 * the entry changed, 0 when it already agreed (or there is none).
 */
int st_index_reconcile(struct cb_index *ix, const struct st_shards *ss,
		       const uint8_t id[ST_ID_LEN]);

/* Fills rec from decoded metadata stored on shard (pieces_present from its bitmap). */
void st_index_rec_from_meta(struct cb_index_rec *rec, const struct st_meta *m, unsigned shard);

/* How many pieces m records as present (the bits set in its bitmap). */
uint32_t st_meta_present_count(const struct st_meta *m);

#endif
