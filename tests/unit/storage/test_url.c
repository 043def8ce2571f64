/*
 * Unit tests for st_url: splitting the request-target, RFC 3986 path
 * normalisation (including the "security" row of QUALITY.md: ../, %2e%2e,
 * %2f, %00, backslash), query parameters, the cache key and the content ID.
 * Inputs are read from the end of a page whose successor is unmapped, so a
 * read past len faults.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <string.h>

#include "../guarded.h"
#include "cb_common.h"
#include "st_url.h"

/* A guarded copy of s[0..len) (guarded.h); stays mapped until the next call. */
static const char *guarded(const char *s, size_t len)
{
	static struct guarded g;

	unguard(&g);
	g = guard(s, len);
	return g.buf;
}

static int normalize(const char *path, char *out, size_t cap)
{
	size_t len = strlen(path);

	return st_url_normalize_path(guarded(path, len), len, out, cap);
}

TestSuite(url, .description = "RFC 3986 paths, cache keys and content IDs");

/* ---- split -------------------------------------------------------------- */

Test(url, split)
{
	struct st_target t;

	cr_assert_eq(st_url_split("/a/b?x=1&y", 10, &t), 0);
	cr_assert_eq(t.path_len, 4);
	cr_assert_eq(memcmp(t.path, "/a/b", 4), 0);
	cr_assert_eq(t.query_len, 5);
	cr_assert_eq(memcmp(t.query, "x=1&y", 5), 0);

	cr_assert_eq(st_url_split("/a", 2, &t), 0);
	cr_assert_eq(t.path_len, 2);
	cr_assert_null(t.query);
	cr_assert_eq(t.query_len, 0);

	cr_assert_eq(st_url_split("/?", 2, &t), 0);
	cr_assert_eq(t.path_len, 1);
	cr_assert_not_null(t.query);
	cr_assert_eq(t.query_len, 0);

	cr_assert_eq(st_url_split("/a?b?c", 6, &t), 0);
	cr_assert_eq(t.path_len, 2);
	cr_assert_eq(t.query_len, 3);

	cr_assert_eq(st_url_split(guarded("/", 1), 1, &t), 0);
	cr_assert_eq(st_url_split("a/b", 3, &t), -1);
	cr_assert_eq(st_url_split("*", 1, &t), -1);
	cr_assert_eq(st_url_split("http://a/", 9, &t), -1);
	cr_assert_eq(st_url_split("", 0, &t), -1);
	cr_assert_eq(st_url_split("?a", 2, &t), -1);
}

/* ---- normalisation ------------------------------------------------------ */

struct norm_case {
	char in[64];
	char out[64];
};

ParameterizedTestParameters(url, normalize)
{
	static struct norm_case cases[] = {
		{"/", "/"},
		{"/a/b.bin", "/a/b.bin"},
		{"/a/b/", "/a/b/"},
		/* dot segments, RFC 3986 §5.2.4 */
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/a/b/..", "/a/"},
		{"/a/b/../", "/a/"},
		{"/a/.", "/a/"},
		{"/a/./", "/a/"},
		{"/.", "/"},
		{"/..", "/"},
		{"/./", "/"},
		{"/../", "/"},
		{"/a/b/c/./../../g", "/a/g"},	   /* §5.2.4 example */
		{"/mid/content=5/../6", "/mid/6"}, /* §5.2.4 example */
		{"/a/b/c/../../../../g", "/g"},
		{"/../../etc/passwd", "/etc/passwd"}, /* never above the root */
		{"/a/../../../etc/passwd", "/etc/passwd"},
		{"/...", "/..."}, /* not a dot segment */
		{"/a/..b/.c/c.", "/a/..b/.c/c."},
		/* dot segments are found after decoding unreserved characters */
		{"/%2e%2e/%2E%2E/etc", "/etc"},
		{"/a/%2e%2e", "/"},
		{"/a/.%2e/b", "/b"},
		{"/a/%2e/b", "/a/b"},
		{"/a/%2e%2e%2e", "/a/..."},
		/* empty segments are kept (RFC 3986 does not merge slashes) */
		{"/a//b", "/a//b"},
		{"//", "//"},
		{"/a//..", "/a/"},
		/* unreserved escapes are decoded, the rest upper-cased */
		{"/%41%7a%30%2D%2e%5F%7E", "/Az0-._~"},
		{"/%3a%3A%40", "/%3A%3A%40"},
		{"/%25", "/%25"},
		{"/%2541", "/%2541"}, /* decoded once, never twice */
		{"/%c3%a9", "/%C3%A9"},
		{"/%0a%7f%20", "/%0A%7F%20"}, /* escaped controls stay escaped */
		{"/%3f%23", "/%3F%23"},
		/* sub-delims, ':' and '@' stay raw */
		{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="},
		/* printable bytes a path may not hold raw are encoded */
		{"/a|b", "/a%7Cb"},
		{"/{x}[y]\"<>^`", "/%7Bx%7D%5By%5D%22%3C%3E%5E%60"},
	};

	return cr_make_param_array(struct norm_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct norm_case *c, url, normalize)
{
	char out[256], again[256];
	int n = normalize(c->in, out, sizeof(out));

	cr_assert_eq(n, (int)strlen(c->out), "%s -> %s (%d)", c->in, n >= 0 ? out : "-", n);
	cr_assert_str_eq(out, c->out, "%s", c->in);
	/* normalising is idempotent */
	cr_assert_eq(normalize(out, again, sizeof(again)), n, "%s", out);
	cr_assert_str_eq(again, out);
}

struct refused_case {
	char in[32];
	size_t len;
};

#define REFUSED(s)                                                                                 \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}

ParameterizedTestParameters(url, normalize_refused)
{
	static struct refused_case cases[] = {
		REFUSED(""),
		REFUSED("a/b"),
		REFUSED("../etc/passwd"),
		REFUSED("%2fetc"),
		/* encoded separators */
		REFUSED("/a%2fb"),
		REFUSED("/a%2Fb"),
		REFUSED("/..%2f..%2fetc%2fpasswd"),
		REFUSED("/a%5cb"),
		REFUSED("/a%5Cb"),
		REFUSED("/..%5c..%5cwin.ini"),
		REFUSED("/a\\b"),
		REFUSED("/..\\..\\win.ini"),
		/* NUL, raw or escaped */
		REFUSED("/a%00b"),
		REFUSED("/a%00"),
		REFUSED("/a\0b"),
		/* raw control bytes, space, DEL, non-ASCII */
		REFUSED("/a\nb"),
		REFUSED("/a\rb"),
		REFUSED("/a\tb"),
		REFUSED("/a\x01"),
		REFUSED("/a\x7f"),
		REFUSED("/a b"),
		REFUSED("/\xc3\xa9"),
		REFUSED("/\x80"),
		REFUSED("/\xff"),
		/* bad escapes */
		REFUSED("/%"),
		REFUSED("/%4"),
		REFUSED("/a%"),
		REFUSED("/%zz"),
		REFUSED("/%4g"),
		REFUSED("/%g4"),
		REFUSED("/%%41"),
		REFUSED("/%+1"),
		REFUSED("/% 41"),
		/* '?' and '#' are not part of a path */
		REFUSED("/a?b"),
		REFUSED("/a#b"),
	};

	return cr_make_param_array(struct refused_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct refused_case *c, url, normalize_refused)
{
	char out[256];

	cr_assert_eq(st_url_normalize_path(guarded(c->in, c->len), c->len, out, sizeof(out)), -1,
		     "%.*s", (int)c->len, c->in);
}

Test(url, normalize_capacity)
{
	char out[16];

	/* "/abc" needs 5 bytes with its NUL */
	cr_assert_eq(normalize("/abc", out, 5), 4);
	cr_assert_str_eq(out, "/abc");
	cr_assert_eq(normalize("/abc", out, 4), -1);
	cr_assert_eq(normalize("/abc/", out, 5), -1);
	cr_assert_eq(normalize("/abc/", out, 6), 5);
	cr_assert_eq(normalize("/", out, 2), 1);
	cr_assert_eq(normalize("/", out, 1), -1);
	cr_assert_eq(normalize("/", out, 0), -1);
	/* an escape that stays needs 3 bytes */
	cr_assert_eq(normalize("/%3A", out, 5), 4);
	cr_assert_eq(normalize("/%3A", out, 4), -1);
	cr_assert_eq(normalize("/|", out, 4), -1);
	cr_assert_eq(normalize("/|", out, 5), 4);
	/* a decoded escape shrinks */
	cr_assert_eq(normalize("/%41%41%41", out, 5), 4);
}

Test(url, normalize_long_paths)
{
	static char in[3 * ST_KEY_MAX], out[ST_KEY_MAX];
	size_t len = 0;

	/* a deep ../ ladder: still never above the root */
	while (len + 3 < 8000)
		len += (size_t)sprintf(in + len, "/..");
	len += (size_t)sprintf(in + len, "/x");
	cr_assert_eq(st_url_normalize_path(guarded(in, len), len, out, sizeof(out)), 2);
	cr_assert_str_eq(out, "/x");

	/* raw bytes that must be encoded grow threefold and may not fit */
	in[0] = '/';
	memset(in + 1, '|', ST_KEY_MAX);
	cr_assert_eq(st_url_normalize_path(guarded(in, ST_KEY_MAX + 1), ST_KEY_MAX + 1, out,
					   sizeof(out)),
		     -1);
}

/* every prefix of a path is either refused or normalised, never read past */
Test(url, every_prefix)
{
	const char *p = "/a/%2e%2E/b%3a/./c%41/..%2f";
	char out[64];

	for (size_t i = 0; i <= strlen(p); i++) {
		int n = st_url_normalize_path(guarded(p, i), i, out, sizeof(out));

		cr_assert(n == -1 || (n > 0 && out[0] == '/'), "prefix %zu", i);
	}
}

/* ---- query parameters --------------------------------------------------- */

static int qparam(const char *q, const char *name, char *out, size_t cap)
{
	size_t len = strlen(q);

	return st_url_query_param(guarded(q, len), len, name, out, cap);
}

Test(url, query_param)
{
	char out[64];

	cr_assert_eq(qparam("a=1&cacheHostOrigin=example.com&b=2", "cacheHostOrigin", out, 64), 11);
	cr_assert_str_eq(out, "example.com");
	cr_assert_eq(qparam("a=1&b=2", "a", out, 64), 1);
	cr_assert_str_eq(out, "1");
	cr_assert_eq(qparam("a=1&b=2", "b", out, 64), 1);
	cr_assert_str_eq(out, "2");
	/* decoding: escapes yes, '+' stays '+' */
	cr_assert_eq(qparam("x=%41+b%2fc%3D%c3%a9", "x", out, 64), 8);
	cr_assert_str_eq(out, "A+b/c=\xc3\xa9");
	/* a value may hold '=' */
	cr_assert_eq(qparam("x=a=b", "x", out, 64), 3);
	cr_assert_str_eq(out, "a=b");
	/* empty values */
	cr_assert_eq(qparam("x=&y", "x", out, 64), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(qparam("x=&y", "y", out, 64), 0);
	cr_assert_eq(qparam("&&y=1&&", "y", out, 64), 1);
	/* names are exact and case-sensitive */
	cr_assert_eq(qparam("cacheHostOriginX=a", "cacheHostOrigin", out, 64), -1);
	cr_assert_eq(qparam("xcacheHostOrigin=a", "cacheHostOrigin", out, 64), -1);
	cr_assert_eq(qparam("cachehostorigin=a", "cacheHostOrigin", out, 64), -1);
	cr_assert_eq(qparam("cacheHost%4Frigin=a", "cacheHostOrigin", out, 64), -1);
	cr_assert_eq(qparam("", "a", out, 64), -1);
	cr_assert_eq(qparam("a=1", "", out, 64), -1);
	cr_assert_eq(st_url_query_param(NULL, 0, "a", out, 64), -1);
}

Test(url, query_param_refused)
{
	char out[8];

	/* a name given twice is ambiguous */
	cr_assert_eq(qparam("a=1&a=1", "a", out, 8), -1);
	cr_assert_eq(qparam("a=1&b=2&a", "a", out, 8), -1);
	/* NUL and control bytes, raw or escaped */
	cr_assert_eq(qparam("a=x%00", "a", out, 8), -1);
	cr_assert_eq(qparam("a=x%0a", "a", out, 8), -1);
	cr_assert_eq(qparam("a=x%0D%0A", "a", out, 8), -1);
	cr_assert_eq(qparam("a=x%7f", "a", out, 8), -1);
	cr_assert_eq(qparam("a=x\tb", "a", out, 8), -1);
	cr_assert_eq(st_url_query_param(guarded("a=x\0", 4), 4, "a", out, 8), -1);
	/* bad escapes, including one cut by the next parameter */
	cr_assert_eq(qparam("a=%", "a", out, 8), -1);
	cr_assert_eq(qparam("a=%4", "a", out, 8), -1);
	cr_assert_eq(qparam("a=%4&b=1", "a", out, 8), -1);
	cr_assert_eq(qparam("a=%zz", "a", out, 8), -1);
	/* too long: 7 bytes fit with the NUL, 8 do not */
	cr_assert_eq(qparam("a=1234567", "a", out, 8), 7);
	cr_assert_eq(qparam("a=12345678", "a", out, 8), -1);
	cr_assert_eq(qparam("a=%41%41%41%41%41%41%41%41", "a", out, 8), -1);
	cr_assert_eq(qparam("a=", "a", out, 0), -1);
	/* only the parameter asked for is judged */
	cr_assert_eq(qparam("b=%00&a=ok", "a", out, 8), 2);
}

/* ---- cache key and content ID ------------------------------------------ */

static int key(const char *host, const char *target, bool keep, char *out, size_t cap)
{
	struct st_target t;

	cr_assert_eq(st_url_split(target, strlen(target), &t), 0);
	return st_cache_key(host, strlen(host), t.path, t.path_len, t.query, t.query_len, keep, out,
			    cap);
}

Test(url, cache_key)
{
	char out[ST_KEY_MAX];

	cr_assert_eq(key("Example.COM", "/a/../b.bin", false, out, sizeof(out)), 17);
	cr_assert_str_eq(out, "example.com/b.bin");
	cr_assert_eq(key("example.com", "/a/%62.bin?x=1", false, out, sizeof(out)), 19);
	cr_assert_str_eq(out, "example.com/a/b.bin");
	/* keep_query: the query minus cacheHostOrigin and empty parameters */
	cr_assert_gt(key("h", "/p?x=1&cacheHostOrigin=h&y=2", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p?x=1&y=2");
	cr_assert_gt(key("h", "/p?cacheHostOrigin=h&x=%2F", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p?x=%2F");
	cr_assert_gt(key("h", "/p?cacheHostOrigin=h", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p");
	cr_assert_gt(key("h", "/p?cacheHostOrigin", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p");
	cr_assert_gt(key("h", "/p?", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p");
	cr_assert_gt(key("h", "/p?&&a&&", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p?a");
	cr_assert_gt(key("h", "/p?cacheHostOriginX=1", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p?cacheHostOriginX=1");
	cr_assert_gt(key("h", "/p", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "h/p");
	/* IP literals */
	cr_assert_gt(key("[::1]", "/p", false, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "[::1]/p");
	cr_assert_gt(key("192.0.2.1", "/p", false, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "192.0.2.1/p");
}

Test(url, cache_key_refused)
{
	char out[ST_KEY_MAX], host[300];

	cr_assert_eq(key("", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("a b", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("a/b", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("u@a", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("a_b", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("a%2e", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("a\\b", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(key("\xc3\xa9", "/p", false, out, sizeof(out)), -1);
	cr_assert_eq(st_cache_key("a\0b", 3, "/p", 2, NULL, 0, false, out, sizeof(out)), -1);
	memset(host, 'a', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	cr_assert_eq(key(host, "/p", false, out, sizeof(out)), -1);
	host[255] = '\0';
	cr_assert_eq(key(host, "/p", false, out, sizeof(out)), 257);
	/* bad paths */
	cr_assert_eq(key("h", "/a%2fb", false, out, sizeof(out)), -1);
	cr_assert_eq(key("h", "/a%00", false, out, sizeof(out)), -1);
	cr_assert_eq(key("h", "/a\\b", false, out, sizeof(out)), -1);
	cr_assert_eq(st_cache_key("h", 1, "p", 1, NULL, 0, false, out, sizeof(out)), -1);
	/* bad bytes in a kept query; ignored when the query is dropped */
	cr_assert_eq(st_cache_key("h", 1, "/p", 2, "a b", 3, true, out, sizeof(out)), -1);
	cr_assert_eq(st_cache_key("h", 1, "/p", 2, "a\nb", 3, true, out, sizeof(out)), -1);
	cr_assert_eq(st_cache_key("h", 1, "/p", 2, "a#b", 3, true, out, sizeof(out)), -1);
	cr_assert_eq(st_cache_key("h", 1, "/p", 2, "a b", 3, false, out, sizeof(out)), 3);
	/* capacity: "h/p?a=1" is 7 bytes plus NUL */
	cr_assert_eq(key("h", "/p?a=1", true, out, 8), 7);
	cr_assert_eq(key("h", "/p?a=1", true, out, 7), -1);
	cr_assert_eq(key("h", "/p", false, out, 4), 3);
	cr_assert_eq(key("h", "/p", false, out, 3), -1);
	cr_assert_eq(key("h", "/p", false, out, 2), -1);
	cr_assert_eq(key("h", "/p", false, out, 1), -1);
}

Test(url, content_id)
{
	uint8_t id[ST_ID_LEN];
	char hex[ST_ID_HEX + 1], k[ST_KEY_MAX];
	int n;

	st_content_id("", 0, id);
	cb_hex_encode(id, sizeof(id), hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	st_content_id("abc", 3, id);
	cb_hex_encode(id, sizeof(id), hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	/* equivalent URLs name the same content */
	n = key("EXAMPLE.com", "/a/./x/../%62.bin?cacheHostOrigin=example.com", false, k,
		sizeof(k));
	cr_assert_str_eq(k, "example.com/a/b.bin");
	st_content_id(k, (size_t)n, id);
	cb_hex_encode(id, sizeof(id), hex);
	cr_assert_str_eq(hex, "ab28d7f5d93b4482f3b456af9893f804ee7ba68a5c768378e78353bda7528e23");
}
