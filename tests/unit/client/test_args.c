/* Unit tests of client/cf_args.c: defaults, values and refusals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf_args.h"

static int parse(struct cf_opts *o, int argc, char **argv)
{
	char err[256] = "";
	int r = cf_args_parse(argc, argv, o, err, sizeof(err));

	if (r == CF_ARGS_USAGE)
		cr_assert(*err, "a usage error says why");
	return r;
}

Test(args, defaults)
{
	char *argv[] = {"cachebox-fetch", "http://a/b", NULL};
	struct cf_opts o;

	cr_assert_eq(parse(&o, 2, argv), CF_ARGS_OK);
	cr_assert_eq(o.max_conn, 4);
	cr_assert_eq(o.discover_wait_ms, 300);
	cr_assert_eq(o.fallback_delay_s, CF_FALLBACK_FOREGROUND_S);
	cr_assert_eq(o.order, CF_ORDER_LISTED);
}

Test(args, values)
{
	char *argv[] = {"cachebox-fetch",
			"-x",
			"8",
			"--order",
			"hrw",
			"--background",
			"-c",
			"--lowest-speed-limit",
			"10K",
			"--checksum",
			"sha-256=00000000000000000000000000000000000000000000000000000000000000ff",
			"https://a/b",
			"-o",
			"f",
			NULL};
	struct cf_opts o;

	cr_assert_eq(parse(&o, 14, argv), CF_ARGS_OK);
	cr_assert_eq(o.max_conn, 8);
	cr_assert_eq(o.order, CF_ORDER_HRW);
	cr_assert_eq(o.fallback_delay_s, CF_FALLBACK_BACKGROUND_S);
	cr_assert(o.resume);
	cr_assert_eq(o.lowest_speed, 10240);
	cr_assert_eq(o.checksum_sha[31], 0xff);
	cr_assert_str_eq(o.out, "f");
	cr_assert_str_eq(o.url, "https://a/b");
}

Test(args, refused)
{
	char *cases[][4] = {
		{"cachebox-fetch", NULL},
		{"cachebox-fetch", "ftp://a/b", NULL},
		{"cachebox-fetch", "-x", "17", "http://a/b"},
		{"cachebox-fetch", "--timeout", "0", "http://a/b"},
		{"cachebox-fetch", "--checksum", "sha-256=12", "http://a/b"},
		{"cachebox-fetch", "--cache-host-source", "dns", "http://a/b"},
		{"cachebox-fetch", "http://a/b", "http://c/d", NULL},
		{"cachebox-fetch", "--no-origin", "http://a/b", NULL},
		{"cachebox-fetch", "--bogus", "http://a/b", NULL},
		{"cachebox-fetch", "--group-id", "3f1a6c2e-8b4d-4c1e-9a0b-112233445566",
		 "http://a/b"},
		{"cachebox-fetch", "--group-key-file", "k", "http://a/b"},
	};
	struct cf_opts o;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int argc = 0;

		while (argc < 4 && cases[i][argc])
			argc++;
		cr_assert_eq(parse(&o, argc, cases[i]), CF_ARGS_USAGE, "case %zu", i);
	}
}

Test(args, help_and_version)
{
	char *h[] = {"cachebox-fetch", "--help", NULL}, *v[] = {"cachebox-fetch", "-V", NULL};
	struct cf_opts o;

	cr_assert_eq(parse(&o, 2, h), CF_ARGS_HELP);
	cr_assert_eq(parse(&o, 2, v), CF_ARGS_VERSION);
}
