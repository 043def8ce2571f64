/*
 * Import (prestage from a local file): stores a file under a URL's cache
 * key, hashing every piece, and publishes it in the index. Replacing an
 * existing object is atomic: a new data file (new generation) is written
 * and synced, then the metadata is renamed into place and the index entry
 * switched under the writer lock; the old data file is unlinked last, so
 * its open readers finish with the old bytes.
 */
#ifndef ST_IMPORT_H
#define ST_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "cb_index.h"
#include "st_format.h"
#include "st_shard.h"

struct st_import_result {
	uint8_t id[ST_ID_LEN];
	char key[ST_KEY_MAX];
	uint64_t size;
	uint32_t npieces;
	unsigned shard;
	char etag[ST_ETAG_MAX];
	int replaced; /* an older version existed */
};

/*
 * Cache key of an absolute http:// or https:// URL (port dropped, host
 * lower-cased, path normalised, query kept only if the URL's origin is
 * configured with key_query = keep). Returns the key length, or -EINVAL
 * with a reason in err.
 */
int st_url_key_of(const struct cfg *c, const char *url, char *key, size_t cap, char *err,
		  size_t errlen);

/* Imports src under url. 0, or -errno with a one-line reason in err. */
int st_import_file(const struct cfg *c, const struct st_shards *ss, struct cb_index *ix,
		   const char *src, const char *url, struct st_import_result *res, char *err,
		   size_t errlen);

/*
 * Makes m the current version of its object (its data file, named by
 * m->gen on shard, written; data holds that path and follows a generation
 * bump): metadata and index entry switch together under the writer lock,
 * then the old version's files are unlinked. 0 or -errno (reason in err).
 */
int st_version_publish(const struct st_shards *ss, struct cb_index *ix, struct st_meta *m,
		       unsigned shard, char *data, size_t datacap, int *replaced, char *err,
		       size_t errlen);
/*
 * Changes the stored version of object id in place, under the index writer
 * lock (call it without): reads the metadata of the indexed version (gen,
 * or whichever is indexed when gen is 0), lets fn change it and the index
 * record, then writes the metadata and puts the record. fn returns 0 to
 * write both, or an error to leave both as they were. 0, -ENOENT (not
 * indexed, or of another gen), -ESTALE (the metadata is of another version
 * than the index entry), st_meta_read's and st_meta_write's errors,
 * -ENOSPC (index full) or fn's error.
 */
int st_meta_update(const struct st_shards *ss, struct cb_index *ix, const uint8_t id[ST_ID_LEN],
		   uint64_t gen, int (*fn)(struct st_meta *m, struct cb_index_rec *rec, void *arg),
		   void *arg);
/* A generation number newer than old (wall-clock nanoseconds when possible). */
uint64_t st_new_gen(uint64_t old);

#endif
