/* Unit tests of client/cf_pieces.c: the documented pieces list, strictly. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf_pieces.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *t, struct cf_pieces *p)
{
	return cf_pieces_parse(t, strlen(t), p);
}

Test(pieces, good_list_with_missing)
{
	struct cf_pieces p;

	cr_assert_eq(parse("cachebox-pieces 1\nsize 5\npiece_size 2\npieces 3\n" H64 "\n-\n" H64
			   "\n",
			   &p),
		     0);
	cr_assert_eq(p.size, 5);
	cr_assert_eq(p.piece_size, 2);
	cr_assert_eq(p.npieces, 3);
	cr_assert(p.known[0] && !p.known[1] && p.known[2]);
	cr_assert_eq(p.hashes[0], 0x01);
	cf_pieces_fini(&p);
}

Test(pieces, empty_object)
{
	struct cf_pieces p;

	cr_assert_eq(parse("cachebox-pieces 1\nsize 0\npiece_size 1048576\npieces 0\n", &p), 0);
	cr_assert_eq(p.npieces, 0);
	cf_pieces_fini(&p);
}

Test(pieces, refused)
{
	static const char *const bad[] = {
		"cachebox-pieces 2\nsize 1\npiece_size 1\npieces 1\n" H64 "\n",
		"cachebox-pieces 1\nsize 5\npiece_size 2\npieces 2\n" H64 "\n" H64 "\n",
		"cachebox-pieces 1\nsize 1\npiece_size 0\npieces 1\n" H64 "\n",
		"cachebox-pieces 1\nsize 1\npiece_size 1\npieces 1\n" H64,
		"cachebox-pieces 1\nsize 1\npiece_size 1\npieces 1\nxyz\n",
		"cachebox-pieces 1\nsize 1\npiece_size 1\npieces 1\n" H64 "\nextra\n",
		"cachebox-pieces 1\nsize 99999999999999999999999\npiece_size 1\npieces 1\n",
		"cachebox-pieces 1\nsize 1\npiece_size 2147483648\npieces 1\n" H64 "\n",
		"cachebox-pieces 1\nsize -1\npiece_size 1\npieces 1\n" H64 "\n",
		"",
	};
	struct cf_pieces p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &p), -EPROTO, "case %zu", i);
}
