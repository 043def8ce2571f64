/*
 * Content identity (DESIGN.md "Content identity"): from request-target to
 * cache key to content ID. Two requests for the same object must give the
 * same key, and no request may give a key that escapes the key space, so the
 * path is normalised per RFC 3986 §6.2.2 in one pass: escapes of unreserved
 * characters are decoded, the other escapes kept with upper-case hex, and dot
 * segments removed (§5.2.4) after decoding, so "%2e%2e" is a "..". What a
 * file system or an origin could read as a separator or a terminator (%2F,
 * backslash, %00, control bytes) is refused instead of being normalised.
 */
#include "st_url.h"

#include <limits.h>
#include <string.h>

/* SHA256_Init & co. are deprecated in OpenSSL 3, and the only SHA-256 that never allocates. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "cb_common.h"

#define HOST_MAX 255

enum {
	U_UNRESERVED = 1, /* RFC 3986 §2.3: ALPHA DIGIT - . _ ~ */
	U_PCHAR = 2,	  /* §3.3: sub-delims ":" "@" also allowed raw in a segment */
	U_ENCODE = 3,	  /* printable but not allowed raw in a path: percent-encoded */
};

/*
 * Raw bytes of a path segment. Zero means refused: CTLs, SP, DEL, bytes
 * >= 0x80 (clients must encode them), '\' (a separator on some systems),
 * '?' and '#' (they cannot be part of a path), and '%' and '/', which the
 * normaliser handles itself.
 */
static const uint8_t path_tab[256] = {
	['A' ... 'Z'] = U_UNRESERVED,
	['a' ... 'z'] = U_UNRESERVED,
	['0' ... '9'] = U_UNRESERVED,
	['-'] = U_UNRESERVED,
	['.'] = U_UNRESERVED,
	['_'] = U_UNRESERVED,
	['~'] = U_UNRESERVED,
	['!'] = U_PCHAR,
	['$'] = U_PCHAR,
	['&'] = U_PCHAR,
	['\''] = U_PCHAR,
	['('] = U_PCHAR,
	[')'] = U_PCHAR,
	['*'] = U_PCHAR,
	['+'] = U_PCHAR,
	[','] = U_PCHAR,
	[';'] = U_PCHAR,
	['='] = U_PCHAR,
	[':'] = U_PCHAR,
	['@'] = U_PCHAR,
	['"'] = U_ENCODE,
	['<'] = U_ENCODE,
	['>'] = U_ENCODE,
	['['] = U_ENCODE,
	[']'] = U_ENCODE,
	['^'] = U_ENCODE,
	['`'] = U_ENCODE,
	['{'] = U_ENCODE,
	['|'] = U_ENCODE,
	['}'] = U_ENCODE,
};

static const char hex_upper[] = "0123456789ABCDEF";

/* RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG; the byte or -1. */
static int pct_decode(const char *s, size_t i, size_t len)
{
	int hi, lo;

	if (len - i < 3)
		return -1;
	hi = cb_hex_digit(s[i + 1]);
	lo = cb_hex_digit(s[i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	return hi << 4 | lo;
}

static inline bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int st_url_split(const char *target, size_t len, struct st_target *out)
{
	const char *q;

	if (len == 0 || target[0] != '/')
		return -1;
	q = memchr(target, '?', len);
	out->path = target;
	out->path_len = q ? (size_t)(q - target) : len;
	out->query = q ? q + 1 : NULL;
	out->query_len = q ? len - out->path_len - 1 : 0;
	return 0;
}

/*
 * Appends the normalised form of path[*i] (one raw byte or one escape) to
 * out[*w..lim) and advances *i. Returns -1 if the byte is refused or does
 * not fit.
 */
static int emit_char(const char *path, size_t len, size_t *i, char *out, size_t *w, size_t lim)
{
	unsigned char c = (unsigned char)path[*i];
	int b;

	if (c == '%') {
		b = pct_decode(path, *i, len);
		/* %2F would make a separator the origin sees and we do not; %5C likewise. */
		if (b <= 0 || b == '/' || b == '\\')
			return -1;
		*i += 3;
		if (path_tab[b] == U_UNRESERVED) {
			if (*w >= lim)
				return -1;
			out[(*w)++] = (char)b;
			return 0;
		}
	} else {
		if (path_tab[c] == 0)
			return -1;
		*i += 1;
		if (path_tab[c] != U_ENCODE) {
			if (*w >= lim)
				return -1;
			out[(*w)++] = (char)c;
			return 0;
		}
		b = c;
	}
	if (lim - *w < 3)
		return -1;
	out[(*w)++] = '%';
	out[(*w)++] = hex_upper[b >> 4];
	out[(*w)++] = hex_upper[b & 15];
	return 0;
}

/*
 * One pass over the segments. Each segment is written normalised at the
 * end of out, then judged: "." is dropped and ".." drops itself and the
 * segment before it, never the root (RFC 3986 §5.2.4 steps B to D: ".."
 * above the root stays at the root). A segment followed by '/' keeps its
 * slash, so "/a/b/.." gives "/a/" and "/a/." gives "/a/" as in the RFC.
 * out always holds "/" plus whole segments, each ending in '/' except
 * possibly the last.
 */
int st_url_normalize_path(const char *path, size_t len, char *out, size_t cap)
{
	size_t i = 1, w = 1, lim;

	if (len == 0 || path[0] != '/' || cap < 2)
		return -1;
	lim = CB_MIN(cap - 1, (size_t)INT_MAX); /* room for the NUL; fits the return type */
	out[0] = '/';
	while (i <= len) {
		size_t seg = w, slen;

		while (i < len && path[i] != '/') {
			if (emit_char(path, len, &i, out, &w, lim) < 0)
				return -1;
		}
		slen = w - seg;
		if (slen == 1 && out[seg] == '.') {
			w = seg;
		} else if (slen == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			w = seg;
			if (w > 1) {
				w--; /* the slash that ended the previous segment */
				while (out[w - 1] != '/')
					w--;
			}
		} else if (i < len) {
			if (w >= lim)
				return -1;
			out[w++] = '/';
		}
		i++; /* past the '/' or the end */
	}
	out[w] = '\0';
	return (int)w;
}

/*
 * RFC 3986 §3.4 gives the query no structure; this reads the usual
 * application/x-www-form-urlencoded shape name=value&... except that '+' is
 * kept as '+'. Names are compared as sent. A name given twice is malformed:
 * two parsers could pick different ones.
 */
int st_url_query_param(const char *query, size_t len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name), i = 0, lim;
	int ret = -1;

	if (query == NULL || nlen == 0 || cap == 0)
		return -1;
	lim = CB_MIN(cap - 1, (size_t)INT_MAX);
	while (i <= len) {
		size_t s = i, e, eq, w = 0;

		e = s;
		while (e < len && query[e] != '&')
			e++;
		i = e + 1;
		eq = s;
		while (eq < e && query[eq] != '=')
			eq++;
		if (eq - s != nlen || memcmp(query + s, name, nlen) != 0)
			continue;
		if (ret >= 0)
			return -1;
		for (size_t j = eq + 1; j < e; w++) {
			int b = (unsigned char)query[j];

			if (b == '%') {
				b = pct_decode(query, j, e);
				j += 3;
			} else {
				j++;
			}
			if (b < 0 || is_ctl((unsigned char)b) || w >= lim)
				return -1;
			out[w] = (char)b;
		}
		out[w] = '\0';
		ret = (int)w;
	}
	return ret;
}

/* DNS name or IP literal characters; the caller has removed any port. */
static inline bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

/*
 * The query, when kept, is copied as sent minus cacheHostOrigin (it names
 * the origin, which is already the first part of the key) and minus empty
 * parameters, so "?a=1&cacheHostOrigin=h" and "?a=1" are one object.
 */
static int append_query(const char *query, size_t len, char *out, size_t *w, size_t lim)
{
	static const char skip[] = "cacheHostOrigin";
	bool first = true;
	size_t i = 0;

	while (i < len) {
		size_t s = i, e = i, nend;

		while (e < len && query[e] != '&')
			e++;
		i = e + 1;
		if (e == s)
			continue;
		nend = s;
		while (nend < e && query[nend] != '=')
			nend++;
		if (nend - s == sizeof(skip) - 1 && memcmp(query + s, skip, nend - s) == 0)
			continue;
		if (lim - *w < e - s + 1)
			return -1;
		out[(*w)++] = first ? '?' : '&';
		first = false;
		for (size_t j = s; j < e; j++) {
			unsigned char c = (unsigned char)query[j];

			/* RFC 3986 §3.4: the query is visible ASCII; '#' would end it. */
			if (c <= 0x20 || c >= 0x7f || c == '#')
				return -1;
			out[(*w)++] = (char)c;
		}
	}
	return 0;
}

int st_cache_key(const char *host, size_t host_len, const char *path, size_t path_len,
		 const char *query, size_t query_len, bool keep_query, char *out, size_t cap)
{
	size_t w, lim;
	int n;

	if (host_len == 0 || host_len > HOST_MAX || cap <= host_len + 1)
		return -1;
	lim = CB_MIN(cap - 1, (size_t)INT_MAX);
	for (w = 0; w < host_len; w++) {
		char c = host[w];

		if (!is_host_char(c))
			return -1;
		out[w] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
	}
	n = st_url_normalize_path(path, path_len, out + w, lim + 1 - w);
	if (n < 0)
		return -1;
	w += (size_t)n;
	if (keep_query && query != NULL && append_query(query, query_len, out, &w, lim) < 0)
		return -1;
	out[w] = '\0';
	return (int)w;
}

void st_sha256(const void *p, size_t len, uint8_t out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, p, len);
	SHA256_Final(out, &c);
}

void st_content_id(const char *key, size_t len, uint8_t id[ST_ID_LEN])
{
	st_sha256(key, len, id);
}
