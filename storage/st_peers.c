/*
 * Connections per client address (see st_peers.h). Deleting from a linear
 * probing table shifts the entries of the run that follows back into the
 * hole (Knuth's Algorithm R), so there are no tombstones and a lookup stops
 * at the first empty slot; an entry is empty when its count is 0. The hash
 * is seeded at start, so a client cannot pick addresses that collide.
 */
#include "st_peers.h"

#include "cb_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct peer {
	uint8_t addr[16];
	uint32_t count; /* 0: the slot is empty */
};

struct st_peers {
	pthread_mutex_t lock;
	unsigned limit;
	uint32_t mask;
	uint64_t seed;
	struct peer *tab;
};

struct st_peers *st_peers_new(unsigned limit, uint64_t max_conns)
{
	struct st_peers *p = calloc(1, sizeof(*p));
	uint64_t cap = 64;

	if (!p)
		return NULL;
	p->limit = limit;
	if (limit) {
		while (cap < 2 * max_conns && cap < ST_PEERS_MAX_SLOTS)
			cap <<= 1;
		p->tab = calloc(cap, sizeof(*p->tab));
		if (!p->tab) {
			free(p);
			errno = ENOMEM;
			return NULL;
		}
		p->mask = (uint32_t)(cap - 1);
	}
	p->seed = cb_wall_ns() ^ 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void st_peers_free(struct st_peers *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->tab);
	free(p);
}

static uint32_t peer_home(const struct st_peers *p, const uint8_t addr[16])
{
	uint64_t a, b, h;

	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	h = (a ^ p->seed) * 0x9e3779b97f4a7c15ull;
	h = (h ^ (h >> 29) ^ b) * 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h ^ (h >> 32)) & p->mask;
}

/* addr's slot, or the empty slot where it would go; -1 if neither (a full table). */
static int peer_find(const struct st_peers *p, const uint8_t addr[16])
{
	uint32_t i = peer_home(p, addr);

	for (uint32_t n = 0; n <= p->mask; n++, i = (i + 1) & p->mask)
		if (!p->tab[i].count || !memcmp(p->tab[i].addr, addr, 16))
			return (int)i;
	return -1;
}

int st_peers_take(struct st_peers *p, const uint8_t addr[16])
{
	int i, ret;

	if (!p->limit)
		return 0;
	pthread_mutex_lock(&p->lock);
	i = peer_find(p, addr);
	if (i < 0) {
		ret = 0;
	} else if (p->tab[i].count >= p->limit) {
		ret = -EUSERS;
	} else {
		if (!p->tab[i].count)
			memcpy(p->tab[i].addr, addr, 16);
		p->tab[i].count++;
		ret = 1;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Empties slot i and moves back the entries after it that may no longer be found. */
static void peer_remove(struct st_peers *p, uint32_t i)
{
	uint32_t j = i;

	p->tab[i].count = 0;
	for (;;) {
		uint32_t k;

		j = (j + 1) & p->mask;
		if (!p->tab[j].count)
			return;
		k = peer_home(p, p->tab[j].addr);
		/* The entry at j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		p->tab[i] = p->tab[j];
		p->tab[j].count = 0;
		i = j;
	}
}

void st_peers_put(struct st_peers *p, const uint8_t addr[16])
{
	int i;

	if (!p->limit)
		return;
	pthread_mutex_lock(&p->lock);
	i = peer_find(p, addr);
	CB_ASSERT(i >= 0 && p->tab[i].count > 0);
	if (--p->tab[i].count == 0)
		peer_remove(p, (uint32_t)i);
	pthread_mutex_unlock(&p->lock);
}

unsigned st_peers_count(struct st_peers *p, const uint8_t addr[16])
{
	unsigned n = 0;
	int i;

	if (!p->limit)
		return 0;
	pthread_mutex_lock(&p->lock);
	i = peer_find(p, addr);
	if (i >= 0)
		n = p->tab[i].count;
	pthread_mutex_unlock(&p->lock);
	return n;
}
