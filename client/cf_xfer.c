/*
 * libcurl easy handles for the downloader. Headers are read with a header
 * callback (status, Content-Range, Content-Length, ETag, Last-Modified) and
 * bodies land in the transfer's own buffer: a piece buffer is exactly the
 * piece's size, and a body longer than asked aborts the transfer (the write
 * callback returns short), so a misbehaving server can neither overrun it nor
 * make the client buffer a whole object.
 */
#include "cf_xfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cb_common.h"

#define SMALL_MAX (64u << 20) /* a pieces list of 4 Mi pieces is 264 MiB; we take 1M pieces */

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct cf_xfer *x = arg;
	size_t len = sz * n;

	if (x->kind == CF_X_SMALL && x->len + len > x->cap) {
		size_t cap = CB_MAX(x->cap * 2, x->len + len);
		uint8_t *nb;

		if (cap > SMALL_MAX || !(nb = realloc(x->buf, cap))) {
			x->overflow = true;
			return 0;
		}
		x->buf = nb;
		x->cap = x->alloc = cap;
	}
	if (x->len + len > x->cap) {
		x->overflow = true;
		return 0; /* more than asked: abort */
	}
	memcpy(x->buf + x->len, p, len);
	x->len += len;
	return len;
}

/* Copies header value (trimmed) into out if line is "name: value". */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), vl;
	const char *v;

	if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
		return false;
	v = line + nl + 1;
	vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	if (vl >= cap)
		vl = cap - 1;
	memcpy(out, v, vl);
	out[vl] = 0;
	return true;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct cf_xfer *x = arg;
	size_t len = sz * n;
	char num[32];

	if (len > 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after a redirect or 100) */
		x->content_range[0] = x->etag[0] = x->last_modified[0] = 0;
		x->has_length = false;
		return len;
	}
	header_value(p, len, "Content-Range", x->content_range, sizeof(x->content_range));
	header_value(p, len, "ETag", x->etag, sizeof(x->etag));
	header_value(p, len, "Last-Modified", x->last_modified, sizeof(x->last_modified));
	if (header_value(p, len, "Content-Length", num, sizeof(num))) {
		char *end;

		errno = 0;
		x->content_length = strtoull(num, &end, 10);
		x->has_length = !errno && end != num && !*end;
	}
	return len;
}

int cf_xfer_init(struct cf_xfer *x, size_t cap)
{
	memset(x, 0, sizeof(*x));
	x->h = curl_easy_init();
	x->buf = malloc(cap ? cap : 1);
	x->cap = x->alloc = cap;
	if (!x->h || !x->buf) {
		cf_xfer_fini(x);
		return -ENOMEM;
	}
	return 0;
}

void cf_xfer_fini(struct cf_xfer *x)
{
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	memset(x, 0, sizeof(*x));
}

int cf_xfer_prepare(struct cf_xfer *x, const struct cf_opts *o, enum cf_xfer_kind kind,
		    const char *url, bool to_origin, uint64_t first, uint64_t last,
		    const char *if_range)
{
	CURL *h = x->h;
	char line[CF_VALIDATOR_MAX + 16], range[64];

	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	x->kind = kind;
	x->first = first;
	x->last = last;
	x->len = 0;
	x->overflow = false;
	x->status = 0;
	x->content_range[0] = x->etag[0] = x->last_modified[0] = x->errbuf[0] = 0;
	x->has_length = false;
	if (kind == CF_X_PIECE) {
		CB_ASSERT(last >= first && last - first < x->alloc);
		x->cap = (size_t)(last - first + 1);
	} else {
		x->cap = x->alloc;
	}
	/* libcurl keeps the connection across a reset: only the options go. */
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cachebox-fetch/" CF_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)o->timeout_s);
	/* A stall: below the lowest speed (1 byte/s when none is set) for --timeout. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o->lowest_speed ? o->lowest_speed : 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)o->timeout_s);
	if (to_origin) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	} else {
		curl_easy_setopt(h, CURLOPT_NOPROXY,
				 "*"); /* the proxy variables are for the origin */
		if (o->cacert)
			curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
	}
	if (kind == CF_X_HEAD)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (kind == CF_X_PIECE) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)first,
			 (unsigned long long)last);
		x->hdrs = curl_slist_append(x->hdrs, range);
		if (x->hdrs && if_range && *if_range) {
			snprintf(line, sizeof(line), "If-Range: %s", if_range);
			if (!curl_slist_append(x->hdrs, line))
				return -ENOMEM;
		}
		if (!x->hdrs)
			return -ENOMEM;
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	}
	x->busy = true;
	return 0;
}

static bool tls_error(CURLcode c)
{
	switch (c) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
		return true;
	default:
		return false;
	}
}

/* "bytes A-B/SIZE" equal to what was asked, for an object of size bytes. */
static bool range_ok(const struct cf_xfer *x, uint64_t size)
{
	unsigned long long a, b, s;
	int end = 0;

	if (sscanf(x->content_range, "bytes %llu-%llu/%llu%n", &a, &b, &s, &end) != 3 ||
	    x->content_range[end])
		return false;
	return a == x->first && b == x->last && (!size || s == size);
}

enum cf_outcome cf_xfer_outcome(struct cf_xfer *x, CURLcode code, uint64_t size, char *why,
				size_t whylen)
{
	x->busy = false;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (code == CURLE_WRITE_ERROR && x->overflow && x->kind == CF_X_PIECE && x->status == 200) {
		snprintf(why, whylen, "answered 200 (the whole object) to a ranged request");
		return CF_CHANGED;
	}
	if (code != CURLE_OK) {
		snprintf(why, whylen, "%s",
			 x->overflow  ? "sent more than asked"
			 : *x->errbuf ? x->errbuf
				      : curl_easy_strerror(code));
		if (x->overflow)
			return CF_PROTO;
		return tls_error(code) ? CF_TLS : CF_NET;
	}
	if (x->status >= 400) {
		snprintf(why, whylen, "HTTP %ld", x->status);
		return CF_HTTP;
	}
	switch (x->kind) {
	case CF_X_PIECE:
		if (x->status == 200 && x->first == 0 && x->last + 1 == size && x->len == size)
			return CF_OK; /* the whole object in one piece */
		if (x->status == 200) {
			snprintf(why, whylen,
				 "answered 200 (the whole object) to a ranged request");
			return CF_CHANGED;
		}
		if (x->status != 206 || !range_ok(x, size) || x->len != x->last - x->first + 1) {
			snprintf(why, whylen,
				 "HTTP %ld, Content-Range '%s', %zu bytes for %llu-%llu", x->status,
				 x->content_range, x->len, (unsigned long long)x->first,
				 (unsigned long long)x->last);
			return CF_PROTO;
		}
		return CF_OK;
	case CF_X_HEAD:
		if (x->status != 200 || !x->has_length) {
			snprintf(why, whylen, "HTTP %ld to HEAD, %s", x->status,
				 x->has_length ? "" : "no Content-Length");
			return CF_PROTO;
		}
		return CF_OK;
	case CF_X_SMALL:
		if (x->status != 200) {
			snprintf(why, whylen, "HTTP %ld", x->status);
			return CF_PROTO;
		}
		return CF_OK;
	default:
		CB_ASSERT(!"unknown transfer kind");
	}
	return CF_PROTO;
}
