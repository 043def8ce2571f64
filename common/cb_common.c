/* Assertion failure, hex helpers and the process logger (see cb_common.h, cb_log.h). */
#include "cb_common.h"
#include "cb_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *log_proc = "cachebox";
static enum cb_log_level log_level = CB_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cb_assert_fail(const char *cond, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s: internal error: assertion '%s' failed at %s:%d (%s)\n", log_proc, cond,
		file, line, func);
	fflush(stderr);
	abort();
}

int cb_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void cb_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int cb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -EINVAL;
}

int cb_hex_decode(const char *in, size_t hexlen, uint8_t *out)
{
	if (hexlen % 2)
		return -EINVAL;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = cb_hex_digit(in[2 * i]), lo = cb_hex_digit(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void cb_log_init(const char *procname, enum cb_log_level level)
{
	log_proc = procname;
	log_level = level;
}

int cb_log_level_parse(const char *s, enum cb_log_level *out)
{
	for (size_t i = 0; i < CB_ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum cb_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

enum cb_log_level cb_log_level_get(void)
{
	return log_level;
}

void cb_log(enum cb_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_proc, (int)getpid(), level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += CB_MIN(m, (int)sizeof(line) - n - 2);
	cb_log_raw(line, n);
}

void cb_log_raw(const char *line, int len)
{
	struct iovec iov[2] = {{(void *)(uintptr_t)line, (size_t)len}, {(void *)"\n", 1}};

	/* One writev per line keeps lines from different threads whole. */
	if (writev(STDERR_FILENO, iov, 2) < 0)
		return;
}
