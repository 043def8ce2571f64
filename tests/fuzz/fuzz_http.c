/*
 * libFuzzer target for st_http: parses the input as a stream of pipelined
 * request heads, feeds each announced chunked body to the decoder in
 * pieces, and runs the IMF-fixdate parser. The input is copied into an
 * exact-size heap buffer so ASan reports any read past its end. Besides
 * "no crash" it checks the parser's own promises: a head is
 * self-delimiting, -2 only below the head limit, pointers inside the input.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct st_http_req *req = malloc(sizeof(*req));
	size_t off = 0;
	int64_t t;

	memcpy(buf, data, size);

	/* IMF-fixdate: anything accepted formats back to the same bytes */
	if (st_http_date_parse(buf, size, &t) == 0) {
		char out[30];

		st_http_date_format(t, out);
		CB_ASSERT(size == 29 && memcmp(out, buf, 29) == 0);
	}

	for (unsigned round = 0; round < 64 && off < size; round++) {
		int status = 0;
		int n = st_http_parse_request(buf + off, size - off, req, &status);

		if (n == -2) {
			CB_ASSERT(size - off < ST_HTTP_MAX_HEADER_BYTES);
			break;
		}
		if (n == -1) {
			CB_ASSERT(status == 400 || status == 414 || status == 431 ||
				  status == 501 || status == 505);
			break;
		}
		CB_ASSERT(n > 0 && (size_t)n <= size - off && n <= ST_HTTP_MAX_HEADER_BYTES);
		check_req(req, buf + off, (size_t)n);
		/* a head is self-delimiting: exactly its bytes parse the same */
		{
			char *exact = malloc((size_t)n);
			int status2 = 0;

			memcpy(exact, buf + off, (size_t)n);
			CB_ASSERT(st_http_parse_request(exact, (size_t)n, req, &status2) == n);
			free(exact);
		}
		off += (size_t)n;
		if (req->chunked)
			off += feed_chunked(buf + off, size - off, (uint8_t)buf[0]);
		else if (req->has_content_length)
			off += (size_t)CB_MIN(req->content_length, (uint64_t)(size - off));
	}

	/* the whole input as a chunked body too */
	feed_chunked(buf, size, size ? (uint8_t)buf[size - 1] : 0);

	free(req);
	free(buf);
	return 0;
}
