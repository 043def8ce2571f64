/*
 * Range and If-Range evaluation (RFC 9110 §14.1.1, §14.2, §13.1.5). The
 * Range value is read once, left to right, without copying: numbers are kept
 * both as a saturated uint64_t and as their significant digits, so that a
 * position past 2^64-1 still compares exactly against the other end of its
 * range (first > last must be detected even then) and is then treated as
 * "past the end" or "to the end" as st_range.h describes. The abuse caps
 * (count, overlap, total length) follow nginx's range filter: a client that
 * asks for the same bytes many times gets the whole body once instead.
 */
#include "st_range.h"

#include <stdbool.h>
#include <string.h>

#include "cb_common.h"
#include "st_http.h"

struct num {
	uint64_t v;	 /* saturates at UINT64_MAX */
	bool ovf;	 /* the digits did not fit in 64 bits */
	const char *sig; /* digits without leading zeros, for exact comparison */
	size_t sig_len;
};

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* 1*DIGIT at p; returns the number of digits read (0: not a number). */
static size_t parse_num(const char *p, const char *end, struct num *n)
{
	const char *s = p;

	n->v = 0;
	n->ovf = false;
	while (p < end && cb_is_digit(*p)) {
		unsigned d = (unsigned)(*p - '0');

		if (!n->ovf && n->v > (UINT64_MAX - d) / 10) {
			n->ovf = true;
			n->v = UINT64_MAX;
		} else if (!n->ovf) {
			n->v = n->v * 10 + d;
		}
		p++;
	}
	n->sig = s;
	while (n->sig < p - 1 && *n->sig == '0')
		n->sig++;
	n->sig_len = (size_t)(p - n->sig);
	return (size_t)(p - s);
}

/* Exact comparison of two digit strings of any length: <0, 0, >0. */
static int num_cmp(const struct num *a, const struct num *b)
{
	if (!a->ovf && !b->ovf)
		return a->v < b->v ? -1 : a->v > b->v;
	if (a->sig_len != b->sig_len)
		return a->sig_len < b->sig_len ? -1 : 1;
	return memcmp(a->sig, b->sig, a->sig_len);
}

static bool unit_is_bytes(const char *v, size_t len)
{
	static const char unit[] = "bytes=";

	if (len < sizeof(unit) - 1)
		return false;
	for (size_t i = 0; i < sizeof(unit) - 1; i++) {
		char c = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] | 0x20) : v[i];

		if (c != unit[i])
			return false;
	}
	return true;
}

/*
 * RFC 9110 §14.1.1:
 *   Range = range-unit "=" range-set        range-set = 1#range-spec
 *   range-spec = int-range / suffix-range / other-range
 *   int-range = first-pos "-" [ last-pos ]  suffix-range = "-" suffix-length
 * with the list rule of §5.6.1: OWS only around commas, empty elements
 * ignored, at least one element. For the bytes unit an other-range is a
 * syntax error. Satisfiable specs are resolved to [first, last] as they are
 * read; the caps are checked once the whole value is known to be valid.
 */
enum st_range_result st_range_parse(const char *v, size_t len, uint64_t size,
				    struct st_range out[ST_RANGE_MAX], unsigned *n)
{
	const char *p, *end = v + len;
	unsigned count = 0, nsat = 0;
	uint64_t sum = 0;

	*n = 0;
	if (!unit_is_bytes(v, len))
		return ST_RANGE_NONE;
	p = v + 6;

	for (;;) {
		struct num first, last;
		bool suffix = false, has_last = false;
		size_t k;

		if (p < end && *p == ',') {
			/* empty element: skip it and the OWS that follows the comma */
			p++;
			while (p < end && is_ows(*p))
				p++;
			continue;
		}
		if (p == end)
			break;

		if (*p == '-') {
			suffix = true;
			k = parse_num(++p, end, &last);
			if (k == 0)
				return ST_RANGE_NONE;
			p += k;
		} else {
			k = parse_num(p, end, &first);
			p += k;
			if (k == 0 || p == end || *p != '-')
				return ST_RANGE_NONE;
			k = parse_num(++p, end, &last);
			has_last = k > 0;
			p += k;
		}
		/* the element ends here: OWS, then a comma or the end of the value */
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p != ',')
			return ST_RANGE_NONE;

		if (++count > ST_RANGE_MAX)
			return ST_RANGE_NONE;
		if (suffix) {
			/* §14.1.1: a suffix-range is satisfiable if suffix-length > 0 */
			if (size == 0 || last.v == 0)
				continue;
			out[nsat].first = last.v >= size ? 0 : size - last.v;
			out[nsat].last = size - 1;
		} else {
			/* §14.1.1: first-pos > last-pos makes the int-range invalid */
			if (has_last && num_cmp(&first, &last) > 0)
				return ST_RANGE_NONE;
			/* §14.1.1: satisfiable iff first-pos < length (an overflow is >= any) */
			if (first.v >= size)
				continue;
			out[nsat].first = first.v;
			out[nsat].last = has_last && last.v < size ? last.v : size - 1;
		}
		nsat++;
	}

	if (count == 0)
		return ST_RANGE_NONE; /* 1#range-spec: "bytes=" or "bytes=," */
	if (nsat == 0)
		return ST_RANGE_UNSATISFIABLE;

	/* §14.2: a server MAY ignore or reject overlapping or excessive ranges. */
	for (unsigned i = 0; i < nsat; i++) {
		uint64_t l = out[i].last - out[i].first + 1;

		if (l > size - sum)
			return ST_RANGE_NONE;
		sum += l;
		for (unsigned j = i + 1; j < nsat; j++) {
			if (out[i].first <= out[j].last && out[j].first <= out[i].last)
				return ST_RANGE_NONE;
		}
	}
	*n = nsat;
	return ST_RANGE_OK;
}

/*
 * RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag, weak = %s"W/",
 * opaque-tag = DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
 */
static bool is_strong_etag(const char *v, size_t len)
{
	if (len < 2 || v[0] != '"' || v[len - 1] != '"')
		return false;
	for (size_t i = 1; i < len - 1; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c == '"' || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * RFC 9110 §13.1.5: If-Range = entity-tag / HTTP-date; a DQUOTE or "W/" at
 * the start tells an entity-tag from a date. Comparison is strong (§8.8.3.2),
 * so a weak tag on either side never matches, and a date must be exact.
 */
int st_range_if_range(const char *v, size_t len, const char *etag, int64_t last_modified)
{
	int64_t t;

	if (len == 0)
		return 0;
	if (v[0] == '"') {
		size_t elen;

		if (etag == NULL || !is_strong_etag(v, len))
			return 0;
		elen = strlen(etag);
		return elen == len && is_strong_etag(etag, elen) && memcmp(v, etag, len) == 0;
	}
	if (len >= 2 && v[0] == 'W' && v[1] == '/')
		return 0;
	if (st_http_date_parse(v, len, &t) != 0)
		return 0;
	return t == last_modified;
}

static int parse_u64(const char *v, size_t len, size_t *pos, uint64_t *out)
{
	size_t start = *pos;
	uint64_t n = 0;

	while (*pos < len && v[*pos] >= '0' && v[*pos] <= '9') {
		unsigned d = (unsigned)(v[*pos] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
		(*pos)++;
	}
	*out = n;
	return *pos == start || *pos - start > 20 ? -1 : 0;
}

int st_range_parse_content_range(const char *v, size_t len, uint64_t *first, uint64_t *last,
				 uint64_t *complete)
{
	static const char unit[] = "bytes ";
	size_t pos = sizeof(unit) - 1;

	if (len < pos)
		return -1;
	for (size_t i = 0; i < pos; i++) {
		char c = v[i];

		if ((c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c) != unit[i])
			return -1;
	}
	if (parse_u64(v, len, &pos, first) || pos == len || v[pos++] != '-' ||
	    parse_u64(v, len, &pos, last) || pos == len || v[pos++] != '/' ||
	    parse_u64(v, len, &pos, complete) || pos != len)
		return -1;
	return *first <= *last && *last < *complete ? 0 : -1;
}
