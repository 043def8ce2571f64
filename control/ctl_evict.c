/*
 * Eviction and quotas (docs/control.md). About once a second, and at once
 * when a fill waits for room, control walks the index and keeps:
 *
 *   - each shard under min(max_cache_size_percent of its filesystem,
 *     what leaves min_free_space free), and all shards together under
 *     absolute_max_cache_size;
 *   - each origin under its quota;
 *   - no object unused for longer than max_cache_age.
 *
 * Sizes are the objects' full sizes, partial ones included, so the disk in
 * use never exceeds what is counted. Victims are chosen by the policy
 * (SIEVE by default, LRU on request; docs/eviction.md has the measurements
 * that chose it); pinned objects are never chosen. Removal unlinks the
 * files: a reader that has the object open finishes with its bytes and the
 * space comes back when it closes.
 */
#include "ctl.h"
#include "ctl_sieve.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_format.h"
#include "st_url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* What control remembers of an object between passes. */
struct seen {
	uint8_t id[ST_ID_LEN];
	uint64_t hits;	/* rec.hits when SIEVE last cleared its visited bit */
	int16_t origin; /* index into cfg->origins, -1 unknown, -2 not yet read */
};

struct obj {
	struct cb_index_rec rec;
	struct seen *seen;
	bool gone;
};

struct ctl_evict {
	struct seen *seen; /* sorted by id */
	size_t nseen;
	/* SIEVE's hand: the (created, id) the last walk stopped before */
	int64_t hand_created;
	uint8_t hand_id[ST_ID_LEN];
	uint64_t evicted, evicted_bytes;
};

static int cmp_seen(const void *a, const void *b)
{
	return memcmp(((const struct seen *)a)->id, ((const struct seen *)b)->id, ST_ID_LEN);
}

int ctl_object_remove(struct ctl *ctl, const uint8_t id[ST_ID_LEN], uint64_t gen,
		      struct cb_index_rec *out)
{
	char path[CB_PATH_TMP];
	struct cb_index_rec rec;
	int ret;

	cb_index_lock(ctl->ix);
	ret = cb_index_lookup(ctl->ix, id, &rec);
	if (ret == 0 && gen && rec.gen != gen)
		ret = -ESTALE; /* replaced since it was chosen: leave the new version */
	if (ret == 0) {
		/* Index first: new requests stop finding it; open readers keep their fd. */
		cb_index_del(ctl->ix, id);
		if (rec.shard < ctl->ss.n) {
			st_path_meta(ctl->ss.s[rec.shard].path, id, path, sizeof(path));
			unlink(path);
			st_path_data(ctl->ss.s[rec.shard].path, id, rec.gen, path, sizeof(path));
			unlink(path);
		}
		if (out)
			*out = rec;
	}
	cb_index_unlock(ctl->ix);
	return ret;
}

/* The origin an object's key belongs to (the key starts with the host): its index, or -1. */
static int16_t origin_of(struct ctl *ctl, const struct cb_index_rec *rec)
{
	const struct cfg_origin *o;
	char key[ST_KEY_MAX + 1];

	if (rec->shard >= ctl->ss.n ||
	    st_meta_read_key(ctl->ss.s[rec->shard].path, rec->id, key, sizeof(key)))
		return -1;
	o = cfg_origin_of_key(ctl->cfg, key, strlen(key));
	return o ? (int16_t)(o - ctl->cfg->origins) : -1;
}

struct gather {
	struct obj *v;
	size_t n, cap;
};

static int gather_one(const struct cb_index_rec *rec, void *arg)
{
	struct gather *g = arg;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		struct obj *v = realloc(g->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].rec = *rec;
	g->v[g->n].seen = NULL;
	g->v[g->n].gone = false;
	g->n++;
	return 0;
}

/* Carries what was known of each object over to this pass's table. */
static int refresh_seen(struct ctl *ctl, struct ctl_evict *ev, struct gather *g)
{
	struct seen *ns = calloc(g->n ? g->n : 1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		struct seen key = {0}, *old;

		memcpy(key.id, g->v[i].rec.id, ST_ID_LEN);
		old = ev->nseen ? bsearch(&key, ev->seen, ev->nseen, sizeof(*ev->seen), cmp_seen)
				: NULL;
		if (old) {
			ns[i] = *old;
		} else {
			memcpy(ns[i].id, key.id, ST_ID_LEN);
			/* The request that brought it in is not a second visit. */
			ns[i].hits = CB_MIN(g->v[i].rec.hits, 1ull);
			ns[i].origin = -2;
		}
	}
	qsort(ns, g->n, sizeof(*ns), cmp_seen);
	for (size_t i = 0; i < g->n; i++) {
		struct seen key = {0};

		memcpy(key.id, g->v[i].rec.id, ST_ID_LEN);
		g->v[i].seen = bsearch(&key, ns, g->n, sizeof(*ns), cmp_seen);
		if (g->v[i].seen->origin == -2 && ctl->cfg->norigins)
			g->v[i].seen->origin = origin_of(ctl, &g->v[i].rec);
	}
	free(ev->seen);
	ev->seen = ns;
	ev->nseen = g->n;
	return 0;
}

/* A victim filter: which objects a constraint may take. */
struct need {
	int shard;  /* -1 = any */
	int origin; /* -1 = any */
	uint64_t bytes;
	const char *why;
};

static bool fits(const struct obj *o, const struct need *n)
{
	if (o->gone || (o->rec.flags & ST_META_PINNED))
		return false;
	if (n->shard >= 0 && o->rec.shard != n->shard)
		return false;
	if (n->origin >= 0 && o->seen->origin != n->origin)
		return false;
	return true;
}

static int64_t last_use(const struct cb_index_rec *r)
{
	return r->last_access ? r->last_access : r->created;
}

static int cmp_lru(const void *a, const void *b)
{
	const struct obj *x = *(const struct obj *const *)a, *y = *(const struct obj *const *)b;
	int64_t lx = last_use(&x->rec), ly = last_use(&y->rec);

	return lx < ly ? -1 : lx > ly;
}

static int cmp_fifo(const void *a, const void *b)
{
	const struct obj *x = *(const struct obj *const *)a, *y = *(const struct obj *const *)b;

	if (x->rec.created != y->rec.created)
		return x->rec.created < y->rec.created ? -1 : 1;
	return memcmp(x->rec.id, y->rec.id, ST_ID_LEN);
}

static void account(uint64_t *used_shard, uint64_t *used_origin, uint64_t *total,
		    const struct obj *o)
{
	used_shard[o->rec.shard] -= CB_MIN(used_shard[o->rec.shard], o->rec.size);
	if (o->seen->origin >= 0)
		used_origin[o->seen->origin] -= CB_MIN(used_origin[o->seen->origin], o->rec.size);
	*total -= CB_MIN(*total, o->rec.size);
}

struct usage {
	uint64_t shard[CFG_MAX_SHARDS];
	uint64_t origin[CFG_MAX_ORIGINS];
	uint64_t total;
};

/* Every object of the index, what control knows of it, and the sums by shard and origin. */
static int snapshot(struct ctl *ctl, struct gather *g, struct usage *u)
{
	memset(u, 0, sizeof(*u));
	if (cb_index_foreach(ctl->ix, gather_one, g) < 0 || refresh_seen(ctl, ctl->ev, g) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		const struct obj *o = &g->v[i];

		if (o->rec.shard < CFG_MAX_SHARDS)
			u->shard[o->rec.shard] += o->rec.size;
		if (o->seen->origin >= 0)
			u->origin[o->seen->origin] += o->rec.size;
		u->total += o->rec.size;
	}
	return 0;
}

static bool evict_one(struct ctl *ctl, struct ctl_evict *ev, struct obj *o, struct usage *u,
		      const char *why)
{
	char hex[ST_ID_HEX + 1];

	if (ctl_object_remove(ctl, o->rec.id, o->rec.gen, NULL) != 0)
		return false;
	o->gone = true;
	account(u->shard, u->origin, &u->total, o);
	ev->evicted++;
	ev->evicted_bytes += o->rec.size;
	cb_hex_encode(o->rec.id, ST_ID_LEN, hex);
	cb_info("evicted %s (%llu bytes, %llu requests): %s", hex, (unsigned long long)o->rec.size,
		(unsigned long long)o->rec.hits, why);
	return true;
}

/* Whether o stands before the (created, id) where SIEVE's hand stopped. */
static bool before_hand(const struct ctl_evict *ev, const struct obj *o)
{
	return o->rec.created < ev->hand_created || (o->rec.created == ev->hand_created &&
						     memcmp(o->rec.id, ev->hand_id, ST_ID_LEN) < 0);
}

/*
 * SIEVE (ctl_sieve.c, the code the simulator measured) over this pass's
 * candidates c[0..nc): queued by insertion (created, then id), visited when
 * requested since the hand last passed (hits grew), the hand resuming at
 * the first candidate at or after where the last walk stopped. The bits
 * the hand clears are remembered (seen->hits) for the next pass.
 */
static uint64_t evict_sieve(struct ctl *ctl, struct ctl_evict *ev, struct obj **c, size_t nc,
			    struct usage *u, const struct need *n)
{
	struct ctl_sieve_node *node = malloc((nc ? nc : 1) * sizeof(*node));
	struct ctl_sieve sv;
	uint64_t freed = 0;
	size_t start = 0;

	if (!node || nc > INT32_MAX) {
		free(node);
		return 0;
	}
	qsort(c, nc, sizeof(*c), cmp_fifo);
	ctl_sieve_init(&sv, node, (uint32_t)nc);
	for (size_t i = 0; i < nc; i++) {
		ctl_sieve_insert(&sv, (int32_t)i);
		if (c[i]->rec.hits > c[i]->seen->hits)
			ctl_sieve_hit(&sv, (int32_t)i);
	}
	while (start < nc && before_hand(ev, c[start]))
		start++;
	sv.hand = start < nc ? (int32_t)start : -1;
	while (freed < n->bytes) {
		int32_t v = ctl_sieve_victim(&sv);

		if (v < 0)
			break;
		ctl_sieve_remove(&sv, v);
		ev->hand_created = c[v]->rec.created;
		memcpy(ev->hand_id, c[v]->rec.id, ST_ID_LEN);
		if (evict_one(ctl, ev, c[v], u, n->why))
			freed += c[v]->rec.size;
	}
	for (size_t i = 0; i < nc; i++)
		if (node[i].in && !node[i].visited && c[i]->rec.hits > c[i]->seen->hits)
			c[i]->seen->hits = c[i]->rec.hits; /* visited: cleared, spared once */
	free(node);
	return freed;
}

/* Frees n->bytes among the objects n allows, in the policy's order. */
static uint64_t evict_for(struct ctl *ctl, struct ctl_evict *ev, struct gather *g, struct usage *u,
			  const struct need *n)
{
	struct obj **c = malloc((g->n ? g->n : 1) * sizeof(*c));
	size_t nc = 0;
	uint64_t freed = 0;

	if (!c)
		return 0;
	for (size_t i = 0; i < g->n; i++)
		if (fits(&g->v[i], n))
			c[nc++] = &g->v[i];
	if (!ctl->cfg->storage.eviction_lru) {
		freed = evict_sieve(ctl, ev, c, nc, u, n);
	} else {
		qsort(c, nc, sizeof(*c), cmp_lru);
		for (size_t k = 0; k < nc && freed < n->bytes; k++)
			if (evict_one(ctl, ev, c[k], u, n->why))
				freed += c[k]->rec.size;
	}
	free(c);
	return freed;
}

uint64_t ctl_evict_shard_limit(const struct ctl *ctl, unsigned s, uint64_t used)
{
	const struct cfg *cfg = ctl->cfg;
	struct statvfs sv;
	uint64_t size, avail, lim = UINT64_MAX;

	if (statvfs(ctl->ss.s[s].path, &sv) != 0)
		return UINT64_MAX;
	size = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (cfg->storage.max_cache_size_percent)
		lim = size / 100 * cfg->storage.max_cache_size_percent;
	/* Keep min_free_space free: what we hold plus what is free, less the reserve. */
	if (cfg->storage.min_free_space)
		lim = CB_MIN(lim, used + avail > cfg->storage.min_free_space
					  ? used + avail - cfg->storage.min_free_space
					  : 0);
	return lim;
}

int ctl_evict_pass(struct ctl *ctl, uint64_t *out_evicted)
{
	struct ctl_evict *ev = ctl->ev;
	const struct cfg *cfg = ctl->cfg;
	struct cb_policy_live *live = cb_policy_live(ctl->pol);
	struct gather g = {0};
	struct usage u = {0};
	uint64_t base[CFG_MAX_SHARDS], limit[CFG_MAX_SHARDS], want[CFG_MAX_SHARDS];
	uint64_t before = ev->evicted, now = (uint64_t)time(NULL);
	uint64_t slack = CB_MAX(4 * cfg->storage.piece_size, 1ull << 20);

	/* What fills add from here on is theirs to count; the index has the rest. */
	for (unsigned s = 0; s < ctl->ss.n; s++) {
		base[s] = __atomic_load_n(&live->shard[s].added, __ATOMIC_ACQUIRE);
		want[s] = __atomic_exchange_n(&live->shard[s].want, 0, __ATOMIC_ACQ_REL);
	}
	if (snapshot(ctl, &g, &u) < 0) {
		free(g.v);
		return -ENOMEM;
	}

	/* Unused for longer than max_cache_age. */
	if (cfg->storage.max_cache_age_ms) {
		for (size_t i = 0; i < g.n; i++) {
			struct obj *o = &g.v[i];

			if (!(o->rec.flags & ST_META_PINNED) &&
			    now - (uint64_t)last_use(&o->rec) >
				    cfg->storage.max_cache_age_ms / 1000)
				evict_one(ctl, ev, o, &u, "unused for longer than max_cache_age");
		}
	}
	/* Origin quotas. */
	for (unsigned i = 0; i < cfg->norigins; i++) {
		uint64_t q = cfg->origins[i].quota;

		if (q && u.origin[i] > q) {
			struct need n = {-1, (int)i, u.origin[i] - q, "over its origin's quota"};

			evict_for(ctl, ev, &g, &u, &n);
		}
	}
	/* Per shard: the limit, minus room for what a waiting fill needs. */
	for (unsigned s = 0; s < ctl->ss.n; s++) {
		uint64_t target;

		limit[s] = ctl_evict_shard_limit(ctl, s, u.shard[s]);
		target = limit[s] > slack + want[s] ? limit[s] - slack - want[s] : 0;
		if (u.shard[s] > limit[s] || (want[s] && u.shard[s] > target)) {
			struct need n = {(int)s, -1, u.shard[s] - target,
					 "the shard is over its cache size limit"};

			evict_for(ctl, ev, &g, &u, &n);
		}
	}
	/* All shards together. */
	if (cfg->storage.absolute_max_cache_size) {
		uint64_t lim = cfg->storage.absolute_max_cache_size, wanted = 0, target;

		for (unsigned s = 0; s < ctl->ss.n; s++)
			wanted += want[s];
		target = lim > slack + wanted ? lim - slack - wanted : 0;
		if (u.total > lim || (wanted && u.total > target)) {
			struct need n = {-1, -1, u.total - target,
					 "over absolute_max_cache_size, or room asked for a fill"};

			evict_for(ctl, ev, &g, &u, &n);
		}
	}
	/* Publish: each shard may take at most its share of the absolute limit too. */
	for (unsigned s = 0; s < ctl->ss.n; s++) {
		uint64_t lim = limit[s];

		if (cfg->storage.absolute_max_cache_size) {
			uint64_t others = u.total - u.shard[s];
			uint64_t abs = cfg->storage.absolute_max_cache_size;

			lim = CB_MIN(lim, abs > others ? abs - others : 0);
		}
		__atomic_store_n(&live->shard[s].used, u.shard[s], __ATOMIC_RELEASE);
		__atomic_store_n(&live->shard[s].added_base, base[s], __ATOMIC_RELEASE);
		__atomic_store_n(&live->shard[s].limit, lim == UINT64_MAX ? 0 : CB_MAX(lim, 1ull),
				 __ATOMIC_RELEASE);
	}
	free(g.v);
	if (out_evicted)
		*out_evicted = ev->evicted - before;
	return 0;
}

/*
 * The operator's evict --to-size (keep at most `size` bytes, chosen by the
 * policy) and --older-than (unused for longer than `secs`). Pinned objects
 * stay. Objects and bytes removed in *n, *bytes. 0 or -ENOMEM.
 */
int ctl_evict_operator(struct ctl *ctl, bool to_size, uint64_t arg, uint64_t *n, uint64_t *bytes)
{
	struct ctl_evict *ev = ctl->ev;
	struct gather g = {0};
	struct usage u = {0};
	uint64_t n0 = ev->evicted, b0 = ev->evicted_bytes, now = (uint64_t)time(NULL);

	if (snapshot(ctl, &g, &u) < 0) {
		free(g.v);
		return -ENOMEM;
	}
	if (to_size && u.total > arg) {
		struct need need = {-1, -1, u.total - arg, "evict --to-size"};

		evict_for(ctl, ev, &g, &u, &need);
	} else if (!to_size) {
		for (size_t i = 0; i < g.n; i++)
			if (!(g.v[i].rec.flags & ST_META_PINNED) &&
			    now - (uint64_t)last_use(&g.v[i].rec) > arg)
				evict_one(ctl, ev, &g.v[i], &u, "evict --older-than");
	}
	free(g.v);
	*n = ev->evicted - n0;
	*bytes = ev->evicted_bytes - b0;
	/*
	 * Publish the shards' new usage now, as a pass does: a fill waiting for
	 * room would otherwise see the old figures until the next pass.
	 */
	return *n ? ctl_evict_pass(ctl, NULL) : 0;
}

bool ctl_evict_wanted(struct ctl *ctl)
{
	struct cb_policy_live *live = cb_policy_live(ctl->pol);

	for (unsigned s = 0; s < ctl->ss.n; s++)
		if (__atomic_load_n(&live->shard[s].want, __ATOMIC_RELAXED))
			return true;
	return false;
}

int ctl_evict_init(struct ctl *ctl)
{
	ctl->ev = calloc(1, sizeof(*ctl->ev));
	return ctl->ev ? 0 : -ENOMEM;
}

void ctl_evict_fini(struct ctl *ctl)
{
	if (!ctl->ev)
		return;
	free(ctl->ev->seen);
	free(ctl->ev);
	ctl->ev = NULL;
}

void ctl_evict_counts(struct ctl *ctl, uint64_t *n, uint64_t *bytes)
{
	*n = ctl->ev ? ctl->ev->evicted : 0;
	*bytes = ctl->ev ? ctl->ev->evicted_bytes : 0;
}
