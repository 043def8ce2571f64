/*
 * The HTTP client cachebox uses towards origins: one keep-alive connection
 * to a configured upstream, ranged GETs whose answers are checked before a
 * byte of them is trusted. The request carries only what cachebox chooses:
 * method, path, Host (the origin's name; through a proxy, the absolute
 * form's authority), Range, and CDN-Loop (loop protection, st_loop.h). Blocking sockets with
 * timeouts: the callers are fill threads, never an event loop. Plain HTTP for now; TLS comes next.
 */
#ifndef ST_ORIGIN_H
#define ST_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "st_format.h"

struct st_origin_conn;

struct st_origin_reply {
	uint64_t first, last, complete; /* from Content-Range */
	char etag[ST_ETAG_MAX];		/* as sent, with quotes; empty if none */
	int64_t last_modified;		/* unix seconds, 0 if none */
};

/*
 * Makes OpenSSL load what every origin context needs (its method tables,
 * the cipher list) once, at start: OpenSSL 3 loads them on first use and
 * an allocation failing there left every later context "no cipher match"
 * for the life of the process. Run before serving, where a failure is a
 * clean exit and a restart. 0 or -ENOMEM (reason in err).
 */
int st_origin_tls_warm(char *err, size_t errlen);

/*
 * Connects to o's upstream (or its proxy). timeout_ms bounds the connect
 * and every later read or write. NULL with errno and a reason in err.
 */
struct st_origin_conn *st_origin_connect(const struct cfg_origin *o, uint64_t timeout_ms, char *err,
					 size_t errlen);
void st_origin_close(struct st_origin_conn *c);
/*
 * From another thread: shuts c down so that a read or write its owner is
 * blocked in returns at once (the owner then gets an error and closes it).
 * The caller must know c is still open, e.g. by holding the lock under
 * which its owner publishes and withdraws it (st_fill.c).
 */
void st_origin_abort(struct st_origin_conn *c);

/*
 * GET target (origin-form path and query) with Range: bytes=first-last and
 * CDN-Loop: loop (RFC 8586; st_loop.h),
 * reading the body into buf (last - first + 1 bytes). The answer must be a
 * 206 whose Content-Range is exactly first-last (or, when want_complete is
 * 0, first-min(last, length-1)) and whose Content-Length matches; anything
 * else (another status, 200 for a range, a short or long body, a stall past
 * the timeout, a reset) is an error: -ENOENT (404 or 410: the origin has no
 * such object), -EPROTO (misbehaving origin),
 * -ETIMEDOUT, -ECONNRESET or another -errno, with a reason in err. On
 * error the connection must be closed; on success it can be reused if
 * *reusable. Returns the body length on success.
 */
long st_origin_get_range(struct st_origin_conn *c, const char *target, const char *loop,
			 uint64_t first, uint64_t last, uint8_t *buf, struct st_origin_reply *reply,
			 int *reusable, char *err, size_t errlen);

#endif
