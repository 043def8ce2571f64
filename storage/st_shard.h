/*
 * Shards: one directory per drive (`shard =` lines). Objects are placed by
 * weighted rendezvous hashing (highest random weight) on the content ID:
 * each shard scores -weight / ln(u), u in (0,1) derived from the ID and the
 * shard's path, and the highest score wins. Adding a drive moves only the
 * objects the new drive wins (about its share of the weight); losing a
 * drive loses only its objects. Weights are the shards' filesystem sizes.
 */
#ifndef ST_SHARD_H
#define ST_SHARD_H

#include <stdint.h>

#include "cfg.h"
#include "st_url.h"

struct st_shard {
	char path[CFG_PATH_MAX];
	uint64_t seed;	  /* from the path: placement does not depend on config order */
	double weight;	  /* filesystem bytes, at least 1 */
	uint64_t fs_size; /* bytes of the filesystem holding the shard */
};

struct st_shards {
	struct st_shard s[CFG_MAX_SHARDS];
	unsigned n;
};

/*
 * Creates each shard's objects/ and tmp/ folders and reads its size; 0, or
 * -errno of mkdir or statvfs (logged, naming the shard), -ENAMETOOLONG, or
 * -EINVAL when the config names no shard.
 */
int st_shards_init(struct st_shards *ss, const struct cfg *c);
/* The shard an object belongs on (0 .. n-1). */
unsigned st_shards_place(const struct st_shards *ss, const uint8_t id[ST_ID_LEN]);
/* Pure placement, for tests: seeds and weights of n shards. */
unsigned st_rendezvous_pick(const uint64_t *seeds, const double *weights, unsigned n,
			    const uint8_t id[ST_ID_LEN]);
/* 64-bit seed of a shard path (FNV-1a then a mixer). */
uint64_t st_shard_seed(const char *path);

#endif
