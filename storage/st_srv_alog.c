/*
 * The file server's access log: one line per response, written into the
 * worker's buffer when the response ends (or is cut short) and flushed to
 * the access log fd by the sweep, when the buffer is nearly full, and at
 * stop. Each worker has its own buffer, so there is no lock. The line
 * format is a contract (docs/storage.md): time, client, method, content
 * ID, range, status, bytes, result, source and duration. The request
 * figures of stats (requests, hits, misses, errors by class) are counted
 * here too, from the fields of the same line, so the two always agree.
 */
#include "st_srv.h"

#include "cb_io.h"
#include "cb_log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The buffer goes out in one write. When the log cannot be written (a full
 * disk) the lines are dropped, not kept: serving goes on, and the failure
 * is said at most once per ALOG_WARN_INTERVAL_NS.
 */
void st_srv_alog_flush(struct worker *w)
{
	int fd = w->srv->conf.access_fd >= 0 ? w->srv->conf.access_fd : STDERR_FILENO;
	int ret = cb_write_all(fd, w->alog, w->alog_len);

	if (ret) {
		uint64_t now = cb_now_ns();

		if (!w->last_alog_warn || now - w->last_alog_warn >= ALOG_WARN_INTERVAL_NS) {
			cb_warn("worker %u: access log: %s; its lines are dropped until it can be "
				"written",
				w->idx, strerror(-ret));
			w->last_alog_warn = now;
		}
	}
	w->alog_len = 0;
}

/*
 * The result and source fields of each result, and the counter of stats
 * each adds to. The source says where the body came from: neither the
 * cache nor an origin for a 503 that looked no object up (slot or cap).
 */
static const struct {
	const char *name, *source;
	size_t counter; /* offset in struct cb_worker_stats; 0: none */
} results[RESULT_COUNT] = {
	[RESULT_NONE] = {"-", "-", 0},
	[RESULT_HIT] = {"HIT", "cache", offsetof(struct cb_worker_stats, hits)},
	[RESULT_MISS] = {"MISS", "origin", offsetof(struct cb_worker_stats, misses)},
	[RESULT_PARTIAL] = {"PARTIAL", "origin", offsetof(struct cb_worker_stats, misses)},
	[RESULT_BUSY] = {"BUSY", "-", 0},
	[RESULT_CAPPED] = {"CAPPED", "-", 0},
};

/* time client method content-id range status bytes HIT|MISS|PARTIAL source duration */
static void alog_line(struct worker *w, struct conn *c)
{
	uint64_t dur_us = (cb_now_ns() - c->t_start) / 1000;
	struct timespec ts;
	struct tm tm;
	int n;

	CB_ASSERT(c->result < RESULT_COUNT && results[c->result].name);
	if (w->alog_len + 512 > ALOG_CAP)
		st_srv_alog_flush(w);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(
		w->alog + w->alog_len, ALOG_CAP - w->alog_len,
		"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s %s %d %llu %s %s %llu.%03llums\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, c->peer, c->method[0] ? c->method : "-",
		c->id_hex[0] ? c->id_hex : "-", c->range_desc[0] ? c->range_desc : "-", c->status,
		(unsigned long long)c->body_sent, results[c->result].name,
		results[c->result].source, (unsigned long long)(dur_us / 1000),
		(unsigned long long)(dur_us % 1000));
	if (n > 0)
		w->alog_len += CB_MIN((size_t)n, ALOG_CAP - w->alog_len - 1);
}

/*
 * The response is over, sent or cut short: its last object bytes are
 * counted, then the request with the status class and result its line
 * shows. Every answer ends here once, whatever path built it, so no error
 * is counted twice or missed, and `stats` adds up to the access log.
 */
void st_srv_response_log(struct worker *w, struct conn *c)
{
	struct cb_worker_stats *s = w->stats;

	CB_ASSERT(c->result < RESULT_COUNT);
	st_srv_count_served(w, c);
	s->requests++;
	if (c->status >= 500)
		s->status_5xx++;
	else if (c->status >= 400)
		s->status_4xx++;
	if (results[c->result].counter)
		(*(uint64_t *)((char *)s + results[c->result].counter))++;
	alog_line(w, c);
}
