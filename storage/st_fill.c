/*
 * Fill manager (see st_fill.h).
 *
 * One mutex guards the list of fills and each fill's bookkeeping (piece
 * states, wanted queue, references); fetch threads take it only to pick a
 * task and to record its outcome, never across network or disk I/O. A task
 * is either the start of a fill (learn the length from piece 0, create the
 * version) or one piece. Picking order: starts first, then pieces a waiting
 * client asked for, then each running fill's next piece in file order, at
 * most FILL_CONNS fetches per fill at once so that one fill cannot starve
 * the others and one slow stream cannot hold a fill back.
 *
 * A piece lands in this order: bytes hashed, written with pwrite, hash
 * stored, then (release) the present and verified bits of the shared
 * st_obj set, so a reader that sees the bit sees the bytes. The metadata
 * file records the present pieces every META_EVERY pieces and at the end;
 * after a crash the bits it lost are simply fetched again, and a piece it
 * records but whose bytes were torn fails its hash on first read.
 */
#include "st_fill.h"

#include "cb_common.h"
#include "cb_log.h"
#include "cb_policy.h"
#include "st_format.h"
#include "st_import.h"
#include "st_origin.h"
#include "st_rebuild.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILL_CONNS	4 /* parallel fetches per fill */
#define FILL_TRIES	3
#define FILL_BACKOFF_MS 100
#define WANT_MAX	64
#define META_EVERY	16
#define MAX_THREADS	64

enum { PIECE_MISSING, PIECE_FETCHING, PIECE_DONE };

struct st_fill {
	struct st_fill *next;
	uint8_t id[ST_ID_LEN];
	char key[ST_KEY_MAX];
	uint16_t key_len;
	const struct cfg_origin *origin;
	char target[ST_KEY_MAX];
	unsigned refs; /* holders: the list while active, clients, running tasks */
	bool listed;
	enum st_fill_state state;
	bool start_taken;
	bool resume;		       /* the version exists already (rec_in) */
	bool revalidate;	       /* rec_in is complete but stale: refresh it or replace it */
	bool ephemeral;		       /* below min_file_size_to_cache: served, then dropped */
	char origin_etag[ST_ETAG_MAX]; /* as the origin sent it for piece 0 ("" if none) */
	struct cb_index_rec rec_in;
	int http_status;
	char why[256]; /* what went wrong, for the client and the CLI */

	/* The version, once RUNNING. */
	struct st_meta m;
	struct cb_index_rec rec;
	unsigned shard;
	int fd;
	struct st_obj *obj;
	uint8_t *piece;
	uint32_t next_seq, ndone, since_meta;
	unsigned inflight;
	uint32_t want[WANT_MAX];
	unsigned want_head, want_count;
};

struct st_fill_mgr {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct st_fill *fills;
	bool stop;
	pthread_t threads[MAX_THREADS];
	unsigned nthreads;
	const struct cfg *cfg;
	const struct st_shards *ss;
	struct cb_index *ix;
	struct st_objcache *oc;
	void (*notify)(void *);
	void *notify_arg;
	struct st_fill_stats stats;
	struct cb_policy *pol; /* the shards' space limits; NULL = none */
};

/* A fetch thread's connection, kept alive between tasks of one origin. */
struct fetcher {
	struct st_fill_mgr *fm;
	struct st_origin_conn *conn;
	const struct cfg_origin *conn_origin;
	uint8_t *buf;
	size_t buf_len;
	char err[300]; /* the last fetch error */
};

static void fill_free(struct st_fill_mgr *fm, struct st_fill *f)
{
	if (f->obj)
		st_obj_put(fm->oc, f->obj);
	if (f->fd >= 0)
		close(f->fd);
	st_meta_fini(&f->m);
	free(f->piece);
	free(f);
}

/* Lock held. */
static void unref(struct st_fill_mgr *fm, struct st_fill *f)
{
	CB_ASSERT(f->refs > 0);
	if (--f->refs == 0)
		fill_free(fm, f);
}

/* Lock held: the fill leaves the list (DONE or FAILED); holders keep it. */
static void unlist(struct st_fill_mgr *fm, struct st_fill *f)
{
	struct st_fill **pp;

	if (!f->listed)
		return;
	for (pp = &fm->fills; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->listed = false;
	unref(fm, f);
}

static struct st_fill *fill_get(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
				const struct cfg_origin *origin, const char *key, size_t key_len,
				const char *target, const struct cb_index_rec *rec, bool revalidate)
{
	struct st_fill *f;

	pthread_mutex_lock(&fm->lock);
	for (f = fm->fills; f; f = f->next) {
		if (memcmp(f->id, id, ST_ID_LEN) == 0) {
			f->refs++;
			pthread_mutex_unlock(&fm->lock);
			return f;
		}
	}
	f = NULL;
	if (origin && key_len < ST_KEY_MAX && strlen(target) < ST_KEY_MAX && !fm->stop)
		f = calloc(1, sizeof(*f));
	if (f) {
		memcpy(f->id, id, ST_ID_LEN);
		memcpy(f->key, key, key_len);
		f->key_len = (uint16_t)key_len;
		f->origin = origin;
		snprintf(f->target, sizeof(f->target), "%s", target);
		f->fd = -1;
		f->state = ST_FILL_STARTING;
		if (rec) {
			f->resume = !revalidate;
			f->revalidate = revalidate;
			f->rec_in = *rec;
		}
		f->refs = 2; /* the list and the caller */
		f->listed = true;
		f->next = fm->fills;
		fm->fills = f;
		fm->stats.fills_started++;
		pthread_cond_broadcast(&fm->cond);
	}
	pthread_mutex_unlock(&fm->lock);
	return f;
}

struct st_fill *st_fill_get(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
			    const struct cfg_origin *origin, const char *key, size_t key_len,
			    const char *target, const struct cb_index_rec *rec)
{
	return fill_get(fm, id, origin, key, key_len, target, rec, false);
}

void st_fill_revalidate(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
			const struct cfg_origin *origin, const char *key, size_t key_len,
			const char *target, const struct cb_index_rec *rec)
{
	st_fill_put(fm, fill_get(fm, id, origin, key, key_len, target, rec, true));
}

void st_fill_put(struct st_fill_mgr *fm, struct st_fill *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&fm->lock);
	unref(fm, f);
	pthread_mutex_unlock(&fm->lock);
}

enum st_fill_state st_fill_status(struct st_fill_mgr *fm, struct st_fill *f,
				  struct cb_index_rec *rec, int *http_status)
{
	enum st_fill_state s;

	pthread_mutex_lock(&fm->lock);
	s = f->state;
	if (s == ST_FILL_RUNNING || s == ST_FILL_DONE)
		*rec = f->rec;
	*http_status = f->http_status;
	pthread_mutex_unlock(&fm->lock);
	return s;
}

void st_fill_why(struct st_fill_mgr *fm, struct st_fill *f, char *buf, size_t len)
{
	pthread_mutex_lock(&fm->lock);
	snprintf(buf, len, "%s", f->why);
	pthread_mutex_unlock(&fm->lock);
}

void st_fill_want(struct st_fill_mgr *fm, struct st_fill *f, uint32_t p0, uint32_t p1)
{
	bool added = false;

	pthread_mutex_lock(&fm->lock);
	if (f->state == ST_FILL_RUNNING) {
		for (uint32_t p = p0; p <= p1 && p < f->m.npieces && f->want_count < WANT_MAX;
		     p++) {
			if (f->piece[p] != PIECE_MISSING)
				continue;
			f->want[(f->want_head + f->want_count++) % WANT_MAX] = p;
			added = true;
		}
	}
	if (added)
		pthread_cond_broadcast(&fm->cond);
	pthread_mutex_unlock(&fm->lock);
}

void st_fill_stats_get(struct st_fill_mgr *fm, struct st_fill_stats *out)
{
	pthread_mutex_lock(&fm->lock);
	*out = fm->stats;
	pthread_mutex_unlock(&fm->lock);
}

/* ------------------------------------------------------------ fetching */

static int status_of(long err)
{
	return err == -ENOENT ? 404 : err == -ETIMEDOUT ? 504 : 502;
}

static void conn_drop(struct fetcher *ft)
{
	st_origin_close(ft->conn);
	ft->conn = NULL;
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
		if (attempt) {
			usleep((useconds_t)(FILL_BACKOFF_MS * 1000) << (2 * (attempt - 1)));
			pthread_mutex_lock(&ft->fm->lock);
			ft->fm->stats.origin_retries++;
			pthread_mutex_unlock(&ft->fm->lock);
		}
		if (ft->conn && ft->conn_origin != f->origin)
			conn_drop(ft);
		if (!ft->conn) {
			ft->conn = st_origin_connect(f->origin, f->origin->timeout_ms, err,
						     sizeof(ft->err));
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
		got = st_origin_get_range(ft->conn, f->target, first, last, ft->buf, reply,
					  &reusable, err, sizeof(ft->err));
		if (got < 0 || !reusable)
			conn_drop(ft);
		if (got >= 0 || got == -ENOENT)
			return got;
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
	if (st_meta_write(path, &f->m) == 0 && complete)
		cb_index_put(fm->ix, &f->rec);
	cb_index_unlock(fm->ix);
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
		__atomic_fetch_or(&f->obj->verified[p >> 3], (uint8_t)(1u << (p & 7)),
				  __ATOMIC_RELEASE);
		__atomic_fetch_or(&f->obj->meta.present[p >> 3], (uint8_t)(1u << (p & 7)),
				  __ATOMIC_RELEASE);
	}
	if (complete) {
		pthread_mutex_lock(&fm->lock);
		f->state = ST_FILL_DONE;
		fm->stats.fills_done++;
		unlist(fm, f);
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
	unlist(fm, f);
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

/* Revalidated: the cached version is good for another max_cache_age. */
static void refresh(struct st_fill_mgr *fm, struct st_fill *f)
{
	char path[CB_PATH_TMP];
	struct cb_index_rec cur;
	struct st_meta m;

	cb_index_lock(fm->ix);
	if (cb_index_lookup(fm->ix, f->id, &cur) == 0 && cur.gen == f->rec_in.gen &&
	    cur.shard < fm->ss->n) {
		st_path_meta(fm->ss->s[cur.shard].path, f->id, path, sizeof(path));
		if (st_meta_read(path, &m) == 0) {
			m.created = time(NULL);
			if (m.gen == cur.gen && st_meta_write(path, &m) == 0) {
				cur.created = m.created;
				cb_index_put(fm->ix, &cur);
			}
			st_meta_fini(&m);
		}
	}
	cb_index_unlock(fm->ix);
	pthread_mutex_lock(&fm->lock);
	f->state = ST_FILL_DONE;
	fm->stats.fills_done++;
	unlist(fm, f);
	pthread_mutex_unlock(&fm->lock);
	cb_info("revalidated %s: unchanged at the origin", f->key);
}

/* Opens the version to fill: a resumed one, or a new one from piece 0. */
/*
 * The shard's cache limits (published by control): a new object is stored
 * only when the sizes of everything on the shard, it included, stay under
 * them. When not, control is asked to evict and the fill waits up to 10 s.
 */
static int room_for(struct st_fill_mgr *fm, struct st_fill *f, uint64_t size, char *err,
		    size_t errlen)
{
	for (int i = 0; fm->pol && i < 200; i++) {
		int r = cb_policy_reserve(fm->pol, f->shard, size);

		if (r == 0)
			return 0;
		if (r == -EFBIG) {
			snprintf(err, errlen,
				 "cannot store: %llu bytes is more than shard %u may hold "
				 "(cache size limits)",
				 (unsigned long long)size, f->shard);
			return -1;
		}
		if (__atomic_load_n(&fm->stop, __ATOMIC_RELAXED))
			break;
		usleep(50000);
	}
	if (!fm->pol)
		return 0;
	snprintf(err, errlen, "cannot store: no room for %llu bytes on shard %u after 10 s",
		 (unsigned long long)size, f->shard);
	return -1;
}

static void do_start(struct fetcher *ft, struct st_fill *f)
{
	struct st_fill_mgr *fm = ft->fm;
	char data[CB_PATH_TMP], dir[CB_PATH_TMP], err[256];
	struct st_origin_reply reply;
	struct cb_index_rec rec, old;
	struct st_meta *m = &f->m;
	struct st_obj *obj;
	int replaced;
	long got = 0;

	if (f->resume) {
		f->shard = f->rec_in.shard;
		st_path_meta(fm->ss->s[f->shard].path, f->id, data, sizeof(data));
		if (f->shard >= fm->ss->n || st_meta_read(data, m) || m->gen != f->rec_in.gen)
			goto fail;
		st_path_data(fm->ss->s[f->shard].path, f->id, m->gen, data, sizeof(data));
		f->fd = open(data, O_RDWR | O_CLOEXEC);
		if (f->fd < 0)
			goto fail;
		rec = f->rec_in;
		f->ephemeral = m->size < fm->cfg->storage.min_file_size_to_cache;
		if (strncmp(m->etag, "\"cbx-", 5) != 0)
			memcpy(f->origin_etag, m->etag, sizeof(f->origin_etag));
	} else {
		uint32_t ps = (uint32_t)fm->cfg->storage.piece_size;

		if (!buf_for(ft, ps))
			goto fail;
		got = fetch_range(ft, f, 0, ps - 1, &reply);
		if (got < 0) {
			fill_fail(fm, f, status_of(got), false, ft->err);
			return;
		}
		if (f->revalidate && still_valid(f, &reply)) {
			refresh(fm, f);
			return;
		}
		/* MinFileSizeToCache: smaller objects pass through, nothing is kept. */
		f->ephemeral = reply.complete < fm->cfg->storage.min_file_size_to_cache;
		m->piece_size = ps;
		m->size = reply.complete;
		m->npieces = st_npieces(m->size, ps);
		if (m->npieces > ST_MAX_PIECES)
			goto fail;
		memcpy(m->id, f->id, ST_ID_LEN);
		memcpy(m->key, f->key, f->key_len);
		m->key_len = f->key_len;
		m->created = time(NULL);
		m->last_modified = reply.last_modified ? reply.last_modified : m->created;
		memcpy(m->etag, reply.etag, sizeof(m->etag));
		memcpy(f->origin_etag, reply.etag, sizeof(f->origin_etag));
		m->gen = st_new_gen(cb_index_lookup(fm->ix, f->id, &old) == 0 ? old.gen : 0);
		if (st_meta_alloc(m))
			goto fail;
		f->shard = st_shards_place(fm->ss, f->id);
		if (room_for(fm, f, m->size, err, sizeof(err)) < 0) {
			cb_warn("fill %s: %s", f->key, err);
			fill_fail(fm, f, 503, false, err);
			return;
		}
		st_path_dir(fm->ss->s[f->shard].path, f->id, dir, sizeof(dir));
		mkdir(dir, 0755);
		st_path_data(fm->ss->s[f->shard].path, f->id, m->gen, data, sizeof(data));
		f->fd = open(data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f->fd < 0 || ftruncate(f->fd, (off_t)m->size) < 0 ||
		    st_pwrite_all(f->fd, ft->buf, (size_t)got, 0))
			goto fail;
		SHA256(ft->buf, (size_t)got, m->hashes);
		m->present[0] |= 1;
		if (!m->etag[0])
			snprintf(m->etag, sizeof(m->etag), "\"cbx-%016llx\"",
				 (unsigned long long)m->gen);
		if (st_version_publish(fm->ss, fm->ix, m, f->shard, data, sizeof(data), &replaced,
				       err, sizeof(err))) {
			cb_err("fill %s: %s", f->key, err);
			goto fail;
		}
		st_index_rec_from_meta(&rec, m, f->shard);
	}
	obj = st_obj_get(fm->oc, &rec);
	if (!obj)
		goto fail;
	pthread_mutex_lock(&fm->lock);
	f->obj = obj;
	f->rec = rec;
	f->piece = calloc(m->npieces ? m->npieces : 1, 1);
	if (!f->piece) {
		pthread_mutex_unlock(&fm->lock);
		goto fail;
	}
	for (uint32_t p = 0; p < m->npieces; p++) {
		if (st_meta_has(m, p)) {
			f->piece[p] = PIECE_DONE;
			f->ndone++;
		}
	}
	f->rec.pieces_present = f->ndone;
	f->state = ST_FILL_RUNNING;
	pthread_mutex_unlock(&fm->lock);
	if (!f->resume) {
		/* Piece 0 came with the length: readers may have it now. */
		__atomic_fetch_or(&obj->verified[0], 1, __ATOMIC_RELEASE);
		pthread_mutex_lock(&fm->lock);
		fm->stats.bytes_filled += (uint64_t)got;
		pthread_mutex_unlock(&fm->lock);
	}
	cb_info("fill %s: %s, %llu bytes, %u of %u pieces present", f->key,
		f->resume ? "resumed" : "started", (unsigned long long)m->size, f->ndone,
		m->npieces);
	if (f->ndone == m->npieces) {
		meta_sync(fm, f, true);
		pthread_mutex_lock(&fm->lock);
		f->state = ST_FILL_DONE;
		fm->stats.fills_done++;
		unlist(fm, f);
		pthread_mutex_unlock(&fm->lock);
	}
	return;
fail:
	cb_err("fill %s: cannot set up the object on disk", f->key);
	fill_fail(fm, f, 502, false, "cannot set up the object on disk");
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
	SHA256(ft->buf, (size_t)got, sum);
	if (st_pwrite_all(f->fd, ft->buf, (size_t)got, first)) {
		cb_err("fill %s: writing piece %u: %s", f->key, p, strerror(errno));
		fill_fail(fm, f, 502, false, "cannot write to the shard");
		return;
	}
	memcpy(m->hashes + (size_t)p * 32, sum, 32);
	piece_landed(fm, f, p, (uint64_t)got);
}

/* Lock held: the next task, or NULL. *piece is UINT32_MAX for a start. */
static struct st_fill *pick(struct st_fill_mgr *fm, uint32_t *piece)
{
	struct st_fill *f;

	for (f = fm->fills; f; f = f->next) {
		if (f->state == ST_FILL_STARTING && !f->start_taken) {
			f->start_taken = true;
			*piece = UINT32_MAX;
			return f;
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		for (f = fm->fills; f; f = f->next) {
			if (f->state != ST_FILL_RUNNING || f->inflight >= FILL_CONNS)
				continue;
			if (pass == 0) { /* what waiting clients asked for */
				while (f->want_count) {
					uint32_t p = f->want[f->want_head];

					f->want_head = (f->want_head + 1) % WANT_MAX;
					f->want_count--;
					if (f->piece[p] == PIECE_MISSING) {
						f->piece[p] = PIECE_FETCHING;
						*piece = p;
						return f;
					}
				}
				continue;
			}
			while (f->next_seq < f->m.npieces && f->piece[f->next_seq] != PIECE_MISSING)
				f->next_seq++;
			if (f->next_seq < f->m.npieces) {
				f->piece[f->next_seq] = PIECE_FETCHING;
				*piece = f->next_seq++;
				return f;
			}
		}
	}
	return NULL;
}

static void *fetch_thread(void *arg)
{
	struct fetcher ft = {.fm = arg};
	struct st_fill_mgr *fm = ft.fm;

	pthread_mutex_lock(&fm->lock);
	while (!fm->stop) {
		uint32_t p;
		struct st_fill *f = pick(fm, &p);

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
		unref(fm, f);
		pthread_cond_broadcast(&fm->cond); /* a slot of that fill is free */
	}
	pthread_mutex_unlock(&fm->lock);
	conn_drop(&ft);
	free(ft.buf);
	return NULL;
}

struct st_fill_mgr *st_fill_mgr_new(const struct cfg *c, const struct st_shards *ss,
				    struct cb_index *ix, struct st_objcache *oc, unsigned nthreads,
				    void (*notify)(void *arg), void *arg)
{
	struct st_fill_mgr *fm = calloc(1, sizeof(*fm));

	if (!fm)
		return NULL;
	pthread_mutex_init(&fm->lock, NULL);
	pthread_cond_init(&fm->cond, NULL);
	fm->cfg = c;
	fm->ss = ss;
	fm->ix = ix;
	fm->oc = oc;
	fm->notify = notify;
	fm->notify_arg = arg;
	nthreads = CB_MAX(1u, CB_MIN(nthreads, (unsigned)MAX_THREADS));
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&fm->threads[i], NULL, fetch_thread, fm) != 0)
			break;
		fm->nthreads++;
	}
	if (!fm->nthreads) {
		st_fill_mgr_free(fm);
		errno = EAGAIN;
		return NULL;
	}
	return fm;
}

void st_fill_mgr_set_policy(struct st_fill_mgr *fm, struct cb_policy *pol)
{
	fm->pol = pol;
}

void st_fill_mgr_free(struct st_fill_mgr *fm)
{
	if (!fm)
		return;
	pthread_mutex_lock(&fm->lock);
	fm->stop = true;
	pthread_cond_broadcast(&fm->cond);
	pthread_mutex_unlock(&fm->lock);
	for (unsigned i = 0; i < fm->nthreads; i++)
		pthread_join(fm->threads[i], NULL);
	pthread_mutex_lock(&fm->lock);
	while (fm->fills) {
		struct st_fill *f = fm->fills;

		f->state = ST_FILL_FAILED;
		f->http_status = 503;
		unlist(fm, f);
	}
	pthread_mutex_unlock(&fm->lock);
	pthread_cond_destroy(&fm->cond);
	pthread_mutex_destroy(&fm->lock);
	free(fm);
}
