/*
 * Logging for every process: one line per event on stderr, prefixed with
 * UTC time, level and process name. The access log of the file server uses
 * cb_log_raw() so its line format is exactly the documented one.
 */
#ifndef CB_LOG_H
#define CB_LOG_H

#include <stdarg.h>

enum cb_log_level { CB_LOG_ERROR, CB_LOG_WARN, CB_LOG_INFO, CB_LOG_DEBUG };

void cb_log_init(const char *procname, enum cb_log_level level);
/* Parses "error|warn|info|debug"; 0 or -EINVAL. */
int cb_log_level_parse(const char *s, enum cb_log_level *out);
enum cb_log_level cb_log_level_get(void);
void cb_log(enum cb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes one already formatted line (no prefix), adding the newline. */
void cb_log_raw(const char *line, int len);

#define cb_err(...)  cb_log(CB_LOG_ERROR, __VA_ARGS__)
#define cb_warn(...) cb_log(CB_LOG_WARN, __VA_ARGS__)
#define cb_info(...) cb_log(CB_LOG_INFO, __VA_ARGS__)
#define cb_dbg(...)                                                                                \
	do {                                                                                       \
		if (cb_log_level_get() >= CB_LOG_DEBUG)                                            \
			cb_log(CB_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

#endif
