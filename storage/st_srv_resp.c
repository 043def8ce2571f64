/*
 * The file server's responses: the status line and headers every answer
 * carries, the small text answers (errors, health, busy), and the answers
 * for an object: 200, 206 with one range, 206 multipart/byteranges, 416,
 * and the pieces list. A response is built into c->out as a list of
 * segments, memory (the head, separators, small bodies) or file ranges
 * that st_srv_send.c sends from the object's file without a copy.
 */
#include "st_srv.h"

#include "cb_log.h"
#include "st_format.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void st_srv_date_refresh(struct worker *w)
{
	time_t now = time(NULL);

	if (now != w->date_sec) {
		w->date_sec = now;
		st_http_date_format(now, w->date);
	}
}

static int out_reserve(struct conn *c, size_t more)
{
	size_t need = c->out_len + more, cap = c->out_cap ? c->out_cap : 4096;
	char *p;

	if (need <= c->out_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

static void out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->out_oom)
		return;
	for (int tries = 0; tries < 2; tries++) {
		size_t room = c->out_cap - c->out_len;

		va_start(ap, fmt);
		n = vsnprintf(c->out + c->out_len, room, fmt, ap);
		va_end(ap);
		CB_ASSERT(n >= 0);
		if ((size_t)n < room) {
			c->out_len += (size_t)n;
			return;
		}
		if (out_reserve(c, (size_t)n + 1) < 0) {
			c->out_oom = true; /* st_srv_send_next closes instead of sending */
			return;
		}
	}
}

static void seg_mem(struct conn *c, size_t from)
{
	struct seg *s;

	if (c->out_len == from)
		return;
	/* Merge with a previous memory segment that ends here. */
	if (c->nseg && !c->segs[c->nseg - 1].file &&
	    c->segs[c->nseg - 1].off + c->segs[c->nseg - 1].len == from) {
		c->segs[c->nseg - 1].len += c->out_len - from;
		return;
	}
	CB_ASSERT(c->nseg < MAX_SEGS);
	s = &c->segs[c->nseg++];
	s->file = false;
	s->off = from;
	s->len = c->out_len - from;
}

static void seg_file(struct conn *c, uint64_t off, uint64_t len)
{
	struct seg *s;

	CB_ASSERT(c->nseg < MAX_SEGS);
	s = &c->segs[c->nseg++];
	s->file = true;
	s->off = off;
	s->len = len;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	case 508:
		return "Loop Detected";
	default:
		return "Unknown";
	}
}

static void status_line(struct worker *w, struct conn *c, int status)
{
	st_srv_date_refresh(w);
	c->status = status;
	out_printf(c, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: cachebox\r\n", status, reason(status),
		   w->date);
	if (c->want_close)
		out_printf(c, "Connection: close\r\n");
}

/* A small text answer (errors, health). */
void st_srv_resp_simple(struct worker *w, struct conn *c, int status, const char *cstatus,
			const char *body, bool head)
{
	size_t blen = strlen(body), from = c->out_len;

	status_line(w, c, status);
	if (status == 405)
		out_printf(c, "Allow: GET, HEAD\r\n");
	out_printf(c, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", blen);
	if (cstatus)
		out_printf(c, "Cache-Status: %s\r\n", cstatus);
	out_printf(c, "\r\n");
	if (!head) {
		out_printf(c, "%s", body);
		c->body_len = c->body_sent = blen;
	}
	seg_mem(c, from);
}

void st_srv_resp_error(struct worker *w, struct conn *c, int status, bool close_after)
{
	char body[64];

	if (close_after)
		c->want_close = true;
	snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	st_srv_resp_simple(w, c, status, "cachebox; fwd=bypass", body, false);
}

static void validators(struct conn *c, const struct st_obj *o)
{
	char lm[30];

	out_printf(c, "Accept-Ranges: bytes\r\n");
	if (o->etag[0])
		out_printf(c, "ETag: %s\r\n", o->etag);
	st_http_date_format(o->last_modified, lm);
	out_printf(c, "Last-Modified: %s\r\n", lm);
}

static uint64_t rng_next(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

/* The answer when the fill failed: 502/504 with the reason, one line. */
void st_srv_resp_fill_failed(struct worker *w, struct conn *c, int status, bool head)
{
	char why[256], body[300];

	st_fill_why(w->srv->fm, c->fill, why, sizeof(why));
	snprintf(body, sizeof(body), "%d %s: %s\n", status,
		 status == 404	 ? "not at the origin"
		 : status == 403 ? "refused by the origin"
		 : status == 503 ? "cache full"
				 : "origin failed",
		 why);
	st_srv_resp_simple(w, c, status, "cachebox; fwd=miss; detail=origin-failed", body, head);
}

static const char *cache_status(const struct conn *c)
{
	switch (c->result) {
	case RESULT_MISS:
		return "cachebox; fwd=miss";
	case RESULT_PARTIAL:
		return "cachebox; fwd=partial";
	default:
		return "cachebox; hit";
	}
}

/*
 * The ranges the request asks for (RFC 9110 §14.2; If-Range §13.1.5), or
 * the whole object as one range when it asks none; *n is their count. The
 * Range value is kept for the access log, without its blanks, capped.
 */
static enum st_range_result object_ranges(struct conn *c, const struct st_http_req *req,
					  const struct st_obj *o, struct st_range *r, unsigned *n)
{
	enum st_range_result rr = ST_RANGE_NONE;

	*n = 0;
	if (req->range.len &&
	    (!req->if_range.len ||
	     st_range_if_range(req->if_range.p, req->if_range.len, o->etag, o->last_modified) == 1))
		rr = st_range_parse(req->range.p, req->range.len, o->size, r, n);
	if (req->range.len) {
		size_t dl = 0;

		for (size_t k = 0; k < req->range.len && dl + 1 < sizeof(c->range_desc); k++)
			if (req->range.p[k] != ' ' && req->range.p[k] != '\t')
				c->range_desc[dl++] = req->range.p[k];
		c->range_desc[dl] = '\0';
	}
	if (rr == ST_RANGE_NONE) {
		*n = o->size ? 1 : 0;
		r[0].first = 0;
		r[0].last = o->size ? o->size - 1 : 0;
	}
	return rr;
}

/* The end of every object answer's head: validators and Cache-Status. */
static void object_head_end(struct conn *c, const struct st_obj *o, size_t from, bool seg)
{
	validators(c, o);
	out_printf(c, "Cache-Status: %s\r\n\r\n", cache_status(c));
	if (seg)
		seg_mem(c, from);
}

static void object_416(struct worker *w, struct conn *c, const struct st_obj *o, size_t from)
{
	c->result = RESULT_HIT;
	status_line(w, c, 416);
	out_printf(c, "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n",
		   (unsigned long long)o->size);
	object_head_end(c, o, from, true);
}

static void object_200(struct worker *w, struct conn *c, const struct st_obj *o, size_t from,
		       bool head)
{
	status_line(w, c, 200);
	out_printf(c, "Content-Type: application/octet-stream\r\nContent-Length: %llu\r\n",
		   (unsigned long long)o->size);
	object_head_end(c, o, from, true);
	c->body_len = o->size;
	if (!head && o->size)
		seg_file(c, 0, o->size);
}

static void object_206(struct worker *w, struct conn *c, const struct st_obj *o,
		       const struct st_range *r, size_t from, bool head)
{
	uint64_t len = r->last - r->first + 1;

	status_line(w, c, 206);
	out_printf(c,
		   "Content-Type: application/octet-stream\r\nContent-Length: %llu\r\n"
		   "Content-Range: bytes %llu-%llu/%llu\r\n",
		   (unsigned long long)len, (unsigned long long)r->first,
		   (unsigned long long)r->last, (unsigned long long)o->size);
	object_head_end(c, o, from, true);
	c->body_len = len;
	if (!head)
		seg_file(c, r->first, len);
}

/* The head of one part of a multipart/byteranges body, into buf; its length. */
static int part_head(char *buf, size_t cap, const char *boundary, const struct st_range *r,
		     uint64_t size)
{
	return snprintf(buf, cap,
			"\r\n--%s\r\nContent-Type: application/octet-stream\r\n"
			"Content-Range: bytes %llu-%llu/%llu\r\n\r\n",
			boundary, (unsigned long long)r->first, (unsigned long long)r->last,
			(unsigned long long)size);
}

/* multipart/byteranges (RFC 9110 §14.6): the length is known in advance. */
static void object_multipart(struct worker *w, struct conn *c, const struct st_obj *o,
			     const struct st_range *r, unsigned n, size_t from, bool head)
{
	char boundary[40], part[192]; /* a part head is at most 159 bytes */
	uint64_t total = 0;
	size_t body_from;

	snprintf(boundary, sizeof(boundary), "cachebox-%016llx", (unsigned long long)rng_next(w));
	for (unsigned i = 0; i < n; i++) {
		total += (uint64_t)part_head(part, sizeof(part), boundary, &r[i], o->size);
		total += r[i].last - r[i].first + 1;
	}
	total += strlen(boundary) + 8; /* "\r\n--" boundary "--\r\n" */
	status_line(w, c, 206);
	out_printf(c,
		   "Content-Type: multipart/byteranges; boundary=%s\r\n"
		   "Content-Length: %llu\r\n",
		   boundary, (unsigned long long)total);
	object_head_end(c, o, from, false);
	c->body_len = total;
	if (head) {
		seg_mem(c, from);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		body_from = c->out_len;
		CB_ASSERT(part_head(part, sizeof(part), boundary, &r[i], o->size) <
			  (int)sizeof(part));
		out_printf(c, "%s", part);
		seg_mem(c, i == 0 ? from : body_from);
		seg_file(c, r[i].first, r[i].last - r[i].first + 1);
	}
	body_from = c->out_len;
	out_printf(c, "\r\n--%s--\r\n", boundary);
	seg_mem(c, body_from);
}

void st_srv_resp_object(struct worker *w, struct conn *c, const struct st_http_req *req,
			const struct cb_index_rec *orec, struct st_obj *o, bool head)
{
	struct st_range r[ST_RANGE_MAX];
	enum st_range_result rr;
	size_t from = c->out_len;
	bool missing = false;
	unsigned n;

	c->obj = o;
	c->orec = *orec;
	rr = object_ranges(c, req, o, r, &n);
	if (rr == ST_RANGE_UNSATISFIABLE) {
		object_416(w, c, o, from);
		return;
	}
	if (!head) {
		if (!st_srv_route_ranges(w, c, orec, o, r, n, &missing))
			return; /* answered, or parked until the first byte is here */
		if (c->result == RESULT_NONE)
			c->result = c->was_miss ? RESULT_MISS
				    : missing	? RESULT_PARTIAL
						: RESULT_HIT;
	}
	if (c->result == RESULT_NONE)
		c->result = c->was_miss ? RESULT_MISS : RESULT_HIT;
	if (rr == ST_RANGE_NONE)
		object_200(w, c, o, from, head);
	else if (n == 1)
		object_206(w, c, o, &r[0], from, head);
	else
		object_multipart(w, c, o, r, n, from, head);
}

/* /_cachebox/pieces/<id>: the documented text format (docs/storage.md). */
void st_srv_resp_pieces(struct worker *w, struct conn *c, struct st_obj *o, bool head)
{
	size_t from = c->out_len, body_from;
	char hex[65];

	c->obj = o;
	c->result = RESULT_HIT;
	status_line(w, c, 200);
	out_printf(c, "Content-Type: text/plain\r\nContent-Length: ");
	/* Fixed-width length, patched once the body is written. */
	size_t len_at = c->out_len;

	out_printf(c, "%020llu\r\nCache-Status: cachebox; hit\r\n", 0ull);
	validators(c, o);
	out_printf(c, "\r\n");
	body_from = c->out_len;
	out_printf(c, "cachebox-pieces 1\nsize %llu\npiece_size %u\npieces %u\n",
		   (unsigned long long)o->size, o->piece_size, o->npieces);
	if (out_reserve(c, (size_t)o->npieces * 66) < 0)
		c->out_oom = true;
	for (uint32_t p = 0; p < o->npieces; p++) {
		if (st_obj_present(o, (uint64_t)p * o->piece_size, (uint64_t)p * o->piece_size)) {
			cb_hex_encode(o->meta.hashes + (size_t)p * 32, 32, hex);
			out_printf(c, "%s\n", hex);
		} else {
			out_printf(c, "-\n");
		}
	}
	c->body_len = c->out_len - body_from;
	{
		char num[21];

		snprintf(num, sizeof(num), "%020llu", (unsigned long long)c->body_len);
		if (!c->out_oom)
			memcpy(c->out + len_at, num, 20);
	}
	if (head)
		c->out_len = body_from;
	else
		c->body_sent = c->body_len;
	seg_mem(c, from);
}

void st_srv_resp_busy(struct worker *w, struct conn *c, bool head, uint64_t retry_s,
		      const char *why)
{
	size_t from = c->out_len;
	char body[128];
	int blen = snprintf(body, sizeof(body), "503 %s\n", why);

	status_line(w, c, 503);
	out_printf(c,
		   "Retry-After: %llu\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		   "Cache-Status: cachebox; fwd=bypass\r\n\r\n",
		   (unsigned long long)retry_s, blen);
	if (!head) {
		out_printf(c, "%s", body);
		c->body_len = c->body_sent = (uint64_t)blen;
	}
	seg_mem(c, from);
}
