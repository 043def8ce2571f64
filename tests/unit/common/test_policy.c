/* Policy file, business hours, month counter, GCRA buckets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_policy.h"

#define SEC 1000000000ull

Test(policy, publish_read_and_persist)
{
	char dir[] = "/tmp/cbx-policy-XXXXXX", path[128];
	struct cb_policy_vals v = {.max_clients = 3,
				   .queue_timeout_ms = 30000,
				   .rate_bps = 8000000,
				   .monthly_cap = 1 << 30},
			      got;
	struct cb_policy *p, *q;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.shm", dir);
	p = cb_policy_open(path, &v);
	cr_assert_not_null(p);
	cb_policy_add_month(p, 202611, 1000);
	q = cb_policy_open(path, NULL); /* a second process attaching */
	cb_policy_read(q, &got);
	cr_assert_eq(memcmp(&got, &v, sizeof(v)), 0);
	cr_assert_eq(cb_policy_month_bytes(q, 202611), 1000);
	cb_policy_close(p);
	cb_policy_close(q);
	/* Reopened later: the month's total is still there. */
	p = cb_policy_open(path, NULL);
	cr_assert_eq(cb_policy_add_month(p, 202611, 24), 1024);
	cr_assert_eq(cb_policy_month_bytes(p, 202612), 0, "another month reads 0");
	cr_assert_eq(cb_policy_add_month(p, 202612, 5), 5, "a new month starts at 0");
	cb_policy_close(p);
	unlink(path);
	rmdir(dir);
}

Test(policy, business_hours)
{
	struct cb_policy_vals v = {.rate_bps = 100,
				   .business_rate_bps = 10,
				   .business_start_min = 8 * 60,
				   .business_end_min = 18 * 60};

	cr_assert_eq(cb_policy_rate_at(&v, 7 * 60 + 59), 100);
	cr_assert_eq(cb_policy_rate_at(&v, 8 * 60), 10);
	cr_assert_eq(cb_policy_rate_at(&v, 17 * 60 + 59), 10);
	cr_assert_eq(cb_policy_rate_at(&v, 18 * 60), 100);
	v.business_start_min = 22 * 60; /* across midnight */
	v.business_end_min = 6 * 60;
	cr_assert_eq(cb_policy_rate_at(&v, 23 * 60), 10);
	cr_assert_eq(cb_policy_rate_at(&v, 5 * 60), 10);
	cr_assert_eq(cb_policy_rate_at(&v, 12 * 60), 100);
	v.business_rate_bps = 0; /* no cap of its own: the normal one */
	cr_assert_eq(cb_policy_rate_at(&v, 23 * 60), 100);
	v.business_rate_bps = 10;
	v.business_end_min = v.business_start_min; /* no window */
	cr_assert_eq(cb_policy_rate_at(&v, 23 * 60), 100);
}

Test(bucket, unlimited_grants_all)
{
	uint64_t tat = 0, wait;

	cr_assert_eq(cb_bucket_take(&tat, 0, 1 << 20, 5, &wait), 1 << 20);
	cr_assert_eq(wait, 0);
}

/* A sender taking as fast as allowed for 10 simulated seconds gets the rate. */
Test(bucket, long_run_rate_is_exact)
{
	const uint64_t rates[] = {64000, 8000000, 1000000000};

	for (unsigned r = 0; r < 3; r++) {
		uint64_t tat = 0, now = 1 * SEC, end = now + 10 * SEC, sent = 0, wait, want;
		double expect = (double)rates[r] / 8 * 10, err;

		while (now < end) {
			uint64_t g = cb_bucket_take(&tat, rates[r], 1 << 20, now, &wait);

			if (g) {
				sent += g;
			} else {
				cr_assert_gt(wait, 0);
				now += wait;
			}
		}
		err = ((double)sent - expect) / expect;
		want = 2; /* percent */
		cr_assert(err > -0.02 && err < 0.02, "rate %llu: sent %llu, expected %.0f (%.2f%%)",
			  (unsigned long long)rates[r], (unsigned long long)sent, expect,
			  err * 100.0);
		(void)want;
	}
}

Test(bucket, refund_gives_back)
{
	uint64_t tat = 0, wait, g;

	g = cb_bucket_take(&tat, 8000000, 1 << 20, SEC, &wait);
	cr_assert_gt(g, 0);
	cb_bucket_refund(&tat, 8000000, g);
	cr_assert_leq(tat, SEC);
	cb_bucket_refund(&tat, 8000000, 1ull << 40); /* never below zero */
	cr_assert_eq(tat, 0);
}

struct share {
	uint64_t tat;
	uint64_t sent[4];
};

static uint64_t fake_now;

static void *taker(void *arg)
{
	struct share *sh = arg;
	static int next;
	int me = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 4;
	uint64_t wait;

	for (int i = 0; i < 200000; i++) {
		uint64_t now = __atomic_load_n(&fake_now, __ATOMIC_RELAXED);

		sh->sent[me] += cb_bucket_take(&sh->tat, 8000000, 16384, now, &wait);
	}
	return NULL;
}

/* Four threads on one bucket, the clock frozen: together no more than the burst allows. */
Test(bucket, shared_without_lock)
{
	struct share sh = {0};
	pthread_t t[4];
	uint64_t total = 0, burst_bytes;

	fake_now = 10 * SEC;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, taker, &sh);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		total += sh.sent[i];
	/* 8 Mbit/s = 1 MB/s: the 50 ms burst is 50 KB, plus one 20 ms quantum. */
	burst_bytes = 1000000 * (CB_BUCKET_BURST_NS / 1000000) / 1000 + 20000 + 16384;
	cr_assert_leq(total, burst_bytes, "total %llu", (unsigned long long)total);
	cr_assert_gt(total, 0);
}

Test(policy, open_failure_reports_errno)
{
	errno = 0;
	cr_assert_null(cb_policy_open("/nonexistent-cbx/dir/policy.shm", NULL));
	cr_assert_eq(errno, ENOENT);
}
