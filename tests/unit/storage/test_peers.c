/* Connections per client address: the limit, across addresses, deletion in runs, no limit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_peers.h"

static void addr_of(unsigned i, uint8_t a[16])
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 127;
	a[13] = (uint8_t)(i >> 16);
	a[14] = (uint8_t)(i >> 8);
	a[15] = (uint8_t)i;
}

Test(peers, limit_per_address)
{
	struct st_peers *p = st_peers_new(5, 100);
	uint8_t a[16], b[16];

	cr_assert_not_null(p);
	addr_of(1, a);
	addr_of(2, b);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(st_peers_take(p, a), 1);
	cr_assert_eq(st_peers_take(p, a), -EUSERS, "the 6th of one address is refused");
	cr_assert_eq(st_peers_count(p, a), 5, "a refusal counts nothing");
	cr_assert_eq(st_peers_take(p, b), 1, "another address is admitted");
	st_peers_put(p, a);
	cr_assert_eq(st_peers_take(p, a), 1, "a close makes room");
	for (int i = 0; i < 5; i++)
		st_peers_put(p, a);
	st_peers_put(p, b);
	cr_assert_eq(st_peers_count(p, a), 0);
	cr_assert_eq(st_peers_count(p, b), 0);
	st_peers_free(p);
}

Test(peers, no_limit)
{
	struct st_peers *p = st_peers_new(0, 1000000);
	uint8_t a[16];

	cr_assert_not_null(p);
	addr_of(1, a);
	for (int i = 0; i < 3000; i++)
		cr_assert_eq(st_peers_take(p, a), 0, "counted nothing");
	st_peers_put(p, a);
	st_peers_free(p);
	st_peers_free(NULL);
}

/*
 * Many addresses in a small table, closed in a shuffled order: every
 * count stays exact, so deletion never loses an entry behind a hole.
 */
Test(peers, many_addresses_random_closes)
{
	enum { N = 60, PER = 3 };
	struct st_peers *p = st_peers_new(PER, N / 2); /* 64 slots, nearly full */
	unsigned order[N * PER], left[N];
	uint8_t a[16];
	uint64_t rng = 12345;

	cr_assert_not_null(p);
	for (unsigned i = 0; i < N; i++) {
		addr_of(i * 7919, a);
		for (unsigned k = 0; k < PER; k++) {
			cr_assert_eq(st_peers_take(p, a), 1, "address %u, #%u", i, k);
			order[i * PER + k] = i;
		}
		cr_assert_eq(st_peers_take(p, a), -EUSERS);
		left[i] = PER;
	}
	for (unsigned i = N * PER - 1; i > 0; i--) {
		unsigned j, t;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		j = (unsigned)(rng >> 33) % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned n = 0; n < N * PER; n++) {
		addr_of(order[n] * 7919, a);
		st_peers_put(p, a);
		left[order[n]]--;
		if (n % 17 == 0)
			for (unsigned i = 0; i < N; i++) {
				addr_of(i * 7919, a);
				cr_assert_eq(st_peers_count(p, a), left[i],
					     "address %u after %u closes", i, n + 1);
			}
	}
	st_peers_free(p);
}

/* A table that is full admits without counting rather than refusing. */
Test(peers, full_table_admits)
{
	struct st_peers *p = st_peers_new(2, 1); /* 64 slots */
	uint8_t a[16];

	cr_assert_not_null(p);
	for (unsigned i = 0; i < 64; i++) {
		addr_of(i, a);
		cr_assert_eq(st_peers_take(p, a), 1);
	}
	addr_of(1000, a);
	cr_assert_eq(st_peers_take(p, a), 0, "full: admitted, not counted");
	addr_of(3, a);
	cr_assert_eq(st_peers_take(p, a), 1, "a known address is still counted");
	cr_assert_eq(st_peers_take(p, a), -EUSERS);
	st_peers_free(p);
}
