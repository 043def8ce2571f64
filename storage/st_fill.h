/*
 * Pull-through fills: the first request for an object of a configured
 * origin that is not (wholly) cached starts a fill; fetch threads bring its
 * pieces with ranged GETs over several keep-alive connections, hash each
 * piece as it arrives, write it to the object's data file and mark it
 * present and verified, so readers are served each piece as soon as it is
 * in (read-while-fill). One fill per object and one fetch per piece, however
 * many clients ask (coalescing). Pieces that waiting clients need are
 * fetched first; the rest of the object follows in the background.
 *
 * A fill that cannot finish (the origin failed a piece 3 times, or changed
 * the object's length or ETag) ends FAILED; the pieces already written stay
 * on disk, recorded in the metadata, and a later request resumes from them
 * (unless the object changed: then the partial version is dropped, never
 * mixed with the new one).
 */
#ifndef ST_FILL_H
#define ST_FILL_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "cb_index.h"
#include "st_object.h"
#include "st_shard.h"

enum st_fill_state {
	ST_FILL_STARTING, /* the object's length is not known yet */
	ST_FILL_RUNNING,  /* the version exists; pieces are coming */
	ST_FILL_DONE,	  /* every piece present: the object is complete */
	ST_FILL_FAILED,	  /* see st_fill_status()'s http status */
};

struct st_fill_mgr;
struct st_fill;

/*
 * Starts nthreads fetch threads. notify(arg) is called (from a fetch
 * thread, without locks held) whenever a piece lands or a fill changes
 * state. Fewer threads than asked (but one at least) is logged, not an
 * error. NULL with errno: ENOMEM, or pthread's (EAGAIN) when no thread
 * could start.
 */
struct st_fill_mgr *st_fill_mgr_new(const struct cfg *c, const struct st_shards *ss,
				    struct cb_index *ix, struct st_objcache *oc, unsigned nthreads,
				    void (*notify)(void *arg), void *arg);
struct cb_policy;
/* New objects are stored only within the shards' limits published in pol. */
void st_fill_mgr_set_policy(struct st_fill_mgr *fm, struct cb_policy *pol);
/* Stops the threads (fills in progress end FAILED) and frees everything. */
void st_fill_mgr_free(struct st_fill_mgr *fm);

/*
 * The fill of object id, joined if one runs, else started: from scratch
 * when rec is NULL, else resuming the partial version rec. origin and
 * target (origin-form path[?query] to ask the upstream for) are needed to
 * start one; with origin NULL only a running fill is joined. loop is the
 * CDN-Loop value its requests upstream carry (st_loop_chain). Returns a
 * reference (st_fill_put), or NULL if none runs and none can start.
 */
struct st_fill *st_fill_get(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
			    const struct cfg_origin *origin, const char *key, size_t key_len,
			    const char *target, const char *loop, const struct cb_index_rec *rec);
void st_fill_put(struct st_fill_mgr *fm, struct st_fill *f);

/*
 * Revalidates the complete version rec in the background (max_cache_age
 * passed): piece 0 is asked again; if the origin's length and ETag (or,
 * without ETags, Last-Modified) are unchanged the version is kept and its
 * age reset, else a new version is filled and replaces it atomically
 * (readers of the old one finish with the old bytes). Nothing if a fill of
 * the object runs already.
 */
void st_fill_revalidate(struct st_fill_mgr *fm, const uint8_t id[ST_ID_LEN],
			const struct cfg_origin *origin, const char *key, size_t key_len,
			const char *target, const char *loop, const struct cb_index_rec *rec);

/*
 * The fill's state; for RUNNING and DONE *rec is the version being filled,
 * for FAILED *http_status is 502 (bad origin answer) or 504 (timeout).
 */
enum st_fill_state st_fill_status(struct st_fill_mgr *fm, struct st_fill *f,
				  struct cb_index_rec *rec, int *http_status);
/* Why a FAILED fill failed, one line. */
void st_fill_why(struct st_fill_mgr *fm, struct st_fill *f, char *buf, size_t len);
/* Asks for pieces p0..p1 before the background order. */
void st_fill_want(struct st_fill_mgr *fm, struct st_fill *f, uint32_t p0, uint32_t p1);

struct st_fill_stats {
	uint64_t fills_started, fills_done, fills_failed;
	uint64_t origin_requests, origin_retries, bytes_filled;
};
void st_fill_stats_get(struct st_fill_mgr *fm, struct st_fill_stats *out);

#endif
