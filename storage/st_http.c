/*
 * Strict HTTP/1.1 request-head parser (RFC 9112) for the file server, and
 * the response-head parser for origins (chunked framing is in
 * st_http_chunked.c, IMF-fixdate in st_http_date.c).
 * The head parser keeps no state between reads: like picohttpparser it
 * re-scans the buffer from the start on every call, which is cheap because a
 * head is capped at ST_HTTP_MAX_HEADER_BYTES. Every limit is checked on the
 * bytes received so far, so a head that is already too long fails at once
 * instead of waiting for a CRLF that may never come. Wherever two parsers
 * could disagree about message boundaries (bare CR or LF, obs-fold, CL with
 * TE, odd chunk sizes) the input is refused rather than repaired.
 */
#include "st_http.h"

#include <limits.h>
#include <string.h>

#include "cb_common.h"
#include "st_http_chars.h"

#define METHOD_MAX 32 /* longest method we bother to read; longer is 400 */
#define HOST_MAX   255

/* RFC 3986 §3.2.2 host (reg-name, IP-literal) and §3.2.3 ":" port, as sent in Host. */
static const uint8_t host_tab[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['.'] = 1,	['_'] = 1,
	['~'] = 1,	   ['!'] = 1,	      ['$'] = 1,	 ['&'] = 1, ['\''] = 1, ['('] = 1,
	[')'] = 1,	   ['*'] = 1,	      ['+'] = 1,	 [','] = 1, [';'] = 1,	['='] = 1,
	[':'] = 1,	   ['['] = 1,	      [']'] = 1,	 ['%'] = 1,
};

/*
 * RFC 9112 §3.2 request-target bytes: visible ASCII. '#' cannot appear (a
 * fragment is never sent); the RFC 3986 grammar is checked later by st_url.
 */
static inline bool is_target_char(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c > 0x20 && c < 0x7f && c != '#';
}

static inline char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

/* Case-insensitive equality of s against a lower-case literal. */
static bool str_ieq(const struct st_http_str *s, const char *lit)
{
	size_t i;

	for (i = 0; i < s->len; i++) {
		if (lit[i] == '\0' || ascii_lower(s->p[i]) != lit[i])
			return false;
	}
	return lit[i] == '\0';
}

/*
 * Next non-empty element of a #list (RFC 9110 §5.6.1) in v from *pos, with
 * the OWS around it removed. Empty elements are skipped as the RFC asks.
 */
static bool list_next(const struct st_http_str *v, size_t *pos, struct st_http_str *el)
{
	size_t i = *pos, s, e;

	for (;;) {
		while (i < v->len && is_ows(v->p[i]))
			i++;
		if (i >= v->len) {
			*pos = i;
			return false;
		}
		if (v->p[i] != ',')
			break;
		i++;
	}
	s = i;
	while (i < v->len && v->p[i] != ',')
		i++;
	e = i;
	while (e > s && is_ows(v->p[e - 1]))
		e--;
	if (i < v->len)
		i++;
	*pos = i;
	el->p = v->p + s;
	el->len = e - s;
	return true;
}

/* What the field lines say about framing, gathered before it is judged. */
struct head_state {
	unsigned nhost, nrange, nif_range;
	bool te; /* Transfer-Encoding present */
	bool te_last_chunked, te_unknown;
	unsigned te_chunked; /* how often chunked was applied */
	unsigned te_codings; /* how many codings were applied in all */
	bool conn_close, conn_keep_alive;
};

/*
 * RFC 9110 §8.6, RFC 9112 §6.3 item 5: Content-Length = 1*DIGIT. A list
 * ("5, 5") or repeated field lines are accepted only when every member is
 * the same number; empty members, signs, spaces inside a number and values
 * past 2^64-1 are errors, since another parser might read them differently.
 */
static int parse_content_length(const struct st_http_str *v, struct st_http_req *req)
{
	size_t i = 0;

	for (;;) {
		uint64_t n = 0;
		size_t s = i;

		while (i < v->len && cb_is_digit(v->p[i])) {
			unsigned d = (unsigned)(v->p[i] - '0');

			if (n > (UINT64_MAX - d) / 10)
				return 400;
			n = n * 10 + d;
			i++;
		}
		if (i == s)
			return 400;
		if (req->has_content_length && n != req->content_length)
			return 400;
		req->has_content_length = true;
		req->content_length = n;
		while (i < v->len && is_ows(v->p[i]))
			i++;
		if (i == v->len)
			return 0;
		if (v->p[i] != ',')
			return 400;
		i++;
		while (i < v->len && is_ows(v->p[i]))
			i++;
	}
}

/*
 * RFC 9112 §6.1: Transfer-Encoding is a list of codings, applied in order,
 * over all field lines. Only the registered codings (§7, IANA registry) are
 * known; parameters are refused because no registered coding takes any.
 * Whether the list is acceptable is decided once the head is complete.
 */
static int parse_transfer_encoding(const struct st_http_str *v, struct head_state *hs)
{
	static const char *const known[] = {"compress", "deflate", "gzip", "x-compress", "x-gzip"};
	struct st_http_str el;
	size_t pos = 0;

	hs->te = true;
	while (list_next(v, &pos, &el)) {
		bool found = false;

		hs->te_codings++;
		for (size_t i = 0; i < el.len; i++) {
			if (!is_tchar(el.p[i]))
				return 400;
		}
		if (str_ieq(&el, "chunked")) {
			hs->te_chunked++;
			hs->te_last_chunked = true;
			continue;
		}
		hs->te_last_chunked = false;
		for (size_t i = 0; i < CB_ARRAY_SIZE(known); i++)
			found |= str_ieq(&el, known[i]);
		if (!found)
			hs->te_unknown = true;
	}
	return 0;
}

/* RFC 9110 §7.6.1: Connection = #connection-option; only close and keep-alive matter here. */
static void parse_connection(const struct st_http_str *v, struct head_state *hs)
{
	struct st_http_str el;
	size_t pos = 0;

	while (list_next(v, &pos, &el)) {
		if (str_ieq(&el, "close"))
			hs->conn_close = true;
		else if (str_ieq(&el, "keep-alive"))
			hs->conn_keep_alive = true;
	}
}

/*
 * Applies one field line to the request. Returns 0 or the status to answer.
 * Host, Range and If-Range are singletons: a second line is refused, since
 * two caches could each pick a different one (RFC 9112 §3.2 for Host).
 */
static int process_field(struct st_http_req *req, struct head_state *hs,
			 const struct st_http_hdr *h)
{
	const struct st_http_str *v = &h->value;

	if (str_ieq(&h->name, "host")) {
		/* RFC 9112 §3.2: exactly one Host, with a valid uri-host [ ":" port ]. */
		if (++hs->nhost > 1 || v->len > HOST_MAX)
			return 400;
		for (size_t i = 0; i < v->len; i++) {
			if (!host_tab[(unsigned char)v->p[i]])
				return 400;
		}
		req->host = *v;
	} else if (str_ieq(&h->name, "content-length")) {
		return parse_content_length(v, req);
	} else if (str_ieq(&h->name, "transfer-encoding")) {
		return parse_transfer_encoding(v, hs);
	} else if (str_ieq(&h->name, "connection")) {
		parse_connection(v, hs);
	} else if (str_ieq(&h->name, "range")) {
		if (++hs->nrange > 1)
			return 400;
		req->range = *v;
	} else if (str_ieq(&h->name, "if-range")) {
		if (++hs->nif_range > 1)
			return 400;
		req->if_range = *v;
	}
	return 0;
}

static void req_reset(struct st_http_req *req)
{
	static const struct st_http_str empty = {NULL, 0};

	req->method = ST_HTTP_OTHER;
	req->method_str = empty;
	req->target = empty;
	req->minor = 0;
	req->nhdrs = 0;
	req->host = empty;
	req->range = empty;
	req->if_range = empty;
	req->has_content_length = false;
	req->content_length = 0;
	req->chunked = false;
	req->keep_alive = false;
	req->authority = empty;
}

/*
 * One field line (RFC 9112 §5) from buf[*pos..lim): field-name ":" OWS
 * field-value OWS CRLF, with no whitespace before the colon (§5.1), no
 * CTL in the value (NUL, bare LF), and a CR only as the line end (§2.2).
 * 0 and *pos past the line, -2 if the line is incomplete, -1 if malformed.
 */
static int field_line(const char *buf, size_t lim, size_t *pos, struct st_http_hdr *h)
{
	size_t p = *pos, start = p, vend;

	while (p < lim && is_tchar(buf[p]))
		p++;
	if (p == lim)
		return -2;
	if (buf[p] != ':' || p == start)
		return -1;
	h->name.p = buf + start;
	h->name.len = p - start;
	p++;
	while (p < lim && is_ows(buf[p]))
		p++;
	start = vend = p;
	while (p < lim && buf[p] != '\r') {
		if (!is_value_char(buf[p]))
			return -1;
		p++;
		if (!is_ows(buf[p - 1]))
			vend = p;
	}
	if (p + 1 >= lim)
		return -2;
	if (buf[p + 1] != '\n')
		return -1;
	h->value.p = buf + start;
	h->value.len = vend - start;
	*pos = p + 2;
	return 0;
}

/*
 * The steps of st_http_parse_request. Each scans buf[*pos..lim) and returns
 * 0 (done, *pos past what it read), -2 (partial: the step needs bytes past
 * lim) or -1 with *st set to the status to answer.
 */

/*
 * The request-target's bytes from *pos up to the SP: -2 when the buffer
 * ends first, -1 with 414 when they pass ST_HTTP_MAX_URI counted from start.
 */
static int target_run(const char *buf, size_t lim, size_t *pos, size_t start, int *st)
{
	while (*pos < lim && is_target_char(buf[*pos])) {
		if (*pos - start == ST_HTTP_MAX_URI) {
			*st = 414;
			return -1;
		}
		(*pos)++;
	}
	return 0;
}

/* Whether buf[pos..lim) starts with lower-case lit, in any case: 1, 0, or -2 (too short to tell).
 */
static int prefix_ieq(const char *buf, size_t pos, size_t lim, const char *lit)
{
	for (size_t i = 0; lit[i]; i++) {
		if (pos + i == lim)
			return -2;
		if (ascii_lower(buf[pos + i]) != lit[i])
			return 0;
	}
	return 1;
}

/*
 * RFC 9112 §3.2.1-2: origin-form starts with '/' (0 is returned and *pos
 * is left there); absolute-form is "http://" or "https://" (RFC 9110 §4.2,
 * the scheme case-insensitive), then an authority that is a host with an
 * optional port and no userinfo, which goes to req->authority. Returns the
 * bytes before the path (the scheme and authority), -2 when more is needed,
 * -1 for anything else ('*' included: no OPTIONS *).
 */
static int absolute_authority(const char *buf, size_t lim, size_t *pos, struct st_http_req *req)
{
	size_t start = *pos, a;
	int r;

	if (start == lim)
		return -2;
	if (buf[start] == '/')
		return 0;
	r = prefix_ieq(buf, start, lim, "http://");
	a = start + 7;
	if (r == 0) {
		r = prefix_ieq(buf, start, lim, "https://");
		a = start + 8;
	}
	if (r <= 0)
		return r == 0 ? -1 : -2;
	*pos = a;
	while (*pos < lim && buf[*pos] != '/' && buf[*pos] != ' ') {
		if (!host_tab[(unsigned char)buf[*pos]] || *pos - a == HOST_MAX)
			return -1; /* '@' (userinfo), '?' right after the host, ... */
		(*pos)++;
	}
	if (*pos == lim)
		return -2;
	if (*pos == a)
		return -1;
	req->authority.p = buf + a;
	req->authority.len = *pos - a;
	return (int)(*pos - start);
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF */
static int request_line(const char *buf, size_t lim, size_t *posp, struct st_http_req *req, int *st)
{
	static const char version_tmpl[] = "HTTP/#.#\r\n";
	size_t pos = *posp, start = pos;
	int n, r;

	*st = 400;
	while (pos < lim && is_tchar(buf[pos])) {
		if (pos - start == METHOD_MAX)
			return -1;
		pos++;
	}
	if (pos == lim)
		return -2;
	if (buf[pos] != ' ' || pos == start)
		return -1;
	req->method_str.p = buf + start;
	req->method_str.len = pos - start;
	/* RFC 9110 §9.1: methods are case-sensitive. */
	if (req->method_str.len == 3 && memcmp(buf + start, "GET", 3) == 0)
		req->method = ST_HTTP_GET;
	else if (req->method_str.len == 4 && memcmp(buf + start, "HEAD", 4) == 0)
		req->method = ST_HTTP_HEAD;
	else if (req->method_str.len == 7 && memcmp(buf + start, "CONNECT", 7) == 0)
		req->method = ST_HTTP_CONNECT;
	pos++;

	/* CONNECT's authority-form (§3.2.3) is read only to be refused with 405 and a close. */
	start = pos;
	n = req->method == ST_HTTP_CONNECT ? 0 : absolute_authority(buf, lim, &pos, req);
	if (n < 0)
		return n;
	r = target_run(buf, lim, &pos, start, st);
	if (r < 0)
		return r;
	if (pos == lim)
		return -2;
	if (buf[pos] != ' ')
		return -1;
	if (req->authority.len && pos == start + (size_t)n) {
		static const char root[] = "/"; /* §3.2.2: an empty path is "/" */

		req->target.p = root;
		req->target.len = 1;
	} else {
		req->target.p = buf + start + (size_t)n;
		req->target.len = pos - start - (size_t)n;
		if (req->target.len == 0)
			return -1;
	}
	pos++;

	/* RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive. */
	for (size_t i = 0; version_tmpl[i] != '\0'; i++, pos++) {
		if (pos == lim)
			return -2;
		if (version_tmpl[i] == '#' ? !cb_is_digit(buf[pos]) : buf[pos] != version_tmpl[i])
			return -1;
		if (i == 7) {
			if (buf[pos - 2] != '1' || buf[pos] > '1') {
				*st = 505;
				return -1;
			}
			req->minor = buf[pos] - '0';
		}
	}
	*posp = pos;
	return 0;
}

/* RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, each ending in CRLF. */
static int field_lines(const char *buf, size_t lim, size_t *pos, struct st_http_req *req,
		       struct head_state *hs, int *st)
{
	for (;;) {
		struct st_http_hdr *h;
		int n;

		*st = 400;
		if (*pos == lim)
			return -2;
		if (buf[*pos] == '\r') {
			if (*pos + 1 == lim)
				return -2;
			if (buf[*pos + 1] != '\n')
				return -1;
			*pos += 2;
			return 0;
		}
		/* RFC 9112 §5.2 obs-fold, and §2.2 whitespace before the first field line. */
		if (is_ows(buf[*pos]))
			return -1;
		if (req->nhdrs == ST_HTTP_MAX_HEADERS) {
			*st = 431;
			return -1;
		}
		h = &req->hdrs[req->nhdrs];
		n = field_line(buf, lim, pos, h);
		if (n < 0)
			return n;
		req->nhdrs++;
		*st = process_field(req, hs, h);
		if (*st != 0)
			return -1;
	}
}

/* The rules about the head as a whole: Host, framing, persistence. 0 or the status. */
static int head_complete(struct st_http_req *req, const struct head_state *hs)
{
	/* RFC 9112 §3.2: HTTP/1.1 requests without Host are 400. */
	if (req->minor == 1 && hs->nhost == 0)
		return 400;
	if (hs->te) {
		/*
		 * RFC 9112 §6.1: TE with CL is a smuggling attempt as far as we are
		 * concerned, and TE in HTTP/1.0 means faulty framing. §6.3: in a
		 * request, chunked must be the final coding (applied once, §7).
		 */
		if (req->has_content_length || req->minor == 0)
			return 400;
		if (hs->te_unknown)
			return 501;
		if (!hs->te_last_chunked || hs->te_chunked != 1)
			return 400;
		/*
		 * §6.1: a server SHOULD answer 501 to a transfer coding it does not
		 * understand. The file server decodes none but chunked, so a body
		 * framed by chunked but also gzip'ed (say) is not understood either.
		 */
		if (hs->te_codings != 1)
			return 501;
		req->chunked = true;
	}
	/* RFC 9112 §9.3: persistence defaults by version, overridden by Connection. */
	if (hs->conn_close)
		req->keep_alive = false;
	else if (hs->conn_keep_alive)
		req->keep_alive = true;
	else
		req->keep_alive = req->minor == 1;
	return 0;
}

/*
 * The scan never looks at buf[lim] or beyond, lim being the smaller of len
 * and the head limit. Running into lim means "need more bytes" unless the
 * head limit itself was reached, which is 431. Syntax errors in the bytes
 * already seen are reported at once, even when the head is incomplete.
 */
int st_http_parse_request(const char *buf, size_t len, struct st_http_req *req, int *status)
{
	size_t lim = len < ST_HTTP_MAX_HEADER_BYTES ? len : ST_HTTP_MAX_HEADER_BYTES;
	struct head_state hs = {0};
	size_t pos = 0;
	int st = 400, n;

	*status = 0;
	req_reset(req);

	/* RFC 9112 §2.2: a server SHOULD ignore empty lines (CRLF) before the request-line. */
	while (pos < lim && buf[pos] == '\r') {
		if (pos + 1 == lim)
			goto partial;
		if (buf[pos + 1] != '\n')
			goto fail;
		pos += 2;
	}
	n = request_line(buf, lim, &pos, req, &st);
	if (n == 0)
		n = field_lines(buf, lim, &pos, req, &hs, &st);
	if (n == -2)
		goto partial;
	if (n < 0)
		goto fail;
	st = head_complete(req, &hs);
	if (st)
		goto fail;
	return (int)pos;

partial:
	if (len >= ST_HTTP_MAX_HEADER_BYTES) {
		*status = 431;
		return -1;
	}
	return -2;
fail:
	*status = st;
	return -1;
}

/*
 * Response heads come from origins we chose, but they are still bytes from
 * the network: the same field rules as requests, and the framing fields
 * that decide where a body ends are checked as strictly.
 */
int st_http_parse_response(const char *buf, size_t len, struct st_http_resp *resp)
{
	size_t lim = len < ST_HTTP_MAX_HEADER_BYTES ? len : ST_HTTP_MAX_HEADER_BYTES;
	struct head_state hs = {0};
	struct st_http_req tmp;
	size_t pos = 0;
	int ncr = 0, netag = 0, nlm = 0, n;

	memset(resp, 0, sizeof(*resp));
	req_reset(&tmp);
	/* RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF */
	if (lim < 13)
		goto partial_or_fail;
	if (memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    !cb_is_digit(buf[9]) || !cb_is_digit(buf[10]) || !cb_is_digit(buf[11]) ||
	    buf[12] != ' ')
		return -1;
	resp->minor = buf[7] - '0';
	resp->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (resp->status < 100)
		return -1;
	pos = 13;
	while (pos < lim && buf[pos] != '\r') {
		if (!is_value_char(buf[pos]))
			return -1;
		pos++;
	}
	if (pos + 1 >= lim)
		goto partial_or_fail;
	if (buf[pos + 1] != '\n')
		return -1;
	pos += 2;
	for (;;) {
		struct st_http_hdr *h;

		if (pos == lim)
			goto partial_or_fail;
		if (buf[pos] == '\r') {
			if (pos + 1 == lim)
				goto partial_or_fail;
			if (buf[pos + 1] != '\n')
				return -1;
			pos += 2;
			break;
		}
		if (is_ows(buf[pos]) || resp->nhdrs == ST_HTTP_MAX_HEADERS)
			return -1;
		h = &resp->hdrs[resp->nhdrs];
		n = field_line(buf, lim, &pos, h);
		if (n == -2)
			goto partial_or_fail;
		if (n < 0)
			return -1;
		resp->nhdrs++;
		if (str_ieq(&h->name, "content-length")) {
			if (parse_content_length(&h->value, &tmp))
				return -1;
		} else if (str_ieq(&h->name, "transfer-encoding")) {
			if (parse_transfer_encoding(&h->value, &hs))
				return -1;
		} else if (str_ieq(&h->name, "connection")) {
			parse_connection(&h->value, &hs);
		} else if (str_ieq(&h->name, "content-range")) {
			if (++ncr > 1)
				return -1;
			resp->content_range = h->value;
		} else if (str_ieq(&h->name, "etag")) {
			if (++netag > 1)
				return -1;
			resp->etag = h->value;
		} else if (str_ieq(&h->name, "last-modified")) {
			if (++nlm > 1)
				return -1;
			resp->last_modified = h->value;
		}
	}
	/* RFC 9112 §6.3: TE with CL is refused; only chunked as the final coding frames a body. */
	if (hs.te && (tmp.has_content_length || !hs.te_last_chunked || hs.te_chunked != 1))
		return -1;
	resp->chunked = hs.te;
	resp->has_content_length = tmp.has_content_length;
	resp->content_length = tmp.content_length;
	if (hs.conn_close)
		resp->keep_alive = false;
	else
		resp->keep_alive = resp->minor == 1 || hs.conn_keep_alive;
	return (int)pos;
partial_or_fail:
	return len >= ST_HTTP_MAX_HEADER_BYTES ? -1 : -2;
}

const struct st_http_hdr *st_http_find(const struct st_http_req *req, const char *name)
{
	size_t nlen = strlen(name);

	for (unsigned i = 0; i < req->nhdrs; i++) {
		const struct st_http_hdr *h = &req->hdrs[i];
		size_t j;

		if (h->name.len != nlen)
			continue;
		for (j = 0; j < nlen; j++) {
			if (ascii_lower(h->name.p[j]) != ascii_lower(name[j]))
				break;
		}
		if (j == nlen)
			return h;
	}
	return NULL;
}
