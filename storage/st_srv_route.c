/*
 * The file server's routing: what a parsed request names (the health
 * check, an object by content ID, its pieces list, or a URL of a
 * configured origin turned into a cache key and content ID), whether that
 * object is here, and when it is not, or not wholly, the fill that brings
 * it from its origin while the connection waits (parked). A complete
 * object past max_cache_age is served and revalidated behind the answer.
 * Never an open proxy: a URL of an origin not configured is a 404, and
 * 403 when it came in absolute form, as to a proxy (RFC 9112 §3.2.2). A
 * request that has passed through this box already is a loop: 508.
 */
#include "st_srv.h"

#include "cb_log.h"
#include "st_format.h"
#include "st_rebuild.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The host[:port] in hp[0..*hl) without its port ([v6] literals are kept whole). */
static void strip_port(const char *hp, size_t *hl)
{
	const char *colon;

	if (*hl && hp[0] != '[') {
		colon = memchr(hp, ':', *hl);
		if (colon)
			*hl = (size_t)(colon - hp);
	}
}

/*
 * The origin host a request names: the absolute form's authority (Host is
 * then ignored, RFC 9112 §3.2.2), else cacheHostOrigin (the connected-cache
 * form), else Host (the DNS-redirect form). host is the buffer for the
 * decoded cacheHostOrigin.
 */
static void origin_host(const struct st_http_req *req, const struct st_target *t, char *host,
			size_t cap, const char **hp, size_t *hl)
{
	int n = -1;

	if (req->authority.len) {
		*hp = req->authority.p;
		*hl = req->authority.len;
		strip_port(*hp, hl);
		return;
	}
	if (t->query)
		n = st_url_query_param(t->query, t->query_len, "cacheHostOrigin", host, cap);
	if (n > 0) {
		*hp = host;
		*hl = (size_t)n;
		return;
	}
	*hp = req->host.p;
	*hl = req->host.len;
	strip_port(*hp, hl);
}

/* The box's own paths (health, content ID, pieces list); 0, a status, or -1 for none. */
static int own_path(const struct st_target *t, uint8_t id[ST_ID_LEN], enum req_kind *kind)
{
	if (t->path_len == 17 && memcmp(t->path, "/_cachebox/health", 17) == 0) {
		*kind = REQ_HEALTH;
		return 0;
	}
	if (t->path_len == 19 + ST_ID_HEX && memcmp(t->path, "/_cachebox/content/", 19) == 0)
		return cb_hex_decode(t->path + 19, ST_ID_HEX, id) ? 404 : 0;
	if (t->path_len == 18 + ST_ID_HEX && memcmp(t->path, "/_cachebox/pieces/", 18) == 0) {
		*kind = REQ_PIECES;
		return cb_hex_decode(t->path + 18, ST_ID_HEX, id) ? 404 : 0;
	}
	if (t->path_len >= 11 && memcmp(t->path, "/_cachebox/", 11) == 0)
		return 404;
	return -1;
}

/* Resolves the request to a content ID; 0, or an HTTP status to answer. */
static int resolve_id(struct worker *w, struct conn *c, const struct st_http_req *req,
		      uint8_t id[ST_ID_LEN], enum req_kind *kind)
{
	const struct cfg *cfg = w->srv->conf.cfg;
	char key[ST_KEY_MAX], host[CFG_HOST_MAX];
	const struct cfg_origin *o;
	struct st_target t;
	const char *hp;
	size_t hl;
	int n;

	if (st_url_split(req->target.p, req->target.len, &t) < 0)
		return 400;
	*kind = REQ_OBJECT;
	/* In absolute form the path is the origin's: /_cachebox/ there is an object too. */
	if (!req->authority.len && (n = own_path(&t, id, kind)) >= 0)
		return n;
	origin_host(req, &t, host, sizeof(host), &hp, &hl);
	o = hl ? cfg_origin_find(cfg, hp, hl) : NULL;
	if (!o)
		return req->authority.len ? 403 : 404; /* never an open proxy */
	n = st_cache_key(o->host, strlen(o->host), t.path, t.path_len, t.query, t.query_len,
			 o->key_query_keep, key, sizeof(key));
	if (n < 0)
		return 400;
	st_content_id(key, (size_t)n, id);
	/* Kept for a fill: the key names the object at its origin too. */
	free(c->miss_key);
	c->miss_key = malloc((size_t)n + 1);
	if (c->miss_key) {
		memcpy(c->miss_key, key, (size_t)n + 1);
		c->miss_key_len = (uint16_t)n;
		c->miss_host_len = (uint16_t)strlen(o->host);
	}
	return 0;
}

/*
 * Where the object of this request lives upstream: its configured origin
 * (NULL if none, or if the request is our own come back), its cache key and
 * the target to ask for. From the request's URL, or for the peer-cache form
 * from the object's metadata.
 */
static const struct cfg_origin *upstream_of(struct worker *w, struct conn *c,
					    const struct st_obj *o, const char **key, size_t *klen,
					    char *target, size_t tcap)
{
	const struct cfg_origin *origin = NULL;
	size_t hlen = c->miss_host_len;
	const char *slash;

	*key = c->miss_key;
	*klen = c->miss_key_len;
	if (!*key && o) {
		*key = o->meta.key;
		*klen = o->meta.key_len;
		slash = memchr(*key, '/', *klen);
		hlen = slash ? (size_t)(slash - *key) : *klen;
	}
	if (*key && hlen < *klen)
		origin = cfg_origin_find(w->srv->conf.cfg, *key, hlen);
	snprintf(target, tcap, "%.*s", (int)(*klen - hlen), *key ? *key + hlen : "");
	return origin;
}

/*
 * The fill that can bring the missing pieces of o (or of the object the
 * request named, when o is NULL): a running one is joined; else one starts
 * if the object's origin is configured. NULL if none can.
 */
struct st_fill *st_srv_fill_for(struct worker *w, struct conn *c, const uint8_t id[ST_ID_LEN],
				const struct cb_index_rec *rec, const struct st_obj *o)
{
	const struct cfg_origin *origin;
	char target[ST_KEY_MAX], loop[ST_LOOP_MAX];
	const char *key;
	size_t klen;

	if (c->fill)
		return c->fill;
	origin = upstream_of(w, c, o, &key, &klen, target, sizeof(target));
	st_loop_chain(&c->req, w->srv->conf.box_id, loop, sizeof(loop));
	c->fill = st_fill_get(w->srv->fm, id, origin, key, klen, target, loop, rec);
	return c->fill;
}

/* Whether the piece holding byte off is present and verified. */
static bool first_byte_ready(const struct st_obj *o, uint64_t off)
{
	uint32_t p = (uint32_t)(off / o->piece_size);

	return o->size == 0 ||
	       (__atomic_load_n(&o->verified[p >> 3], __ATOMIC_ACQUIRE) & (1u << (p & 7)));
}

/*
 * Never a byte that is not present and verified: pieces present on disk
 * are hashed now if this process has not yet; missing ones are asked
 * from the fill. The answer starts once its first byte is here; later
 * pieces are waited for while sending (read-while-fill).
 */
bool st_srv_route_ranges(struct worker *w, struct conn *c, const struct cb_index_rec *orec,
			 struct st_obj *o, const struct st_range *r, unsigned n, bool *missing)
{
	struct cb_index_rec frec;
	int fstatus = 0;

	*missing = false;
	for (unsigned i = 0; i < n; i++) {
		if (st_srv_scratch_for(w, o->piece_size) &&
		    st_obj_verify(w->srv->conf.oc, o, r[i].first, r[i].last, w->scratch) == 0)
			continue;
		*missing = true;
		if (!st_srv_fill_for(w, c, o->id, orec, o))
			break;
		st_fill_want(w->srv->fm, c->fill, (uint32_t)(r[i].first / o->piece_size),
			     (uint32_t)(r[i].last / o->piece_size));
	}
	if (*missing &&
	    (!c->fill || st_fill_status(w->srv->fm, c->fill, &frec, &fstatus) == ST_FILL_FAILED)) {
		bool failed = c->fill != NULL;

		c->result = RESULT_MISS;
		c->obj = NULL;
		st_obj_put(w->srv->conf.oc, o);
		if (failed)
			st_srv_resp_fill_failed(w, c, fstatus, false);
		else
			st_srv_resp_simple(w, c, 404, "cachebox; fwd=miss; detail=incomplete",
					   "404 object not cached\n", false);
		return false;
	}
	if (*missing && !first_byte_ready(o, n ? r[0].first : 0)) {
		c->obj = NULL;
		st_obj_put(w->srv->conf.oc, o);
		st_srv_park(w, c, PARK_REQ);
		return false;
	}
	return true;
}

/* A complete object older than max_cache_age: served, and revalidated behind. */
static void maybe_revalidate(struct worker *w, struct conn *c, const struct cb_index_rec *rec,
			     const struct st_obj *o)
{
	uint64_t age_ms = w->srv->conf.cfg->storage.max_cache_age_ms;
	const struct cfg_origin *origin;
	char target[ST_KEY_MAX], loop[ST_LOOP_MAX];
	const char *key;
	size_t klen;

	if (!age_ms || !(rec->flags & ST_META_COMPLETE) || w->date_sec <= rec->created ||
	    (uint64_t)(w->date_sec - rec->created) * 1000 < age_ms)
		return;
	origin = upstream_of(w, c, o, &key, &klen, target, sizeof(target));
	st_loop_chain(&c->req, w->srv->conf.box_id, loop, sizeof(loop));
	if (origin)
		st_fill_revalidate(w->srv->fm, rec->id, origin, key, klen, target, loop, rec);
}

void st_srv_park(struct worker *w, struct conn *c, enum conn_park how)
{
	c->park = how;
	c->state = CS_SEND;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
}

/*
 * A request begins (or, parked, begins again): its clock starts once, and
 * its method is kept. It is counted when its access-log line is written.
 */
static void request_begin(struct conn *c, const struct st_http_req *req)
{
	if (c->park == PARK_NONE)
		c->t_start = cb_now_ns();
	c->park = PARK_NONE;
	snprintf(c->method, sizeof(c->method), "%.*s", (int)CB_MIN(req->method_str.len, 7),
		 req->method_str.p);
	if (!req->keep_alive)
		c->want_close = true;
}

/*
 * The object is not here: the fill that brings it, if its origin is
 * known. The object (its reference is the caller's) once the fill has
 * begun it; NULL when c was answered (404, 508, the origin's failure) or
 * parked until the origin tells the length.
 */
static struct st_obj *request_miss(struct worker *w, struct conn *c, const uint8_t id[ST_ID_LEN],
				   enum req_kind kind, bool head, struct cb_index_rec *rec)
{
	enum st_fill_state fs = ST_FILL_FAILED;
	struct st_obj *o = NULL;
	int fstatus = 404;

	c->was_miss = true;
	if (kind == REQ_OBJECT && st_srv_fill_for(w, c, id, NULL, NULL))
		fs = st_fill_status(w->srv->fm, c->fill, rec, &fstatus);
	if (fs == ST_FILL_STARTING) {
		st_srv_park(w, c, PARK_REQ); /* until the origin told the length */
		return NULL;
	}
	if (fs != ST_FILL_FAILED)
		o = st_obj_get(w->srv->conf.oc, rec);
	if (!o) {
		c->result = RESULT_MISS;
		if (fstatus >= 403 && c->fill)
			st_srv_resp_fill_failed(w, c, fstatus, head);
		else
			st_srv_resp_simple(w, c, 404, "cachebox; fwd=miss",
					   "404 object not cached\n", head);
		return NULL;
	}
	c->result = RESULT_MISS;
	return o;
}

/*
 * RFC 9110 §9.1: a method the server knows but the target does not
 * support is 405 (with Allow), one it does not recognise is 501. Method
 * names are case-sensitive, so "get" is unrecognised. Known: the methods
 * of RFC 9110 §9.3 and PATCH (RFC 5789).
 */
static bool method_known(const struct st_http_str *m)
{
	static const char *const known[] = {"POST",    "PUT",	"DELETE", "CONNECT",
					    "OPTIONS", "TRACE", "PATCH"};

	for (size_t i = 0; i < CB_ARRAY_SIZE(known); i++) {
		if (m->len == strlen(known[i]) && memcmp(m->p, known[i], m->len) == 0)
			return true;
	}
	return false;
}

/*
 * The indexed object, opened; NULL (and rec's lookup failed or the object
 * cannot be opened) for a miss. An entry whose files do not open is
 * checked against its metadata once (st_index_reconcile: a writer that
 * died mid-commit leaves them disagreeing) and looked up again.
 */
static struct st_obj *lookup_obj(struct worker *w, const uint8_t id[ST_ID_LEN],
				 struct cb_index_rec *rec)
{
	const struct st_server_conf *conf = &w->srv->conf;
	struct st_obj *o;

	if (cb_index_lookup(conf->ix, id, rec) < 0)
		return NULL;
	o = st_obj_get(conf->oc, rec);
	if (o || errno == ENOMEM || errno == EMFILE || errno == ENFILE)
		return o;
	if (st_index_reconcile(conf->ix, conf->ss, id) != 1 ||
	    cb_index_lookup(conf->ix, id, rec) < 0)
		return NULL;
	return st_obj_get(conf->oc, rec);
}

void st_srv_request_handle(struct worker *w, struct conn *c, const struct st_http_req *req)
{
	struct cb_index *ix = w->srv->conf.ix;
	bool head = req->method == ST_HTTP_HEAD;
	struct cb_index_rec rec;
	uint8_t id[ST_ID_LEN];
	struct st_obj *o;
	enum req_kind kind;
	int status;

	request_begin(c, req);
	if (req->method == ST_HTTP_OTHER || req->method == ST_HTTP_CONNECT) {
		/*
		 * After a CONNECT the client may send a tunnel's bytes, after a PUT
		 * or an unknown method whatever it meant: never read them as HTTP.
		 */
		st_srv_resp_error(w, c, method_known(&req->method_str) ? 405 : 501, true);
		return;
	}
	if (st_loop_seen(req, w->srv->conf.box_id)) {
		st_srv_resp_error(w, c, 508, false);
		return;
	}
	status = resolve_id(w, c, req, id, &kind);
	if (status == 403) {
		st_srv_resp_simple(w, c, 403, "cachebox; fwd=bypass; detail=not-an-origin",
				   "403 Forbidden: not an origin this cache serves "
				   "(cachebox is not an open proxy)\n",
				   head);
		return;
	}
	if (status) {
		st_srv_resp_error(w, c, status, status == 400);
		return;
	}
	if (kind == REQ_HEALTH) {
		st_srv_resp_simple(w, c, 200, NULL, "ok\n", head);
		return;
	}
	if (!st_srv_admit(w, c, head))
		return;
	cb_hex_encode(id, ST_ID_LEN, c->id_hex);
	o = lookup_obj(w, id, &rec);
	if (!o) {
		o = request_miss(w, c, id, kind, head, &rec);
		if (!o)
			return;
	}
	st_srv_date_refresh(w);
	cb_index_touch(ix, id, w->date_sec);
	if (kind == REQ_OBJECT)
		maybe_revalidate(w, c, &rec, o);
	if (kind == REQ_PIECES)
		st_srv_resp_pieces(w, c, o, head);
	else
		st_srv_resp_object(w, c, req, &rec, o, head);
}
