/*
 * The downloader's scheduler. One source at a time, as a Delivery
 * Optimization client with a Connected Cache does: the first cache host that
 * is not set aside, else the origin once --fallback-delay has passed since the
 * start. On that source up to -x transfers run at once on kept libcurl
 * handles (keep-alive), each one piece-aligned ranged GET into a piece-sized
 * buffer. A finished piece is checked against the SHA-256 of the box's pieces
 * list; only then is it written and marked good in the state file. A piece
 * whose hash is not known yet (the box was still filling it when the list
 * was read) is written but not marked good: the list is read again and the
 * piece is checked from the file. Any failure of a cache host — connect
 * error, timeout, stall, 5xx, a bad answer, a wrong piece — sets it aside;
 * its pieces in flight go back to the queue for the next source. The origin
 * is retried a few times before the download fails.
 */
#include "cf_fetch.h"
#include "cf_fetch_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/sha.h>

#include "cb_common.h"
#include "cb_io.h"
#include "cf_pieces.h"
#include "cf_progress.h"
#include "cf_state.h"
#include "cf_xfer.h"

void fetch_say(const struct fetch *f, const char *fmt, ...)
{
	va_list ap;

	if (f->o->quiet)
		return;
	if (f->prog.drawn)
		fputc('\n', stderr);
	fputs("cachebox-fetch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *src_name(const struct fetch *f)
{
	return f->src < f->nhosts ? f->hosts[f->src].base : "the origin";
}

/* The URL of the object (or of its pieces list) on the current source. */
static void object_url(const struct fetch *f, bool pieces, char *out, size_t cap)
{
	const struct cf_host *h = &f->hosts[f->src];

	if (f->src == f->nhosts)
		snprintf(out, cap, "%s", f->o->url);
	else if (pieces || h->id_form)
		snprintf(out, cap, "%s/_cachebox/%s/%s", h->base, pieces ? "pieces" : "content",
			 f->st.id_hex);
	else
		snprintf(out, cap, "%s%s%scacheHostOrigin=%s", h->base, f->path_query,
			 strchr(f->path_query, '?') ? "&" : "?", f->origin_host);
}

/*
 * With --no-origin and every host set aside: exit 5 when TLS is what failed
 * them all (a missing --cacert, say), else 4.
 */
static int no_origin_exit(const struct fetch *f)
{
	return f->nhosts && !f->any_not_tls ? CF_EXIT_TLS : CF_EXIT_NETWORK;
}

/* Sets the current host aside with why (r: the outcome), and puts its pieces in flight back. */
static void set_aside(struct fetch *f, enum cf_outcome r, const char *why)
{
	struct cf_host *h = &f->hosts[f->src];

	CB_ASSERT(f->src < f->nhosts);
	for (int i = 0; i < f->o->max_conn; i++)
		if (f->xf[i].busy) {
			curl_multi_remove_handle(f->m, f->xf[i].h);
			f->xf[i].busy = false;
			f->pst[f->xf[i].piece] = P_TODO;
			h->retries++;
			f->sum->retries++;
		}
	h->set_aside = true;
	if (r != CF_TLS)
		f->any_not_tls = true;
	snprintf(h->why, sizeof(h->why), "%s", why);
	fetch_say(f, "%s set aside: %s", h->base, why);
	while (f->src < f->nhosts && f->hosts[f->src].set_aside)
		f->src++;
	if (f->src < f->nhosts)
		fetch_say(f, "going on with %s", f->hosts[f->src].base);
	f->next = 0;
}

/* The download ends on the origin's failure r: the reason, and the exit code it maps to. */
static int origin_failed(struct fetch *f, enum cf_outcome r, const char *why)
{
	snprintf(f->err, f->errlen, "the origin: %s", why);
	switch (r) {
	case CF_TLS:
		return CF_EXIT_TLS;
	case CF_HTTP:
		return CF_EXIT_SERVER;
	case CF_NET:
		return CF_EXIT_NETWORK;
	default:
		return CF_EXIT_PROTOCOL;
	}
}

/* Blocks until the fallback delay has passed: the origin is not asked before. */
static void wait_fallback(struct fetch *f)
{
	uint64_t until = f->t0 + (uint64_t)(f->o->fallback_delay_s * 1e9), now = cb_now_ns();

	if (now >= until)
		return;
	fetch_say(f, "no cache host left: waiting %.1f s (--fallback-delay) before the origin",
		  (double)(until - now) / 1e9);
	while ((now = cb_now_ns()) < until) {
		struct timespec ts = {0, (long)CB_MIN(until - now, 100000000ull)};

		nanosleep(&ts, NULL);
	}
}

/* Runs one exchange on the probe handle to its end. */
static enum cf_outcome run_probe(struct fetch *f, enum cf_xfer_kind kind, const char *url,
				 char *why, size_t whylen)
{
	CURLcode code;

	if (cf_xfer_prepare(&f->probe, f->o, kind, url, f->src == f->nhosts, 0, 0, NULL) < 0) {
		snprintf(why, whylen, "out of memory");
		return CF_NET;
	}
	code = curl_easy_perform(f->probe.h);
	return cf_xfer_outcome(&f->probe, code, 0, why, whylen);
}

/* Reads the pieces list from the current host into f->list; false if there is none. */
static bool read_list(struct fetch *f)
{
	char url[URL_MAX], why[256];
	struct cf_pieces p;

	if (f->src == f->nhosts)
		return false;
	object_url(f, true, url, sizeof(url));
	if (run_probe(f, CF_X_SMALL, url, why, sizeof(why)) != CF_OK ||
	    cf_pieces_parse((const char *)f->probe.buf, f->probe.len, &p) < 0)
		return false;
	if (p.size != f->st.size || (f->st.piece_size && p.piece_size != f->st.piece_size)) {
		cf_pieces_fini(&p);
		return false;
	}
	if (f->list.hashes) { /* keep what is known, add what is new */
		for (uint32_t i = 0; i < p.npieces; i++)
			if (p.known[i] && !f->list.known[i]) {
				memcpy(f->list.hashes + (size_t)i * 32, p.hashes + (size_t)i * 32,
				       32);
				f->list.known[i] = true;
			}
		cf_pieces_fini(&p);
	} else {
		f->list = p;
	}
	return true;
}

/* The object's size and validators from the current source, then its pieces list. */
static int learn(struct fetch *f)
{
	char url[URL_MAX], why[256];
	enum cf_outcome r;

	for (;;) {
		if (f->src == f->nhosts) {
			if (f->o->no_origin) {
				snprintf(f->err, f->errlen,
					 "no cache host could serve %s (--no-origin)", f->o->url);
				return no_origin_exit(f);
			}
			wait_fallback(f);
		}
		object_url(f, false, url, sizeof(url));
		r = run_probe(f, CF_X_HEAD, url, why, sizeof(why));
		if (r == CF_OK)
			break;
		if (f->src < f->nhosts) {
			set_aside(f, r, why);
			continue;
		}
		return origin_failed(f, r, why);
	}
	f->st.size = f->probe.content_length;
	snprintf(f->st.etag, sizeof(f->st.etag), "%s", f->probe.etag);
	snprintf(f->st.last_modified, sizeof(f->st.last_modified), "%s", f->probe.last_modified);
	cf_pieces_fini(&f->list);
	f->st.piece_size = 0; /* the box's, when it has a list */
	f->st.piece_size = read_list(f) ? f->list.piece_size : DEFAULT_PIECE;
	return CF_EXIT_OK;
}

static bool hash_ok(const struct fetch *f, uint32_t i, const uint8_t *data, size_t len)
{
	uint8_t md[32];

	SHA256(data, len, md);
	return !memcmp(md, f->list.hashes + (size_t)i * 32, 32);
}

void fetch_mark_good(struct fetch *f, uint32_t i, size_t src, uint64_t len)
{
	f->pst[i] = P_GOOD;
	cf_state_set_good(&f->st, i, true);
	f->done += len;
	if (src < f->nhosts) {
		f->hosts[src].bytes += len;
		f->hosts[src].pieces_ok++;
		f->sum->from_cache += len;
	} else {
		f->sum->from_http += len;
		f->sum->origin_pieces++;
	}
}

/* A piece arrived whole from source src: verify, write, count. */
static int piece_done(struct fetch *f, struct cf_xfer *x, size_t src)
{
	uint32_t i = x->piece;
	bool known = f->list.hashes && f->list.known[i];
	int e;

	if (known && !hash_ok(f, i, x->buf, x->len)) {
		f->pst[i] = P_TODO;
		f->sum->failed++;
		if (src < f->nhosts) {
			char why[64];

			f->hosts[src].pieces_failed++;
			snprintf(why, sizeof(why), "piece %u failed its SHA-256", i);
			set_aside(f, CF_PROTO, why);
		} else {
			snprintf(f->err, f->errlen,
				 "piece %u from the origin does not match the cache's SHA-256", i);
			return CF_EXIT_INTEGRITY;
		}
		return CF_EXIT_OK;
	}
	e = cb_pwrite_all(f->fd, x->buf, x->len, x->first);
	if (e)
		return fetch_write_error(f, e);
	if (known) {
		f->sum->verified++;
		fetch_mark_good(f, i, src, x->len);
	} else {
		f->pst[i] = P_WRITTEN; /* good once its hash is known and matches */
		f->psrc[i] = (uint8_t)src;
	}
	return CF_EXIT_OK;
}

static bool next_todo(struct fetch *f, uint32_t *out)
{
	for (; f->next < f->st.npieces; f->next++)
		if (f->pst[f->next] == P_TODO) {
			*out = f->next++;
			return true;
		}
	return false;
}

/* Starts transfers on the current source up to -x. */
static int start_more(struct fetch *f)
{
	char url[URL_MAX];
	uint32_t i;

	object_url(f, false, url, sizeof(url));
	for (int k = 0; k < f->o->max_conn; k++) {
		struct cf_xfer *x = &f->xf[k];
		const char *ifr = *f->st.etag ? f->st.etag : f->st.last_modified;

		if (x->busy)
			continue;
		if (!next_todo(f, &i))
			break;
		if (cf_xfer_prepare(x, f->o, CF_X_PIECE, url, f->src == f->nhosts,
				    fetch_piece_first(f, i), fetch_piece_last(f, i), ifr) < 0)
			return -ENOMEM;
		x->piece = i;
		x->src = (int)f->src;
		f->pst[i] = P_BUSY;
		curl_multi_add_handle(f->m, x->h);
	}
	return 0;
}

static struct cf_xfer *xfer_of(struct fetch *f, CURL *h)
{
	for (int k = 0; k < f->o->max_conn; k++)
		if (f->xf[k].h == h)
			return &f->xf[k];
	return NULL;
}

/* The object changed at its source: everything starts over. */
static int restart(struct fetch *f, const char *why)
{
	fetch_say(f, "%s: %s; starting over", src_name(f), why);
	if (++f->restarts > MAX_RESTARTS) {
		snprintf(f->err, f->errlen, "the object keeps changing at %s", src_name(f));
		return CF_EXIT_PROTOCOL;
	}
	for (int k = 0; k < f->o->max_conn; k++)
		if (f->xf[k].busy) {
			curl_multi_remove_handle(f->m, f->xf[k].h);
			f->xf[k].busy = false;
		}
	memset(f->st.good, 0, (size_t)f->st.npieces / 8 + 1);
	memset(f->pst, P_TODO, f->st.npieces);
	f->sum->from_cache = f->sum->from_http = f->done = 0;
	f->st.etag[0] = f->st.last_modified[0] = 0;
	f->next = 0;
	return -EAGAIN;
}

/* One finished transfer. CF_EXIT_OK to go on, -EAGAIN to start over, or an exit code. */
static int on_finished(struct fetch *f, struct cf_xfer *x, CURLcode code)
{
	size_t src = (size_t)x->src;
	char why[320];
	enum cf_outcome r;

	curl_multi_remove_handle(f->m, x->h);
	r = cf_xfer_outcome(x, code, f->st.size, why, sizeof(why));
	if (src != f->src) { /* a leftover of a source set aside meanwhile */
		if (f->pst[x->piece] == P_BUSY)
			f->pst[x->piece] = P_TODO;
		return CF_EXIT_OK;
	}
	if (r == CF_OK) {
		if (src == f->nhosts)
			f->origin_fails = 0;
		return piece_done(f, x, src);
	}
	if (r == CF_CHANGED)
		return restart(f, why);
	f->pst[x->piece] = P_TODO;
	f->next = CB_MIN(f->next, x->piece);
	if (src < f->nhosts) {
		set_aside(f, r, why);
		return CF_EXIT_OK;
	}
	f->sum->retries++;
	if (++f->origin_fails >= ORIGIN_TRIES) {
		return origin_failed(f, r, why);
	}
	return CF_EXIT_OK;
}

static bool busy_any(const struct fetch *f)
{
	for (int k = 0; k < f->o->max_conn; k++)
		if (f->xf[k].busy)
			return true;
	return false;
}

volatile sig_atomic_t cf_fetch_interrupted;

/* Fetches every piece not good yet. CF_EXIT_OK, -EAGAIN (start over) or an exit code. */
static int fetch_all(struct fetch *f)
{
	int ret, still;

	for (;;) {
		if (f->src == f->nhosts && !busy_any(f)) {
			if (f->o->no_origin) {
				snprintf(f->err, f->errlen,
					 "every cache host was set aside (--no-origin)");
				return no_origin_exit(f);
			}
			wait_fallback(f);
		}
		if (start_more(f) < 0) {
			snprintf(f->err, f->errlen, "out of memory");
			return CF_EXIT_GENERIC;
		}
		if (!busy_any(f))
			return CF_EXIT_OK; /* nothing left to fetch */
		curl_multi_perform(f->m, &still);
		curl_multi_poll(f->m, NULL, 0, 100, NULL);
		curl_multi_perform(f->m, &still);
		for (CURLMsg *msg; (msg = curl_multi_info_read(f->m, &still));) {
			struct cf_xfer *x;

			if (msg->msg != CURLMSG_DONE || !(x = xfer_of(f, msg->easy_handle)) ||
			    !x->busy)
				continue;
			ret = on_finished(f, x, msg->data.result);
			if (ret)
				return ret;
		}
		fetch_save_state(f, cf_fetch_interrupted);
		if (cf_fetch_interrupted) {
			snprintf(f->err, f->errlen,
				 "interrupted: %llu of %llu bytes kept in %s; -c resumes",
				 (unsigned long long)f->done, (unsigned long long)f->st.size,
				 f->part);
			return CF_EXIT_INTERRUPTED;
		}
		cf_progress_show(&f->prog, f->done, f->st.size, f->sum->from_cache, src_name(f),
				 false);
	}
}

/*
 * Pieces written without a known hash: read the list again (from the current
 * host) and check them from the file. A mismatch goes back to the queue; one
 * whose hash stays unknown (no host has a list) stays written, unverified.
 */
static int verify_written(struct fetch *f, bool *again)
{
	uint8_t *buf = malloc(f->st.piece_size);
	uint32_t pending = 0;
	int ret = CF_EXIT_OK;

	*again = false;
	if (!buf)
		return CF_EXIT_GENERIC;
	for (uint32_t i = 0; i < f->st.npieces; i++)
		pending += f->pst[i] == P_WRITTEN;
	if (pending && f->src < f->nhosts)
		read_list(f);
	for (uint32_t i = 0; i < f->st.npieces && pending; i++) {
		uint64_t len = fetch_piece_last(f, i) - fetch_piece_first(f, i) + 1;
		size_t got;

		if (f->pst[i] != P_WRITTEN || !f->list.hashes || !f->list.known[i])
			continue;
		if (cb_pread_full(f->fd, buf, len, fetch_piece_first(f, i), &got) || got != len) {
			ret = fetch_write_error(f, -EIO);
			break;
		}
		if (hash_ok(f, i, buf, len)) {
			f->sum->verified++;
			fetch_mark_good(f, i, f->psrc[i], len);
		} else { /* as if it had failed on arrival: its source is set aside */
			size_t src = f->psrc[i];

			f->pst[i] = P_TODO;
			f->sum->failed++;
			*again = true;
			if (src == f->nhosts) {
				snprintf(f->err, f->errlen,
					 "piece %u from the origin does not match the cache's "
					 "SHA-256",
					 i);
				ret = CF_EXIT_INTEGRITY;
				break;
			}
			f->hosts[src].pieces_failed++;
			if (src == f->src) {
				char why[64];

				snprintf(why, sizeof(why), "piece %u failed its SHA-256", i);
				set_aside(f, CF_PROTO, why);
			}
		}
	}
	free(buf);
	return ret;
}

/* Splits o->url into the origin host (for cacheHostOrigin) and the path with its query. */
static int split_url(struct fetch *f)
{
	CURLU *u = curl_url();
	char *host = NULL, *path = NULL, *query = NULL;
	int ret = -EINVAL;

	if (!u || curl_url_set(u, CURLUPART_URL, f->o->url, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (strlen(host) >= sizeof(f->origin_host) ||
	    (size_t)snprintf(f->path_query, sizeof(f->path_query), "%s%s%s", path, query ? "?" : "",
			     query ? query : "") >= sizeof(f->path_query))
		goto out;
	snprintf(f->origin_host, sizeof(f->origin_host), "%s", host);
	ret = 0;
out:
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return ret;
}

static int run(struct fetch *f, const char *out)
{
	bool again;
	int ret;

	for (;;) {
		ret = learn(f);
		if (ret)
			return ret;
		ret = fetch_prepare(f);
		if (ret)
			return ret;
		fetch_save_state(f, true);
		do {
			ret = fetch_all(f);
			if (ret == CF_EXIT_OK)
				ret = verify_written(f, &again);
			else
				again = false;
		} while (ret == CF_EXIT_OK && again);
		if (ret != -EAGAIN)
			break;
	}
	if (ret == CF_EXIT_OK)
		ret = fetch_finish(f, out);
	else
		fetch_save_state(f, true);
	return ret;
}

int cf_fetch_run(const struct cf_opts *o, const char *out, struct cf_host *hosts, size_t n,
		 const uint8_t id[32], struct cf_summary *sum, char *err, size_t errlen)
{
	struct fetch f = {.o = o,
			  .hosts = hosts,
			  .nhosts = n,
			  .fd = -1,
			  .sum = sum,
			  .err = err,
			  .errlen = errlen};
	int ret = CF_EXIT_GENERIC;

	memset(sum, 0, sizeof(*sum));
	f.t0 = cb_now_ns();
	cf_progress_init(&f.prog, o->quiet);
	cb_hex_encode(id, 32, f.st.id_hex);
	snprintf(f.st.url, sizeof(f.st.url), "%s", o->url);
	if (snprintf(f.part, sizeof(f.part), "%s.part", out) >= (int)sizeof(f.part) ||
	    snprintf(f.state_path, sizeof(f.state_path), "%s.cbfetch", out) >=
		    (int)sizeof(f.state_path)) {
		snprintf(err, errlen, "%s: name too long", out);
		return CF_EXIT_USAGE;
	}
	if (split_url(&f) < 0) {
		snprintf(err, errlen, "%s: not a URL this client can fetch", o->url);
		return CF_EXIT_USAGE;
	}
	f.m = curl_multi_init();
	if (!f.m || cf_xfer_init(&f.probe, 4096) < 0)
		goto out;
	curl_multi_setopt(f.m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_conn);
	while (f.src < n && hosts[f.src].set_aside)
		f.src++;
	ret = run(&f, out);
out:
	if (ret == CF_EXIT_GENERIC && !*err)
		snprintf(err, errlen, "out of memory");
	cf_progress_show(&f.prog, f.done, f.st.size, sum->from_cache, src_name(&f), true);
	sum->size = f.st.size;
	sum->pieces = f.st.npieces;
	sum->duration_s = (double)(cb_now_ns() - f.t0) / 1e9;
	sum->output = out;
	for (int k = 0; k < CF_MAX_CONN_LIMIT; k++)
		if (f.xf[k].h) {
			if (f.xf[k].busy)
				curl_multi_remove_handle(f.m, f.xf[k].h);
			cf_xfer_fini(&f.xf[k]);
		}
	cf_xfer_fini(&f.probe);
	if (f.m)
		curl_multi_cleanup(f.m);
	if (f.fd >= 0)
		close(f.fd);
	cf_pieces_fini(&f.list);
	cf_state_fini(&f.st);
	free(f.pst);
	free(f.psrc);
	return ret;
}
