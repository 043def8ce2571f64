/*
 * Fill manager (see st_fill.h): the fills, their references and states, the
 * choice of the next task and the fetch threads; what a thread does with a
 * task is in st_fill_fetch.c.
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
#include "st_fill_priv.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_object.h"
#include "st_origin.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
void st_fill_unref(struct st_fill_mgr *fm, struct st_fill *f)
{
	CB_ASSERT(f->refs > 0);
	if (--f->refs == 0)
		fill_free(fm, f);
}

/* Lock held: the fill leaves the list (DONE or FAILED); holders keep it. */
void st_fill_unlist(struct st_fill_mgr *fm, struct st_fill *f)
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
	st_fill_unref(fm, f);
}

static struct st_fill *fill_get(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
				const struct cfg_origin *origin, const char *key, size_t key_len,
				const char *target, const char *loop,
				const struct cb_index_rec *rec, bool revalidate)
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
		snprintf(f->loop, sizeof(f->loop), "%s", loop);
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
			    const char *target, const char *loop, const struct cb_index_rec *rec)
{
	return fill_get(fm, id, origin, key, key_len, target, loop, rec, false);
}

void st_fill_revalidate(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
			const struct cfg_origin *origin, const char *key, size_t key_len,
			const char *target, const char *loop, const struct cb_index_rec *rec)
{
	st_fill_put(fm, fill_get(fm, id, origin, key, key_len, target, loop, rec, true));
}

void st_fill_put(struct st_fill_mgr *fm, struct st_fill *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&fm->lock);
	st_fill_unref(fm, f);
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

/*
 * Lock held: the next task for a fetch thread, or NULL. Starts first, then
 * what waiting clients asked for, then each fill's next piece in order, at
 * most FILL_CONNS at once per fill. *piece = UINT32_MAX for a start.
 */
struct st_fill *st_fill_pick(struct st_fill_mgr *fm, uint32_t *piece)
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

struct st_fill_mgr *st_fill_mgr_new(const struct cfg *c, const struct st_shards *ss,
				    struct cb_index *ix, struct st_objcache *oc, unsigned nthreads,
				    void (*notify)(void *arg), void *arg)
{
	struct st_fill_mgr *fm = calloc(1, sizeof(*fm));
	int ret;

	if (!fm)
		return NULL;
	ret = -pthread_mutex_init(&fm->lock, NULL);
	if (ret)
		goto fail;
	ret = -pthread_cond_init(&fm->cond, NULL);
	if (ret)
		goto fail_lock;
	fm->cfg = c;
	fm->ss = ss;
	fm->ix = ix;
	fm->oc = oc;
	fm->notify = notify;
	fm->notify_arg = arg;
	nthreads = CB_MAX(1u, CB_MIN(nthreads, (unsigned)MAX_THREADS));
	for (unsigned i = 0; i < nthreads; i++) {
		ret = -pthread_create(&fm->threads[i], NULL, st_fill_thread, fm);
		if (ret)
			break;
		fm->nthreads++;
	}
	if (!fm->nthreads) {
		st_fill_mgr_free(fm); /* destroys the lock and the condition */
		errno = -ret;
		return NULL;
	}
	if (ret)
		cb_warn("fills: %u of %u fetch threads started: %s", fm->nthreads, nthreads,
			strerror(-ret));
	return fm;
fail_lock:
	pthread_mutex_destroy(&fm->lock);
fail:
	free(fm);
	errno = -ret;
	return NULL;
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
	__atomic_store_n(&fm->stop, true, __ATOMIC_RELAXED);
	/* A fetch stalled on a slow origin would hold the stop for its whole timeout. */
	for (unsigned i = 0; i < fm->nslots; i++)
		if (fm->conns[i])
			st_origin_abort(fm->conns[i]);
	pthread_cond_broadcast(&fm->cond);
	pthread_mutex_unlock(&fm->lock);
	for (unsigned i = 0; i < fm->nthreads; i++)
		pthread_join(fm->threads[i], NULL);
	pthread_mutex_lock(&fm->lock);
	while (fm->fills) {
		struct st_fill *f = fm->fills;

		f->state = ST_FILL_FAILED;
		f->http_status = 503;
		st_fill_unlist(fm, f);
	}
	pthread_mutex_unlock(&fm->lock);
	pthread_cond_destroy(&fm->cond);
	pthread_mutex_destroy(&fm->lock);
	free(fm);
}
