/*
 * Token buckets for the discovery rate limits (see dp_rate.h).
 *
 * Tokens are counted in nano-tokens (1e9 per QUERY) so that refilling by
 * elapsed_ns * rate is exact integer arithmetic. The elapsed time is capped
 * at the time that fills a bucket (burst / rate = 2 s), which also keeps
 * elapsed * rate far below 2^64 for every allowed rate.
 *
 * Sources live in an open-addressed table with a probe window of
 * DP_RATE_PROBE slots from a seeded hash of the address. A slot whose
 * bucket would be full again (idle for 2 s) holds nothing worth keeping and
 * is reused. When a new source finds no such slot the table is full for it:
 * rather than evict a live bucket (a flood of sources would then reset
 * every bucket and lift the per-source limit) or refuse it outright (a
 * flood would lock out every new client), all such sources share one
 * overflow bucket of rate_per_source. The global bucket applies to all.
 */
#include "dp_rate.h"

#include "cb_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_RATE_TOKEN 1000000000ull /* nano-tokens per QUERY */

struct dp_bucket {
	uint64_t tokens; /* nano-tokens */
	uint64_t last_ns;
};

struct dp_rate_ent {
	uint8_t addr[16];
	bool used;
	struct dp_bucket b;
};

struct dp_rate {
	uint32_t mask;
	uint64_t per_source, global; /* QUERYs per second */
	uint64_t seed;
	uint64_t overflowed;
	struct dp_bucket global_b, overflow_b;
	struct dp_rate_ent *ents;
};

struct dp_rate *dp_rate_new(unsigned capacity, uint32_t per_source, uint32_t global, uint64_t seed)
{
	struct dp_rate *r;
	uint32_t cap = DP_RATE_PROBE;

	if (capacity == 0 || capacity > DP_RATE_MAXCAP || per_source == 0 || global == 0) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < capacity)
		cap <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ents = calloc(cap, sizeof(*r->ents));
	if (!r->ents) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->mask = cap - 1;
	r->per_source = per_source;
	r->global = global;
	r->seed = seed;
	/* Buckets start full: a box just started answers a burst at once. */
	r->global_b.tokens = 2 * r->global * DP_RATE_TOKEN;
	r->overflow_b.tokens = 2 * r->per_source * DP_RATE_TOKEN;
	return r;
}

void dp_rate_free(struct dp_rate *r)
{
	if (!r)
		return;
	free(r->ents);
	free(r);
}

/* Refills b for rate QUERYs/s (burst 2 * rate) up to now_ns. */
static void dp_bucket_refill(struct dp_bucket *b, uint64_t rate, uint64_t now_ns)
{
	uint64_t burst = 2 * rate * DP_RATE_TOKEN;
	uint64_t dt = now_ns > b->last_ns ? now_ns - b->last_ns : 0;

	if (dt > 2 * 1000000000ull)
		dt = 2 * 1000000000ull;
	b->tokens += dt * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	if (now_ns > b->last_ns)
		b->last_ns = now_ns;
}

static uint32_t dp_rate_hash(const struct dp_rate *r, const uint8_t addr[16])
{
	uint64_t a, b;

	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	a ^= r->seed;
	a *= 0x9e3779b97f4a7c15ull;
	a ^= b + (a >> 29);
	a *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(a ^ (a >> 32));
}

/* The bucket of addr, a fresh one, or the overflow bucket when the window is full. */
static struct dp_bucket *dp_rate_bucket(struct dp_rate *r, const uint8_t addr[16], uint64_t now_ns)
{
	uint32_t home = dp_rate_hash(r, addr);
	struct dp_rate_ent *free_e = NULL;

	for (uint32_t i = 0; i < DP_RATE_PROBE; i++) {
		struct dp_rate_ent *e = &r->ents[(home + i) & r->mask];

		if (e->used && memcmp(e->addr, addr, 16) == 0)
			return &e->b;
		if (!free_e && (!e->used || now_ns - e->b.last_ns >= 2 * 1000000000ull))
			free_e = e; /* never used, or idle long enough to be full again */
	}
	if (!free_e) {
		r->overflowed++;
		return &r->overflow_b;
	}
	memcpy(free_e->addr, addr, 16);
	free_e->used = true;
	free_e->b.tokens = 2 * r->per_source * DP_RATE_TOKEN;
	free_e->b.last_ns = now_ns;
	return &free_e->b;
}

bool dp_rate_allow(struct dp_rate *r, const uint8_t addr[16], uint64_t now_ns)
{
	struct dp_bucket *b = dp_rate_bucket(r, addr, now_ns);

	dp_bucket_refill(b, r->per_source, now_ns);
	dp_bucket_refill(&r->global_b, r->global, now_ns);
	if (b->tokens < DP_RATE_TOKEN || r->global_b.tokens < DP_RATE_TOKEN)
		return false;
	b->tokens -= DP_RATE_TOKEN;
	r->global_b.tokens -= DP_RATE_TOKEN;
	return true;
}

uint64_t dp_rate_overflow_count(const struct dp_rate *r)
{
	return r->overflowed;
}
