/*
 * Shared index implementation (see cb_index.h for the design).
 *
 * Seqlock protocol, per entry:
 *   writer: seq += 1 (odd, release) ; change fields ; seq += 1 (even, release)
 *   reader: s1 = seq (acquire); if odd retry ; copy ; fence(acquire) ;
 *           s2 = seq (relaxed); retry if s1 != s2
 * Probing: a lookup walks from hash(id) until an EMPTY slot; a delete
 * leaves a TOMBSTONE so later entries of the chain stay reachable. Writers
 * are serialised by the header mutex, so only readers race with a writer.
 */
#include "cb_index.h"

#include "cb_common.h"
#include "cb_failpoint.h"
#include "cb_io.h"
#include "cb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_RETRIES 1000

struct cb_index {
	struct cb_index_hdr *hdr;
	struct cb_worker_stats *stats;
	struct cb_index_entry *tab;
	uint32_t mask;
	size_t map_size;
};

static size_t layout_size(uint32_t capacity)
{
	return CB_INDEX_HDR_SIZE + CB_INDEX_STATS_SIZE +
	       (size_t)capacity * sizeof(struct cb_index_entry);
}

static void map_parts(struct cb_index *ix, void *base)
{
	ix->hdr = base;
	ix->stats = (struct cb_worker_stats *)((char *)base + CB_INDEX_HDR_SIZE);
	ix->tab = (struct cb_index_entry *)((char *)base + CB_INDEX_HDR_SIZE + CB_INDEX_STATS_SIZE);
	ix->mask = ix->hdr->capacity - 1;
}

/* The process-shared, robust writer lock in a fresh header; 0 or -errno. */
static int wlock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t ma;
	int ret;

	ret = pthread_mutexattr_init(&ma);
	if (ret)
		return -ret;
	ret = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	if (ret == 0)
		ret = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	if (ret == 0)
		ret = pthread_mutex_init(m, &ma);
	pthread_mutexattr_destroy(&ma);
	return -ret;
}

/*
 * The file is made under a temporary name and renamed over path only once
 * its header is whole, so an attacher sees the old index or the new one.
 */
struct cb_index *cb_index_create(const char *path, unsigned capacity)
{
	char tmp[CB_PATH_TMP];
	struct cb_index *ix = NULL;
	uint32_t cap = 1024;
	void *base = MAP_FAILED;
	size_t size;
	int fd = -1, ret;

	while (cap < capacity && cap < (1u << 30))
		cap <<= 1;
	size = layout_size(cap);
	ret = cb_fmt(tmp, sizeof(tmp), "%s.new.%d", path, (int)getpid());
	if (ret)
		goto out;
	ret = -ENOMEM;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		goto out;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto out;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	ix->map_size = size;
	ix->hdr = base;
	ix->hdr->layout = CB_INDEX_LAYOUT;
	ix->hdr->entry_size = sizeof(struct cb_index_entry);
	ix->hdr->capacity = cap;
	ix->hdr->header_size = CB_INDEX_HDR_SIZE;
	ix->hdr->file_size = size;
	ret = wlock_init(&ix->hdr->wlock);
	if (ret)
		goto out;
	map_parts(ix, base);
	/* The magic goes last: an attacher never sees a half-made header. */
	atomic_thread_fence(memory_order_release);
	ix->hdr->magic = CB_INDEX_MAGIC;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret && fd >= 0)
		unlink(tmp);
	if (ret) {
		if (base != MAP_FAILED)
			munmap(base, size);
		free(ix);
		errno = -ret;
		return NULL;
	}
	return ix;
}

/* The header of an index file must describe exactly this build's layout and the file's size. */
static bool hdr_valid(const struct cb_index_hdr *hdr, const struct stat *st)
{
	return hdr->magic == CB_INDEX_MAGIC && hdr->layout == CB_INDEX_LAYOUT &&
	       hdr->entry_size == sizeof(struct cb_index_entry) &&
	       hdr->header_size == CB_INDEX_HDR_SIZE && hdr->capacity != 0 &&
	       !(hdr->capacity & (hdr->capacity - 1)) &&
	       hdr->file_size == layout_size(hdr->capacity) &&
	       (uint64_t)st->st_size == hdr->file_size;
}

static struct cb_index *index_map(const char *path, bool ro)
{
	struct cb_index_hdr hdr;
	struct cb_index *ix = NULL;
	struct stat st;
	void *base;
	size_t got;
	int fd, ret;

	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ret = -EPROTO;
	if (fstat(fd, &st) < 0 || cb_pread_full(fd, &hdr, sizeof(hdr), 0, &got) ||
	    got != sizeof(hdr) || !hdr_valid(&hdr, &st))
		goto out;
	ret = -ENOMEM;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		goto out;
	base = mmap(NULL, hdr.file_size, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	ix->map_size = hdr.file_size;
	map_parts(ix, base);
	ret = 0;
out:
	close(fd);
	if (ret) {
		free(ix);
		errno = -ret;
		return NULL;
	}
	return ix;
}

struct cb_index *cb_index_attach(const char *path)
{
	return index_map(path, false);
}

struct cb_index *cb_index_attach_ro(const char *path)
{
	return index_map(path, true);
}

void cb_index_close(struct cb_index *ix)
{
	if (!ix)
		return;
	if (ix->hdr)
		munmap(ix->hdr, ix->map_size);
	free(ix);
}

static uint32_t slot_of(const struct cb_index *ix, const uint8_t id[CB_ID_LEN])
{
	uint32_t h;

	memcpy(&h, id + 8, sizeof(h));
	return h & ix->mask;
}

/* Copies entry e under its seqlock; returns its state, or -1 if it never settled. */
static int entry_read(const struct cb_index_entry *e, struct cb_index_rec *out)
{
	for (int i = 0; i < READ_RETRIES; i++) {
		uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		uint32_t state;

		if (s1 & 1) {
			__builtin_ia32_pause();
			continue;
		}
		state = e->state;
		if (state == CB_SLOT_LIVE)
			memcpy(out, &e->rec, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1)
			return (int)state;
	}
	return -1;
}

int cb_index_lookup(const struct cb_index *ix, const uint8_t id[CB_ID_LEN],
		    struct cb_index_rec *out)
{
	uint32_t slot = slot_of(ix, id);

	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		int state = entry_read(&ix->tab[slot], out);

		if (state == CB_SLOT_EMPTY || state < 0)
			return -ENOENT;
		if (state == CB_SLOT_LIVE && memcmp(out->id, id, CB_ID_LEN) == 0) {
			out->last_access =
				__atomic_load_n(&ix->tab[slot].rec.last_access, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return -ENOENT;
}

/* Writer-side probe (lock held): the slot holding id, or -1. */
static long find_slot(const struct cb_index *ix, const uint8_t id[CB_ID_LEN], long *free_slot)
{
	uint32_t slot = slot_of(ix, id);

	*free_slot = -1;
	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		const struct cb_index_entry *e = &ix->tab[slot];

		if (e->state == CB_SLOT_EMPTY) {
			if (*free_slot < 0)
				*free_slot = slot;
			return -1;
		}
		if (e->state == CB_SLOT_TOMB) {
			if (*free_slot < 0)
				*free_slot = slot;
			continue;
		}
		if (memcmp(e->rec.id, id, CB_ID_LEN) == 0)
			return slot;
	}
	return -1;
}

static void entry_write_begin(struct cb_index_entry *e)
{
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void entry_write_end(struct cb_index_entry *e)
{
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
}

void cb_index_touch(struct cb_index *ix, const uint8_t id[CB_ID_LEN], int64_t now)
{
	struct cb_index_rec rec;
	uint32_t slot = slot_of(ix, id);

	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		int state = entry_read(&ix->tab[slot], &rec);

		if (state == CB_SLOT_EMPTY || state < 0)
			return;
		if (state == CB_SLOT_LIVE && memcmp(rec.id, id, CB_ID_LEN) == 0) {
			__atomic_store_n(&ix->tab[slot].rec.last_access, now, __ATOMIC_RELAXED);
			__atomic_add_fetch(&ix->tab[slot].rec.hits, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

/* A writer that died mid-update left an odd seq: drop that entry. */
static void repair(struct cb_index *ix)
{
	for (uint32_t i = 0; i <= ix->mask; i++) {
		struct cb_index_entry *e = &ix->tab[i];

		if (!(atomic_load(&e->seq) & 1))
			continue;
		cb_warn("index: slot %u was left half-written by a dead writer; dropped", i);
		if (e->state == CB_SLOT_LIVE)
			atomic_fetch_sub(&ix->hdr->count, 1);
		e->state = CB_SLOT_TOMB;
		atomic_fetch_add(&ix->hdr->tombs, 1);
		entry_write_end(e);
	}
}

void cb_index_lock(struct cb_index *ix)
{
	int ret = pthread_mutex_lock(&ix->hdr->wlock);

	if (ret == EOWNERDEAD) {
		cb_warn("index: previous writer died holding the lock; repairing");
		repair(ix);
		pthread_mutex_consistent(&ix->hdr->wlock);
		ret = 0;
	}
	CB_ASSERT(ret == 0);
}

void cb_index_unlock(struct cb_index *ix)
{
	pthread_mutex_unlock(&ix->hdr->wlock);
}

int cb_index_put(struct cb_index *ix, const struct cb_index_rec *rec)
{
	long free_slot, slot = find_slot(ix, rec->id, &free_slot);
	struct cb_index_entry *e;
	uint32_t used;

	if (slot < 0) {
		used = atomic_load(&ix->hdr->count) + atomic_load(&ix->hdr->tombs);
		if (free_slot < 0 || (uint64_t)used * 10 >= (uint64_t)(ix->mask + 1) * 9)
			return -ENOSPC;
		slot = free_slot;
	}
	e = &ix->tab[slot];
	entry_write_begin(e);
	if (e->state != CB_SLOT_LIVE) {
		if (e->state == CB_SLOT_TOMB)
			atomic_fetch_sub(&ix->hdr->tombs, 1);
		atomic_fetch_add(&ix->hdr->count, 1);
	}
	CB_FAILPOINT_DO("index-put-torn", memcpy(&e->rec, rec, sizeof(*rec) / 2));
	{
		/* The same object again (a new version, a fill's progress): keep its count. */
		uint64_t hits = e->state == CB_SLOT_LIVE ? e->rec.hits : 0;

		e->rec = *rec;
		e->rec.hits = hits;
	}
	e->state = CB_SLOT_LIVE;
	entry_write_end(e);
	return 0;
}

int cb_index_del(struct cb_index *ix, const uint8_t id[CB_ID_LEN])
{
	long free_slot, slot = find_slot(ix, id, &free_slot);
	struct cb_index_entry *e;

	if (slot < 0)
		return -ENOENT;
	e = &ix->tab[slot];
	entry_write_begin(e);
	e->state = CB_SLOT_TOMB;
	memset(&e->rec, 0, sizeof(e->rec));
	entry_write_end(e);
	atomic_fetch_sub(&ix->hdr->count, 1);
	atomic_fetch_add(&ix->hdr->tombs, 1);
	return 0;
}

int cb_index_foreach(const struct cb_index *ix, int (*fn)(const struct cb_index_rec *, void *),
		     void *arg)
{
	struct cb_index_rec rec;

	for (uint32_t i = 0; i <= ix->mask; i++) {
		int ret;

		if (entry_read(&ix->tab[i], &rec) != CB_SLOT_LIVE)
			continue;
		rec.last_access = __atomic_load_n(&ix->tab[i].rec.last_access, __ATOMIC_RELAXED);
		ret = fn(&rec, arg);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned cb_index_count(const struct cb_index *ix)
{
	return atomic_load(&ix->hdr->count);
}

unsigned cb_index_capacity(const struct cb_index *ix)
{
	return ix->mask + 1;
}

struct cb_worker_stats *cb_index_stats(struct cb_index *ix, unsigned worker)
{
	CB_ASSERT(worker < CB_MAX_WORKERS);
	return &ix->stats[worker];
}

int cb_index_pieces_raise(struct cb_index *ix, const uint8_t id[CB_ID_LEN], uint64_t gen,
			  uint32_t n)
{
	struct cb_index_entry *e;
	long free_slot, slot;
	int ret = 0;

	cb_index_lock(ix);
	slot = find_slot(ix, id, &free_slot);
	if (slot < 0) {
		ret = -ENOENT;
		goto out;
	}
	e = &ix->tab[slot];
	if (e->rec.gen != gen) {
		ret = -ESTALE;
		goto out;
	}
	n = CB_MIN(n, e->rec.npieces);
	if (n > e->rec.pieces_present) {
		entry_write_begin(e);
		e->rec.pieces_present = n;
		entry_write_end(e);
	}
out:
	cb_index_unlock(ix);
	return ret;
}

void cb_index_clear(struct cb_index *ix)
{
	for (uint32_t i = 0; i <= ix->mask; i++) {
		struct cb_index_entry *e = &ix->tab[i];

		if (e->state == CB_SLOT_EMPTY)
			continue;
		entry_write_begin(e);
		e->state = CB_SLOT_EMPTY;
		entry_write_end(e);
	}
	atomic_store(&ix->hdr->count, 0);
	atomic_store(&ix->hdr->tombs, 0);
}
