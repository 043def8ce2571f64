/*
 * What the fill manager (st_fill.c: fills, their references and states,
 * the choice of the next task, the threads) shares with the fetch side
 * (st_fill_fetch.c: what a fetch thread does with a task: start a fill,
 * fetch and land one piece, fail or refresh a fill). Only those two files
 * include it.
 */
#ifndef ST_FILL_PRIV_H
#define ST_FILL_PRIV_H

#include "st_fill.h"

#include "cb_index.h"
#include "st_format.h"
#include "st_loop.h"

#include <pthread.h>

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
	char loop[ST_LOOP_MAX]; /* CDN-Loop, from the request that began it */
	unsigned refs;		/* holders: the list while active, clients, running tasks */
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
	struct st_origin_conn *conns[MAX_THREADS]; /* each fetch thread's open one, or NULL */
	unsigned nslots;			   /* fetch threads that took a conns slot */
	const struct cfg *cfg;
	const struct st_shards *ss;
	struct cb_index *ix;
	struct st_objcache *oc;
	void (*notify)(void *);
	void *notify_arg;
	struct st_fill_stats stats;
	struct cb_policy *pol; /* the shards' space limits; NULL = none */
};

/* Lock held: drops a reference; the last one frees the fill. */
void st_fill_unref(struct st_fill_mgr *fm, struct st_fill *f);
/* Lock held: the fill leaves the list (DONE or FAILED); holders keep it. */
void st_fill_unlist(struct st_fill_mgr *fm, struct st_fill *f);
struct st_fill *st_fill_pick(struct st_fill_mgr *fm, uint32_t *piece);
void *st_fill_thread(void *arg);

#endif
