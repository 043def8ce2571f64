/*
 * The download: learn the object (size, validators, the box's pieces list),
 * then fetch its pieces in parallel ranged GETs from the current source
 * (the cache hosts in order, then the origin after the fallback delay),
 * verify each against its SHA-256 before it counts as good, write it into
 * FILE.part, keep FILE.cbfetch up to date for -c, and rename into place when
 * every piece is good. A source that fails in any way is set aside and the
 * next one takes over the pieces still missing.
 */
#ifndef CF_FETCH_H
#define CF_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_args.h"
#include "cf_hosts.h"

struct cf_summary {
	uint64_t size;
	uint64_t from_cache; /* BytesFromCacheServer: good pieces from cache hosts */
	uint64_t from_http;  /* BytesFromHttp: good pieces from the origin */
	uint64_t resumed;    /* good before this run (-c) */
	uint32_t pieces, verified, failed, unverified, retries;
	uint32_t origin_pieces;
	double duration_s;
	const char *output;
};

/*
 * Downloads o->url into out (FILE.part and FILE.cbfetch beside it) from
 * hosts[0..n) then the origin; id is the content ID. Fills sum and returns
 * an exit code (CF_EXIT_OK on success), with the reason in err otherwise.
 */
/*
 * Set from a SIGINT or SIGTERM handler: the download stops at its next
 * step, saves the verified pieces to its state file and returns
 * CF_EXIT_INTERRUPTED, so that -c resumes from all it had.
 */
extern volatile sig_atomic_t cf_fetch_interrupted;

int cf_fetch_run(const struct cf_opts *o, const char *out, struct cf_host *hosts, size_t n,
		 const uint8_t id[32], struct cf_summary *sum, char *err, size_t errlen);

#endif
