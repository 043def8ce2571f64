/*
 * What the downloader's scheduler (cf_fetch.c: sources, transfers, pieces
 * verified and counted) shares with its file side (cf_fetch_file.c:
 * FILE.part, the state file, resume, the final check and the rename). Only
 * those two files include it.
 */
#ifndef CF_FETCH_PRIV_H
#define CF_FETCH_PRIV_H

#include <curl/curl.h>

#include "cb_common.h"
#include "cf_fetch.h"
#include "cf_pieces.h"
#include "cf_progress.h"
#include "cf_state.h"
#include "cf_xfer.h"

#define DEFAULT_PIECE  (1u << 20)
#define ORIGIN_TRIES   5 /* consecutive origin failures before giving up */
#define MAX_RESTARTS   3 /* the object changed under us */
#define STATE_EVERY_NS 1000000000ull
#define URL_MAX	       10240

enum { P_TODO, P_BUSY, P_WRITTEN, P_GOOD };

struct fetch {
	const struct cf_opts *o;
	struct cf_host *hosts;
	size_t nhosts;
	size_t src; /* the current source; nhosts = the origin */
	CURLM *m;
	struct cf_xfer xf[CF_MAX_CONN_LIMIT], probe;
	char origin_host[CF_HOST_NAME_MAX], path_query[URL_MAX - 1024];
	struct cf_state st;
	struct cf_pieces list; /* hashes; list.hashes NULL when none was read */
	uint8_t *pst;	       /* P_* per piece */
	uint8_t *psrc;	       /* per piece: the source it came from (a host index, or nhosts) */
	uint32_t next;	       /* where the search for a TODO piece starts */
	bool any_not_tls;      /* a host was set aside for something other than TLS */
	int fd;
	char part[CB_PATH_TMP], state_path[CB_PATH_TMP];
	uint64_t t0, last_save, done;
	int origin_fails, restarts;
	struct cf_progress prog;
	struct cf_summary *sum;
	char *err;
	size_t errlen;
};

static inline uint64_t fetch_piece_first(const struct fetch *f, uint32_t i)
{
	return (uint64_t)i * f->st.piece_size;
}

static inline uint64_t fetch_piece_last(const struct fetch *f, uint32_t i)
{
	return CB_MIN(fetch_piece_first(f, i) + f->st.piece_size, f->st.size) - 1;
}

/* A line on stderr unless -q (with the progress bar out of the way). */
void fetch_say(const struct fetch *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Piece i (len bytes, from source src) is good: marked and counted. */
void fetch_mark_good(struct fetch *f, uint32_t i, size_t src, uint64_t len);

/* The error writing FILE.part (-errno e): its reason in f->err, exit 11 or 3. */
int fetch_write_error(struct fetch *f, int e);
/* Syncs FILE.part and saves the state file, at most once a second unless force. */
void fetch_save_state(struct fetch *f, bool force);
/* Sizes the per-piece arrays, takes the good pieces of -c and opens FILE.part. */
int fetch_prepare(struct fetch *f);
/* Every piece good: --checksum, sync, rename FILE.part to out. */
int fetch_finish(struct fetch *f, const char *out);

#endif
