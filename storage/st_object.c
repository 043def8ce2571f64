/*
 * Open-object cache and verify-once (see st_object.h). A small chained hash
 * table under one mutex: lookups are one per request, far cheaper than the
 * request itself, and the table is shared so that every worker profits
 * from a piece verified by another. Unreferenced objects beyond max_open
 * are closed, oldest first in chain order (approximate, cheap).
 */
#include "st_object.h"

#include "cb_common.h"
#include "cb_io.h"
#include "cb_log.h"
#include "st_import.h"
#include "st_rebuild.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 1024

struct st_objcache {
	pthread_mutex_t lock;
	const struct st_shards *ss;
	struct cb_index *ix;
	unsigned max_open, nopen;
	uint64_t corrupt_pieces; /* atomic: drop_piece's count */
	struct st_obj *tab[BUCKETS];
};

struct st_objcache *st_objcache_new(const struct st_shards *ss, struct cb_index *ix,
				    unsigned max_open)
{
	struct st_objcache *oc = calloc(1, sizeof(*oc));
	int ret;

	if (!oc)
		return NULL;
	ret = pthread_mutex_init(&oc->lock, NULL);
	if (ret) {
		free(oc);
		errno = ret;
		return NULL;
	}
	oc->ss = ss;
	oc->ix = ix;
	oc->max_open = max_open ? max_open : 1024;
	return oc;
}

static void obj_free(struct st_obj *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	if (o->dfd >= 0)
		close(o->dfd);
	st_meta_fini(&o->meta);
	free(o->verified);
	free(o->bad);
	free(o);
}

void st_objcache_free(struct st_objcache *oc)
{
	if (!oc)
		return;
	for (unsigned b = 0; b < BUCKETS; b++) {
		while (oc->tab[b]) {
			struct st_obj *o = oc->tab[b];

			oc->tab[b] = o->next;
			obj_free(o);
		}
	}
	pthread_mutex_destroy(&oc->lock);
	free(oc);
}

static unsigned bucket_of(const uint8_t id[ST_ID_LEN])
{
	return ((unsigned)id[0] | (unsigned)id[1] << 8) % BUCKETS;
}

static struct st_obj *obj_open(struct st_objcache *oc, const struct cb_index_rec *rec)
{
	char path[CB_PATH_TMP];
	struct st_obj *o;
	size_t bm;
	int ret;

	if (rec->shard >= oc->ss->n) {
		errno = ENOENT;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->fd = o->dfd = -1;
	st_path_meta(oc->ss->s[rec->shard].path, rec->id, path, sizeof(path));
	ret = st_meta_read(path, &o->meta);
	if (ret == 0 && o->meta.gen != rec->gen)
		ret = -ENOENT; /* replaced between the index lookup and now */
	if (ret)
		goto fail;
	st_path_data(oc->ss->s[rec->shard].path, rec->id, rec->gen, path, sizeof(path));
	o->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (o->fd < 0 && errno == EPERM)
		o->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0) {
		ret = -errno;
		goto fail;
	}
	o->dfd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	memcpy(o->id, rec->id, ST_ID_LEN);
	o->gen = rec->gen;
	o->size = o->meta.size;
	o->piece_size = o->meta.piece_size;
	o->npieces = o->meta.npieces;
	o->last_modified = o->meta.last_modified;
	memcpy(o->etag, o->meta.etag, sizeof(o->etag));
	bm = (o->npieces + 7) / 8 + 1;
	o->verified = calloc(bm, 1);
	o->bad = calloc(bm, 1);
	if (!o->verified || !o->bad) {
		ret = -ENOMEM;
		goto fail;
	}
	return o;
fail:
	obj_free(o);
	errno = -ret;
	return NULL;
}

/* Closes unreferenced objects while over the limit. Lock held. */
static void trim(struct st_objcache *oc)
{
	for (unsigned b = 0; b < BUCKETS && oc->nopen > oc->max_open; b++) {
		struct st_obj **pp = &oc->tab[b];

		while (*pp && oc->nopen > oc->max_open) {
			struct st_obj *o = *pp;

			if (o->refs == 0) {
				*pp = o->next;
				obj_free(o);
				oc->nopen--;
			} else {
				pp = &o->next;
			}
		}
	}
}

struct st_obj *st_obj_get(struct st_objcache *oc, const struct cb_index_rec *rec)
{
	unsigned b = bucket_of(rec->id);
	struct st_obj *o, **pp, *fresh;

	pthread_mutex_lock(&oc->lock);
	for (pp = &oc->tab[b]; (o = *pp); pp = &o->next) {
		if (memcmp(o->id, rec->id, ST_ID_LEN) != 0)
			continue;
		if (o->gen == rec->gen) {
			o->refs++;
			pthread_mutex_unlock(&oc->lock);
			return o;
		}
		/* Older (or newer) generation: unlink it; its readers keep it alive. */
		*pp = o->next;
		oc->nopen--;
		if (o->refs == 0)
			obj_free(o);
		else
			o->stale = true;
		break;
	}
	pthread_mutex_unlock(&oc->lock);

	/* Open outside the lock: it reads a file. */
	fresh = obj_open(oc, rec);
	if (!fresh)
		return NULL;
	pthread_mutex_lock(&oc->lock);
	for (o = oc->tab[b]; o; o = o->next) {
		if (memcmp(o->id, rec->id, ST_ID_LEN) == 0 && o->gen == rec->gen) {
			/* Another worker opened it meanwhile: use that one. */
			o->refs++;
			pthread_mutex_unlock(&oc->lock);
			obj_free(fresh);
			return o;
		}
	}
	fresh->refs = 1;
	fresh->next = oc->tab[b];
	oc->tab[b] = fresh;
	oc->nopen++;
	trim(oc);
	pthread_mutex_unlock(&oc->lock);
	return fresh;
}

void st_objcache_sweep(struct st_objcache *oc)
{
	struct cb_index_rec rec;

	pthread_mutex_lock(&oc->lock);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct st_obj **pp = &oc->tab[b];

		while (*pp) {
			struct st_obj *o = *pp;

			if (o->refs == 0 &&
			    (cb_index_lookup(oc->ix, o->id, &rec) != 0 || rec.gen != o->gen)) {
				*pp = o->next;
				obj_free(o);
				oc->nopen--;
			} else {
				pp = &o->next;
			}
		}
	}
	pthread_mutex_unlock(&oc->lock);
}

void st_obj_put(struct st_objcache *oc, struct st_obj *o)
{
	bool free_it;

	if (!o)
		return;
	pthread_mutex_lock(&oc->lock);
	CB_ASSERT(o->refs > 0);
	free_it = --o->refs == 0 && o->stale;
	pthread_mutex_unlock(&oc->lock);
	if (free_it)
		obj_free(o);
}

static bool bit_get(const uint8_t *bm, uint32_t i)
{
	return __atomic_load_n(&bm[i >> 3], __ATOMIC_ACQUIRE) & (1u << (i & 7));
}

static void bit_set(uint8_t *bm, uint32_t i)
{
	__atomic_fetch_or(&bm[i >> 3], (uint8_t)(1u << (i & 7)), __ATOMIC_RELEASE);
}

bool st_obj_present(const struct st_obj *o, uint64_t first, uint64_t last)
{
	if (o->size == 0)
		return true;
	for (uint32_t p = (uint32_t)(first / o->piece_size); p <= last / o->piece_size; p++)
		if (!st_meta_has(&o->meta, p) || bit_get(o->bad, p))
			return false;
	return true;
}

static int clear_piece(struct st_meta *m, struct cb_index_rec *rec, void *arg)
{
	uint32_t p = *(const uint32_t *)arg;

	m->present[p >> 3] &= (uint8_t) ~(1u << (p & 7));
	m->flags &= ~(uint32_t)ST_META_COMPLETE;
	rec->flags &= (uint16_t)~ST_META_COMPLETE;
	rec->pieces_present = st_meta_present_count(m);
	return 0;
}

/* Clears piece p from the metadata on disk and the index entry. */
static void drop_piece(struct st_objcache *oc, struct st_obj *o, uint32_t p)
{
	char hex[ST_ID_HEX + 1];

	cb_hex_encode(o->id, ST_ID_LEN, hex);
	bit_set(o->bad, p);
	__atomic_add_fetch(&oc->corrupt_pieces, 1, __ATOMIC_RELAXED);
	/* Replaced meanwhile: the new version has its own pieces. */
	st_meta_update(oc->ss, oc->ix, o->id, o->gen, clear_piece, &p);
	cb_err("object %s: piece %u failed its SHA-256 check: dropped, treated as missing", hex, p);
}

uint64_t st_objcache_corrupt_pieces(struct st_objcache *oc)
{
	return __atomic_load_n(&oc->corrupt_pieces, __ATOMIC_RELAXED);
}

int st_obj_verify(struct st_objcache *oc, struct st_obj *o, uint64_t first, uint64_t last,
		  uint8_t *scratch)
{
	uint8_t sum[32];
	int ret;

	if (o->size == 0)
		return 0;
	for (uint32_t p = (uint32_t)(first / o->piece_size); p <= last / o->piece_size; p++) {
		uint64_t off = (uint64_t)p * o->piece_size;
		size_t len = (size_t)CB_MIN((uint64_t)o->piece_size, o->size - off), got;

		if (!st_meta_has(&o->meta, p) || bit_get(o->bad, p))
			return -ENOENT;
		if (bit_get(o->verified, p))
			continue;
		ret = cb_pread_full(o->fd, scratch, len, off, &got);
		if (ret)
			return ret;
		/* Short (truncated file): the hash check below fails. */
		st_sha256(scratch, got, sum);
		if (got != len || memcmp(sum, o->meta.hashes + (size_t)p * 32, 32) != 0) {
			drop_piece(oc, o, p);
			return -ENOENT;
		}
		bit_set(o->verified, p);
	}
	return 0;
}
