/*
 * Policy and live counters shared by cachebox-control and the file server:
 * one small file, <state_dir>/policy.shm, mapped MAP_SHARED by both, and
 * read-only by the dataplane for its free slots. It is
 * a regular file on purpose: the monthly upload total in it survives a
 * restart of either process (and of the box, once the kernel has written
 * the page back; control also msyncs it every few seconds).
 *
 * Control publishes the policy (from the config, `cacheboxctl limits`,
 * `reload`) under a seqlock; the file server reads it without ever
 * waiting for control. Counters are atomics written by the file server.
 * Bandwidth caps are token buckets in GCRA form: one 64-bit "theoretical
 * arrival time" per bucket, advanced by compare-and-swap, no lock.
 *
 * The layout is in common/cb_shm.h (CB_POLICY_LAYOUT). This library knows
 * nothing of the config file: storage/st_policy_cfg.h turns a struct cfg
 * into the values published here.
 */
#ifndef CB_POLICY_H
#define CB_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cb_shm.h"

struct cb_policy;

/*
 * Opens (creating if needed) the policy file. A file of another layout or
 * size is started afresh (its counters are lost, and logged). When publish
 * is given, it is published at once. NULL with errno: open's (EACCES,
 * ENOENT for a missing folder), ENOMEM, or that of fstat, ftruncate (ENOSPC)
 * or mmap.
 */
struct cb_policy *cb_policy_open(const char *path, const struct cb_policy_vals *publish);
/*
 * Maps an existing policy file read-only (the dataplane): never creates or
 * repairs it. NULL with errno: open's (ENOENT: control has not made it yet),
 * EPROTO (another layout or size), ENOMEM, mmap's. Only cb_policy_read and
 * cb_policy_free_slots may be called on it.
 */
struct cb_policy *cb_policy_attach_ro(const char *path);
void cb_policy_close(struct cb_policy *p);
/* Client slots free now: max_clients - active_clients, clamped to 0..255 (an OFFER's free_slots).
 */
unsigned cb_policy_free_slots(const struct cb_policy *p);
/* Control only: makes msync happen now (the monthly total). */
void cb_policy_sync(struct cb_policy *p);

void cb_policy_publish(struct cb_policy *p, const struct cb_policy_vals *v);
/* A consistent copy of the published policy (never blocks on a writer for long). */
void cb_policy_read(const struct cb_policy *p, struct cb_policy_vals *v);
struct cb_policy_live *cb_policy_live(struct cb_policy *p);

/*
 * Local time-of-day (minutes) and month (YYYYMM) of now. The wall clock
 * moves by CACHEBOX_CLOCK_OFFSET seconds when that is set (a test hook for
 * the business-hours switch, logged once).
 */
void cb_policy_now(unsigned *minute, uint32_t *month);

/* The cap in force at local time-of-day `minute` (0..1439): business hours or not. */
uint64_t cb_policy_rate_at(const struct cb_policy_vals *v, unsigned minute);
bool cb_policy_in_business_hours(const struct cb_policy_vals *v, unsigned minute);

/*
 * Adds body bytes to the month's total, starting the count afresh when
 * `month` (YYYYMM) is not the one recorded. Returns the new total.
 */
uint64_t cb_policy_add_month(struct cb_policy *p, uint32_t month, uint64_t bytes);
/* The month's total as of `month` (0 if the recorded month is another). */
uint64_t cb_policy_month_bytes(const struct cb_policy *p, uint32_t month);

/*
 * A fill is about to store an object of `size` bytes on shard s. 0: there
 * is room and it is counted; -EAGAIN: not now (control was asked to make
 * room; try again shortly); -EFBIG: more than the shard may ever hold.
 */
int cb_policy_reserve(struct cb_policy *p, unsigned s, uint64_t size);

/*
 * GCRA token bucket. Asks to send up to `want` bytes at `rate_bps`; grants
 * at most one quantum (about 20 ms of the rate, at least 512 bytes) when the
 * bucket is no more than CB_BUCKET_BURST_NS ahead of now, and returns the
 * bytes granted. Returns 0 with *wait_ns set when the sender must wait.
 * Lock-free: many threads may share one bucket.
 */
#define CB_BUCKET_BURST_NS 50000000ull
uint64_t cb_bucket_take(uint64_t *tat_ns, uint64_t rate_bps, uint64_t want, uint64_t now_ns,
			uint64_t *wait_ns);
/* Gives back bytes granted but not sent (a connection closed). */
void cb_bucket_refund(uint64_t *tat_ns, uint64_t rate_bps, uint64_t bytes);

#endif
