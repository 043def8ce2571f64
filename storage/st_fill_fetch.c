/*
 * The fetch side of the fill manager: what a fetch thread does with the
 * task st_fill_pick gave it. A start learns the length from piece 0 and
 * opens (or resumes) the version on disk; a piece is fetched with a ranged
 * GET, hashed, written and published (st_fill.c's opening comment has the
 * order). Failures end the fill with the status and reason its clients
 * see. Network and disk I/O happen here, never under the manager's lock.
 */
#include "st_fill_priv.h"

#include "cb_common.h"
#include "cb_failpoint.h"
#include "cb_io.h"
#include "cb_log.h"
#include "cb_policy.h"
#include "st_format.h"
#include "st_import.h"
#include "st_origin.h"
#include "st_rebuild.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A fetch thread's connection, kept alive between tasks of one origin. */
struct fetcher {
	struct st_fill_mgr *fm;
	unsigned slot; /* its entry in fm->conns */
	struct st_origin_conn *conn;
	const struct cfg_origin *conn_origin;
	uint8_t *buf;
	size_t buf_len;
	char err[300]; /* the last fetch error */
};

/* ------------------------------------------------------------ fetching */

static int status_of(long err)
{
	switch (err) {
	case -ENOENT:
		return 404;
	case -EACCES:
		return 403;
	case -ETIMEDOUT:
		return 504;
	default:
		return 502;
	}
}

/*
 * The connection is published in fm->conns under the lock while it is
 * open, so that stopping the manager can cut a read stalled on a slow
 * origin (st_fill_mgr_free) instead of waiting for its timeout.
 */
static void conn_publish(struct fetcher *ft, struct st_origin_conn *c)
{
	pthread_mutex_lock(&ft->fm->lock);
	ft->fm->conns[ft->slot] = c;
	pthread_mutex_unlock(&ft->fm->lock);
	ft->conn = c;
}

static void conn_drop(struct fetcher *ft)
{
	struct st_origin_conn *c = ft->conn;

	if (!c)
		return;
	conn_publish(ft, NULL);
	st_origin_close(c);
}

/*
 * One ranged GET with retries and back-off, on the fetcher's connection.
 * Returns the body length or -errno; the reason is logged.
 */
static long fetch_range(struct fetcher *ft, struct st_fill *f, uint64_t first, uint64_t last,
			struct st_origin_reply *reply)
{
	char *err = ft->err;
	long got = -EIO;
	int reusable;

	for (int attempt = 0; attempt < FILL_TRIES; attempt++) {
		if (__atomic_load_n(&ft->fm->stop, __ATOMIC_RELAXED))
			return -ECANCELED;
		if (attempt) {
			usleep((useconds_t)(FILL_BACKOFF_MS * 1000) << (2 * (attempt - 1)));
			pthread_mutex_lock(&ft->fm->lock);
			ft->fm->stats.origin_retries++;
			pthread_mutex_unlock(&ft->fm->lock);
		}
		if (ft->conn && ft->conn_origin != f->origin)
			conn_drop(ft);
		if (!ft->conn) {
			conn_publish(ft, st_origin_connect(f->origin, f->origin->timeout_ms, err,
							   sizeof(ft->err)));
			ft->conn_origin = f->origin;
			if (!ft->conn) {
				got = -errno;
				cb_warn("fill %s: %s (try %d of %d)", f->key, err, attempt + 1,
					FILL_TRIES);
				continue;
			}
		}
		pthread_mutex_lock(&ft->fm->lock);
		ft->fm->stats.origin_requests++;
		pthread_mutex_unlock(&ft->fm->lock);
		got = st_origin_get_range(ft->conn, f->target, f->loop, first, last, ft->buf, reply,
					  &reusable, err, sizeof(ft->err));
		if (got < 0 || !reusable)
			conn_drop(ft);
		if (got >= 0 || got == -ENOENT || got == -EACCES)
			return got; /* an answer: trying again would get the same */
		cb_warn("fill %s bytes %llu-%llu: %s (try %d of %d)", f->key,
			(unsigned long long)first, (unsigned long long)last, err, attempt + 1,
			FILL_TRIES);
	}
	return got;
}

/* Writes the fill's metadata (present pieces so far). Caller holds no lock. */
static void meta_sync(struct st_fill_mgr *fm, struct st_fill *f, bool complete)
{
	char path[CB_PATH_TMP];
	struct cb_index_rec cur;
	int ret;

	st_path_meta(fm->ss->s[f->shard].path, f->id, path, sizeof(path));
	cb_index_lock(fm->ix);
	/* Another writer (an import, an eviction) replaced our version: leave it be. */
	if (cb_index_lookup(fm->ix, f->id, &cur) != 0 || cur.gen != f->m.gen) {
		cb_index_unlock(fm->ix);
		return;
	}
	pthread_mutex_lock(&fm->lock);
	if (complete) {
		f->m.flags |= ST_META_COMPLETE;
		f->rec.flags |= ST_META_COMPLETE;
	}
	pthread_mutex_unlock(&fm->lock);
	ret = st_meta_write(path, &f->m);
	if (ret == 0 && complete)
		cb_index_put(fm->ix, &f->rec);
	cb_index_unlock(fm->ix);
	/* Not fatal: the pieces it would have recorded are fetched again after a restart. */
	if (ret)
		cb_warn("fill %s: writing its metadata: %s; %s", f->key, strerror(-ret),
			complete ? "not recorded complete (the next request resumes it)"
				 : "its last pieces are not recorded yet");
}

/* Drops a partial version that can no longer be completed as is. */
static void drop_version(struct st_fill_mgr *fm, struct st_fill *f)
{
	char path[CB_PATH_TMP];
	struct cb_index_rec cur;

	cb_index_lock(fm->ix);
	if (cb_index_lookup(fm->ix, f->id, &cur) == 0 && cur.gen == f->m.gen) {
		cb_index_del(fm->ix, f->id);
		st_path_meta(fm->ss->s[f->shard].path, f->id, path, sizeof(path));
		unlink(path);
		st_path_data(fm->ss->s[f->shard].path, f->id, f->m.gen, path, sizeof(path));
		unlink(path);
	}
	cb_index_unlock(fm->ix);
}

/* Records a piece: bits for readers, counters, completion. */
static void piece_landed(struct st_fill_mgr *fm, struct st_fill *f, uint32_t p, uint64_t len)
{
	bool complete, sync;
	uint32_t ndone;

	pthread_mutex_lock(&fm->lock);
	if (f->state != ST_FILL_RUNNING) { /* failed meanwhile: record nothing more */
		pthread_mutex_unlock(&fm->lock);
		return;
	}
	/* The metadata's bit first: whoever counts the last piece sees every bit. */
	__atomic_fetch_or(&f->m.present[p >> 3], (uint8_t)(1u << (p & 7)), __ATOMIC_RELEASE);
	f->piece[p] = PIECE_DONE;
	ndone = ++f->ndone;
	f->rec.pieces_present = ndone;
	fm->stats.bytes_filled += len;
	complete = ndone == f->m.npieces;
	sync = complete || ++f->since_meta >= META_EVERY;
	if (sync)
		f->since_meta = 0;
	pthread_mutex_unlock(&fm->lock);
	/* The index says how many pieces we hold (discovery answers from it). */
	cb_index_pieces_raise(fm->ix, f->id, f->m.gen, ndone);
	/*
	 * The object is recorded complete before a reader can send its last
	 * piece; one below min_file_size_to_cache is dropped instead (readers
	 * that have it open finish from the unlinked file).
	 */
	if (complete && f->ephemeral)
		drop_version(fm, f);
	else if (sync)
		meta_sync(fm, f, complete);
	if (f->obj) {
		/* The hash before the bits: the pieces list reads it once it sees the bit. */
		if (f->obj->meta.hashes != f->m.hashes)
			memcpy(f->obj->meta.hashes + (size_t)p * 32, f->m.hashes + (size_t)p * 32,
			       32);
		__atomic_fetch_or(&f->obj->verified[p >> 3], (uint8_t)(1u << (p & 7)),
				  __ATOMIC_RELEASE);
		__atomic_fetch_or(&f->obj->meta.present[p >> 3], (uint8_t)(1u << (p & 7)),
				  __ATOMIC_RELEASE);
	}
	if (complete) {
		pthread_mutex_lock(&fm->lock);
		f->state = ST_FILL_DONE;
		fm->stats.fills_done++;
		st_fill_unlist(fm, f);
		pthread_mutex_unlock(&fm->lock);
		cb_info("fill %s complete: %llu bytes, %u pieces%s", f->key,
			(unsigned long long)f->m.size, f->m.npieces,
			f->ephemeral ? "; passed through, not kept (min_file_size_to_cache)" : "");
	}
}

static void fill_fail(struct st_fill_mgr *fm, struct st_fill *f, int http_status, bool drop,
		      const char *why)
{
	pthread_mutex_lock(&fm->lock);
	if (f->state == ST_FILL_FAILED || f->state == ST_FILL_DONE) {
		pthread_mutex_unlock(&fm->lock);
		return;
	}
	f->state = ST_FILL_FAILED;
	f->http_status = http_status;
	snprintf(f->why, sizeof(f->why), "%s", why);
	fm->stats.fills_failed++;
	st_fill_unlist(fm, f);
	pthread_mutex_unlock(&fm->lock);
	if ((drop || f->ephemeral) && f->fd >= 0)
		drop_version(fm, f);
	else if (f->fd >= 0)
		meta_sync(fm, f, false); /* keep what we have: a later fill resumes */
	cb_warn("fill %s failed (%d): %s%s", f->key, http_status, why,
		drop ? "; partial copy dropped" : "");
}

static bool buf_for(struct fetcher *ft, size_t len)
{
	if (ft->buf_len < len) {
		free(ft->buf);
		ft->buf = malloc(len);
		ft->buf_len = ft->buf ? len : 0;
	}
	return ft->buf != NULL;
}

/* Whether the origin's answer for piece 0 still describes the cached version. */
static bool still_valid(const struct st_fill *f, const struct st_origin_reply *reply)
{
	const struct cb_index_rec *old = &f->rec_in;

	if (reply->complete != old->size)
		return false;
	if (reply->etag[0] || strncmp(old->etag, "\"cbx-", 5) != 0)
		return strcmp(reply->etag, old->etag) == 0;
	/* No ETag on either side: the Last-Modified date decides. */
	return reply->last_modified && reply->last_modified == old->last_modified;
}

static int refresh_created(struct st_meta *m, struct cb_index_rec *rec, void *arg)
{
	(void)arg;
	m->created = time(NULL);
	rec->created = m->created;
	return 0;
}

/* Revalidated: the cached version is good for another max_cache_age. */
static void refresh(struct st_fill_mgr *fm, struct st_fill *f)
{
	/* Replaced or evicted meanwhile: nothing to refresh. */
	st_meta_update(fm->ss, fm->ix, f->id, f->rec_in.gen, refresh_created, NULL);
	pthread_mutex_lock(&fm->lock);
	f->state = ST_FILL_DONE;
	fm->stats.fills_done++;
	st_fill_unlist(fm, f);
	pthread_mutex_unlock(&fm->lock);
	cb_info("revalidated %s: unchanged at the origin", f->key);
}

/*
 * The shard's cache limits (published by control): a new object is stored
 * only when the sizes of everything on the shard, it included, stay under
 * them. When not, control is asked to evict and the fill waits up to
 * ROOM_WAIT_ROUNDS x ROOM_WAIT_US. 0, -EFBIG (never fits) or -ENOSPC.
 */
#define ROOM_WAIT_ROUNDS 200u
#define ROOM_WAIT_US	 50000u

static int room_for(struct st_fill_mgr *fm, struct st_fill *f, uint64_t size, char *err,
		    size_t errlen)
{
	for (unsigned i = 0; fm->pol && i < ROOM_WAIT_ROUNDS; i++) {
		int r = cb_policy_reserve(fm->pol, f->shard, size);

		if (r == 0)
			return 0;
		if (r == -EFBIG) {
			snprintf(err, errlen,
				 "cannot store: %llu bytes is more than shard %u may hold "
				 "(cache size limits)",
				 (unsigned long long)size, f->shard);
			return -EFBIG;
		}
		if (__atomic_load_n(&fm->stop, __ATOMIC_RELAXED))
			break;
		usleep(ROOM_WAIT_US);
	}
	if (!fm->pol)
		return 0;
	snprintf(err, errlen, "cannot store: no room for %llu bytes on shard %u after %u s",
		 (unsigned long long)size, f->shard, ROOM_WAIT_ROUNDS * ROOM_WAIT_US / 1000000);
	return -ENOSPC;
}

/* A fill that resumes a version already on disk (after a crash, or a stopped fill). */
static int open_resumed(struct st_fill_mgr *fm, struct st_fill *f, struct cb_index_rec *rec)
{
	struct st_meta *m = &f->m;
	char path[CB_PATH_TMP];

	f->shard = f->rec_in.shard;
	if (f->shard >= fm->ss->n)
		return -EINVAL;
	st_path_meta(fm->ss->s[f->shard].path, f->id, path, sizeof(path));
	if (st_meta_read(path, m) || m->gen != f->rec_in.gen)
		return -ESTALE;
	st_path_data(fm->ss->s[f->shard].path, f->id, m->gen, path, sizeof(path));
	f->fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	*rec = f->rec_in;
	f->ephemeral = m->size < fm->cfg->storage.min_file_size_to_cache;
	if (strncmp(m->etag, "\"cbx-", 5) != 0)
		memcpy(f->origin_etag, m->etag, sizeof(f->origin_etag));
	return 0;
}

/* The metadata of a new version, from the origin's answer for piece 0. */
static int meta_from_reply(struct st_fill_mgr *fm, struct st_fill *f,
			   const struct st_origin_reply *reply, uint32_t ps)
{
	struct st_meta *m = &f->m;
	struct cb_index_rec old;

	m->piece_size = ps;
	m->size = reply->complete;
	m->npieces = st_npieces(m->size, ps);
	if (m->npieces > ST_MAX_PIECES)
		return -EFBIG;
	memcpy(m->id, f->id, ST_ID_LEN);
	memcpy(m->key, f->key, f->key_len);
	m->key_len = f->key_len;
	m->created = time(NULL);
	m->last_modified = reply->last_modified ? reply->last_modified : m->created;
	memcpy(m->etag, reply->etag, sizeof(m->etag));
	memcpy(f->origin_etag, reply->etag, sizeof(f->origin_etag));
	m->gen = st_new_gen(cb_index_lookup(fm->ix, f->id, &old) == 0 ? old.gen : 0);
	return st_meta_alloc(m) ? -ENOMEM : 0;
}

/*
 * A new version from piece 0: the origin tells the length, the data file
 * is created and piece 0 written, the metadata published. 0 with *rec and
 * *got set; 1 when the fill ended here (failed with its reason, or
 * revalidated); -errno when the object cannot be set up on disk.
 */
static int open_new(struct fetcher *ft, struct st_fill *f, struct cb_index_rec *rec, long *got)
{
	struct st_fill_mgr *fm = ft->fm;
	uint32_t ps = (uint32_t)fm->cfg->storage.piece_size;
	char data[CB_PATH_TMP], dir[CB_PATH_TMP], err[256];
	struct st_origin_reply reply;
	struct st_meta *m = &f->m;
	int replaced;

	if (!buf_for(ft, ps))
		return -ENOMEM;
	*got = fetch_range(ft, f, 0, ps - 1, &reply);
	if (*got < 0) {
		fill_fail(fm, f, status_of(*got), false, ft->err);
		return 1;
	}
	if (f->revalidate && still_valid(f, &reply)) {
		refresh(fm, f);
		return 1;
	}
	/* MinFileSizeToCache: smaller objects pass through, nothing is kept. */
	f->ephemeral = reply.complete < fm->cfg->storage.min_file_size_to_cache;
	if (meta_from_reply(fm, f, &reply, ps) < 0)
		return -EINVAL;
	f->shard = st_shards_place(fm->ss, f->id);
	if (room_for(fm, f, m->size, err, sizeof(err)) < 0) {
		cb_warn("fill %s: %s", f->key, err);
		fill_fail(fm, f, 503, false, err);
		return 1;
	}
	st_path_dir(fm->ss->s[f->shard].path, f->id, dir, sizeof(dir));
	mkdir(dir, 0755);
	st_path_data(fm->ss->s[f->shard].path, f->id, m->gen, data, sizeof(data));
	f->fd = open(data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (f->fd < 0 || ftruncate(f->fd, (off_t)m->size) < 0 ||
	    cb_pwrite_all(f->fd, ft->buf, (size_t)*got, 0))
		return -EIO;
	CB_FAILPOINT("fill-first-written");
	st_sha256(ft->buf, (size_t)*got, m->hashes);
	m->present[0] |= 1;
	if (!m->etag[0])
		snprintf(m->etag, sizeof(m->etag), "\"cbx-%016llx\"", (unsigned long long)m->gen);
	if (st_version_publish(fm->ss, fm->ix, m, f->shard, data, sizeof(data), &replaced, err,
			       sizeof(err))) {
		cb_err("fill %s: %s", f->key, err);
		return -EIO;
	}
	st_index_rec_from_meta(rec, m, f->shard);
	return 0;
}

/* The version is open: record which pieces are there and let fetch threads take the rest. */
static int go_running(struct st_fill_mgr *fm, struct st_fill *f, const struct cb_index_rec *rec,
		      long got)
{
	struct st_meta *m = &f->m;
	struct st_obj *obj = st_obj_get(fm->oc, rec);

	if (!obj)
		return -ENOMEM;
	pthread_mutex_lock(&fm->lock);
	f->obj = obj;
	f->rec = *rec;
	f->piece = calloc(m->npieces ? m->npieces : 1, 1);
	if (!f->piece) {
		pthread_mutex_unlock(&fm->lock);
		return -ENOMEM;
	}
	for (uint32_t p = 0; p < m->npieces; p++) {
		if (st_meta_has(m, p)) {
			f->piece[p] = PIECE_DONE;
			f->ndone++;
		}
	}
	f->rec.pieces_present = f->ndone;
	f->state = ST_FILL_RUNNING;
	if (!f->resume)
		fm->stats.bytes_filled += (uint64_t)got;
	pthread_mutex_unlock(&fm->lock);
	/* Piece 0 came with the length: readers may have it now. */
	if (!f->resume)
		__atomic_fetch_or(&obj->verified[0], 1, __ATOMIC_RELEASE);
	cb_info("fill %s: %s, %llu bytes, %u of %u pieces present", f->key,
		f->resume ? "resumed" : "started", (unsigned long long)m->size, f->ndone,
		m->npieces);
	if (f->ndone == m->npieces) {
		meta_sync(fm, f, true);
		pthread_mutex_lock(&fm->lock);
		f->state = ST_FILL_DONE;
		fm->stats.fills_done++;
		st_fill_unlist(fm, f);
		pthread_mutex_unlock(&fm->lock);
	}
	return 0;
}

static void do_start(struct fetcher *ft, struct st_fill *f)
{
	struct cb_index_rec rec;
	long got = 0;
	int r;

	r = f->resume ? open_resumed(ft->fm, f, &rec) : open_new(ft, f, &rec, &got);
	if (r == 1)
		return;
	if (r == 0)
		r = go_running(ft->fm, f, &rec, got);
	if (r == 0)
		return;
	cb_err("fill %s: cannot set up the object on disk: %s", f->key, strerror(-r));
	fill_fail(ft->fm, f, 502, false, "cannot set up the object on disk");
}

static void do_piece(struct fetcher *ft, struct st_fill *f, uint32_t p)
{
	struct st_fill_mgr *fm = ft->fm;
	struct st_meta *m = &f->m;
	uint64_t first = (uint64_t)p * m->piece_size;
	uint64_t last = CB_MIN(first + m->piece_size, m->size) - 1;
	struct st_origin_reply reply;
	uint8_t sum[32];
	long got;
	int ret;

	if (!buf_for(ft, m->piece_size)) {
		fill_fail(fm, f, 502, false, "out of memory");
		return;
	}
	got = fetch_range(ft, f, first, last, &reply);
	if (got < 0) {
		fill_fail(fm, f, status_of(got), false, ft->err);
		return;
	}
	if (reply.complete != m->size || (uint64_t)got != last - first + 1 ||
	    strcmp(reply.etag, f->origin_etag) != 0) {
		/* Never mix pieces of two versions of the object. */
		cb_warn("fill %s: the origin's object changed (length %llu, ETag %s; had %llu, %s)",
			f->key, (unsigned long long)reply.complete, reply.etag,
			(unsigned long long)m->size, m->etag);
		cb_fmt(ft->err, sizeof(ft->err), "origin %s: %s changed mid-fill", f->origin->host,
		       reply.complete != m->size ? "the length" : "ETag");
		fill_fail(fm, f, 502, true, ft->err);
		return;
	}
	st_sha256(ft->buf, (size_t)got, sum);
	ret = cb_pwrite_all(f->fd, ft->buf, (size_t)got, first);
	if (ret) {
		cb_err("fill %s: writing piece %u: %s", f->key, p, strerror(-ret));
		fill_fail(fm, f, 502, false, "cannot write to the shard");
		return;
	}
	CB_FAILPOINT("fill-piece-written");
	memcpy(m->hashes + (size_t)p * 32, sum, 32);
	piece_landed(fm, f, p, (uint64_t)got);
}

/* Lock held: the next task, or NULL. *piece is UINT32_MAX for a start. */
/* A fetch thread: takes tasks until the manager stops. */
void *st_fill_thread(void *arg)
{
	struct fetcher ft = {.fm = arg};
	struct st_fill_mgr *fm = ft.fm;

	pthread_mutex_lock(&fm->lock);
	ft.slot = fm->nslots++;
	CB_ASSERT(ft.slot < MAX_THREADS);
	while (!fm->stop) {
		uint32_t p;
		struct st_fill *f = st_fill_pick(fm, &p);

		if (!f) {
			pthread_cond_wait(&fm->cond, &fm->lock);
			continue;
		}
		f->refs++;
		f->inflight++;
		pthread_mutex_unlock(&fm->lock);
		if (p == UINT32_MAX)
			do_start(&ft, f);
		else
			do_piece(&ft, f, p);
		if (fm->notify)
			fm->notify(fm->notify_arg);
		pthread_mutex_lock(&fm->lock);
		f->inflight--;
		st_fill_unref(fm, f);
		pthread_cond_broadcast(&fm->cond); /* a slot of that fill is free */
	}
	pthread_mutex_unlock(&fm->lock);
	conn_drop(&ft);
	free(ft.buf);
	return NULL;
}
