/*
 * What the download shows while it runs, on stderr: a progress bar redrawn in
 * place when stderr is a terminal (bytes, rate, ETA, the share from the
 * cache), a plain line every few seconds when it is not, nothing with -q.
 */
#ifndef CF_PROGRESS_H
#define CF_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct cf_progress {
	bool tty, quiet, drawn;
	uint64_t t0_ns, last_ns, last_bytes;
	double rate; /* bytes/s, smoothed */
};

void cf_progress_init(struct cf_progress *p, bool quiet);

/*
 * Shows done of size bytes (from_cache of them from cache hosts) via source,
 * at most every 200 ms on a terminal and every 5 s otherwise; final forces a
 * last line (and ends the bar's line).
 */
void cf_progress_show(struct cf_progress *p, uint64_t done, uint64_t size, uint64_t from_cache,
		      const char *source, bool final);

#endif
