/*
 * Small pieces shared by every cachebox process: always-on assertions,
 * branch hints, array sizes, monotonic time, digits and lower-case hex. Nothing here
 * allocates or can fail.
 */
#ifndef CB_COMMON_H
#define CB_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define likely(x)	 __builtin_expect(!!(x), 1)
#define unlikely(x)	 __builtin_expect(!!(x), 0)
#define CB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CB_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define CB_MAX(a, b)	 ((a) > (b) ? (a) : (b))
#define CB_CACHELINE	 64
#define CB_PATH_TMP	 1024 /* paths we build: shard dir + object name */

/* Invariant checks stay on in release builds: they guard our bugs, not input. */
#define CB_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (unlikely(!(cond)))                                                             \
			cb_assert_fail(#cond, __FILE__, __LINE__, __func__);                       \
	} while (0)

void cb_assert_fail(const char *cond, const char *file, int line, const char *func)
	__attribute__((noreturn, cold));

static inline uint64_t cb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t cb_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* snprintf that reports truncation: 0 or -ENAMETOOLONG (out is always terminated). */
int cb_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes 2*len lower-case hex digits and a NUL to out (2*len+1 bytes). */
void cb_hex_encode(const uint8_t *in, size_t len, char *out);
/* The value of one hex digit (either case), or -EINVAL. */
int cb_hex_digit(char c);

/* An ASCII decimal digit: what every parser of ours means by DIGIT (RFC 5234 B.1). */
static inline int cb_is_digit(char c)
{
	return c >= '0' && c <= '9';
}
/* Decodes exactly 2*len hex digits (either case); 0 or -EINVAL. */
int cb_hex_decode(const char *in, size_t hexlen, uint8_t *out);

#endif
