/*
 * CDN-Loop (st_loop.c): the box id kept in the state directory, whether a
 * request has passed through this box, and the chain a fill sends upstream,
 * which passes on only what has the shape of a cdn-id.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_loop.h"

static const char me[] = "cachebox-0123456789abcdef";

static struct st_http_req *req_of(const char *head)
{
	static struct st_http_req req;
	static char buf[4096];
	int st;

	snprintf(buf, sizeof(buf), "%s", head);
	cr_assert_gt(st_http_parse_request(buf, strlen(buf), &req, &st), 0, "%s", head);
	return &req;
}

Test(loop, seen)
{
	cr_assert_not(st_loop_seen(req_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), me));
	cr_assert(st_loop_seen(
		req_of("GET / HTTP/1.1\r\nHost: a\r\nCDN-Loop: cachebox-0123456789abcdef\r\n\r\n"),
		me));
	cr_assert(st_loop_seen(req_of("GET / HTTP/1.1\r\nHost: a\r\ncdn-loop: foo; v=1, "
				      " cachebox-0123456789abcdef ; x=\"a,b\"\r\n\r\n"),
			       me),
		  "a list, with parameters, in any case of the name");
	cr_assert(st_loop_seen(req_of("GET / HTTP/1.1\r\nHost: a\r\nCDN-Loop: foo\r\n"
				      "CDN-Loop: cachebox-0123456789abcdef\r\n\r\n"),
			       me),
		  "the second of two fields");
	cr_assert_not(st_loop_seen(req_of("GET / HTTP/1.1\r\nHost: a\r\n"
					  "CDN-Loop: cachebox-0123456789abcdef0\r\n\r\n"),
				   me),
		      "a longer id is another box");
	cr_assert_not(st_loop_seen(req_of("GET / HTTP/1.1\r\nHost: a\r\n"
					  "X-CDN-Loop: cachebox-0123456789abcdef\r\n\r\n"),
				   me));
}

Test(loop, chain)
{
	char out[ST_LOOP_MAX];

	st_loop_chain(NULL, me, out, sizeof(out));
	cr_assert_str_eq(out, me);
	st_loop_chain(req_of("GET / HTTP/1.1\r\nHost: a\r\nCDN-Loop: squid.example:3128; a=b, "
			     "cachebox-00000000000000aa\r\n\r\n"),
		      me, out, sizeof(out));
	cr_assert_str_eq(out, "squid.example:3128, cachebox-00000000000000aa, "
			      "cachebox-0123456789abcdef");
	/* Nothing but cdn-id characters is passed on: no CR, no quotes, no parameters. */
	st_loop_chain(req_of("GET / HTTP/1.1\r\nHost: a\r\nCDN-Loop: a\"b, c<d>, (e)\r\n\r\n"), me,
		      out, sizeof(out));
	cr_assert_str_eq(out, "a, c, cachebox-0123456789abcdef", "%s", out);
}

Test(loop, chain_bounded)
{
	char head[2048], out[ST_LOOP_MAX], want[ST_LOOP_MAX];
	size_t n;

	n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\nCDN-Loop: ");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "%sh%d", i ? "," : "", i);
	n += (size_t)snprintf(head + n, sizeof(head) - n, ", %0100d\r\n\r\n", 7);
	st_loop_chain(req_of(head), me, out, sizeof(out));
	/* the newest ST_LOOP_HOPS - 1 ids that fit, then ours; the 100-digit one is dropped */
	n = 0;
	for (int i = 20 - (ST_LOOP_HOPS - 1); i < 20; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "h%d, ", i);
	snprintf(want + n, sizeof(want) - n, "%s", me);
	cr_assert_str_eq(out, want);
}

Test(loop, id_kept)
{
	char dir[] = "/tmp/cbloopXXXXXX", path[64], a[ST_LOOP_ID_LEN + 1], b[ST_LOOP_ID_LEN + 1],
	     err[256];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(st_loop_id_load(dir, a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(a), ST_LOOP_ID_LEN);
	cr_assert_eq(strncmp(a, ST_LOOP_PREFIX, strlen(ST_LOOP_PREFIX)), 0);
	cr_assert_eq(st_loop_id_load(dir, b, err, sizeof(err)), 0);
	cr_assert_str_eq(a, b, "the id survives a restart");
	snprintf(path, sizeof(path), "%s/box-id", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("garbage\n", f);
	fclose(f);
	cr_assert_eq(st_loop_id_load(dir, b, err, sizeof(err)), 0);
	cr_assert_str_neq(a, b, "a damaged file gets a new id");
	unlink(path);
	rmdir(dir);
}

Test(loop, id_unwritable)
{
	char a[ST_LOOP_ID_LEN + 1], err[256] = "";

	cr_assert_lt(st_loop_id_load("/nonexistent-cachebox-dir", a, err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent-cachebox-dir/box-id") != NULL, "%s", err);
}
