/*
 * libFuzzer target of the group key file parser (dataplane/dp_keys.c):
 * arbitrary bytes, without a NUL terminator, go to dp_keys_parse. A file
 * that parses must hold 1..DP_KEYS_MAX keys of legal lengths with unique
 * IDs; one that does not must leave no key behind and name the file.
 */
#include "dp_keys.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dp_keys ks;
	char err[256];
	char *buf = malloc(size ? size : 1);
	int ret;

	CHECK(buf);
	memcpy(buf, data, size);
	ret = dp_keys_parse(&ks, "k", buf, size, err, sizeof(err));
	if (ret == 0) {
		CHECK(ks.n >= 1 && ks.n <= DP_KEYS_MAX);
		for (unsigned i = 0; i < ks.n; i++) {
			CHECK(ks.keys[i].len >= DP_KEY_MIN && ks.keys[i].len <= DP_KEY_MAX);
			CHECK(dp_keys_find(&ks, ks.keys[i].id) == &ks.keys[i]);
		}
	} else {
		CHECK(ret == -EINVAL);
		CHECK(ks.n == 0);
		CHECK(strncmp(err, "k", 1) == 0);
	}
	free(buf);
	return 0;
}
