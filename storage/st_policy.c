/* Shared policy and counters (see st_policy.h). */
#include "st_policy.h"

#include "cb_common.h"
#include "cb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ST_POLICY_MAGIC 0x31594c4f50584243ull /* "CBXPOLY1" */
#define QUANTUM_NS	20000000ull
#define QUANTUM_MIN	512u

struct st_policy_file {
	uint64_t magic;
	uint32_t layout;
	uint32_t size;
	_Atomic uint32_t seq; /* seqlock over vals: odd while control writes */
	uint32_t pad;
	struct st_policy_vals vals;
	struct st_policy_live live __attribute__((aligned(64)));
};

struct st_policy {
	struct st_policy_file *f;
};

struct st_policy *st_policy_open(const char *path, const struct st_policy_vals *publish)
{
	struct st_policy *p = calloc(1, sizeof(*p));
	struct stat st;
	void *base;
	int fd;

	if (!p)
		return NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size != (off_t)sizeof(struct st_policy_file)) {
		if (st.st_size)
			cb_warn("%s: size %lld, not %zu: starting its counters afresh", path,
				(long long)st.st_size, sizeof(struct st_policy_file));
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(struct st_policy_file)) < 0)
			goto fail;
	}
	base = mmap(NULL, sizeof(struct st_policy_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	close(fd);
	p->f = base;
	if (p->f->magic != ST_POLICY_MAGIC || p->f->layout != ST_POLICY_LAYOUT ||
	    p->f->size != sizeof(struct st_policy_file)) {
		if (p->f->magic)
			cb_warn("%s: another layout: starting its counters afresh", path);
		memset(p->f, 0, sizeof(*p->f));
		p->f->layout = ST_POLICY_LAYOUT;
		p->f->size = sizeof(struct st_policy_file);
		atomic_thread_fence(memory_order_release);
		p->f->magic = ST_POLICY_MAGIC;
	}
	/* A writer that died mid-publish leaves seq odd: make it even again. */
	if (atomic_load(&p->f->seq) & 1)
		atomic_fetch_add(&p->f->seq, 1);
	if (publish)
		st_policy_publish(p, publish);
	return p;
fail:
	if (fd >= 0) {
		int e = errno;

		close(fd);
		errno = e;
	}
	free(p);
	return NULL;
}

void st_policy_close(struct st_policy *p)
{
	if (!p)
		return;
	munmap(p->f, sizeof(*p->f));
	free(p);
}

void st_policy_sync(struct st_policy *p)
{
	msync(p->f, sizeof(*p->f), MS_ASYNC);
}

void st_policy_vals_from_cfg(struct st_policy_vals *v, const struct cfg *cfg)
{
	memset(v, 0, sizeof(*v));
	v->max_clients = cfg->limits.max_clients;
	v->queue_timeout_ms = cfg->limits.queue_timeout_ms;
	v->rate_bps = cfg->limits.max_bandwidth_served;
	v->rate_client_bps = cfg->limits.max_bandwidth_per_client;
	v->business_start_min = cfg->limits.business_start_min;
	v->business_end_min = cfg->limits.business_end_min;
	v->business_rate_bps = cfg->limits.business_hours_max_bandwidth;
	v->monthly_cap = cfg->limits.monthly_upload_cap;
}

/* One writer at a time: control's single thread (or a file server alone). */
void st_policy_publish(struct st_policy *p, const struct st_policy_vals *v)
{
	atomic_fetch_add_explicit(&p->f->seq, 1, memory_order_acq_rel);
	atomic_thread_fence(memory_order_release);
	p->f->vals = *v;
	atomic_fetch_add_explicit(&p->f->seq, 1, memory_order_release);
}

void st_policy_read(const struct st_policy *p, struct st_policy_vals *v)
{
	struct st_policy_file *f = p->f;

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

struct st_policy_live *st_policy_live(struct st_policy *p)
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

static int64_t st_policy_clock_offset(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, clock_offset_init);
	return clock_offset;
}

void st_policy_now(unsigned *minute, uint32_t *month)
{
	time_t t = time(NULL) + st_policy_clock_offset();
	struct tm tm;

	localtime_r(&t, &tm);
	*minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	*month = (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

bool st_policy_in_business_hours(const struct st_policy_vals *v, unsigned minute)
{
	unsigned s = v->business_start_min, e = v->business_end_min;

	if (s == e)
		return false;
	return s < e ? minute >= s && minute < e : minute >= s || minute < e; /* past midnight */
}

uint64_t st_policy_rate_at(const struct st_policy_vals *v, unsigned minute)
{
	if (v->business_rate_bps && st_policy_in_business_hours(v, minute))
		return v->business_rate_bps;
	return v->rate_bps;
}

uint64_t st_policy_add_month(struct st_policy *p, uint32_t month, uint64_t bytes)
{
	struct st_policy_live *l = &p->f->live;
	uint32_t m = __atomic_load_n(&l->month, __ATOMIC_ACQUIRE);

	if (m != month) {
		/* A new month: the first thread to see it restarts the count. */
		if (__atomic_compare_exchange_n(&l->month, &m, month, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			__atomic_store_n(&l->month_bytes, 0, __ATOMIC_RELEASE);
	}
	return __atomic_add_fetch(&l->month_bytes, bytes, __ATOMIC_RELAXED);
}

uint64_t st_policy_month_bytes(const struct st_policy *p, uint32_t month)
{
	const struct st_policy_live *l = &p->f->live;

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

uint64_t st_bucket_take(uint64_t *tat_ns, uint64_t rate_bps, uint64_t want, uint64_t now_ns,
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
		if (base - now_ns > ST_BUCKET_BURST_NS) {
			*wait_ns = base - now_ns - ST_BUCKET_BURST_NS;
			return 0;
		}
		next = base + cost_ns(grant, rate_bps);
	} while (!__atomic_compare_exchange_n(tat_ns, &t, next, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return grant;
}

void st_bucket_refund(uint64_t *tat_ns, uint64_t rate_bps, uint64_t bytes)
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

int st_policy_reserve(struct st_policy *p, unsigned s, uint64_t size)
{
	struct st_shard_space *sp;
	uint64_t limit, a, w;

	if (s >= CFG_MAX_SHARDS)
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
