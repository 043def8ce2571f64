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

/* Fills rec from decoded metadata stored on shard (pieces_present from its bitmap). */
void st_index_rec_from_meta(struct cb_index_rec *rec, const struct st_meta *m, unsigned shard);

/* How many pieces m records as present (the bits set in its bitmap). */
uint32_t st_meta_present_count(const struct st_meta *m);

#endif
