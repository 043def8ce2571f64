/*
 * The replay cache (see dp_replay.h): an open-addressed table with a
 * bounded probe window.
 *
 * A (key_id, nonce) hashes (seeded) to a home slot and may live in any of
 * the DP_REPLAY_PROBE slots from there (wrapping). A lookup and an insert
 * scan the same window, so a live duplicate is always found, and every call
 * costs at most DP_REPLAY_PROBE comparisons whatever the load. An entry
 * expires at timestamp + window; an expired slot is free for reuse, so the
 * entries that expire first are the first replaced. Nothing is ever
 * deleted, so no tombstones are needed.
 *
 * A full window (every slot live) refuses the datagram as a replay instead
 * of evicting the oldest live entry: an evicted nonce could be replayed
 * while its timestamp is still inside the window, so evicting would let
 * whoever can fill the cache reopen it to replays. Refusing only costs
 * answers to fresh QUERYs while the cache is saturated, which needs a key
 * holder sending more than capacity / window QUERYs per second; the rate
 * limiter bounds that long before, when the cache is sized for
 * rate_global * auth_window. The refusals are counted.
 */
#include "dp_replay.h"

#include "cb_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dp_replay_ent {
	uint64_t expires; /* seconds; 0 = never used */
	uint32_t key_id;
	uint8_t nonce[DP_NONCE_LEN];
};

struct dp_replay {
	uint32_t mask;
	uint64_t window;
	uint64_t seed;
	uint64_t full;
	struct dp_replay_ent *ents;
};

struct dp_replay *dp_replay_new(unsigned capacity, uint64_t window_s, uint64_t seed)
{
	struct dp_replay *r;
	uint32_t cap = DP_REPLAY_PROBE;

	if (capacity == 0 || capacity > DP_REPLAY_MAXCAP || window_s == 0 ||
	    window_s > UINT32_MAX) {
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
	r->window = window_s;
	r->seed = seed;
	return r;
}

void dp_replay_free(struct dp_replay *r)
{
	if (!r)
		return;
	free(r->ents);
	free(r);
}

/* splitmix64's finalizer: every input bit moves every output bit. */
static uint64_t dp_replay_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t dp_replay_hash(const struct dp_replay *r, uint32_t key_id,
			       const uint8_t nonce[DP_NONCE_LEN])
{
	uint64_t a, b;
	uint32_t c;

	memcpy(&a, nonce, 8);
	memcpy(&b, nonce + 8, 8);
	memcpy(&c, nonce + 16, 4);
	a = dp_replay_mix(a ^ r->seed ^ ((uint64_t)key_id << 32));
	a = dp_replay_mix(a ^ b);
	return (uint32_t)dp_replay_mix(a ^ c);
}

bool dp_replay_seen(struct dp_replay *r, uint32_t key_id, const uint8_t nonce[DP_NONCE_LEN],
		    uint64_t timestamp, uint64_t now)
{
	uint32_t home = dp_replay_hash(r, key_id, nonce);
	struct dp_replay_ent *slot = NULL;

	if (timestamp > now + r->window || timestamp + r->window < now)
		return true;
	for (uint32_t i = 0; i < DP_REPLAY_PROBE; i++) {
		struct dp_replay_ent *e = &r->ents[(home + i) & r->mask];

		if (e->expires < now || e->expires == 0) {
			if (!slot)
				slot = e; /* expired or never used: free */
			continue;
		}
		if (e->key_id == key_id && memcmp(e->nonce, nonce, DP_NONCE_LEN) == 0)
			return true;
	}
	if (!slot) {
		r->full++;
		return true;
	}
	slot->expires = timestamp + r->window;
	slot->key_id = key_id;
	memcpy(slot->nonce, nonce, DP_NONCE_LEN);
	return false;
}

uint64_t dp_replay_full_count(const struct dp_replay *r)
{
	return r->full;
}
