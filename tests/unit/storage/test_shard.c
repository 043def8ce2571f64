/* storage/st_shard.c: weighted rendezvous placement: spread, weights, and minimal movement. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "st_shard.h"

static void id_of(unsigned i, uint8_t id[32])
{
	char key[64];

	snprintf(key, sizeof(key), "host/object-%u", i);
	st_content_id(key, strlen(key), id);
}

#define N 20000

Test(placement, even_spread_with_equal_weights)
{
	uint64_t seeds[4];
	double w[4] = {1, 1, 1, 1};
	unsigned count[4] = {0};
	uint8_t id[32];

	for (int i = 0; i < 4; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/srv/nvme%d", i);
		seeds[i] = st_shard_seed(p);
	}
	for (unsigned i = 0; i < N; i++) {
		id_of(i, id);
		count[st_rendezvous_pick(seeds, w, 4, id)]++;
	}
	for (int i = 0; i < 4; i++)
		cr_assert(count[i] > N / 4 * 0.93 && count[i] < N / 4 * 1.07, "shard %d got %u", i,
			  count[i]);
}

Test(placement, weights_are_respected)
{
	uint64_t seeds[2] = {st_shard_seed("/a"), st_shard_seed("/b")};
	double w[2] = {3e12, 1e12};
	unsigned count[2] = {0};
	uint8_t id[32];

	for (unsigned i = 0; i < N; i++) {
		id_of(i, id);
		count[st_rendezvous_pick(seeds, w, 2, id)]++;
	}
	cr_assert(count[0] > N * 0.72 && count[0] < N * 0.78, "heavy shard got %u", count[0]);
}

Test(placement, adding_a_shard_moves_only_its_share)
{
	uint64_t seeds[4];
	double w[4] = {1, 1, 1, 1};
	unsigned moved = 0, moved_elsewhere = 0;
	uint8_t id[32];

	for (int i = 0; i < 4; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/srv/d%d", i);
		seeds[i] = st_shard_seed(p);
	}
	for (unsigned i = 0; i < N; i++) {
		unsigned before, after;

		id_of(i, id);
		before = st_rendezvous_pick(seeds, w, 3, id);
		after = st_rendezvous_pick(seeds, w, 4, id);
		if (before != after) {
			moved++;
			if (after != 3)
				moved_elsewhere++;
		}
	}
	cr_assert_eq(moved_elsewhere, 0, "objects only ever move to the new shard");
	cr_assert(moved > N / 4 * 0.9 && moved < N / 4 * 1.1, "moved %u", moved);
}

Test(placement, single_shard_and_seed_stability)
{
	uint64_t s = st_shard_seed("/var/cache");
	double w = 1;
	uint8_t id[32] = {0};

	cr_assert_eq(st_rendezvous_pick(&s, &w, 1, id), 0);
	cr_assert_eq(st_shard_seed("/var/cache"), s);
	cr_assert_neq(st_shard_seed("/var/cache2"), s);
}
