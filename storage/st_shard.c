/* Shard set and weighted rendezvous placement (see st_shard.h). */
#include "st_shard.h"

#include "cb_common.h"
#include "cb_log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finaliser: a bijection with good avalanche. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t st_shard_seed(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = path; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

unsigned st_rendezvous_pick(const uint64_t *seeds, const double *weights, unsigned n,
			    const uint8_t id[ST_ID_LEN])
{
	uint64_t key;
	double best = -1.0;
	unsigned pick = 0;

	/* The ID is already a uniform hash: its first 8 bytes are key enough. */
	memcpy(&key, id, sizeof(key));
	for (unsigned i = 0; i < n; i++) {
		uint64_t h = mix64(key ^ seeds[i]);
		/* u in (0,1): 53 random bits, never 0 or 1. */
		double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;
		double score = -weights[i] / log(u);

		if (score > best) {
			best = score;
			pick = i;
		}
	}
	return pick;
}

unsigned st_shards_place(const struct st_shards *ss, const uint8_t id[ST_ID_LEN])
{
	uint64_t seeds[CFG_MAX_SHARDS];
	double weights[CFG_MAX_SHARDS];

	for (unsigned i = 0; i < ss->n; i++) {
		seeds[i] = ss->s[i].seed;
		weights[i] = ss->s[i].weight;
	}
	return st_rendezvous_pick(seeds, weights, ss->n, id);
}

static int mkdir_p(const char *path)
{
	char buf[CB_PATH_TMP];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Makes <shard>/<name>; 0 or -errno. */
static int shard_subdir(const char *shard, const char *name)
{
	char sub[CB_PATH_TMP];
	int ret = cb_fmt(sub, sizeof(sub), "%s/%s", shard, name);

	return ret ? ret : mkdir_p(sub);
}

int st_shards_init(struct st_shards *ss, const struct cfg *c)
{
	struct statvfs vfs;
	int ret;

	memset(ss, 0, sizeof(*ss));
	for (unsigned i = 0; i < c->storage.nshards; i++) {
		struct st_shard *s = &ss->s[i];

		ret = cb_fmt(s->path, sizeof(s->path), "%s", c->storage.shards[i]);
		if (ret == 0)
			ret = shard_subdir(s->path, "objects");
		if (ret == 0)
			ret = shard_subdir(s->path, "tmp");
		if (ret) {
			cb_err("shard %s: cannot create folders: %s", c->storage.shards[i],
			       strerror(-ret));
			return ret;
		}
		if (statvfs(s->path, &vfs) < 0) {
			ret = -errno;
			cb_err("shard %s: statvfs: %s", s->path, strerror(-ret));
			return ret;
		}
		s->fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		s->weight = s->fs_size ? (double)s->fs_size : 1.0;
		s->seed = st_shard_seed(s->path);
		ss->n++;
	}
	return ss->n ? 0 : -EINVAL;
}
