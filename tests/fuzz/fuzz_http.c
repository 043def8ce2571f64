/*
 * libFuzzer target for st_http: parses the input as a stream of pipelined
 * request heads, feeds each announced chunked body to the decoder in
 * pieces, and runs the IMF-fixdate parser. The input is copied into an
 * exact-size heap buffer so ASan reports any read past its end. Besides
 * "no crash" it checks the parser's own promises: a head is
 * self-delimiting, -2 only below the head limit, pointers inside the input.
 * And that a stream cut into segments parses as the whole does: the file
 * server appends each read to its input buffer and parses again from the
 * start of the pending request (st_srv_conn.c), so every segment boundary
 * is a call on a prefix. Replaying the input that way, with cut points read
 * from the input itself (its bytes from the end, one segment length each)
 * and, for short inputs, after every byte, must give each request the
 * whole pass's result, status, fields and consumed length, and a prefix may
 * say -2 only while it is shorter than its head.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_req(const struct st_http_req *req, const char *buf, size_t n)
{
	bool root = req->authority.len && req->target.len == 1 && req->target.p[0] == '/';

	/* In buf, but for the "/" an absolute form without a path stands for. */
	CB_ASSERT(root || (req->target.p >= buf && req->target.p + req->target.len <= buf + n));
	CB_ASSERT(req->target.len >= 1 && req->target.len <= ST_HTTP_MAX_URI);
	CB_ASSERT(req->method == ST_HTTP_CONNECT || req->target.p[0] == '/');
	CB_ASSERT(req->authority.len == 0 ||
		  (req->authority.p >= buf && req->authority.p + req->authority.len <= buf + n &&
		   req->authority.len <= 255 && req->method != ST_HTTP_CONNECT &&
		   memchr(req->authority.p, '@', req->authority.len) == NULL));
	CB_ASSERT(req->nhdrs <= ST_HTTP_MAX_HEADERS);
	CB_ASSERT(req->minor == 0 || req->minor == 1);
	CB_ASSERT(!(req->chunked && req->has_content_length));
	for (unsigned i = 0; i < req->nhdrs; i++) {
		const struct st_http_hdr *h = &req->hdrs[i];

		CB_ASSERT(h->name.len > 0);
		CB_ASSERT(h->name.p >= buf && h->name.p + h->name.len <= buf + n);
		CB_ASSERT(h->value.p >= buf && h->value.p + h->value.len <= buf + n);
		CB_ASSERT(st_http_find(req, "host") == NULL || req->host.p != NULL);
	}
}

/* Feeds body[0..len) to the chunked decoder in pieces cut at a few offsets. */
static size_t feed_chunked(const char *body, size_t len, uint8_t cut)
{
	struct st_http_chunked c;
	bool done = false;
	size_t off = 0;

	st_http_chunked_init(&c);
	while (off < len && !done) {
		size_t piece = CB_MIN(len - off, (size_t)cut + 1);
		char *copy = malloc(piece);
		long n;

		memcpy(copy, body + off, piece);
		n = st_http_chunked_feed(&c, copy, piece, &done);
		free(copy);
		if (n < 0)
			return len; /* bad framing: the connection would be closed */
		CB_ASSERT((size_t)n <= piece);
		CB_ASSERT(done || (size_t)n == piece);
		off += (size_t)n;
	}
	return off;
}

#define MAX_ROUNDS	 64
#define ALL_CUTS_MAX_LEN 512 /* inputs this short are also cut after every byte */

/* One request of the whole pass: where it starts, what parsing it gave. */
struct round {
	size_t off;
	int n, status;
	size_t body; /* bytes after the head the pass skipped as its body */
	struct st_http_req req;
};

static struct round rounds[MAX_ROUNDS];

/* a and b say the same thing, a pointing into abase[0..alen), b into bbase. */
static void str_same(const struct st_http_str *a, const char *abase, size_t alen,
		     const struct st_http_str *b, const char *bbase)
{
	uintptr_t ap = (uintptr_t)a->p, ab = (uintptr_t)abase;

	CB_ASSERT(a->len == b->len);
	CB_ASSERT((a->p == NULL) == (b->p == NULL));
	if (a->p == NULL)
		return;
	if (ap >= ab && ap <= ab + alen)
		CB_ASSERT(ap - ab == (uintptr_t)b->p - (uintptr_t)bbase);
	else
		CB_ASSERT(a->p == b->p); /* the parser's own "/" of an absolute form */
}

static void req_same(const struct st_http_req *a, const char *abase, size_t alen,
		     const struct st_http_req *b, const char *bbase)
{
	CB_ASSERT(a->method == b->method && a->minor == b->minor && a->nhdrs == b->nhdrs);
	CB_ASSERT(a->has_content_length == b->has_content_length &&
		  a->content_length == b->content_length);
	CB_ASSERT(a->chunked == b->chunked && a->keep_alive == b->keep_alive);
	str_same(&a->method_str, abase, alen, &b->method_str, bbase);
	str_same(&a->target, abase, alen, &b->target, bbase);
	str_same(&a->authority, abase, alen, &b->authority, bbase);
	str_same(&a->host, abase, alen, &b->host, bbase);
	str_same(&a->range, abase, alen, &b->range, bbase);
	str_same(&a->if_range, abase, alen, &b->if_range, bbase);
	for (unsigned i = 0; i < a->nhdrs; i++) {
		str_same(&a->hdrs[i].name, abase, alen, &b->hdrs[i].name, bbase);
		str_same(&a->hdrs[i].value, abase, alen, &b->hdrs[i].value, bbase);
	}
}

/* The whole input at once, as before; records each request in rounds[]. */
static unsigned whole_pass(const char *buf, size_t size)
{
	unsigned nr = 0;
	size_t off = 0;

	while (nr < MAX_ROUNDS && off < size) {
		struct round *w = &rounds[nr++];
		struct st_http_req *req = &w->req;
		int n = st_http_parse_request(buf + off, size - off, req, &w->status);

		w->off = off;
		w->n = n;
		w->body = 0;
		if (n == -2) {
			CB_ASSERT(size - off < ST_HTTP_MAX_HEADER_BYTES);
			break;
		}
		if (n == -1) {
			CB_ASSERT(w->status == 400 || w->status == 414 || w->status == 431 ||
				  w->status == 501 || w->status == 505);
			break;
		}
		CB_ASSERT(n > 0 && (size_t)n <= size - off && n <= ST_HTTP_MAX_HEADER_BYTES);
		check_req(req, buf + off, (size_t)n);
		/* a head is self-delimiting: exactly its bytes parse the same */
		{
			char *exact = malloc((size_t)n);
			struct st_http_req *again = malloc(sizeof(*again));
			int status2 = 0;

			memcpy(exact, buf + off, (size_t)n);
			CB_ASSERT(st_http_parse_request(exact, (size_t)n, again, &status2) == n);
			req_same(again, exact, (size_t)n, req, buf + off);
			free(again);
			free(exact);
		}
		off += (size_t)n;
		if (req->chunked)
			w->body = feed_chunked(buf + off, size - off, (uint8_t)buf[0]);
		else if (req->has_content_length)
			w->body = (size_t)CB_MIN(req->content_length, (uint64_t)(size - off));
		off += w->body;
	}
	return nr;
}

/*
 * The stream as the file server sees it when it arrives in segments ending
 * at cuts[0] < cuts[1] < ... < cuts[ncuts-1] == size: after each segment the
 * pending bytes are parsed from the pending request's start (a fresh
 * exact-size copy, as long as what has arrived), heads are consumed with
 * their bodies, and every answer is held against the whole pass's.
 */
static void split_pass(const char *buf, size_t size, unsigned nr, const size_t *cuts,
		       unsigned ncuts)
{
	struct st_http_req *req = malloc(sizeof(*req));
	unsigned r = 0;
	size_t pos = 0;
	bool stopped = false;

	for (unsigned k = 0; k < ncuts && !stopped; k++) {
		size_t avail = cuts[k];

		while (r < nr && pos < avail) {
			const struct round *w = &rounds[r];
			size_t have = avail - pos;
			char *copy = malloc(have);
			int status = 0, n;

			CB_ASSERT(pos == w->off);
			memcpy(copy, buf + pos, have);
			n = st_http_parse_request(copy, have, req, &status);
			if (n == -2) {
				/* only while the head has not all arrived */
				CB_ASSERT(w->n < 0 || have < (size_t)w->n);
				CB_ASSERT(avail < size || w->n == -2);
				free(copy);
				if (avail == size)
					r++;
				break;
			}
			if (n == -1) {
				/* an error in a prefix is the whole's error */
				CB_ASSERT(w->n == -1 && status == w->status);
				free(copy);
				r++;
				stopped = true;
				break;
			}
			CB_ASSERT(n == w->n);
			req_same(req, copy, have, &w->req, buf + w->off);
			free(copy);
			pos += (size_t)n + w->body;
			r++;
		}
	}
	/* the same requests, to the same end */
	CB_ASSERT(r == nr);
	free(req);
}

/*
 * Segment lengths from the input's bytes, last byte first: short ones mostly,
 * long ones too, in units that grow with the input so that a head near the
 * 16 KiB limit is cut about a hundred times, not a thousand (each cut
 * re-parses the pending head: the work is cuts x head length).
 */
static unsigned cuts_from_input(const uint8_t *data, size_t size, size_t *cuts)
{
	size_t unit = size / 1024 + 1, at = 0;
	unsigned nc = 0;

	for (size_t i = 0; at < size; i++) {
		uint8_t b = data[size - 1 - i % size];
		size_t seg = unit * (b < 0xc0 ? 1 + b % 24u : 1 + (size_t)(b & 0x3f) * 97);

		at = CB_MIN(size, at + seg);
		cuts[nc++] = at;
	}
	return nc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	size_t *cuts = malloc((size ? size : 1) * sizeof(*cuts));
	unsigned nr, nc;
	int64_t t;

	memcpy(buf, data, size);

	/* IMF-fixdate: anything accepted formats back to the same bytes */
	if (st_http_date_parse(buf, size, &t) == 0) {
		char out[30];

		st_http_date_format(t, out);
		CB_ASSERT(size == 29 && memcmp(out, buf, 29) == 0);
	}

	nr = whole_pass(buf, size);
	nc = cuts_from_input(data, size, cuts);
	split_pass(buf, size, nr, cuts, nc);
	if (size <= ALL_CUTS_MAX_LEN) {
		for (size_t i = 0; i < size; i++)
			cuts[i] = i + 1;
		split_pass(buf, size, nr, cuts, (unsigned)size);
	}

	/* the whole input as a chunked body too */
	feed_chunked(buf, size, size ? (uint8_t)buf[size - 1] : 0);

	free(cuts);
	free(buf);
	return 0;
}
