/*
 * The file server: one io_uring event loop per worker thread, each with its
 * own SO_REUSEPORT listening socket, answering the HTTP surface of
 * DESIGN.md from the cache shards. See docs/storage.md for the send paths.
 */
#ifndef ST_SERVER_H
#define ST_SERVER_H

#include <signal.h>

#include "cfg.h"
#include "cb_index.h"
#include "st_object.h"
#include "cb_policy.h"
#include "st_loop.h"
#include "st_shard.h"

struct st_server;

struct st_server_conf {
	const struct cfg *cfg;
	const struct st_shards *ss;
	struct cb_index *ix;
	struct st_objcache *oc;
	struct cb_policy *pol;		 /* slots, caps and counters shared with control */
	int access_fd;			 /* access log, O_APPEND; -1 = stderr */
	char box_id[ST_LOOP_ID_LEN + 1]; /* this box's CDN-Loop id (st_loop.h) */
};

/* Binds the listeners and starts the workers; NULL with errno (logged). */
struct st_server *st_server_start(const struct st_server_conf *conf);
/*
 * Reads [server] tls_cert and tls_key again: new connections use the new
 * certificate, established ones keep theirs. 0, or -EINVAL (logged) with
 * the old certificate still in use.
 */
int st_server_reload_tls(struct st_server *srv);
/* Asks every worker to stop, joins them and frees the server. */
void st_server_stop(struct st_server *srv);

#endif
