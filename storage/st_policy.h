/*
 * Policy and live counters shared by cachebox-control and the file server:
 * one small file, <state_dir>/policy.shm, mapped MAP_SHARED by both. It is
 * a regular file on purpose: the monthly upload total in it survives a
 * restart of either process (and of the box, once the kernel has written
 * the page back; control also msyncs it every few seconds).
 *
 * Control publishes the policy (from the config, `cacheboxctl limits`,
 * `reload`) under a seqlock; the file server reads it without ever
 * waiting for control. Counters are atomics written by the file server.
 * Bandwidth caps are token buckets in GCRA form: one 64-bit "theoretical
 * arrival time" per bucket, advanced by compare-and-swap, no lock.
 */
#ifndef ST_POLICY_H
#define ST_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

#define ST_POLICY_LAYOUT 3

/* What control decides. Rates in bits per second, 0 = unlimited. */
struct st_policy_vals {
	uint32_t max_clients;
	uint32_t business_start_min; /* minutes after local midnight */
	uint32_t business_end_min;   /* start == end: no business-hours window */
	uint32_t pad;
	uint64_t queue_timeout_ms;
	uint64_t rate_bps;
	uint64_t rate_client_bps;
	uint64_t business_rate_bps; /* 0: the window has no cap of its own */
	uint64_t monthly_cap;	    /* bytes, 0 = none */
};

/* Live counters: written by the file server (atomics), read by anyone. */
struct st_policy_live {
	uint64_t tat_ns; /* global bucket */
	uint32_t month;	 /* YYYYMM that month_bytes counts */
	uint32_t pad;
	uint64_t month_bytes; /* body bytes served this month (persisted) */
	uint64_t active_clients;
	uint64_t queued_clients;
	uint64_t rejected_busy; /* 503: queue timeout or queue full */
	uint64_t rejected_cap;	/* 503: monthly upload cap reached */
	uint64_t throttled;	/* sends delayed by a bandwidth cap */
	/* the fill's figures, published by the file server about 5 times a second */
	uint64_t origin_bytes; /* body bytes fetched from origins */
	uint64_t origin_requests;
	uint64_t origin_retries;
	uint64_t fills_started, fills_done, fills_failed;
	/*
	 * Space per shard, for fills to stay under the cache limits: control
	 * publishes the limit and the bytes its last pass counted (object
	 * sizes); fills add what they store meanwhile to `added`, which
	 * control's pass folds in (added_base). A fill that finds no room sets
	 * `want` and waits for control to evict.
	 */
	struct st_shard_space {
		uint64_t limit; /* bytes, 0 = none published */
		uint64_t used;
		uint64_t added, added_base;
		uint64_t want; /* bytes a waiting fill needs, 0 = none */
	} shard[CFG_MAX_SHARDS];
};

struct st_policy;

/*
 * Opens (creating if needed) the policy file. A file of another layout or
 * size is started afresh (its counters are lost, and logged). When publish
 * is given, it is published at once. NULL with errno.
 */
struct st_policy *st_policy_open(const char *path, const struct st_policy_vals *publish);
void st_policy_close(struct st_policy *p);
/* Control only: makes msync happen now (the monthly total). */
void st_policy_sync(struct st_policy *p);

void st_policy_vals_from_cfg(struct st_policy_vals *v, const struct cfg *cfg);
void st_policy_publish(struct st_policy *p, const struct st_policy_vals *v);
/* A consistent copy of the published policy (never blocks on a writer for long). */
void st_policy_read(const struct st_policy *p, struct st_policy_vals *v);
struct st_policy_live *st_policy_live(struct st_policy *p);

/*
 * Local time-of-day (minutes) and month (YYYYMM) of now. The wall clock
 * moves by CACHEBOX_CLOCK_OFFSET seconds when that is set (a test hook for
 * the business-hours switch, logged once).
 */
void st_policy_now(unsigned *minute, uint32_t *month);

/* The cap in force at local time-of-day `minute` (0..1439): business hours or not. */
uint64_t st_policy_rate_at(const struct st_policy_vals *v, unsigned minute);
bool st_policy_in_business_hours(const struct st_policy_vals *v, unsigned minute);

/*
 * Adds body bytes to the month's total, starting the count afresh when
 * `month` (YYYYMM) is not the one recorded. Returns the new total.
 */
uint64_t st_policy_add_month(struct st_policy *p, uint32_t month, uint64_t bytes);
/* The month's total as of `month` (0 if the recorded month is another). */
uint64_t st_policy_month_bytes(const struct st_policy *p, uint32_t month);

/*
 * A fill is about to store an object of `size` bytes on shard s. 0: there
 * is room and it is counted; -EAGAIN: not now (control was asked to make
 * room; try again shortly); -EFBIG: more than the shard may ever hold.
 */
int st_policy_reserve(struct st_policy *p, unsigned s, uint64_t size);

/*
 * GCRA token bucket. Asks to send up to `want` bytes at `rate_bps`; grants
 * at most one quantum (about 20 ms of the rate, at least 512 bytes) when the
 * bucket is no more than ST_BUCKET_BURST_NS ahead of now, and returns the
 * bytes granted. Returns 0 with *wait_ns set when the sender must wait.
 * Lock-free: many threads may share one bucket.
 */
#define ST_BUCKET_BURST_NS 50000000ull
uint64_t st_bucket_take(uint64_t *tat_ns, uint64_t rate_bps, uint64_t want, uint64_t now_ns,
			uint64_t *wait_ns);
/* Gives back bytes granted but not sent (a connection closed). */
void st_bucket_refund(uint64_t *tat_ns, uint64_t rate_bps, uint64_t bytes);

#endif
