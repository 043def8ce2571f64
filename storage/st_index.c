/*
 * Shared index implementation (see st_index.h for the design).
 *
 * Seqlock protocol, per entry:
 *   writer: seq += 1 (odd, release) ; change fields ; seq += 1 (even, release)
 *   reader: s1 = seq (acquire); if odd retry ; copy ; fence(acquire) ;
 *           s2 = seq (relaxed); retry if s1 != s2
 * Probing: a lookup walks from hash(id) until an EMPTY slot; a delete
 * leaves a TOMBSTONE so later entries of the chain stay reachable. Writers
 * are serialised by the header mutex, so only readers race with a writer.
 */
#include "st_index.h"

#include "cb_common.h"
#include "cb_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_INDEX_MAGIC 0x3130584449584243ull /* "CBXIDX01" */
#define HDR_SIZE       4096
#define STATS_SIZE     (ST_MAX_WORKERS * sizeof(struct st_worker_stats))
#define READ_RETRIES   1000

enum { SLOT_EMPTY = 0, SLOT_LIVE = 1, SLOT_TOMB = 2 };

struct st_index_entry {
	_Atomic uint32_t seq;
	uint32_t state;
	struct st_index_rec rec; /* rec.last_access, rec.hits: written outside the seqlock */
} __attribute__((aligned(64)));

struct st_index_hdr {
	uint64_t magic;
	uint32_t layout;
	uint32_t entry_size;
	uint32_t capacity;
	uint32_t header_size;
	uint64_t file_size;
	_Atomic uint32_t count;
	_Atomic uint32_t tombs;
	pthread_mutex_t wlock;
};

struct st_index {
	struct st_index_hdr *hdr;
	struct st_worker_stats *stats;
	struct st_index_entry *tab;
	uint32_t mask;
	size_t map_size;
};

_Static_assert(sizeof(struct st_index_hdr) <= HDR_SIZE, "index header fits its page");

static size_t layout_size(uint32_t capacity)
{
	return HDR_SIZE + STATS_SIZE + (size_t)capacity * sizeof(struct st_index_entry);
}

static void map_parts(struct st_index *ix, void *base)
{
	ix->hdr = base;
	ix->stats = (struct st_worker_stats *)((char *)base + HDR_SIZE);
	ix->tab = (struct st_index_entry *)((char *)base + HDR_SIZE + STATS_SIZE);
	ix->mask = ix->hdr->capacity - 1;
}

struct st_index *st_index_create(const char *path, unsigned capacity)
{
	char tmp[CB_PATH_TMP];
	pthread_mutexattr_t ma;
	struct st_index *ix;
	uint32_t cap = 1024;
	size_t size;
	void *base;
	int fd, err;

	while (cap < capacity && cap < (1u << 30))
		cap <<= 1;
	size = layout_size(cap);
	if (snprintf(tmp, sizeof(tmp), "%s.new.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail_fd;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail_fd;
	close(fd);
	ix->map_size = size;
	ix->hdr = base;
	ix->hdr->layout = ST_INDEX_LAYOUT;
	ix->hdr->entry_size = sizeof(struct st_index_entry);
	ix->hdr->capacity = cap;
	ix->hdr->header_size = HDR_SIZE;
	ix->hdr->file_size = size;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&ix->hdr->wlock, &ma);
	pthread_mutexattr_destroy(&ma);
	map_parts(ix, base);
	/* The magic goes last: an attacher never sees a half-made header. */
	atomic_thread_fence(memory_order_release);
	ix->hdr->magic = ST_INDEX_MAGIC;
	if (rename(tmp, path) < 0) {
		err = errno;
		unlink(tmp);
		st_index_close(ix);
		errno = err;
		return NULL;
	}
	return ix;
fail_fd:
	err = errno;
	close(fd);
	unlink(tmp);
	errno = err;
fail:
	err = errno;
	free(ix);
	errno = err;
	return NULL;
}

struct st_index *st_index_attach(const char *path)
{
	struct st_index_hdr hdr;
	struct st_index *ix;
	struct stat st;
	void *base;
	int fd, err;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto fail_proto;
	if (hdr.magic != ST_INDEX_MAGIC || hdr.layout != ST_INDEX_LAYOUT ||
	    hdr.entry_size != sizeof(struct st_index_entry) || hdr.header_size != HDR_SIZE ||
	    hdr.capacity == 0 || (hdr.capacity & (hdr.capacity - 1)) ||
	    hdr.file_size != layout_size(hdr.capacity) || (uint64_t)st.st_size != hdr.file_size)
		goto fail_proto;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		goto fail;
	base = mmap(NULL, hdr.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = errno;
		free(ix);
		errno = err;
		goto fail;
	}
	close(fd);
	ix->map_size = hdr.file_size;
	map_parts(ix, base);
	return ix;
fail_proto:
	errno = EPROTO;
fail:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

void st_index_close(struct st_index *ix)
{
	if (!ix)
		return;
	if (ix->hdr)
		munmap(ix->hdr, ix->map_size);
	free(ix);
}

static uint32_t slot_of(const struct st_index *ix, const uint8_t id[ST_ID_LEN])
{
	uint32_t h;

	memcpy(&h, id + 8, sizeof(h));
	return h & ix->mask;
}

/* Copies entry e under its seqlock; returns its state, or -1 if it never settled. */
static int entry_read(const struct st_index_entry *e, struct st_index_rec *out)
{
	for (int i = 0; i < READ_RETRIES; i++) {
		uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		uint32_t state;

		if (s1 & 1) {
			__builtin_ia32_pause();
			continue;
		}
		state = e->state;
		if (state == SLOT_LIVE)
			memcpy(out, &e->rec, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1)
			return (int)state;
	}
	return -1;
}

int st_index_lookup(const struct st_index *ix, const uint8_t id[ST_ID_LEN],
		    struct st_index_rec *out)
{
	uint32_t slot = slot_of(ix, id);

	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		int state = entry_read(&ix->tab[slot], out);

		if (state == SLOT_EMPTY || state < 0)
			return -ENOENT;
		if (state == SLOT_LIVE && memcmp(out->id, id, ST_ID_LEN) == 0) {
			out->last_access =
				__atomic_load_n(&ix->tab[slot].rec.last_access, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return -ENOENT;
}

/* Writer-side probe (lock held): the slot holding id, or -1. */
static long find_slot(const struct st_index *ix, const uint8_t id[ST_ID_LEN], long *free_slot)
{
	uint32_t slot = slot_of(ix, id);

	*free_slot = -1;
	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		const struct st_index_entry *e = &ix->tab[slot];

		if (e->state == SLOT_EMPTY) {
			if (*free_slot < 0)
				*free_slot = slot;
			return -1;
		}
		if (e->state == SLOT_TOMB) {
			if (*free_slot < 0)
				*free_slot = slot;
			continue;
		}
		if (memcmp(e->rec.id, id, ST_ID_LEN) == 0)
			return slot;
	}
	return -1;
}

static void entry_write_begin(struct st_index_entry *e)
{
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void entry_write_end(struct st_index_entry *e)
{
	atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
}

void st_index_touch(struct st_index *ix, const uint8_t id[ST_ID_LEN], int64_t now)
{
	struct st_index_rec rec;
	uint32_t slot = slot_of(ix, id);

	for (uint32_t n = 0; n <= ix->mask; n++, slot = (slot + 1) & ix->mask) {
		int state = entry_read(&ix->tab[slot], &rec);

		if (state == SLOT_EMPTY || state < 0)
			return;
		if (state == SLOT_LIVE && memcmp(rec.id, id, ST_ID_LEN) == 0) {
			__atomic_store_n(&ix->tab[slot].rec.last_access, now, __ATOMIC_RELAXED);
			__atomic_add_fetch(&ix->tab[slot].rec.hits, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

/* A writer that died mid-update left an odd seq: drop that entry. */
static void repair(struct st_index *ix)
{
	for (uint32_t i = 0; i <= ix->mask; i++) {
		struct st_index_entry *e = &ix->tab[i];

		if (!(atomic_load(&e->seq) & 1))
			continue;
		cb_warn("index: slot %u was left half-written by a dead writer; dropped", i);
		if (e->state == SLOT_LIVE)
			atomic_fetch_sub(&ix->hdr->count, 1);
		e->state = SLOT_TOMB;
		atomic_fetch_add(&ix->hdr->tombs, 1);
		entry_write_end(e);
	}
}

void st_index_lock(struct st_index *ix)
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

void st_index_unlock(struct st_index *ix)
{
	pthread_mutex_unlock(&ix->hdr->wlock);
}

int st_index_put(struct st_index *ix, const struct st_index_rec *rec)
{
	long free_slot, slot = find_slot(ix, rec->id, &free_slot);
	struct st_index_entry *e;
	uint32_t used;

	if (slot < 0) {
		used = atomic_load(&ix->hdr->count) + atomic_load(&ix->hdr->tombs);
		if (free_slot < 0 || (uint64_t)used * 10 >= (uint64_t)(ix->mask + 1) * 9)
			return -ENOSPC;
		slot = free_slot;
	}
	e = &ix->tab[slot];
	entry_write_begin(e);
	if (e->state != SLOT_LIVE) {
		if (e->state == SLOT_TOMB)
			atomic_fetch_sub(&ix->hdr->tombs, 1);
		atomic_fetch_add(&ix->hdr->count, 1);
	}
	{
		/* The same object again (a new version, a fill's progress): keep its count. */
		uint64_t hits = e->state == SLOT_LIVE ? e->rec.hits : 0;

		e->rec = *rec;
		e->rec.hits = hits;
	}
	e->state = SLOT_LIVE;
	entry_write_end(e);
	return 0;
}

int st_index_del(struct st_index *ix, const uint8_t id[ST_ID_LEN])
{
	long free_slot, slot = find_slot(ix, id, &free_slot);
	struct st_index_entry *e;

	if (slot < 0)
		return -ENOENT;
	e = &ix->tab[slot];
	entry_write_begin(e);
	e->state = SLOT_TOMB;
	memset(&e->rec, 0, sizeof(e->rec));
	entry_write_end(e);
	atomic_fetch_sub(&ix->hdr->count, 1);
	atomic_fetch_add(&ix->hdr->tombs, 1);
	return 0;
}

int st_index_foreach(const struct st_index *ix, int (*fn)(const struct st_index_rec *, void *),
		     void *arg)
{
	struct st_index_rec rec;

	for (uint32_t i = 0; i <= ix->mask; i++) {
		int ret;

		if (entry_read(&ix->tab[i], &rec) != SLOT_LIVE)
			continue;
		rec.last_access = __atomic_load_n(&ix->tab[i].rec.last_access, __ATOMIC_RELAXED);
		ret = fn(&rec, arg);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned st_index_count(const struct st_index *ix)
{
	return atomic_load(&ix->hdr->count);
}

unsigned st_index_capacity(const struct st_index *ix)
{
	return ix->mask + 1;
}

struct st_worker_stats *st_index_stats(struct st_index *ix, unsigned worker)
{
	CB_ASSERT(worker < ST_MAX_WORKERS);
	return &ix->stats[worker];
}

void st_index_rec_from_meta(struct st_index_rec *rec, const struct st_meta *m, unsigned shard)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->id, m->id, ST_ID_LEN);
	rec->size = m->size;
	rec->gen = m->gen;
	rec->last_modified = m->last_modified;
	rec->created = m->created;
	rec->last_access = m->created;
	rec->piece_size = m->piece_size;
	rec->shard = (uint16_t)shard;
	rec->flags = (uint16_t)m->flags;
	memcpy(rec->etag, m->etag, sizeof(rec->etag));
}

static void drop_files(const char *dir, const char *hexid)
{
	char path[CB_PATH_TMP];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, hexid, ST_ID_HEX) != 0)
			continue;
		cb_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Indexes one metadata file; returns 1 if indexed, 0 if dropped. */
static int rebuild_one(struct st_index *ix, const struct st_shards *ss, unsigned shard,
		       const char *dir, const char *name)
{
	char path[CB_PATH_TMP], data[CB_PATH_TMP], hexid[ST_ID_HEX + 1];
	struct st_index_rec rec, old;
	struct st_meta m;
	struct stat st;
	int ret;

	cb_fmt(path, sizeof(path), "%s/%s", dir, name);
	memcpy(hexid, name, ST_ID_HEX);
	hexid[ST_ID_HEX] = '\0';
	ret = st_meta_read(path, &m);
	if (ret) {
		cb_warn("shard %s: object %s: metadata %s (%s); dropped", ss->s[shard].path, hexid,
			ret == -EINVAL ? "is corrupt" : "unreadable", strerror(-ret));
		drop_files(dir, hexid);
		return 0;
	}
	st_path_data(ss->s[shard].path, m.id, m.gen, data, sizeof(data));
	if (stat(data, &st) < 0 || (uint64_t)st.st_size != m.size) {
		cb_warn("shard %s: object %s: data file missing or of the wrong size; dropped",
			ss->s[shard].path, hexid);
		drop_files(dir, hexid);
		st_meta_fini(&m);
		return 0;
	}
	if (st_index_lookup(ix, m.id, &old) == 0 && old.gen > m.gen) {
		st_meta_fini(&m);
		return 0; /* an older copy on another shard; the newer one wins */
	}
	st_index_rec_from_meta(&rec, &m, shard);
	st_meta_fini(&m);
	ret = st_index_put(ix, &rec);
	if (ret) {
		cb_err("index full (%u objects): raise [storage] index_capacity",
		       st_index_capacity(ix));
		return ret;
	}
	return 1;
}

/* Removes data files of other generations and leftovers of interrupted writes. */
static void sweep_dir(const char *dir)
{
	char path[CB_PATH_TMP], meta[CB_PATH_TMP], hexid[ST_ID_HEX + 1], *end;
	struct st_meta m;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		bool keep = false;

		if (de->d_name[0] == '.')
			continue;
		if (len == ST_ID_HEX + 5 && strcmp(de->d_name + ST_ID_HEX, ".meta") == 0)
			continue;
		cb_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len == ST_ID_HEX + 22 && strcmp(de->d_name + len - 5, ".data") == 0) {
			memcpy(hexid, de->d_name, ST_ID_HEX);
			hexid[ST_ID_HEX] = '\0';
			cb_fmt(meta, sizeof(meta), "%s/%s.meta", dir, hexid);
			if (st_meta_read(meta, &m) == 0) {
				keep = strtoull(de->d_name + ST_ID_HEX + 1, &end, 16) == m.gen;
				st_meta_fini(&m);
			}
		}
		if (!keep) {
			cb_info("removing leftover %s", path);
			unlink(path);
		}
	}
	closedir(d);
}

int st_index_rebuild(struct st_index *ix, const struct st_shards *ss)
{
	char dir[CB_PATH_TMP];
	int total = 0, ret = 0;

	st_index_lock(ix);
	for (uint32_t i = 0; i <= ix->mask; i++) {
		struct st_index_entry *e = &ix->tab[i];

		if (e->state == SLOT_EMPTY)
			continue;
		entry_write_begin(e);
		e->state = SLOT_EMPTY;
		entry_write_end(e);
	}
	atomic_store(&ix->hdr->count, 0);
	atomic_store(&ix->hdr->tombs, 0);
	for (unsigned s = 0; s < ss->n && ret >= 0; s++) {
		for (unsigned b = 0; b < 256 && ret >= 0; b++) {
			struct dirent *de;
			DIR *d;

			cb_fmt(dir, sizeof(dir), "%s/objects/%02x", ss->s[s].path, b);
			d = opendir(dir);
			if (!d)
				continue;
			sweep_dir(dir);
			while ((de = readdir(d))) {
				size_t len = strlen(de->d_name);

				if (len != ST_ID_HEX + 5 || strcmp(de->d_name + ST_ID_HEX, ".meta"))
					continue;
				ret = rebuild_one(ix, ss, s, dir, de->d_name);
				if (ret > 0)
					total++;
			}
			closedir(d);
		}
		/* Temporary files of imports and fills that never finished. */
		cb_fmt(dir, sizeof(dir), "%s/tmp", ss->s[s].path);
		{
			DIR *d = opendir(dir);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char p[CB_PATH_TMP];

				if (de->d_name[0] == '.')
					continue;
				cb_fmt(p, sizeof(p), "%s/%s", dir, de->d_name);
				unlink(p);
			}
			if (d)
				closedir(d);
		}
	}
	st_index_unlock(ix);
	return ret < 0 ? ret : total;
}
