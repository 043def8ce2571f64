/*
 * One HTTP exchange of the downloader, on a libcurl easy handle that is kept
 * (and so its keep-alive connection) from one piece to the next: a ranged
 * GET of one piece into a buffer of exactly that size, a HEAD that learns the
 * object's size and validators, or a small GET (the pieces list). It applies
 * the options every request shares (timeouts, the stall limit, TLS, proxies
 * for the origin only) and turns libcurl's and HTTP's outcomes into one
 * classification the scheduler acts on.
 */
#ifndef CF_XFER_H
#define CF_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "cf_args.h"
#include "cf_state.h"

enum cf_xfer_kind { CF_X_PIECE, CF_X_HEAD, CF_X_SMALL };

/* What became of an exchange. */
enum cf_outcome {
	CF_OK,
	CF_NET,	    /* connect, resolve, reset, timeout, stall */
	CF_TLS,	    /* handshake or certificate */
	CF_HTTP,    /* an error status: xfer.status */
	CF_PROTO,   /* not what was asked: status, Content-Range, length */
	CF_CHANGED, /* a 200 to a ranged If-Range GET: the object changed */
};

struct cf_xfer {
	CURL *h;
	enum cf_xfer_kind kind;
	int src;	      /* index of the host, or -1 for the origin */
	uint32_t piece;	      /* CF_X_PIECE */
	uint64_t first, last; /* the range asked */
	uint8_t *buf;	      /* CF_X_PIECE: piece-size buffer; CF_X_SMALL: grown */
	size_t len, cap;      /* cap: what this exchange may receive */
	size_t alloc;	      /* buf's size */
	bool overflow;
	bool busy;
	long status;
	char content_range[96];
	char etag[CF_VALIDATOR_MAX], last_modified[CF_VALIDATOR_MAX];
	uint64_t content_length;
	bool has_length;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
};

/* Sets x up (a new easy handle, a buffer of cap bytes). 0 or -ENOMEM. */
int cf_xfer_init(struct cf_xfer *x, size_t cap);
void cf_xfer_fini(struct cf_xfer *x);

/*
 * Prepares x for a request of url: to_origin picks the origin's options
 * (proxies from the environment, redirects followed, the system CA store)
 * rather than the cache host's (no proxy, --cacert). For CF_X_PIECE the range
 * [first, last] is asked, with If-Range when if_range is not empty. 0 or
 * -ENOMEM.
 */
int cf_xfer_prepare(struct cf_xfer *x, const struct cf_opts *o, enum cf_xfer_kind kind,
		    const char *url, bool to_origin, uint64_t first, uint64_t last,
		    const char *if_range);

/* After libcurl finished x with code: the outcome, and a reason in why. */
enum cf_outcome cf_xfer_outcome(struct cf_xfer *x, CURLcode code, uint64_t size, char *why,
				size_t whylen);

#endif
