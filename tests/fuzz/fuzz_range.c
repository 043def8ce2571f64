/*
 * libFuzzer target for st_range: the input is a Range value evaluated
 * against several representation sizes (0, 1, small, large, 2^64-1), and an
 * If-Range value. Checks what st_range.h promises: satisfiable ranges lie
 * inside the body, are ordered first <= last, never overlap, add up to at
 * most the size, and there are at most ST_RANGE_MAX of them. The input is
 * copied into an exact-size heap buffer so ASan reports any over-read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

	r = st_range_if_range(v, size, "\"abc\"", 784111777);
	CB_ASSERT(r == 0 || r == 1);
	if (r == 1)
		CB_ASSERT((size == 5 && memcmp(v, "\"abc\"", 5) == 0) || size == 29);
	CB_ASSERT(st_range_if_range(v, size, "W/\"abc\"", 784111777) == 0 || size == 29);
	free(v);
	return 0;
}
