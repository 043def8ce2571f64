/*
 * libFuzzer target for what cachebox reads from origins: the response-head
 * parser and the Content-Range parser. Checks their promises: a parsed head
 * ends inside the input with its blank line, every header points into the
 * input, and a parsed Content-Range is consistent (first <= last < length).
 * The input is copied into an exact-size heap buffer so ASan reports any
 * over-read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_http.h"
#include "st_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_http_resp resp;
	uint64_t first, last, total;
	char *buf = malloc(size ? size : 1);
	int n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	n = st_http_parse_response(buf, size, &resp);
	CB_ASSERT(n >= -2 && n <= (int)size);
	if (n > 0) {
		CB_ASSERT(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
		CB_ASSERT(resp.status >= 100 && resp.status <= 999);
		for (unsigned i = 0; i < resp.nhdrs; i++) {
			const struct st_http_hdr *h = &resp.hdrs[i];

			CB_ASSERT(h->name.p >= buf && h->name.p + h->name.len <= buf + n);
			CB_ASSERT(h->value.p >= buf && h->value.p + h->value.len <= buf + n);
		}
		if (resp.content_range.len &&
		    st_range_parse_content_range(resp.content_range.p, resp.content_range.len,
						 &first, &last, &total) == 0)
			CB_ASSERT(first <= last && last < total);
	}
	if (st_range_parse_content_range(buf, size, &first, &last, &total) == 0)
		CB_ASSERT(first <= last && last < total);
	free(buf);
	return 0;
}
