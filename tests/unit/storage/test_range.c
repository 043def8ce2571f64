/*
 * Unit tests for st_range: Range parsing against a representation length
 * (every "ranges" row of QUALITY.md: single, suffix, open-ended, clamped,
 * unsatisfiable, unparsable, 2^64 overflow, multiple and abusive sets) and
 * If-Range evaluation. Each value is parsed from the end of a page whose
 * successor is unmapped, so a read past len faults.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <string.h>

#include "../guarded.h"
#include "st_range.h"

static enum st_range_result parse_n(const char *v, size_t len, uint64_t size,
				    struct st_range out[ST_RANGE_MAX], unsigned *n)
{
	struct guarded g = guard(v, len);
	enum st_range_result r = st_range_parse(g.buf, len, size, out, n);

	unguard(&g);
	return r;
}

static enum st_range_result parse(const char *v, uint64_t size, struct st_range *out, unsigned *n)
{
	return parse_n(v, strlen(v), size, out, n);
}

TestSuite(range, .description = "RFC 9110 §14 Range and If-Range");

/* ---- one range: 206 cases ---------------------------------------------- */

struct one_case {
	char v[64];
	uint64_t size;
	uint64_t first, last;
};

ParameterizedTestParameters(range, single)
{
	static struct one_case cases[] = {
		{"bytes=0-9", 100, 0, 9},
		{"bytes=-10", 100, 90, 99},
		{"bytes=50-", 100, 50, 99},
		{"bytes=0-", 100, 0, 99},
		{"bytes=90-200", 100, 90, 99}, /* last-pos past the end clamps */
		{"bytes=99-99", 100, 99, 99},
		{"bytes=99-", 100, 99, 99},
		{"bytes=-1", 100, 99, 99},
		{"bytes=-100", 100, 0, 99},
		{"bytes=-1000", 100, 0, 99}, /* suffix longer than the body: all of it */
		{"Bytes=0-9", 100, 0, 9},    /* §14.1: the unit is case-insensitive */
		{"BYTES=0-9", 100, 0, 9},
		{"bYtEs=0-9", 100, 0, 9},
		{"bytes=0000-0009", 100, 0, 9}, /* leading zeros */
		{"bytes=0-0", 1, 0, 0},
		{"bytes=-5", 1, 0, 0},
		/* numbers past 2^64-1: last-pos and suffix-length clamp to the end */
		{"bytes=0-18446744073709551616", 100, 0, 99},
		{"bytes=5-99999999999999999999999999999", 100, 5, 99},
		{"bytes=-18446744073709551616", 100, 0, 99},
		{"bytes=-18446744073709551615", 100, 0, 99},
		/* representations near 2^64 */
		{"bytes=18446744073709551614-", UINT64_MAX, 18446744073709551614u,
		 18446744073709551614u},
		{"bytes=0-18446744073709551615", UINT64_MAX, 0, 18446744073709551614u},
		{"bytes=-18446744073709551615", UINT64_MAX, 0, 18446744073709551614u},
		{"bytes=-1", UINT64_MAX, 18446744073709551614u, 18446744073709551614u},
		/* empty list elements and OWS around commas (§5.6.1) */
		{"bytes=,0-9", 100, 0, 9},
		{"bytes=0-9,", 100, 0, 9},
		{"bytes=, ,\t, 0-9 ,  ,", 100, 0, 9},
		/* trailing OWS is field-level whitespace */
		{"bytes=0-9 ", 100, 0, 9},
		/* an unsatisfiable range next to a good one is just dropped */
		{"bytes=0-9,200-300", 100, 0, 9},
		{"bytes=-0,0-9", 100, 0, 9},
		{"bytes=18446744073709551616-,0-9", 100, 0, 9},
	};

	return cr_make_param_array(struct one_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct one_case *c, range, single)
{
	struct st_range out[ST_RANGE_MAX];
	unsigned n = 99;

	cr_assert_eq(parse(c->v, c->size, out, &n), ST_RANGE_OK, "%s", c->v);
	cr_assert_eq(n, 1, "%s", c->v);
	cr_assert_eq(out[0].first, c->first, "%s: first %llu", c->v,
		     (unsigned long long)out[0].first);
	cr_assert_eq(out[0].last, c->last, "%s: last %llu", c->v, (unsigned long long)out[0].last);
}

/* ---- 416 and 200 cases ------------------------------------------------- */

struct bad_case {
	char v[96];
	uint64_t size;
	enum st_range_result want;
};

ParameterizedTestParameters(range, refused)
{
	static struct bad_case cases[] = {
		/* unsatisfiable: 416 */
		{"bytes=100-", 100, ST_RANGE_UNSATISFIABLE}, /* N- past the end */
		{"bytes=100-200", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=150-", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=-0", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=-000", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=200-,300-400,-0", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=18446744073709551615-", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=18446744073709551616-", 100, ST_RANGE_UNSATISFIABLE}, /* 2^64 */
		{"bytes=18446744073709551616-18446744073709551616", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=18446744073709551616-18446744073709551617", 100, ST_RANGE_UNSATISFIABLE},
		{"bytes=18446744073709551615-", UINT64_MAX, ST_RANGE_UNSATISFIABLE},
		/* size 0: every range is unsatisfiable */
		{"bytes=0-", 0, ST_RANGE_UNSATISFIABLE},
		{"bytes=0-0", 0, ST_RANGE_UNSATISFIABLE},
		{"bytes=-5", 0, ST_RANGE_UNSATISFIABLE},
		/* first-pos > last-pos: invalid, ignored (200) */
		{"bytes=9-0", 100, ST_RANGE_NONE},
		{"bytes=0-9,9-0", 100, ST_RANGE_NONE},
		{"bytes=200-150", 100, ST_RANGE_NONE},
		{"bytes=18446744073709551616-5", 100, ST_RANGE_NONE},
		{"bytes=18446744073709551617-18446744073709551616", 100, ST_RANGE_NONE},
		{"bytes=99999999999999999999999-18446744073709551616", 100, ST_RANGE_NONE},
		{"bytes=18446744073709551615-18446744073709551614", 100, ST_RANGE_NONE},
		/* unparsable: ignored (200) */
		{"", 100, ST_RANGE_NONE},
		{"bytes", 100, ST_RANGE_NONE},
		{"bytes=", 100, ST_RANGE_NONE},
		{"bytes=,", 100, ST_RANGE_NONE},
		{"bytes= , ", 100, ST_RANGE_NONE},
		{"bytes=-", 100, ST_RANGE_NONE},
		{"bytes=--5", 100, ST_RANGE_NONE},
		{"bytes=5", 100, ST_RANGE_NONE},
		{"bytes=abc", 100, ST_RANGE_NONE},
		{"bytes=0-9x", 100, ST_RANGE_NONE},
		{"bytes=0-9;", 100, ST_RANGE_NONE},
		{"bytes=1-2-3", 100, ST_RANGE_NONE},
		{"bytes=0 -9", 100, ST_RANGE_NONE},
		{"bytes=0- 9", 100, ST_RANGE_NONE},
		{"bytes=- 9", 100, ST_RANGE_NONE},
		{"bytes=+1-2", 100, ST_RANGE_NONE},
		{"bytes=-+2", 100, ST_RANGE_NONE},
		{"bytes=0x10-", 100, ST_RANGE_NONE},
		{"bytes= 0-9", 100, ST_RANGE_NONE}, /* no OWS after '=' */
		{"bytes =0-9", 100, ST_RANGE_NONE},
		{"bytes:0-9", 100, ST_RANGE_NONE},
		{"bytes0-9", 100, ST_RANGE_NONE},
		{"items=0-9", 100, ST_RANGE_NONE}, /* another unit */
		{"byte=0-9", 100, ST_RANGE_NONE},
		{"bytesx=0-9", 100, ST_RANGE_NONE},
		{"bytes=0-9 10-19", 100, ST_RANGE_NONE},
		{"bytes=0-9,bytes=10-19", 100, ST_RANGE_NONE},
		{"bytes=0-9,x", 100, ST_RANGE_NONE}, /* a bad spec spoils the whole value */
		{"bytes=100-,x", 100, ST_RANGE_NONE},
		{"bytes=0-1\x00", 100, ST_RANGE_NONE},
		/* abusive sets: overlapping, or adding up to more than the body */
		{"bytes=0-9,5-14", 100, ST_RANGE_NONE},
		{"bytes=0-99,0-99", 100, ST_RANGE_NONE},
		{"bytes=0-,-1", 100, ST_RANGE_NONE},
		{"bytes=0-,0-", 100, ST_RANGE_NONE},
		{"bytes=50-60,0-9,55-55", 100, ST_RANGE_NONE},
		{"bytes=-50,-50", 100, ST_RANGE_NONE},
		{"bytes=0-0,0-0", 100, ST_RANGE_NONE},
		{"bytes=90-,-1000", 100, ST_RANGE_NONE},
	};

	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, range, refused)
{
	struct st_range out[ST_RANGE_MAX];
	unsigned n = 99;
	size_t len = strlen(c->v);

	/* the one test value with an embedded NUL */
	if (strcmp(c->v, "bytes=0-1") == 0)
		len++;
	cr_assert_eq(parse_n(c->v, len, c->size, out, &n), c->want, "%s", c->v);
	cr_assert_eq(n, 0, "%s", c->v);
}

/* ---- multiple ranges --------------------------------------------------- */

Test(range, multiple_in_request_order)
{
	struct st_range out[ST_RANGE_MAX];
	unsigned n;

	cr_assert_eq(parse("bytes=20-29, 0-9 ,\t-5,40-99", 990, out, &n), ST_RANGE_OK);
	cr_assert_eq(n, 4);
	cr_assert_eq(out[0].first, 20);
	cr_assert_eq(out[0].last, 29);
	cr_assert_eq(out[1].first, 0);
	cr_assert_eq(out[1].last, 9);
	cr_assert_eq(out[2].first, 985);
	cr_assert_eq(out[2].last, 989);
	cr_assert_eq(out[3].first, 40);
	cr_assert_eq(out[3].last, 99);
	/* open-ended and clamped ranges among others, still in request order */
	cr_assert_eq(parse("bytes=30-,0-4,10-1000", 60, out, &n), ST_RANGE_NONE, "overlap");
	cr_assert_eq(parse("bytes=30-,0-4,10-20", 60, out, &n), ST_RANGE_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0].first, 30);
	cr_assert_eq(out[0].last, 59);
	cr_assert_eq(out[1].first, 0);
	cr_assert_eq(out[1].last, 4);
	cr_assert_eq(out[2].first, 10);
	cr_assert_eq(out[2].last, 20);
}

Test(range, adjacent_is_not_overlap)
{
	struct st_range out[ST_RANGE_MAX];
	unsigned n;

	cr_assert_eq(parse("bytes=0-9,10-19,20-", 30, out, &n), ST_RANGE_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[2].first, 20);
	cr_assert_eq(out[2].last, 29);
	/* every byte once, in pieces: sum == size is allowed */
	cr_assert_eq(parse("bytes=-10,0-19", 30, out, &n), ST_RANGE_OK);
	cr_assert_eq(n, 2);
}

static size_t build_set(char *buf, unsigned count, unsigned step)
{
	size_t len = (size_t)sprintf(buf, "bytes=");

	for (unsigned i = 0; i < count; i++)
		len += (size_t)sprintf(buf + len, "%s%u-%u", i ? "," : "", i * step, i * step);
	return len;
}

Test(range, count_cap)
{
	struct st_range out[ST_RANGE_MAX];
	char buf[4096];
	unsigned n;
	size_t len;

	len = build_set(buf, ST_RANGE_MAX, 10);
	cr_assert_eq(parse_n(buf, len, 1000, out, &n), ST_RANGE_OK);
	cr_assert_eq(n, ST_RANGE_MAX);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(out[i].first, i * 10);

	len = build_set(buf, ST_RANGE_MAX + 1, 10);
	cr_assert_eq(parse_n(buf, len, 1000, out, &n), ST_RANGE_NONE);
	cr_assert_eq(n, 0);

	/* the cap counts ranges as sent, satisfiable or not */
	len = build_set(buf, ST_RANGE_MAX + 1, 1000);
	cr_assert_eq(parse_n(buf, len, 10, out, &n), ST_RANGE_NONE);
	len = build_set(buf, 300, 1);
	cr_assert_eq(parse_n(buf, len, 1000, out, &n), ST_RANGE_NONE);

	/* empty elements do not count */
	len = (size_t)sprintf(buf, "bytes=");
	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(buf + len, ",");
	len += (size_t)sprintf(buf + len, "0-1");
	cr_assert_eq(parse_n(buf, len, 1000, out, &n), ST_RANGE_OK);
}

/* every prefix of a valid value parses without reading past its end */
Test(range, every_prefix)
{
	const char *v = "bytes=0-9, 20-29,-5, 18446744073709551616-";
	struct st_range out[ST_RANGE_MAX];
	unsigned n;

	for (size_t i = 0; i <= strlen(v); i++) {
		enum st_range_result r = parse_n(v, i, 100, out, &n);

		cr_assert(r == ST_RANGE_NONE || r == ST_RANGE_OK, "prefix %zu", i);
	}
}

/* ---- If-Range ------------------------------------------------------------ */

#define LM 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

static int if_range(const char *v, const char *etag)
{
	return st_range_if_range(v, strlen(v), etag, LM);
}

Test(range, if_range_etag)
{
	cr_assert_eq(if_range("\"abc\"", "\"abc\""), 1);
	cr_assert_eq(if_range("\"\"", "\"\""), 1);
	cr_assert_eq(if_range("\"abc\"", "\"abd\""), 0);
	cr_assert_eq(if_range("\"abc\"", "\"abcd\""), 0);
	cr_assert_eq(if_range("\"abcd\"", "\"abc\""), 0);
	cr_assert_eq(if_range("\"ABC\"", "\"abc\""), 0);
	/* weak on either side never matches (§13.1.5: strong comparison) */
	cr_assert_eq(if_range("W/\"abc\"", "\"abc\""), 0);
	cr_assert_eq(if_range("W/\"abc\"", "W/\"abc\""), 0);
	cr_assert_eq(if_range("\"abc\"", "W/\"abc\""), 0);
	cr_assert_eq(if_range("w/\"abc\"", "\"abc\""), 0);
	/* malformed tags and no etag */
	cr_assert_eq(if_range("\"abc", "\"abc"), 0);
	cr_assert_eq(if_range("\"", "\""), 0);
	cr_assert_eq(if_range("\"a\"b\"", "\"a\"b\""), 0);
	cr_assert_eq(if_range("\"a b\"", "\"a b\""), 0);
	cr_assert_eq(if_range("\"abc\" ", "\"abc\""), 0);
	cr_assert_eq(if_range("\"abc\"", NULL), 0);
	cr_assert_eq(if_range("\"abc\"", ""), 0);
	cr_assert_eq(if_range("abc", "abc"), 0);
	cr_assert_eq(if_range("", "\"abc\""), 0);
	cr_assert_eq(if_range("*", "\"abc\""), 0);
}

Test(range, if_range_date)
{
	cr_assert_eq(if_range("Sun, 06 Nov 1994 08:49:37 GMT", "\"e\""), 1);
	cr_assert_eq(if_range("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 1);
	/* wrong date: a second off either way */
	cr_assert_eq(if_range("Sun, 06 Nov 1994 08:49:38 GMT", "\"e\""), 0);
	cr_assert_eq(if_range("Sun, 06 Nov 1994 08:49:36 GMT", "\"e\""), 0);
	cr_assert_eq(if_range("Mon, 07 Nov 1994 08:49:37 GMT", "\"e\""), 0);
	/* obsolete formats and malformed dates are false */
	cr_assert_eq(if_range("Sunday, 06-Nov-94 08:49:37 GMT", "\"e\""), 0);
	cr_assert_eq(if_range("Sun Nov  6 08:49:37 1994", "\"e\""), 0);
	cr_assert_eq(if_range("Mon, 06 Nov 1994 08:49:37 GMT", "\"e\""), 0);
	cr_assert_eq(if_range("Sun, 06 Nov 1994 08:49:37 GMT ", "\"e\""), 0);
	cr_assert_eq(if_range("784111777", "\"e\""), 0);
	cr_assert_eq(st_range_if_range("Sun, 06 Nov 1994 08:49:37 GMT", 29, "\"e\"", LM + 1), 0);
}

/* Content-Range of a 206 from an origin (st_range_parse_content_range). */

static int cr(const char *s, uint64_t *f, uint64_t *l, uint64_t *t)
{
	return st_range_parse_content_range(s, strlen(s), f, l, t);
}

Test(range, content_range_valid)
{
	uint64_t f, l, t;

	cr_assert_eq(cr("bytes 0-9/100", &f, &l, &t), 0);
	cr_assert(f == 0 && l == 9 && t == 100);
	cr_assert_eq(cr("Bytes 99-99/100", &f, &l, &t), 0);
	cr_assert(f == 99 && l == 99);
	cr_assert_eq(cr("bytes 0-18446744073709551613/18446744073709551615", &f, &l, &t), 0);
}

Test(range, content_range_invalid)
{
	static const char *const bad[] = {
		"bytes 0-9/*",
		"bytes */100",
		"bytes 10-9/100",
		"bytes 0-100/100",
		"bytes 0-9/100 ",
		"bytes  0-9/100",
		"bits 0-9/100",
		"bytes 0-9",
		"bytes -9/100",
		"bytes 0-/100",
		"",
		"bytes 0-9/18446744073709551616",
		"bytes 0x0-9/100",
	};
	uint64_t f, l, t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cr(bad[i], &f, &l, &t), -1, "case %s", bad[i]);
}
