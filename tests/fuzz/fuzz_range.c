/*
 * libFuzzer target for st_range: the input is a Range value evaluated
 * against several representation sizes (0, 1, small, large, 2^64-1), and an
 * If-Range value. Checks what st_range.h promises: satisfiable ranges lie
 * inside the body, are ordered first <= last, never overlap, add up to at
 * most the size, and there are at most ST_RANGE_MAX of them. The input is
 * copied into an exact-size heap buffer so ASan reports any over-read.
 * And it is a differential test: a second, deliberately plain reading of
 * the same rules (ref_parse below: RFC 9110 §14.1.1's grammar with §5.6.1's
 * list rule, numbers compared as decimal strings against the size's own
 * digits, never converted until they are known to fit, then the caps of
 * st_range.h) must give the same result and the same ranges in the same
 * order. Sizes include the input's first number and its neighbours, where
 * off-by-one mistakes live.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the reference ---- */

struct ref_num {
	const char *d; /* significant digits: no leading zeros, "" for zero */
	size_t len;
};

struct ref_spec {
	bool suffix, has_last;
	struct ref_num first, last; /* suffix: the length is in last */
};

static bool ref_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool ref_digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct ref_num ref_num_of(const char *d, size_t len)
{
	struct ref_num n = {d, len};

	while (n.len > 0 && n.d[0] == '0') {
		n.d++;
		n.len--;
	}
	return n;
}

/* Decimal strings without leading zeros: the longer is larger, else memcmp. */
static int ref_cmp(struct ref_num a, struct ref_num b)
{
	if (a.len != b.len)
		return a.len < b.len ? -1 : 1;
	return a.len ? memcmp(a.d, b.d, a.len) : 0;
}

/* Only called on numbers already compared below a uint64_t size. */
static uint64_t ref_value(struct ref_num a)
{
	uint64_t v = 0;

	CB_ASSERT(a.len <= 20);
	for (size_t i = 0; i < a.len; i++)
		v = v * 10 + (uint64_t)(a.d[i] - '0');
	return v;
}

/* One list element, OWS already trimmed: "-" 1*DIGIT or 1*DIGIT "-" *DIGIT. */
static bool ref_spec_parse(const char *e, size_t len, struct ref_spec *sp)
{
	size_t dash = len, i;

	for (i = 0; i < len; i++) {
		if (e[i] == '-') {
			if (dash != len)
				return false; /* two dashes */
			dash = i;
		} else if (!ref_digit(e[i])) {
			return false;
		}
	}
	if (dash == len)
		return false;
	sp->suffix = dash == 0;
	if (sp->suffix) {
		if (len == 1)
			return false;
		sp->has_last = true;
		sp->last = ref_num_of(e + 1, len - 1);
		return true;
	}
	sp->first = ref_num_of(e, dash);
	sp->has_last = dash + 1 < len;
	sp->last = ref_num_of(e + dash + 1, len - dash - 1);
	return true;
}

/*
 * RFC 9110 §14.1.1: Range = range-unit "=" range-set, range-set =
 * 1#range-spec; §5.6.1.2: a recipient accepts empty elements, so
 * 1#element is *( "," OWS ) element *( OWS "," [ OWS element ] ); §5.5: a
 * field value has no trailing whitespace, so it is dropped first.
 */
static enum st_range_result ref_parse(const char *v, size_t len, uint64_t size,
				      struct st_range *out, unsigned *n)
{
	static const char unit[] = "bytes=";
	struct ref_spec specs[ST_RANGE_MAX];
	char size_digits[24];
	struct ref_num sz;
	unsigned count = 0, nsat = 0;
	size_t at;

	*n = 0;
	while (len > 0 && ref_ows(v[len - 1]))
		len--;
	if (len < 6)
		return ST_RANGE_NONE;
	for (size_t i = 0; i < 6; i++) {
		char c = v[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != unit[i])
			return ST_RANGE_NONE;
	}
	at = 6;
	if (at < len && ref_ows(v[at]))
		return ST_RANGE_NONE; /* no OWS before the first element or comma */
	for (;;) {
		size_t end = at, s, e;

		while (end < len && v[end] != ',')
			end++;
		s = at;
		e = end;
		while (s < e && ref_ows(v[s]))
			s++;
		while (e > s && ref_ows(v[e - 1]))
			e--;
		if (s < e) {
			struct ref_spec sp;

			if (!ref_spec_parse(v + s, e - s, &sp))
				return ST_RANGE_NONE;
			/* §14.1.1: an int-range with last-pos < first-pos is invalid */
			if (!sp.suffix && sp.has_last && ref_cmp(sp.first, sp.last) > 0)
				return ST_RANGE_NONE;
			if (count == ST_RANGE_MAX)
				return ST_RANGE_NONE; /* st_range.h: too many ranges */
			specs[count++] = sp;
		}
		if (end == len)
			break;
		at = end + 1;
	}
	if (count == 0)
		return ST_RANGE_NONE;

	snprintf(size_digits, sizeof(size_digits), "%llu", (unsigned long long)size);
	sz = ref_num_of(size_digits, strlen(size_digits));
	for (unsigned i = 0; i < count; i++) {
		const struct ref_spec *sp = &specs[i];

		if (size == 0)
			continue; /* st_range.h: nothing of an empty body is satisfiable */
		if (sp->suffix) {
			if (sp->last.len == 0)
				continue; /* -0 */
			out[nsat].first =
				ref_cmp(sp->last, sz) >= 0 ? 0 : size - ref_value(sp->last);
			out[nsat].last = size - 1;
		} else {
			if (ref_cmp(sp->first, sz) >= 0)
				continue; /* starts at or past the end */
			out[nsat].first = ref_value(sp->first);
			out[nsat].last = !sp->has_last || ref_cmp(sp->last, sz) >= 0
						 ? size - 1
						 : ref_value(sp->last);
		}
		nsat++;
	}
	if (nsat == 0)
		return ST_RANGE_UNSATISFIABLE;

	/* §14.2 caps as st_range.h sets them: sorted by start, no two may share a byte */
	{
		struct st_range sorted[ST_RANGE_MAX];
		uint64_t sum = 0;

		memcpy(sorted, out, nsat * sizeof(*out));
		for (unsigned i = 1; i < nsat; i++) {
			for (unsigned j = i; j > 0 && sorted[j - 1].first > sorted[j].first; j--) {
				struct st_range t = sorted[j];

				sorted[j] = sorted[j - 1];
				sorted[j - 1] = t;
			}
		}
		for (unsigned i = 0; i < nsat; i++) {
			if (i > 0 && sorted[i].first <= sorted[i - 1].last)
				return ST_RANGE_NONE;
			sum += sorted[i].last - sorted[i].first + 1;
		}
		if (sum > size)
			return ST_RANGE_NONE;
	}
	*n = nsat;
	return ST_RANGE_OK;
}

/* ---- the checks ---- */

static void check(const char *v, size_t len, uint64_t size)
{
	struct st_range out[ST_RANGE_MAX];
	unsigned n = 12345;
	enum st_range_result r = st_range_parse(v, len, size, out, &n);
	uint64_t sum = 0;

	switch (r) {
	case ST_RANGE_OK:
		CB_ASSERT(n >= 1 && n <= ST_RANGE_MAX && size > 0);
		for (unsigned i = 0; i < n; i++) {
			CB_ASSERT(out[i].first <= out[i].last && out[i].last < size);
			sum += out[i].last - out[i].first + 1;
			CB_ASSERT(sum <= size);
			for (unsigned j = 0; j < i; j++)
				CB_ASSERT(out[i].last < out[j].first || out[j].last < out[i].first);
		}
		break;
	case ST_RANGE_NONE:
	case ST_RANGE_UNSATISFIABLE:
		CB_ASSERT(n == 0);
		break;
	default:
		CB_ASSERT(0);
	}

	/* the reference agrees, range for range */
	{
		struct st_range want[ST_RANGE_MAX];
		unsigned wn = 54321;
		enum st_range_result wr = ref_parse(v, len, size, want, &wn);

		CB_ASSERT(wr == r && wn == n);
		for (unsigned i = 0; i < n; i++)
			CB_ASSERT(want[i].first == out[i].first && want[i].last == out[i].last);
	}
}

/* The input's first run of digits, saturated: a size right where its ranges end. */
static uint64_t first_number(const char *v, size_t len)
{
	uint64_t x = 0;
	size_t i = 0;

	while (i < len && !(v[i] >= '0' && v[i] <= '9'))
		i++;
	for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = {0,	    1, 10, 100, 1000, 1ull << 32, UINT64_MAX - 1,
					 UINT64_MAX};
	char *v = malloc(size ? size : 1);
	uint64_t extra = 0;
	int r;

	memcpy(v, data, size);
	for (size_t i = 0; i < CB_ARRAY_SIZE(sizes); i++)
		check(v, size, sizes[i]);
	/* one more size taken from the input's first bytes */
	memcpy(&extra, data, CB_MIN(size, sizeof(extra)));
	check(v, size, extra);
	extra = first_number(v, size);
	check(v, size, extra);
	check(v, size, extra + 1);
	check(v, size, extra - 1);

	r = st_range_if_range(v, size, "\"abc\"", 784111777);
	CB_ASSERT(r == 0 || r == 1);
	if (r == 1)
		CB_ASSERT((size == 5 && memcmp(v, "\"abc\"", 5) == 0) || size == 29);
	CB_ASSERT(st_range_if_range(v, size, "W/\"abc\"", 784111777) == 0 || size == 29);
	free(v);
	return 0;
}
