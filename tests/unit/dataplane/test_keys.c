/*
 * The group key file reader: good files, every bad line with its message
 * (which must never carry key bytes), duplicates, limits, and the mode
 * check on a real file.
 */
#include "dp_keys.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static struct dp_keys ks;
static char err[256];

static int parse(const char *text)
{
	return dp_keys_parse(&ks, "k.txt", text, strlen(text), err, sizeof(err));
}

TestSuite(keys);

Test(keys, good_file)
{
	cr_assert_eq(
		parse("# keys\n\n1 " K64 "\n  4294967295\t" K64 "FF # next\r\n7 " K64 K64 "\n"), 0,
		"%s", err);
	cr_assert_eq(ks.n, 3);
	cr_assert_eq(ks.keys[0].id, 1);
	cr_assert_eq(ks.keys[0].len, 32);
	cr_assert_eq(ks.keys[0].bytes[31], 0x1f);
	cr_assert_eq(dp_keys_find(&ks, 4294967295u)->len, 33);
	cr_assert_eq(dp_keys_find(&ks, 7)->len, 64);
	cr_assert_null(dp_keys_find(&ks, 2));
	cr_assert_eq(parse("0 " K64), 0, "no final newline: %s", err);
	cr_assert_eq(ks.keys[0].id, 0);
}

struct bad {
	const char *text, *want;
};

Test(keys, bad_files)
{
	static const struct bad cases[] = {
		{"", "k.txt: no key in key file (expected 'KEY_ID HEX' lines)"},
		{"# only\n\n", "k.txt: no key in key file (expected 'KEY_ID HEX' lines)"},
		{"1\n", "k.txt:1: expected 'KEY_ID HEX'"},
		{"\n1 " K64 " x\n", "k.txt:2: expected 'KEY_ID HEX'"},
		{"x " K64 "\n", "k.txt:1: bad KEY_ID (expected a decimal number up to 4294967295)"},
		{"-1 " K64 "\n",
		 "k.txt:1: bad KEY_ID (expected a decimal number up to 4294967295)"},
		{"4294967296 " K64 "\n",
		 "k.txt:1: bad KEY_ID (expected a decimal number up to 4294967295)"},
		{"1 0011\n", "k.txt:1: key too short (expected at least 64 hex digits, 32 bytes)"},
		{"1 " K64 K64 K64 K64 "00\n",
		 "k.txt:1: key too long (at most 256 hex digits, 128 bytes)"},
		{"1 " K64 "0\n", "k.txt:1: bad key (expected an even number of hex digits)"},
		{"1 " K64 "zz\n", "k.txt:1: bad key (expected an even number of hex digits)"},
		{"1 " K64 "\n01 " K64 "\n", "k.txt:2: duplicate KEY_ID 1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse(cases[i].text), -EINVAL, "case %zu", i);
		cr_assert_str_eq(err, cases[i].want, "case %zu", i);
		cr_assert_eq(ks.n, 0);
		cr_assert_null(strstr(err, "0001020304"), "key bytes in message");
	}
	cr_assert_eq(dp_keys_parse(&ks, "k.txt", "1 " K64 "\0", 67, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "k.txt: NUL byte in key file");
}

Test(keys, too_many_keys)
{
	static char text[(DP_KEYS_MAX + 1) * 80];
	size_t n = 0;

	for (unsigned i = 0; i < DP_KEYS_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%u %s\n", i, K64);
	cr_assert_eq(parse(text), 0, "%s", err);
	cr_assert_eq(ks.n, DP_KEYS_MAX);
	snprintf(text + n, sizeof(text) - n, "%u %s\n", DP_KEYS_MAX, K64);
	cr_assert_eq(parse(text), -EINVAL);
	cr_assert_str_eq(err, "k.txt:65: too many keys (max 64)");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

Test(keys, load_checks_mode)
{
	char dir[] = "/tmp/dp_keys_XXXXXX", path[64], want[256];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/group.key", dir);
	write_file(path, "5 " K64 "\n", 0600);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(dp_keys_find(&ks, 5));
	write_file(path, "5 " K64 "\n", 0400);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), 0, "%s", err);

	write_file(path, "5 " K64 "\n", 0640);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "%s: key file has mode 0640, group or others may read or write it; run chmod "
		 "600 %s",
		 path, path);
	cr_assert_str_eq(err, want);
	cr_assert_eq(ks.n, 0);
	write_file(path, "5 " K64 "\n", 0602);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), -EACCES);

	write_file(path, "5 zz\n", 0600);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:1: key too short (expected at least 64 hex digits, 32 bytes)", path);
	cr_assert_str_eq(err, want);

	cr_assert_eq(dp_keys_load(&ks, dir, err, sizeof(err)), -EINVAL, "a directory: %s", err);
	unlink(path);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "cannot open key file"));
	rmdir(dir);
}

Test(keys, load_too_large)
{
	char path[] = "/tmp/dp_keys_big_XXXXXX";
	int fd = mkstemp(path);
	static char blank[DP_KEYS_FILE_MAX + 1];

	cr_assert_geq(fd, 0);
	memset(blank, '\n', sizeof(blank));
	cr_assert_eq(write(fd, blank, sizeof(blank)), (ssize_t)sizeof(blank));
	close(fd);
	cr_assert_eq(dp_keys_load(&ks, path, err, sizeof(err)), -EFBIG);
	unlink(path);
}

Test(keys, wipe)
{
	cr_assert_eq(parse("1 " K64 "\n"), 0);
	dp_keys_wipe(&ks);
	cr_assert_eq(ks.n, 0);
	cr_assert_eq(ks.keys[0].bytes[31], 0);
	dp_keys_wipe(NULL);
}
