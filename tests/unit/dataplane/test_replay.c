/*
 * The replay cache: a nonce is accepted once per window and per key,
 * expires with its timestamp, and a full probe window refuses rather than
 * evicting a live entry.
 */
#include "dp_replay.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define T0 1800000000ull

static void nonce_of(uint8_t n[DP_NONCE_LEN], uint32_t i)
{
	memset(n, 0xa5, DP_NONCE_LEN);
	memcpy(n, &i, sizeof(i));
}

TestSuite(replay);

Test(replay, new_refuses_bad_arguments)
{
	errno = 0;
	cr_assert_null(dp_replay_new(0, 30, 1));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(dp_replay_new(DP_REPLAY_MAXCAP + 1, 30, 1));
	cr_assert_null(dp_replay_new(16, 0, 1));
	dp_replay_free(NULL);
}

Test(replay, once_per_key_and_nonce)
{
	struct dp_replay *r = dp_replay_new(1024, 30, 42);
	uint8_t n[DP_NONCE_LEN];

	nonce_of(n, 1);
	cr_assert_not(dp_replay_seen(r, 7, n, T0, T0));
	cr_assert(dp_replay_seen(r, 7, n, T0, T0));
	cr_assert(dp_replay_seen(r, 7, n, T0, T0 + 30), "still inside the window");
	cr_assert_not(dp_replay_seen(r, 8, n, T0, T0), "another key is another nonce space");
	n[19] ^= 1;
	cr_assert_not(dp_replay_seen(r, 7, n, T0, T0));
	dp_replay_free(r);
}

Test(replay, expiry_follows_timestamp)
{
	struct dp_replay *r = dp_replay_new(16, 30, 42);
	uint8_t n[DP_NONCE_LEN];

	nonce_of(n, 1);
	cr_assert_not(dp_replay_seen(r, 1, n, T0 + 20, T0)); /* sender's clock ahead */
	cr_assert(dp_replay_seen(r, 1, n, T0 + 20, T0 + 50));
	/* timestamp + window passed: the datagram would be stale, and is refused as such */
	cr_assert(dp_replay_seen(r, 1, n, T0 + 20, T0 + 51));
	/* outside the window either way: never accepted */
	cr_assert(dp_replay_seen(r, 1, n, T0 + 31, T0));
	cr_assert(dp_replay_seen(r, 2, n, T0 - 31, T0));
	dp_replay_free(r);
}

Test(replay, full_refuses_then_expired_slots_are_reused)
{
	/* 16 slots, one probe window: the whole table */
	struct dp_replay *r = dp_replay_new(1, 30, 42);
	uint8_t n[DP_NONCE_LEN];

	for (uint32_t i = 0; i < DP_REPLAY_PROBE; i++) {
		nonce_of(n, i);
		cr_assert_not(dp_replay_seen(r, 1, n, T0 + i, T0 + i), "entry %u", i);
	}
	nonce_of(n, 100);
	cr_assert(dp_replay_seen(r, 1, n, T0 + 16, T0 + 16), "full of live entries: refused");
	cr_assert_eq(dp_replay_full_count(r), 1);
	/* the earliest entry (timestamp T0) expires after T0 + 30: its slot is reused */
	cr_assert_not(dp_replay_seen(r, 1, n, T0 + 31, T0 + 31));
	nonce_of(n, 101);
	cr_assert(dp_replay_seen(r, 1, n, T0 + 31, T0 + 31), "only one slot had expired");
	/* live entries were never evicted: each one is still a replay */
	for (uint32_t i = 1; i < DP_REPLAY_PROBE; i++) {
		nonce_of(n, i);
		cr_assert(dp_replay_seen(r, 1, n, T0 + i, T0 + 31), "entry %u", i);
	}
	dp_replay_free(r);
}

Test(replay, many_entries)
{
	struct dp_replay *r = dp_replay_new(1 << 14, 30, 7);
	uint8_t n[DP_NONCE_LEN];
	unsigned refused = 0;

	for (uint32_t i = 0; i < (1 << 13); i++) {
		nonce_of(n, i);
		refused += dp_replay_seen(r, 3, n, T0, T0);
	}
	cr_assert_eq(refused, dp_replay_full_count(r));
	cr_assert_lt(refused, 8, "half-full table refused %u", refused);
	for (uint32_t i = 0; i < (1 << 13); i++) {
		nonce_of(n, i);
		cr_assert(dp_replay_seen(r, 3, n, T0, T0 + 1));
	}
	dp_replay_free(r);
}
