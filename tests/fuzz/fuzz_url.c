/*
 * libFuzzer target for st_url: the input is a request-target, split into
 * path and query; the path is normalised (the result must start with '/',
 * hold no dot segment, no %2F, no backslash, and normalise to itself), the
 * cacheHostOrigin parameter read and, if present, used as the host of a
 * cache key with and without the query, then hashed to a content ID. The
 * input is copied into an exact-size heap buffer so ASan reports over-reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p, int n)
{
	CB_ASSERT(n >= 1 && p[0] == '/' && p[n] == '\0');
	CB_ASSERT(strlen(p) == (size_t)n);
	CB_ASSERT(memmem(p, (size_t)n, "/./", 3) == NULL);
	CB_ASSERT(memmem(p, (size_t)n, "/../", 4) == NULL);
	CB_ASSERT(!(n >= 2 && strcmp(p + n - 2, "/.") == 0));
	CB_ASSERT(!(n >= 3 && strcmp(p + n - 3, "/..") == 0));
	CB_ASSERT(strchr(p, '\\') == NULL);
	CB_ASSERT(strstr(p, "%2F") == NULL && strstr(p, "%2f") == NULL);
	CB_ASSERT(strstr(p, "%00") == NULL && strstr(p, "%5C") == NULL);
	for (int i = 0; i < n; i++)
		CB_ASSERT((unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char norm[ST_KEY_MAX], again[ST_KEY_MAX], host[256], key[ST_KEY_MAX];
	char *buf = malloc(size ? size : 1);
	struct st_target t;
	uint8_t id[ST_ID_LEN];
	int n, m, h;

	memcpy(buf, data, size);
	/* the raw input as a path and as a query, whatever it holds */
	n = st_url_normalize_path(buf, size, norm, sizeof(norm));
	if (n >= 0)
		check_path(norm, n);
	h = st_url_query_param(buf, size, "cacheHostOrigin", host, sizeof(host));
	if (h >= 0)
		CB_ASSERT((size_t)h == strlen(host));

	if (st_url_split(buf, size, &t) != 0)
		goto out;
	CB_ASSERT(t.path_len <= size && t.path_len >= 1);
	n = st_url_normalize_path(t.path, t.path_len, norm, sizeof(norm));
	if (n >= 0) {
		check_path(norm, n);
		m = st_url_normalize_path(norm, (size_t)n, again, sizeof(again));
		CB_ASSERT(m == n && memcmp(norm, again, (size_t)n + 1) == 0);
	}
	h = -1;
	if (t.query != NULL)
		h = st_url_query_param(t.query, t.query_len, "cacheHostOrigin", host, sizeof(host));
	if (h < 0) {
		memcpy(host, "example.com", 12);
		h = 11;
	}
	for (int keep = 0; keep < 2; keep++) {
		int k = st_cache_key(host, (size_t)h, t.path, t.path_len, t.query, t.query_len,
				     keep, key, sizeof(key));

		const char *q;

		if (k < 0)
			continue;
		CB_ASSERT((size_t)k == strlen(key) && k >= h + 1);
		CB_ASSERT(n >= 0 && memcmp(key + h, norm, (size_t)n) == 0);
		/* the path holds no '?', so a '?' starts the kept query */
		q = strchr(key, '?');
		CB_ASSERT(q == NULL || keep);
		CB_ASSERT(q == NULL || (strncmp(q, "?cacheHostOrigin=", 17) != 0 &&
					strstr(q, "&cacheHostOrigin=") == NULL));
		st_content_id(key, (size_t)k, id);
	}
out:
	free(buf);
	return 0;
}
