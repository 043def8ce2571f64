/*
 * Shared policy and counters (see cb_policy.h): opening and repairing
 * policy.shm, the seqlock over the published values, the month's upload
 * total, the per-shard space reservations of fills and the GCRA buckets.
 * Part of the cb_shm library: libc and pthreads only.
 */
#include "cb_policy.h"

#include "cb_common.h"
#include "cb_log.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUANTUM_NS  20000000ull
#define QUANTUM_MIN 512u

struct cb_policy {
	struct cb_policy_file *f;
};

static bool policy_valid(const struct cb_policy_file *f)
{
	return f->magic == CB_POLICY_MAGIC && f->layout == CB_POLICY_LAYOUT &&
	       f->size == sizeof(struct cb_policy_file);
}

/* A mapped file of another layout, or not yet made, is started afresh. */
static void policy_repair(struct cb_policy_file *f, const char *path)
{
	if (!policy_valid(f)) {
		if (f->magic)
			cb_warn("%s: another layout: starting its counters afresh", path);
		memset(f, 0, sizeof(*f));
		f->layout = CB_POLICY_LAYOUT;
		f->size = sizeof(struct cb_policy_file);
		atomic_thread_fence(memory_order_release);
		f->magic = CB_POLICY_MAGIC;
	}
	/* A writer that died mid-publish leaves seq odd: make it even again. */
	if (atomic_load(&f->seq) & 1)
		atomic_fetch_add(&f->seq, 1);
}

/*
 * Maps the policy file: the writer's way (ro false: created if need be,
 * resized and repaired when it holds another layout) or a reader's
 * (read-only, -EPROTO unless it is exactly this layout).
 */
static struct cb_policy *policy_map(const char *path, bool ro)
{
	const size_t size = sizeof(struct cb_policy_file);
	struct cb_policy *p = NULL;
	struct stat st;
	void *base;
	int fd, ret;

	fd = ro ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	ret = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EPROTO;
	if (ro && st.st_size != (off_t)size)
		goto out;
	if (!ro && st.st_size != (off_t)size) {
		if (st.st_size)
			cb_warn("%s: size %lld, not %zu: starting its counters afresh", path,
				(long long)st.st_size, size);
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
			ret = -errno;
			goto out;
		}
	}
	base = mmap(NULL, size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	p->f = base;
	ret = 0;
	if (!ro) {
		policy_repair(p->f, path);
	} else if (!policy_valid(p->f)) {
		munmap(base, size);
		ret = -EPROTO;
	}
out:
	close(fd);
	if (ret) {
		free(p);
		errno = -ret;
		return NULL;
	}
	return p;
}

struct cb_policy *cb_policy_open(const char *path, const struct cb_policy_vals *publish)
{
	struct cb_policy *p = policy_map(path, false);

	if (p && publish)
		cb_policy_publish(p, publish);
	return p;
}

struct cb_policy *cb_policy_attach_ro(const char *path)
{
	return policy_map(path, true);
}

unsigned cb_policy_free_slots(const struct cb_policy *p)
{
	struct cb_policy_vals v;
	uint64_t active = __atomic_load_n(&p->f->live.active_clients, __ATOMIC_RELAXED);

	cb_policy_read(p, &v);
	if (active >= v.max_clients)
		return 0;
	return v.max_clients - active > 255 ? 255 : (unsigned)(v.max_clients - active);
}

void cb_policy_close(struct cb_policy *p)
{
	if (!p)
		return;
	munmap(p->f, sizeof(*p->f));
	free(p);
}

void cb_policy_sync(struct cb_policy *p)
{
	msync(p->f, sizeof(*p->f), MS_ASYNC);
}

/* One writer at a time: control's single thread (or a file server alone). */
void cb_policy_publish(struct cb_policy *p, const struct cb_policy_vals *v)
{
	atomic_fetch_add_explicit(&p->f->seq, 1, memory_order_acq_rel);
	atomic_thread_fence(memory_order_release);
	p->f->vals = *v;
	atomic_fetch_add_explicit(&p->f->seq, 1, memory_order_release);
}

void cb_policy_read(const struct cb_policy *p, struct cb_policy_vals *v)
{
	struct cb_policy_file *f = p->f;

	for (int i = 0; i < 1000; i++) {
		uint32_t s1 = atomic_load_explicit(&f->seq, memory_order_acquire);

		if (s1 & 1)
			continue;
		*v = f->vals;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&f->seq, memory_order_relaxed) == s1)
			return;
	}
	/* A writer stuck mid-publish (it died): its fields are whole values anyway. */
	*v = f->vals;
}

struct cb_policy_live *cb_policy_live(struct cb_policy *p)
{
	return &p->f->live;
}

static int64_t clock_offset;

static void clock_offset_init(void)
{
	const char *v = getenv("CACHEBOX_CLOCK_OFFSET");

	if (v && *v) {
		clock_offset = strtoll(v, NULL, 10);
		cb_warn("CACHEBOX_CLOCK_OFFSET: schedules and the month run %lld s off the wall "
			"clock (a test hook)",
			(long long)clock_offset);
	}
}

static int64_t cb_policy_clock_offset(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, clock_offset_init);
	return clock_offset;
}

void cb_policy_now(unsigned *minute, uint32_t *month)
{
	time_t t = time(NULL) + cb_policy_clock_offset();
	struct tm tm;

	localtime_r(&t, &tm);
	*minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	*month = (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

bool cb_policy_in_business_hours(const struct cb_policy_vals *v, unsigned minute)
{
	unsigned s = v->business_start_min, e = v->business_end_min;

	if (s == e)
		return false;
	return s < e ? minute >= s && minute < e : minute >= s || minute < e; /* past midnight */
}

uint64_t cb_policy_rate_at(const struct cb_policy_vals *v, unsigned minute)
{
	if (v->business_rate_bps && cb_policy_in_business_hours(v, minute))
		return v->business_rate_bps;
	return v->rate_bps;
}

uint64_t cb_policy_add_month(struct cb_policy *p, uint32_t month, uint64_t bytes)
{
	struct cb_policy_live *l = &p->f->live;
	uint32_t m = __atomic_load_n(&l->month, __ATOMIC_ACQUIRE);

	if (m != month) {
		/* A new month: the first thread to see it restarts the count. */
		if (__atomic_compare_exchange_n(&l->month, &m, month, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			__atomic_store_n(&l->month_bytes, 0, __ATOMIC_RELEASE);
	}
	return __atomic_add_fetch(&l->month_bytes, bytes, __ATOMIC_RELAXED);
}

uint64_t cb_policy_month_bytes(const struct cb_policy *p, uint32_t month)
{
	const struct cb_policy_live *l = &p->f->live;

	if (__atomic_load_n(&l->month, __ATOMIC_ACQUIRE) != month)
		return 0;
	return __atomic_load_n(&l->month_bytes, __ATOMIC_RELAXED);
}

static uint64_t cost_ns(uint64_t bytes, uint64_t rate_bps)
{
	/* bytes * 8 s / rate, in ns, without overflow for any sane size. */
	unsigned __int128 ns = (unsigned __int128)bytes * 8u * 1000000000u / rate_bps;

	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

uint64_t cb_bucket_take(uint64_t *tat_ns, uint64_t rate_bps, uint64_t want, uint64_t now_ns,
			uint64_t *wait_ns)
{
	uint64_t quantum = CB_MAX((uint64_t)QUANTUM_MIN, rate_bps / 8 * QUANTUM_NS / 1000000000ull);
	uint64_t grant = CB_MIN(want, quantum), t, base, next;

	*wait_ns = 0;
	if (rate_bps == 0 || want == 0)
		return want;
	t = __atomic_load_n(tat_ns, __ATOMIC_ACQUIRE);
	do {
		base = CB_MAX(t, now_ns);
		if (base - now_ns > CB_BUCKET_BURST_NS) {
			*wait_ns = base - now_ns - CB_BUCKET_BURST_NS;
			return 0;
		}
		next = base + cost_ns(grant, rate_bps);
	} while (!__atomic_compare_exchange_n(tat_ns, &t, next, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return grant;
}

void cb_bucket_refund(uint64_t *tat_ns, uint64_t rate_bps, uint64_t bytes)
{
	uint64_t c, t, n;

	if (!rate_bps || !bytes)
		return;
	c = cost_ns(bytes, rate_bps);
	t = __atomic_load_n(tat_ns, __ATOMIC_ACQUIRE);
	do
		n = t > c ? t - c : 0;
	while (!__atomic_compare_exchange_n(tat_ns, &t, n, true, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE));
}

int cb_policy_reserve(struct cb_policy *p, unsigned s, uint64_t size)
{
	struct cb_shard_space *sp;
	uint64_t limit, a, w;

	if (s >= CB_MAX_SHARDS)
		return 0;
	sp = &p->f->live.shard[s];
	limit = __atomic_load_n(&sp->limit, __ATOMIC_ACQUIRE);
	if (!limit)
		return 0;
	if (size > limit)
		return -EFBIG;
	a = __atomic_load_n(&sp->added, __ATOMIC_ACQUIRE);
	do {
		uint64_t used = __atomic_load_n(&sp->used, __ATOMIC_ACQUIRE);
		uint64_t base = __atomic_load_n(&sp->added_base, __ATOMIC_ACQUIRE);

		if (used + (a - base) + size > limit) {
			w = __atomic_load_n(&sp->want, __ATOMIC_RELAXED);
			while (w < size &&
			       !__atomic_compare_exchange_n(&sp->want, &w, size, true,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
				;
			return -EAGAIN;
		}
	} while (!__atomic_compare_exchange_n(&sp->added, &a, a + size, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return 0;
}
