/*
 * Unit tests for st_http: the strict request-head parser and the origin
 * response-head parser (the chunked decoder is test_http_chunked.c,
 * IMF-fixdate test_http_date.c). Besides the happy paths they cover every
 * "framing" and "limits" row of QUALITY.md, and run each input from the end
 * of a page whose successor is unmapped (guarded.h), so a read past len
 * faults.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../guarded.h"
#include "st_http.h"

/* The last guarded copy stays mapped: the parser's outputs point into it. */
static struct guarded last_copy;

static int parse_n(const char *s, size_t len, struct st_http_req *req, int *status)
{
	if (last_copy.map != NULL)
		unguard(&last_copy);
	last_copy = guard(s, len);
	return st_http_parse_request(last_copy.buf, len, req, status);
}

static int parse(const char *s, struct st_http_req *req, int *status)
{
	return parse_n(s, strlen(s), req, status);
}

static bool str_is(struct st_http_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static struct st_http_req req;

TestSuite(http, .description = "RFC 9112 request and response heads");

/* ---- request heads that parse ------------------------------------------ */

Test(http, simple_get)
{
	const char *s = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
	int st = -7;

	cr_assert_eq(parse(s, &req, &st), (int)strlen(s));
	cr_assert_eq(st, 0);
	cr_assert_eq(req.method, ST_HTTP_GET);
	cr_assert(str_is(req.method_str, "GET"));
	cr_assert(str_is(req.target, "/a/b?x=1"));
	cr_assert_eq(req.minor, 1);
	cr_assert_eq(req.nhdrs, 2);
	cr_assert(str_is(req.host, "example.com"));
	cr_assert(str_is(req.hdrs[1].name, "User-Agent"));
	cr_assert(str_is(req.hdrs[1].value, "t"));
	cr_assert(req.keep_alive);
	cr_assert_not(req.has_content_length);
	cr_assert_not(req.chunked);
	cr_assert_eq(req.authority.len, 0);
	cr_assert_eq(req.range.len, 0);
	cr_assert_eq(req.if_range.len, 0);
}

Test(http, methods)
{
	int st;

	cr_assert_gt(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.method, ST_HTTP_HEAD);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.method, ST_HTTP_OTHER);
	cr_assert(str_is(req.method_str, "POST"));
	/* RFC 9110 §9.1: methods are case-sensitive */
	cr_assert_gt(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.method, ST_HTTP_OTHER);
	cr_assert_gt(parse("GETX / HTTP/1.1\r\nHost: a\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.method, ST_HTTP_OTHER);
}

/* RFC 9112 §3.2.2: the absolute form, as sent to a proxy. */
Test(http, absolute_form)
{
	int st;

	cr_assert_gt(parse("GET http://Dl.Example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
			   &req, &st),
		     0);
	cr_assert_eq(req.method, ST_HTTP_GET);
	cr_assert(str_is(req.authority, "Dl.Example.com:8080"));
	cr_assert(str_is(req.target, "/a/b?q=1"));
	cr_assert(str_is(req.host, "x"), "Host is still parsed; routing ignores it");
	cr_assert_gt(
		parse("HEAD HTTPS://[2001:db8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n", &req, &st), 0);
	cr_assert(str_is(req.authority, "[2001:db8::1]:8443"));
	cr_assert(str_is(req.target, "/"), "an empty path is /");
	cr_assert_gt(parse("GET /p HTTP/1.1\r\nHost: x\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.authority.len, 0, "origin-form after absolute-form: nothing kept");
	/* Cut anywhere inside the scheme or authority: incomplete, not an error. */
	cr_assert_eq(parse("GET htt", &req, &st), -2);
	cr_assert_eq(parse("GET https:/", &req, &st), -2);
	cr_assert_eq(parse("GET http://a.b", &req, &st), -2);
}

Test(http, connect)
{
	int st;

	cr_assert_gt(
		parse("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", &req, &st),
		0);
	cr_assert_eq(req.method, ST_HTTP_CONNECT);
	cr_assert(str_is(req.target, "a.example:443"));
	cr_assert_eq(req.authority.len, 0);
}

Test(http, http10_and_connection)
{
	int st;

	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", &req, &st), 0);
	cr_assert_eq(req.minor, 0);
	cr_assert_not(req.keep_alive);
	cr_assert_eq(req.host.len, 0);
	cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &st), 0);
	cr_assert(req.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", &req, &st), 0);
	cr_assert_not(req.keep_alive);
	cr_assert_gt(
		parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: TE,  close ,x\r\n\r\n", &req, &st),
		0);
	cr_assert_not(req.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
			   "Connection: close\r\n\r\n",
			   &req, &st),
		     0);
	cr_assert_not(req.keep_alive, "close wins over keep-alive");
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &req, &st),
		     0);
	cr_assert(req.keep_alive, "closed is not close");
}

Test(http, values_trimmed_and_find)
{
	const struct st_http_hdr *h;
	int st;

	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost:\t a.b \t\r\nX-Empty:\r\nx-MIXED: v  w \r\n"
			   "Range: bytes=0-9\r\nIf-Range: \"e1\"\r\nX-Cachebox-Via: box1\r\n\r\n",
			   &req, &st),
		     0);
	cr_assert(str_is(req.host, "a.b"));
	cr_assert(str_is(req.range, "bytes=0-9"));
	cr_assert(str_is(req.if_range, "\"e1\""));
	h = st_http_find(&req, "X-Mixed");
	cr_assert_not_null(h);
	cr_assert(str_is(h->value, "v  w"));
	h = st_http_find(&req, "x-empty");
	cr_assert_not_null(h);
	cr_assert_eq(h->value.len, 0);
	cr_assert_null(st_http_find(&req, "X-Absent"));
	cr_assert_null(st_http_find(&req, "X-Empt"));
}

Test(http, content_length)
{
	int st;

	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", &req, &st),
		     0);
	cr_assert(req.has_content_length);
	cr_assert_eq(req.content_length, 42);
	/* identical duplicates and identical lists are allowed (RFC 9112 §6.3) */
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			   "Content-Length: 005\r\n\r\n",
			   &req, &st),
		     0);
	cr_assert_eq(req.content_length, 5);
	cr_assert_gt(
		parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 , 5,5\r\n\r\n", &req, &st),
		0);
	cr_assert_eq(req.content_length, 5);
	cr_assert_gt(
		parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
		      &req, &st),
		0);
	cr_assert_eq(req.content_length, UINT64_MAX);
}

Test(http, chunked_request)
{
	int st;

	cr_assert_gt(
		parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &req, &st),
		0);
	cr_assert(req.chunked);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n"
			   "Transfer-Encoding: ,chunked\r\n\r\n",
			   &req, &st),
		     0);
	cr_assert(req.chunked);
}

/* RFC 9112 §6.1: a coding the server does not decode is 501, even ahead of a final chunked. */
Test(http, transfer_coding_not_decoded_is_501)
{
	static const char *const heads[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate,chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		"Transfer-Encoding: ,chunked\r\n\r\n",
	};
	int st;

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		cr_assert_eq(parse(heads[i], &req, &st), -1, "%s", heads[i]);
		cr_assert_eq(st, 501, "%s: %d", heads[i], st);
	}
}

Test(http, leading_empty_lines_ignored)
{
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	int st;

	cr_assert_eq(parse(s, &req, &st), (int)strlen(s));
	cr_assert(str_is(req.target, "/"));
}

Test(http, consumes_only_the_head)
{
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n";
	int st;

	cr_assert_eq(parse(s, &req, &st), (int)(strstr(s, "GET /next") - s));
}

/* Every prefix of a valid head is incomplete, never an error or a success. */
Test(http, every_prefix_is_partial)
{
	const char *s = "GET /some/path?q=1 HTTP/1.1\r\nHost: example.com:8003\r\n"
			"Range: bytes=0-99, 200-\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			"Content-Length: 0\r\nConnection: keep-alive\r\nX-Cachebox-Via: a\r\n\r\n";
	size_t len = strlen(s);
	int st;

	for (size_t n = 0; n < len; n++) {
		st = -7;
		cr_assert_eq(parse_n(s, n, &req, &st), -2, "prefix %zu", n);
		cr_assert_eq(st, 0);
	}
	cr_assert_eq(parse_n(s, len, &req, &st), (int)len);
	cr_assert(str_is(req.range, "bytes=0-99, 200-"));
}

/* QUALITY.md framing: 100 pipelined GETs, parsed one after another from one buffer. */
Test(http, pipelined_100)
{
	static char buf[100 * 64];
	size_t len = 0, off = 0;
	int st;

	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(buf + len, "GET /obj/%d HTTP/1.1\r\nHost: h%d\r\n\r\n", i,
				       i);
	for (int i = 0; i < 100; i++) {
		char want[32];
		int n = parse_n(buf + off, len - off, &req, &st);

		cr_assert_gt(n, 0, "request %d: %d status %d", i, n, st);
		snprintf(want, sizeof(want), "/obj/%d", i);
		cr_assert(str_is(req.target, want));
		snprintf(want, sizeof(want), "h%d", i);
		cr_assert(str_is(req.host, want));
		off += (size_t)n;
	}
	cr_assert_eq(off, len);
	cr_assert_eq(parse_n(buf + off, 0, &req, &st), -2);
}

/* ---- request heads that are refused ------------------------------------ */

struct bad_case {
	char req[160];
	size_t len;
	int status;
};

#define BAD(s, st)                                                                                 \
	{                                                                                          \
		s, sizeof(s) - 1, st                                                               \
	}

ParameterizedTestParameters(http, refused)
{
	static struct bad_case cases[] = {
		/* CL with TE, in either order; and a smuggled request behind it */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
		    "chunked\r\n"
		    "\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
		    "5\r\n"
		    "\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		    400),
		/* duplicate differing Content-Length, lists, bad numbers */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		    400),
		/* Transfer-Encoding: chunked must be last and once; unknown codings are 501 */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", 501),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
		BAD("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
		/* obs-fold and whitespace before the first field */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
		/* NUL anywhere */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00"
		    "c\r\n\r\n",
		    400),
		BAD("GET /a\x00"
		    "b HTTP/1.1\r\nHost: a\r\n\r\n",
		    400),
		BAD("G\x00"
		    "ET / HTTP/1.1\r\nHost: a\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHo\x00"
		    "st: a\r\n\r\n",
		    400),
		/* bare CR and bare LF */
		BAD("GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\n\rx", 400),
		BAD("GET / HTTP/1.1\nHost: a\n\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
		BAD("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		/* field names */
		BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\n\r\n", 400),
		/* Host: required once in 1.1, never twice, valid characters */
		BAD("GET / HTTP/1.1\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
		/* singletons a cache must not guess between */
		BAD("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
		    400),
		BAD("GET / HTTP/1.1\r\nHost: a\r\nIf-Range: \"a\"\r\nIf-Range: \"b\"\r\n\r\n", 400),
		/* request line */
		BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET /\r\nHost: a\r\n\r\n", 400),
		BAD("GET / \r\nHost: a\r\n\r\n", 400),
		BAD("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
		BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400), /* the HTTP/2 preface: '*' first */
		BAD("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
		BAD("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400),
		BAD("GETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n\r\n", 400),
		/* versions */
		BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
		BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
		BAD("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
		BAD("GET / HTTP/3.0\r\n", 505),
	};

	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, http, refused)
{
	int st = 0, ret = parse_n(c->req, c->len, &req, &st);

	cr_assert_eq(ret, -1, "%.*s: ret %d", (int)c->len, c->req, ret);
	cr_assert_eq(st, c->status, "%.*s: status %d, want %d", (int)c->len, c->req, st, c->status);
}

/* ---- limits: 414 and 431, also before the head is complete ------------- */

static char big[3 * ST_HTTP_MAX_HEADER_BYTES];

static size_t build_target(size_t target_len, bool complete)
{
	size_t n = 0;

	memcpy(big, "GET /", 5);
	n = 5;
	memset(big + n, 'a', target_len - 1);
	n += target_len - 1;
	if (complete) {
		n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	}
	return n;
}

Test(http, uri_limit)
{
	size_t n;
	int st;

	n = build_target(ST_HTTP_MAX_URI, true);
	cr_assert_eq(parse_n(big, n, &req, &st), (int)n);
	cr_assert_eq(req.target.len, ST_HTTP_MAX_URI);

	n = build_target(ST_HTTP_MAX_URI + 1, true);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 414);

	/* incomplete: exactly at the limit is still partial, one more byte is 414 */
	n = build_target(ST_HTTP_MAX_URI, false);
	cr_assert_eq(parse_n(big, n, &req, &st), -2);
	n = build_target(ST_HTTP_MAX_URI + 1, false);
	st = 0;
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 414);
	n = build_target(2 * ST_HTTP_MAX_HEADER_BYTES, false);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 414);
}

static size_t build_headers(unsigned nfields, bool complete)
{
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");

	for (unsigned i = 1; i < nfields; i++)
		n += (size_t)sprintf(big + n, "X-%u: v\r\n", i);
	if (complete)
		n += (size_t)sprintf(big + n, "\r\n");
	return n;
}

Test(http, header_count_limit)
{
	size_t n;
	int st;

	n = build_headers(ST_HTTP_MAX_HEADERS, true);
	cr_assert_eq(parse_n(big, n, &req, &st), (int)n);
	cr_assert_eq(req.nhdrs, ST_HTTP_MAX_HEADERS);

	n = build_headers(ST_HTTP_MAX_HEADERS + 1, true);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);

	/* the 65th field has only started arriving: 431 already */
	n = build_headers(ST_HTTP_MAX_HEADERS, false);
	big[n++] = 'X';
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);
	/* ... but a CR there may still be the end of the head */
	big[n - 1] = '\r';
	cr_assert_eq(parse_n(big, n, &req, &st), -2);
}

/* A head of total length n: request line, Host, one padding field, empty line. */
static size_t build_head_bytes(size_t total, bool complete)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	size_t n = sizeof(pre) - 1, pad = total - n - 4;

	memcpy(big, pre, n);
	memset(big + n, 'p', pad);
	n += pad;
	if (complete) {
		memcpy(big + n, "\r\n\r\n", 4);
		n += 4;
	}
	return n;
}

Test(http, header_bytes_limit)
{
	size_t n;
	int st;

	n = build_head_bytes(ST_HTTP_MAX_HEADER_BYTES, true);
	cr_assert_eq(n, ST_HTTP_MAX_HEADER_BYTES);
	cr_assert_eq(parse_n(big, n, &req, &st), (int)n);

	n = build_head_bytes(ST_HTTP_MAX_HEADER_BYTES + 1, true);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);

	/* incomplete heads: below the limit wait, at the limit fail */
	n = build_head_bytes(ST_HTTP_MAX_HEADER_BYTES, false);
	cr_assert_eq(parse_n(big, n, &req, &st), -2);
	n = build_head_bytes(ST_HTTP_MAX_HEADER_BYTES + 4, false);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);
	n = build_head_bytes(2 * ST_HTTP_MAX_HEADER_BYTES, false);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);

	/* complete head over the limit with more bytes after it: still 431 */
	n = build_head_bytes(ST_HTTP_MAX_HEADER_BYTES + 100, true);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);

	/* empty lines before the request line count towards the head */
	memset(big, 0, sizeof(big));
	for (n = 0; n < ST_HTTP_MAX_HEADER_BYTES; n += 2)
		memcpy(big + n, "\r\n", 2);
	cr_assert_eq(parse_n(big, n, &req, &st), -1);
	cr_assert_eq(st, 431);
}

/* Response heads from origins (st_http_parse_response). */

static int parse_resp(const char *s, struct st_http_resp *r)
{
	return st_http_parse_response(s, strlen(s), r);
}

Test(http, response_206_fields)
{
	static const char head[] = "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n"
				   "Content-Range: bytes 0-9/100\r\nETag: \"v1\"\r\n"
				   "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nbody";
	struct st_http_resp r;

	cr_assert_eq(parse_resp(head, &r), (int)strlen(head) - 4);
	cr_assert_eq(r.status, 206);
	cr_assert(r.has_content_length && r.content_length == 10);
	cr_assert(r.keep_alive);
	cr_assert_eq(r.content_range.len, strlen("bytes 0-9/100"));
	cr_assert_eq(r.etag.len, 4);
	cr_assert_eq(r.last_modified.len, 29);
}

Test(http, response_partial_and_every_prefix)
{
	static const char head[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct st_http_resp r;

	for (size_t i = 0; i < strlen(head); i++)
		cr_assert_eq(st_http_parse_response(head, i, &r), -2, "prefix %zu", i);
	cr_assert_eq(parse_resp(head, &r), (int)strlen(head));
	cr_assert(!r.keep_alive);
}

Test(http, response_framing_errors)
{
	static const char *const bad[] = {
		"HTTP/1.1 206 X\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 206 X\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 206 X\r\nContent-Range: bytes 0-1/2\r\nContent-Range: bytes "
		"0-1/2\r\n\r\n",
		"HTTP/1.1 206 X\r\nETag: \"a\"\r\nETag: \"b\"\r\n\r\n",
		"HTTP/1.1 206 X\r\nX-A: a\r\n b\r\n\r\n",
		"HTTP/1.1 206 X\r\nX-A: a\rb\r\n\r\n",
		"HTTP/1.1 206 X\r\nX-A: a\nb\r\n\r\n",
		"HTTP/2.0 206 X\r\n\r\n",
		"HTTP/1.1 20 X\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n",
		"HTTP/1.1 206 X\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 206 X\r\nContent-Length: 18446744073709551616\r\n\r\n",
		"HTTP/1.1 206 X\r\nBad Name: x\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_http_resp r;

		cr_assert_eq(parse_resp(bad[i], &r), -1, "case %zu: %s", i, bad[i]);
	}
}

Test(http, response_head_too_large)
{
	size_t len = ST_HTTP_MAX_HEADER_BYTES + 100;
	char *buf = malloc(len);
	struct st_http_resp r;

	memcpy(buf, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
	memset(buf + 24, 'a', len - 24);
	cr_assert_eq(st_http_parse_response(buf, len, &r), -1);
	free(buf);
}
