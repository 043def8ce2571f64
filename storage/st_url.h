/*
 * Content identity (DESIGN.md "Content identity"): request-target to cache
 * key to content ID. The cache key is the lower-cased origin host followed
 * by the normalised path; the content ID is SHA-256 of the key. Paths are
 * normalised per RFC 3986 §6.2.2: percent-decode unreserved characters
 * only, upper-case the hex of the escapes that stay, remove dot segments
 * (§5.2.4). Anything that could reach outside the key space or confuse a
 * file system is refused: %2F, %00, a backslash (raw or %5C), control
 * bytes, bad escapes, a path not starting with '/'. Raw SP, bytes >= 0x80,
 * '?' and '#' are refused too (clients must encode them); other printable
 * bytes a path may not hold raw (" < > [ ] ^ ` { | }) are percent-encoded.
 */
#ifndef ST_URL_H
#define ST_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_KEY_MAX 8448 /* host + path + query, bounded by ST_HTTP_MAX_URI */
#define ST_ID_LEN  32
#define ST_ID_HEX  64

struct st_target {
	const char *path; /* points into the request-target, before '?' */
	size_t path_len;
	const char *query; /* after '?', without it; NULL if none */
	size_t query_len;
};

/* Splits an origin-form request-target; -1 unless it starts with '/'. */
int st_url_split(const char *target, size_t len, struct st_target *out);

/*
 * Normalises path[0..len) into out (cap bytes, NUL-terminated).
 * Returns the length written, or -1 if the path is refused or does not fit.
 */
int st_url_normalize_path(const char *path, size_t len, char *out, size_t cap);

/*
 * Finds query parameter name in query[0..len) (exact, case-sensitive name)
 * and returns its percent-decoded value in out (cap bytes, NUL-terminated):
 * length, or -1 if absent, malformed, or too long.
 */
int st_url_query_param(const char *query, size_t len, const char *name, char *out, size_t cap);

/*
 * Cache key = lower(host) + normalised path [+ "?" + query when
 * keep_query and the query without cacheHostOrigin is not empty]. Returns
 * the key length, or -1 (bad host characters, bad path, too long).
 */
int st_cache_key(const char *host, size_t host_len, const char *path, size_t path_len,
		 const char *query, size_t query_len, bool keep_query, char *out, size_t cap);

/* content ID = SHA-256(key). */
void st_content_id(const char *key, size_t len, uint8_t id[ST_ID_LEN]);

/*
 * SHA-256 of len bytes at p into out, which cannot fail. OpenSSL 3's
 * one-shot SHA256() fetches the algorithm and allocates a context on each
 * call, and when an allocation fails it returns NULL with out unwritten: a
 * content ID or a piece hash would then be whatever the stack held (two
 * keys could share one ID). The low-level functions used here allocate
 * nothing.
 */
void st_sha256(const void *p, size_t len, uint8_t out[32]);

#endif
