/*
 * The rate limiter: burst then steady rate per source, independence of
 * sources, the global cap, idle slots reused, and the shared overflow
 * bucket when the table is full. Time is simulated.
 */
#include "dp_rate.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define SEC 1000000000ull
#define T0  (5 * SEC)

static void addr_of(uint8_t a[16], uint32_t i)
{
	static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memcpy(a, v4, 12);
	a[12] = 10;
	a[13] = (uint8_t)(i >> 16);
	a[14] = (uint8_t)(i >> 8);
	a[15] = (uint8_t)i;
}

static unsigned allowed(struct dp_rate *r, const uint8_t a[16], unsigned tries, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < tries; i++)
		n += dp_rate_allow(r, a, now);
	return n;
}

TestSuite(rate);

Test(rate, new_refuses_bad_arguments)
{
	cr_assert_null(dp_rate_new(0, 1, 1, 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(dp_rate_new(DP_RATE_MAXCAP + 1, 1, 1, 0));
	cr_assert_null(dp_rate_new(64, 0, 1, 0));
	cr_assert_null(dp_rate_new(64, 1, 0, 0));
	dp_rate_free(NULL);
}

Test(rate, burst_then_rate)
{
	struct dp_rate *r = dp_rate_new(64, 100, 1000000, 1);
	uint8_t a[16];

	addr_of(a, 1);
	cr_assert_eq(allowed(r, a, 1000, T0), 200, "burst is twice the rate");
	cr_assert_eq(allowed(r, a, 1000, T0 + SEC / 100 - 1), 0);
	cr_assert_eq(allowed(r, a, 1000, T0 + SEC / 100), 1, "one token per 10 ms");
	cr_assert_eq(allowed(r, a, 1000, T0 + SEC / 100 + SEC), 100);
	/* long idle: back to one burst, not more */
	cr_assert_eq(allowed(r, a, 1000, T0 + 3600 * SEC), 200);
	/* time going backwards gives nothing */
	cr_assert_eq(allowed(r, a, 1000, T0), 0);
	dp_rate_free(r);
}

Test(rate, ten_k_per_second_for_five_seconds)
{
	struct dp_rate *r = dp_rate_new(64, 100, 1000000, 1);
	uint8_t a[16];
	unsigned n = 0;

	addr_of(a, 9);
	for (uint64_t i = 0; i < 50000; i++)
		n += dp_rate_allow(r, a, T0 + i * (SEC / 10000));
	cr_assert_leq(n, 5 * 100 + 200);
	cr_assert_geq(n, 5 * 100 + 200 - 2);
	dp_rate_free(r);
}

Test(rate, sources_are_independent_global_caps_all)
{
	struct dp_rate *r = dp_rate_new(64, 10, 25, 1);
	uint8_t a[16], b[16], c[16];

	addr_of(a, 1);
	addr_of(b, 2);
	addr_of(c, 3);
	cr_assert_eq(allowed(r, a, 100, T0), 20);
	cr_assert_eq(allowed(r, b, 100, T0), 20);
	cr_assert_eq(allowed(r, c, 100, T0), 10, "global burst of 50 spent");
	cr_assert_eq(allowed(r, c, 100, T0), 0);
	/* a refused QUERY takes no token from its source */
	cr_assert_eq(allowed(r, c, 100, T0 + SEC), 20, "c: 10 left + 10 refilled; 25 global");
	cr_assert_eq(allowed(r, a, 100, T0 + SEC), 5, "the global bucket had 5 left");
	dp_rate_free(r);
}

Test(rate, full_table_shares_the_overflow_bucket)
{
	/* 8 slots: one probe window is the whole table */
	struct dp_rate *r = dp_rate_new(1, 10, 1000000, 1);
	uint8_t a[16];

	for (uint32_t i = 0; i < DP_RATE_PROBE; i++) {
		addr_of(a, i);
		cr_assert_eq(allowed(r, a, 1, T0), 1);
	}
	cr_assert_eq(dp_rate_overflow_count(r), 0);
	/* 30 new sources: together no more than one source's burst */
	unsigned n = 0;

	for (uint32_t i = 100; i < 130; i++) {
		addr_of(a, i);
		n += allowed(r, a, 5, T0);
	}
	cr_assert_eq(n, 20);
	cr_assert_eq(dp_rate_overflow_count(r), 150);
	/* the known sources kept their buckets */
	addr_of(a, 0);
	cr_assert_eq(allowed(r, a, 100, T0), 19);
	/* after 2 s idle a slot is as good as empty and goes to a new source */
	addr_of(a, 200);
	cr_assert_eq(allowed(r, a, 100, T0 + 2 * SEC), 20);
	cr_assert_eq(dp_rate_overflow_count(r), 150);
	dp_rate_free(r);
}
