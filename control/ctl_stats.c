/*
 * The figures an operator asks for first: `cacheboxctl stats`, the same on
 * the Prometheus endpoint, and `cacheboxctl limits` to read or change the
 * slot limit and the caps at run time (published to the file server through
 * policy.shm; no connection is dropped).
 */
#include "ctl.h"
#include "ctl_figures.h"
#include "ctl_limits.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_format.h"
#include "st_url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

/* The limits of the CLI's table, to and from the policy control publishes. */
static void limits_from_policy(struct ctl_limits *l, const struct cb_policy_vals *v)
{
	l->max_clients = v->max_clients;
	l->queue_timeout_ms = v->queue_timeout_ms;
	l->rate_bps = v->rate_bps;
	l->rate_client_bps = v->rate_client_bps;
	l->business.start_min = v->business_start_min;
	l->business.end_min = v->business_end_min;
	l->business_rate_bps = v->business_rate_bps;
	l->monthly_cap = v->monthly_cap;
}

static void limits_to_policy(struct cb_policy_vals *v, const struct ctl_limits *l)
{
	v->max_clients = l->max_clients;
	v->queue_timeout_ms = l->queue_timeout_ms;
	v->rate_bps = l->rate_bps;
	v->rate_client_bps = l->rate_client_bps;
	v->business_start_min = l->business.start_min;
	v->business_end_min = l->business.end_min;
	v->business_rate_bps = l->business_rate_bps;
	v->monthly_cap = l->monthly_cap;
}

struct gather_arg {
	struct ctl_figures *f;
	struct cb_index_rec top[CTL_TOP_N];
	unsigned ntop;
	struct ctl_fills *fills; /* NULL: not wanted */
	struct cb_index_rec partial[CTL_FILLS_N];
};

static int64_t by_hits(const struct cb_index_rec *r)
{
	return (int64_t)CB_MIN(r->hits, (uint64_t)INT64_MAX);
}

static int64_t by_last_access(const struct cb_index_rec *r)
{
	return r->last_access;
}

/*
 * Keeps the cap records ranked highest by rank, highest first, in arr
 * (*n of them so far): an insertion, one record at a time.
 */
static void keep_ranked(struct cb_index_rec *arr, unsigned *n, unsigned cap,
			const struct cb_index_rec *rec,
			int64_t (*rank)(const struct cb_index_rec *))
{
	unsigned i;

	for (i = *n; i > 0 && rank(&arr[i - 1]) < rank(rec); i--)
		if (i < cap)
			arr[i] = arr[i - 1];
	if (i < cap) {
		arr[i] = *rec;
		if (*n < cap)
			(*n)++;
	}
}

static int gather_one(const struct cb_index_rec *rec, void *arg)
{
	struct gather_arg *g = arg;
	struct ctl_figures *f = g->f;

	f->objects++;
	if (rec->flags & ST_META_COMPLETE) {
		f->objects_complete++;
	} else if (g->fills) {
		/* the incomplete objects touched last, for the status page */
		g->fills->incomplete++;
		keep_ranked(g->partial, &g->fills->n, CTL_FILLS_N, rec, by_last_access);
	}
	if (rec->shard < CFG_MAX_SHARDS) {
		f->shard[rec->shard].cached += rec->size;
		f->shard[rec->shard].objects++;
	}
	if (!rec->hits)
		return 0;
	keep_ranked(g->top, &g->ntop, CTL_TOP_N, rec, by_hits); /* the most requested */
	return 0;
}

/* The key of a top object from its .meta; NULL when unknown or out of memory. */
static char *key_of(struct ctl *ctl, const struct cb_index_rec *rec)
{
	char key[ST_KEY_MAX + 1];

	if (rec->shard >= ctl->ss.n ||
	    st_meta_read_key(ctl->ss.s[rec->shard].path, rec->id, key, sizeof(key)))
		return NULL;
	return strdup(key);
}

/*
 * Share of the object bytes served that came from the cache, of those
 * served from the cache and those served while filling from an origin:
 * Delivery Optimization's PercentPeerCaching, cache / (cache + http).
 */
static double cache_percent(uint64_t from_cache, uint64_t while_filling)
{
	uint64_t all = from_cache + while_filling;

	return all ? 100.0 * (double)from_cache / (double)all : 0;
}

static void gather(struct ctl *ctl, struct ctl_figures *f, struct gather_arg *g,
		   struct ctl_fills *fills)
{
	const struct cb_policy_live *live = cb_policy_live(ctl->pol);
	struct cb_policy_vals pv;
	unsigned minute;
	uint32_t month;

	memset(f, 0, sizeof(*f));
	memset(g, 0, sizeof(*g));
	g->f = f;
	g->fills = fills;
	if (fills)
		memset(fills, 0, sizeof(*fills));
	for (unsigned i = 0; i < CB_MAX_WORKERS; i++) {
		const struct cb_worker_stats *s = cb_index_stats(ctl->ix, i);

		f->requests += s->requests;
		f->hits += s->hits;
		f->misses += s->misses;
		f->bytes_served += s->bytes_served;
		f->bytes_cache += s->bytes_cache;
		f->bytes_fill += s->bytes_fill;
		f->status_4xx += s->status_4xx;
		f->status_5xx += s->status_5xx;
		f->conns_open += s->conns_open;
		f->conns_total += s->conns_total;
		f->conns_refused_max += s->conns_refused_max;
		f->conns_refused_client += s->conns_refused_client;
		f->accept_failures += s->accept_failures;
	}
	f->origin_bytes = live->origin_bytes;
	f->origin_requests = live->origin_requests;
	f->origin_retries = live->origin_retries;
	f->fills_started = live->fills_started;
	f->fills_done = live->fills_done;
	f->fills_failed = live->fills_failed;
	f->corrupt_pieces =
		live->corrupt_pieces + __atomic_load_n(&ctl->verify_corrupt, __ATOMIC_RELAXED);
	f->clients_active = live->active_clients;
	f->clients_queued = live->queued_clients;
	f->rejected_busy = live->rejected_busy;
	f->rejected_cap = live->rejected_cap;
	f->throttled = live->throttled;
	f->percent_from_cache = cache_percent(f->bytes_cache, f->bytes_fill);
	cb_policy_read(ctl->pol, &pv);
	limits_from_policy(&f->limits, &pv);
	cb_policy_now(&minute, &month);
	f->month = month;
	f->month_bytes = cb_policy_month_bytes(ctl->pol, month);
	f->monthly_cap = pv.monthly_cap;
	f->cap_reached = pv.monthly_cap && f->month_bytes >= pv.monthly_cap;
	f->business_now = cb_policy_in_business_hours(&pv, minute);
	f->rate_now = cb_policy_rate_at(&pv, minute);
	f->rate_client = pv.rate_client_bps;
	f->clients_max = pv.max_clients;
	f->restarts = ctl_child_restarts(&ctl->storage);
	ctl_disc_figures(ctl, f);
	cb_index_foreach(ctl->ix, gather_one, g);
	ctl_evict_counts(ctl, &f->evicted, &f->evicted_bytes);
	f->cache_limit = ctl->cfg->storage.absolute_max_cache_size;
	f->nshards = CB_MIN(ctl->ss.n, (unsigned)CFG_MAX_SHARDS);
	for (unsigned i = 0; i < f->nshards; i++) {
		struct statvfs sv;

		uint64_t lim = ctl_evict_shard_limit(ctl, i, f->shard[i].cached);

		f->shard[i].path = ctl->ss.s[i].path;
		f->shard[i].limit = lim == UINT64_MAX ? 0 : lim;
		f->cached_bytes += f->shard[i].cached;
		if (statvfs(ctl->ss.s[i].path, &sv) == 0) {
			f->shard[i].fs_size = (uint64_t)sv.f_blocks * sv.f_frsize;
			f->shard[i].fs_free = (uint64_t)sv.f_bavail * sv.f_frsize;
		}
	}
}

/*
 * The figures of stats, /metrics and the status page, the top objects with
 * their keys; fills (may be NULL) gets the incomplete objects touched last.
 * ctl->lock held for reading. 0 or -ENOMEM; ctl_figures_fini(f) and
 * ctl_fills_fini(fills) after.
 */
int ctl_stats_collect(struct ctl *ctl, struct ctl_figures *f, struct ctl_fills *fills)
{
	struct gather_arg *g = malloc(sizeof(*g));

	if (!g)
		return -ENOMEM;
	gather(ctl, f, g, fills);
	f->ntop = g->ntop;
	for (unsigned i = 0; i < g->ntop; i++) {
		cb_hex_encode(g->top[i].id, ST_ID_LEN, f->top[i].id_hex);
		f->top[i].requests = g->top[i].hits;
		f->top[i].size = g->top[i].size;
		f->top[i].key = key_of(ctl, &g->top[i]);
	}
	for (unsigned i = 0; fills && i < fills->n; i++) {
		struct ctl_fill_obj *o = &fills->o[i];

		cb_hex_encode(g->partial[i].id, ST_ID_LEN, o->id_hex);
		o->size = g->partial[i].size;
		o->npieces = g->partial[i].npieces;
		o->present = g->partial[i].pieces_present;
		o->last_access = g->partial[i].last_access;
		o->key = key_of(ctl, &g->partial[i]);
	}
	free(g);
	return 0;
}

void ctl_fills_fini(struct ctl_fills *fills)
{
	for (unsigned i = 0; i < fills->n && i < CTL_FILLS_N; i++) {
		free(fills->o[i].key);
		fills->o[i].key = NULL;
	}
}

int verb_stats(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct ctl_figures *f = malloc(sizeof(*f));
	int ret = f ? ctl_stats_collect(ctl, f, NULL) : -ENOMEM;

	if (!ret) {
		if (req->json) {
			ret = ctl_json_print(out, ctl_figures_json(f));
		} else {
			ctl_figures_text(out, f);
		}
		ctl_figures_fini(f);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ENOMEM ? "out of memory" : strerror(-ret));
	free(f);
	return ret;
}

/* `limits [--max-clients N] [--queue-timeout DUR] ...`: the rows of ctl_limits.c. */
int verb_limits(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct cb_policy_vals v;
	struct ctl_limits l;
	bool changed = false;

	cb_policy_read(ctl->pol, &v);
	limits_from_policy(&l, &v);
	if (ctl_limits_parse(req->argc - 1, req->argv + 1, &l, &changed, err, errlen))
		return -EINVAL;
	if (changed) {
		limits_to_policy(&v, &l);
		cb_policy_publish(ctl->pol, &v);
		cb_info("limits changed at run time: max_clients %u, max_bandwidth_served %llu, "
			"per client %llu, business hours %u-%u min cap %llu, monthly cap %llu",
			v.max_clients, (unsigned long long)v.rate_bps,
			(unsigned long long)v.rate_client_bps, v.business_start_min,
			v.business_end_min, (unsigned long long)v.business_rate_bps,
			(unsigned long long)v.monthly_cap);
	}
	if (req->json)
		return ctl_json_print(out, ctl_limits_json(&l));
	ctl_limits_text(out, &l);
	if (changed)
		fprintf(out, "(in force now; until reload or restart, which take the config "
			     "file's values)\n");
	return 0;
}

void ctl_metrics_write(struct ctl *ctl, FILE *out)
{
	struct ctl_figures *f = malloc(sizeof(*f));
	struct gather_arg *g = malloc(sizeof(*g));

	if (f && g) {
		gather(ctl, f, g, NULL);
		ctl_figures_prometheus(out, f);
	}
	free(f);
	free(g);
}

/* `quota ORIGIN SIZE`: an origin's cache quota, now (until reload or restart). */
int verb_quota(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	const char *host = req->argv[1];
	struct cfg_origin *o = NULL;
	uint64_t size;

	for (unsigned i = 0; i < ctl->cfg->norigins; i++)
		if (strcasecmp(ctl->cfg->origins[i].host, host) == 0)
			o = &ctl->cfg->origins[i];
	if (!o) {
		snprintf(err, errlen, "%s is not a configured origin ([origin HOST] section)",
			 host);
		return -ENOENT;
	}
	if (cfg_parse_size(req->argv[2], &size)) {
		snprintf(err, errlen, "bad size '%s' (bytes, or K M G T; 0 = none)", req->argv[2]);
		return -EINVAL;
	}
	o->quota = size;
	cb_info("quota of origin %s set to %llu bytes at run time", o->host,
		(unsigned long long)size);
	if (req->json)
		return ctl_json_print(
			out, json_pack("{s:s, s:I}", "origin", o->host, "quota", (json_int_t)size));
	else
		fprintf(out,
			"origin %s: quota %llu bytes%s (enforced within a second; until reload "
			"or restart)\n",
			o->host, (unsigned long long)size, size ? "" : " (none)");
	return 0;
}
