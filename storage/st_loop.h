/*
 * Loop prevention between caches (RFC 8586, CDN-Loop). Each box has an
 * id, "cachebox-" and 16 hex digits, made at its first start and kept in
 * <state_dir>/box-id, where an operator (and a test) can read it. A request
 * whose CDN-Loop names this box has come back to it through a chain of
 * caches (a parent whose parent is this box) and is answered 508 at once.
 * What a fill asks upstream carries the CDN-Loop ids that the request which
 * began the fill arrived with, then this box's own, so a loop of any length
 * up to ST_LOOP_HOPS is found at its first box. Only what has the shape of
 * a cdn-id is passed on (host[:port] or token characters, parameters
 * dropped, at most ST_LOOP_HOPS ids): a client cannot send other text to
 * the origin through it.
 */
#ifndef ST_LOOP_H
#define ST_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "st_http.h"

#define ST_LOOP_PREFIX	 "cachebox-"
#define ST_LOOP_ID_LEN	 25 /* the prefix and 16 lower-case hex digits */
#define ST_LOOP_HOPS	 8
#define ST_LOOP_ELEM_MAX 64 /* a longer cdn-id is not passed on */
#define ST_LOOP_MAX	 (ST_LOOP_HOPS * (ST_LOOP_ELEM_MAX + 2) + 1)

/*
 * Reads this box's id from <state_dir>/box-id, or makes one and writes it
 * there (atomically) when the file is missing or does not hold an id.
 * 0, or -errno with the reason in err.
 */
int st_loop_id_load(const char *state_dir, char id[ST_LOOP_ID_LEN + 1], char *err, size_t errlen);

/* Whether one of req's CDN-Loop fields names id. */
bool st_loop_seen(const struct st_http_req *req, const char *id);

/*
 * The CDN-Loop value for what a fill begun by req asks upstream: req's
 * cdn-ids that have the shape of one (the newest ST_LOOP_HOPS - 1), then
 * id, comma-separated, in out (cap >= ST_LOOP_MAX). req may be NULL.
 */
void st_loop_chain(const struct st_http_req *req, const char *id, char *out, size_t cap);

#endif
