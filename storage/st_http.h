/*
 * HTTP/1.1 request parsing (RFC 9112) for the file server. Zero-copy and
 * bounded: every pointer in struct st_http_req points into the caller's
 * buffer, nothing is allocated, and every count is capped. The parser is
 * strict on purpose: anything that could let two parsers disagree about
 * where a request ends (request smuggling) is an error and the connection
 * is closed without answering what follows.
 */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_HTTP_MAX_HEADERS	 64    /* more -> 431 */
#define ST_HTTP_MAX_HEADER_BYTES 16384 /* whole request head; more -> 431 */
#define ST_HTTP_MAX_URI		 8192  /* request-target; more -> 414 */

enum st_http_method { ST_HTTP_GET, ST_HTTP_HEAD, ST_HTTP_CONNECT, ST_HTTP_OTHER };

struct st_http_str {
	const char *p;
	size_t len;
};

struct st_http_hdr {
	struct st_http_str name, value; /* value has surrounding OWS removed */
};

struct st_http_req {
	enum st_http_method method;
	struct st_http_str method_str;
	/*
	 * The request-target's path and query: all of it in origin-form, what
	 * follows the authority in absolute-form ("/" when nothing does), the
	 * authority itself for CONNECT.
	 */
	struct st_http_str target;
	struct st_http_str
		authority; /* absolute-form (RFC 9112 §3.2.2): host[:port]; len 0 = none */
	int minor;	   /* HTTP/1.<minor>: 0 or 1 */
	struct st_http_hdr hdrs[ST_HTTP_MAX_HEADERS];
	unsigned nhdrs;
	/* Derived from the headers (RFC 9112 §6, §9.3): */
	struct st_http_str host, range, if_range; /* len 0 = absent */
	bool has_content_length;
	uint64_t content_length;
	bool chunked;	 /* Transfer-Encoding ends in chunked */
	bool keep_alive; /* 1.1 default on, 1.0 default off, Connection overrides */
};

/*
 * Parses one request head from buf[0..len).
 * Returns the bytes consumed by the head (request line + headers + empty
 * line), -2 if the head is incomplete (read more), or -1 on error with
 * *status set to the answer: 400 (malformed, smuggling-prone framing, NUL,
 * bare CR or LF, obs-fold, CL with TE, differing duplicate CL, TE other than
 * chunked as last coding or TE in 1.0, missing Host in 1.1, duplicate Host,
 * Range or If-Range, a target neither in origin-form nor an http or https
 * absolute-form with a host and no userinfo, but any target for CONNECT), 414 (target
 * longer than ST_HTTP_MAX_URI), 431 (head over ST_HTTP_MAX_HEADER_BYTES or
 * more than ST_HTTP_MAX_HEADERS fields), 501 (an unknown transfer coding, or
 * any coding besides a final chunked: none is decoded),
 * 505 (version other than HTTP/1.0 or 1.1). An incomplete head that is
 * already too long returns -1 with 414/431, so the caller never buffers
 * without bound.
 */
int st_http_parse_request(const char *buf, size_t len, struct st_http_req *req, int *status);

/* A response head from an origin (the fill's HTTP client). */
struct st_http_resp {
	int status; /* 100..999 */
	int minor;
	struct st_http_hdr hdrs[ST_HTTP_MAX_HEADERS];
	unsigned nhdrs;
	bool has_content_length;
	uint64_t content_length;
	bool chunked; /* Transfer-Encoding present (we accept only chunked as last coding) */
	bool keep_alive;
	struct st_http_str content_range, etag, last_modified; /* len 0 = absent */
};

/*
 * Parses one response head (RFC 9112 §4) from buf[0..len): bytes consumed,
 * -2 if incomplete, -1 if malformed or over the limits of a request head
 * (the same strictness: no obs-fold, bare CR or LF, NUL; CL with TE or
 * differing duplicate CL refused; a repeated Content-Range, ETag or
 * Last-Modified refused).
 */
int st_http_parse_response(const char *buf, size_t len, struct st_http_resp *resp);

/* Finds header name (case-insensitive); NULL if absent. */
const struct st_http_hdr *st_http_find(const struct st_http_req *req, const char *name);

/*
 * Chunked body decoder (RFC 9112 §7.1), resumable across reads. The file
 * server accepts GET/HEAD only and discards request bodies, so the decoder
 * only validates framing and counts; chunk extensions are skipped, trailers
 * validated like header fields. Sizes are overflow-checked: a chunk and the
 * whole body are at most 2^62 bytes, a size or trailer line at most 4096
 * bytes, and there are at most ST_HTTP_MAX_HEADERS trailer fields.
 */
struct st_http_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk */
	uint64_t total;	    /* body bytes seen so far */
	unsigned line_len;  /* bytes of the current size/trailer line (capped) */
};

void st_http_chunked_init(struct st_http_chunked *c);
/*
 * Consumes buf[0..len). Returns bytes consumed (all of them unless the body
 * ends inside buf), -1 on bad framing, and sets *done once the last chunk
 * and the trailer section are complete.
 */
long st_http_chunked_feed(struct st_http_chunked *c, const char *buf, size_t len, bool *done);

/*
 * Formats an IMF-fixdate (RFC 9110 §5.6.7) into out (30 bytes incl. NUL);
 * times outside years 0000-9999 are clamped.
 */
void st_http_date_format(int64_t unix_secs, char out[30]);
/* Parses an IMF-fixdate; 0 or -1 (obsolete formats are not accepted). */
int st_http_date_parse(const char *s, size_t len, int64_t *unix_secs);

#endif
