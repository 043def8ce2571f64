/* Unit tests of client/cf_state.c: the .cbfetch file round trip and damage. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf_state.h"

static void tmpname(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/cf-state-%d-%ld", getpid(), random());
}

Test(state, round_trip)
{
	struct cf_state s = {0}, t;
	char path[128];

	tmpname(path, sizeof(path));
	strcpy(s.url, "http://dl.example.com/a.iso");
	memset(s.id_hex, 'a', 64);
	s.size = 10 * 1048576 + 1;
	s.piece_size = 1048576;
	s.npieces = 11;
	strcpy(s.etag, "\"abc\"");
	cr_assert_eq(cf_state_alloc(&s), 0);
	cf_state_set_good(&s, 0, true);
	cf_state_set_good(&s, 10, true);
	cr_assert_eq(cf_state_save(path, &s), 0);
	cr_assert_eq(cf_state_load(path, &t), 0);
	cr_assert_str_eq(t.url, s.url);
	cr_assert_str_eq(t.etag, "\"abc\"");
	cr_assert_str_eq(t.last_modified, "");
	cr_assert_eq(t.npieces, 11);
	cr_assert(cf_state_good(&t, 0) && cf_state_good(&t, 10) && !cf_state_good(&t, 5));
	cf_state_fini(&t);
	cf_state_fini(&s);
	unlink(path);
}

Test(state, damaged_refused)
{
	static const char *const bad[] = {
		"not a state file\n",
		"cachebox-fetch-state 1\nurl u\nid short\nsize 1\npiece_size 1\netag -\n"
		"last_modified -\ngood 01\n",
		"cachebox-fetch-state 1\nurl u\nid "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nsize 1\n"
		"piece_size 1\netag -\nlast_modified -\ngood 0102\n",
		"cachebox-fetch-state 1\nurl u\nid "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nsize 1\n"
		"piece_size 0\netag -\nlast_modified -\ngood 01\n",
	};
	struct cf_state t;
	char path[128];

	tmpname(path, sizeof(path));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");

		fputs(bad[i], f);
		fclose(f);
		cr_assert_eq(cf_state_load(path, &t), -EPROTO, "case %zu", i);
	}
	unlink(path);
	cr_assert_eq(cf_state_load(path, &t), -ENOENT);
}
