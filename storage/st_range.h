/*
 * Range requests (RFC 9110 §14): parsing the Range header against a
 * representation length, the abuse caps, and If-Range evaluation. All
 * integers are overflow-checked; nothing allocates.
 */
#ifndef ST_RANGE_H
#define ST_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define ST_RANGE_MAX 16 /* more ranges than this: ignore Range, send 200 */

struct st_range {
	uint64_t first, last; /* inclusive, last < size */
};

enum st_range_result {
	ST_RANGE_NONE,		/* no usable Range: answer 200 with the whole body */
	ST_RANGE_OK,		/* *n satisfiable ranges in request order: 206 */
	ST_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * /size */
};

/*
 * Evaluates the Range field value v[0..len) for a representation of size
 * bytes. The unit is "bytes", case-insensitive (§14.1). Rules:
 *  - syntactically invalid value or another unit -> ST_RANGE_NONE (§14.2
 *    lets a server ignore it; documented 200);
 *  - a range with first > last -> the whole header is invalid ->
 *    ST_RANGE_NONE; a number that overflows 2^64-1 is not an error: an
 *    overflowing first-pos is past the end, an overflowing last-pos or
 *    suffix-length clamps to the end;
 *  - ranges whose first-pos >= size and suffix ranges of length 0 are
 *    unsatisfiable and dropped; if none is left -> ST_RANGE_UNSATISFIABLE;
 *  - last-pos >= size clamps to size-1; suffix -N takes the last N bytes
 *    (all of them if N >= size);
 *  - abuse caps: more than ST_RANGE_MAX ranges, any two satisfiable ranges
 *    that overlap, or a sum of lengths larger than size -> ST_RANGE_NONE.
 * size 0: every range is unsatisfiable.
 */
enum st_range_result st_range_parse(const char *v, size_t len, uint64_t size,
				    struct st_range out[ST_RANGE_MAX], unsigned *n);

/*
 * If-Range (RFC 9110 §13.1.5): 1 if the condition holds (send the range),
 * 0 if not (send 200). A strong entity-tag matches only a strong, equal etag
 * (etag given with its quotes); a weak one never matches. A date matches
 * only if it equals last_modified exactly. An unparsable value is false.
 */
int st_range_if_range(const char *v, size_t len, const char *etag, int64_t last_modified);

/*
 * Parses a Content-Range field value of a 206 (RFC 9110 §14.4):
 * "bytes first-last/complete-length", case-insensitive unit, all three
 * numbers present and consistent (first <= last < length). 0 or -1.
 */
int st_range_parse_content_range(const char *v, size_t len, uint64_t *first, uint64_t *last,
				 uint64_t *complete);

#endif
