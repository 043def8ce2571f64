/*
 * The figures an operator asks for first: `cacheboxctl stats`, the same on
 * the Prometheus endpoint, and `cacheboxctl limits` to read or change the
 * slot limit and the caps at run time (published to the file server through
 * policy.shm; no connection is dropped).
 */
#include "ctl.h"
#include "ctl_args.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define TOP_N 10

struct figures {
	struct cb_worker_stats w; /* summed over workers */
	struct cb_policy_live live;
	struct cb_policy_vals pv;
	uint32_t month;
	uint64_t month_bytes;
	uint64_t rate_now;
	bool business_now;
	unsigned objects, complete;
	uint64_t evicted, evicted_bytes; /* by this control since it started */
	struct {
		uint64_t cached, fs_size, fs_free;
		unsigned objects;
	} shard[CFG_MAX_SHARDS];
	struct cb_index_rec top[TOP_N];
	unsigned ntop;
};

static int gather_one(const struct cb_index_rec *rec, void *arg)
{
	struct figures *f = arg;
	unsigned i;

	f->objects++;
	if (rec->flags & ST_META_COMPLETE)
		f->complete++;
	if (rec->shard < CFG_MAX_SHARDS) {
		f->shard[rec->shard].cached += rec->size;
		f->shard[rec->shard].objects++;
	}
	if (!rec->hits)
		return 0;
	/* Keep the TOP_N most requested, sorted, by insertion. */
	for (i = f->ntop; i > 0 && f->top[i - 1].hits < rec->hits; i--)
		if (i < TOP_N)
			f->top[i] = f->top[i - 1];
	if (i < TOP_N) {
		f->top[i] = *rec;
		if (f->ntop < TOP_N)
			f->ntop++;
	}
	return 0;
}

static void gather(struct ctl *ctl, struct figures *f)
{
	unsigned minute;

	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < CB_MAX_WORKERS; i++) {
		const struct cb_worker_stats *s = cb_index_stats(ctl->ix, i);

		f->w.requests += s->requests;
		f->w.hits += s->hits;
		f->w.misses += s->misses;
		f->w.bytes_served += s->bytes_served;
		f->w.status_4xx += s->status_4xx;
		f->w.status_5xx += s->status_5xx;
		f->w.conns_open += s->conns_open;
		f->w.conns_total += s->conns_total;
	}
	memcpy(&f->live, cb_policy_live(ctl->pol), sizeof(f->live));
	cb_policy_read(ctl->pol, &f->pv);
	cb_policy_now(&minute, &f->month);
	f->month_bytes = cb_policy_month_bytes(ctl->pol, f->month);
	f->business_now = cb_policy_in_business_hours(&f->pv, minute);
	f->rate_now = cb_policy_rate_at(&f->pv, minute);
	cb_index_foreach(ctl->ix, gather_one, f);
	ctl_evict_counts(ctl, &f->evicted, &f->evicted_bytes);
	for (unsigned i = 0; i < ctl->ss.n && i < CFG_MAX_SHARDS; i++) {
		struct statvfs sv;

		if (statvfs(ctl->ss.s[i].path, &sv) == 0) {
			f->shard[i].fs_size = (uint64_t)sv.f_blocks * sv.f_frsize;
			f->shard[i].fs_free = (uint64_t)sv.f_bavail * sv.f_frsize;
		}
	}
}

/* Share of the bytes served that did not come from an origin (like PercentPeerCaching). */
static double cache_percent(const struct figures *f)
{
	if (!f->w.bytes_served)
		return 0;
	if (f->live.origin_bytes >= f->w.bytes_served)
		return 0;
	return 100.0 * (double)(f->w.bytes_served - f->live.origin_bytes) /
	       (double)f->w.bytes_served;
}

static const char *key_of(struct ctl *ctl, const struct cb_index_rec *rec, struct st_meta *m,
			  bool *have)
{
	char path[CB_PATH_TMP];

	*have = false;
	if (rec->shard < ctl->ss.n &&
	    st_path_meta(ctl->ss.s[rec->shard].path, rec->id, path, sizeof(path)) == 0 &&
	    st_meta_read(path, m) == 0) {
		*have = true;
		return m->key;
	}
	return "?";
}

static void rate_str(char *buf, size_t cap, uint64_t bps)
{
	if (!bps)
		snprintf(buf, cap, "unlimited");
	else if (bps >= 1000000000ull)
		snprintf(buf, cap, "%.3g Gbit/s", (double)bps / 1e9);
	else if (bps >= 1000000ull)
		snprintf(buf, cap, "%.3g Mbit/s", (double)bps / 1e6);
	else
		snprintf(buf, cap, "%.3g kbit/s", (double)bps / 1e3);
}

static void hours_str(char *buf, size_t cap, const struct cb_policy_vals *v)
{
	if (v->business_start_min == v->business_end_min)
		snprintf(buf, cap, "none");
	else
		snprintf(buf, cap, "%02u:%02u-%02u:%02u", v->business_start_min / 60,
			 v->business_start_min % 60, v->business_end_min / 60,
			 v->business_end_min % 60);
}

static void limits_json(FILE *out, const struct cb_policy_vals *v)
{
	char h[32];

	hours_str(h, sizeof(h), v);
	fprintf(out,
		"{\"max_clients\":%u,\"queue_timeout_ms\":%llu,\"max_bandwidth_served\":%llu,"
		"\"max_bandwidth_per_client\":%llu,\"business_hours\":\"%s\","
		"\"business_hours_max_bandwidth\":%llu,\"monthly_upload_cap\":%llu}",
		v->max_clients, (unsigned long long)v->queue_timeout_ms,
		(unsigned long long)v->rate_bps, (unsigned long long)v->rate_client_bps, h,
		(unsigned long long)v->business_rate_bps, (unsigned long long)v->monthly_cap);
}

static void limits_text(FILE *out, const struct cb_policy_vals *v)
{
	char a[32], b[32], c[32], h[32];

	rate_str(a, sizeof(a), v->rate_bps);
	rate_str(b, sizeof(b), v->rate_client_bps);
	rate_str(c, sizeof(c), v->business_rate_bps);
	hours_str(h, sizeof(h), v);
	fprintf(out, "max clients          %u (queue timeout %llu ms)\n", v->max_clients,
		(unsigned long long)v->queue_timeout_ms);
	fprintf(out, "max bandwidth served %s, per client %s\n", a, b);
	fprintf(out, "business hours       %s, cap then %s\n", h,
		v->business_rate_bps ? c : "(the normal one)");
	if (v->monthly_cap)
		fprintf(out, "monthly upload cap   %llu bytes\n",
			(unsigned long long)v->monthly_cap);
	else
		fprintf(out, "monthly upload cap   none\n");
}

int verb_stats(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct figures *f = malloc(sizeof(*f));
	struct st_meta m;
	char r[32];
	bool have;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	gather(ctl, f);
	if (req->json) {
		fprintf(out,
			"{\"bytes_served\":%llu,\"bytes_from_origin\":%llu,\"percent_from_cache\":%"
			".2f,"
			"\"requests\":%llu,\"hits\":%llu,\"misses\":%llu,\"status_4xx\":%llu,"
			"\"status_5xx\":%llu,\"connections_open\":%llu,\"connections_total\":%llu,",
			(unsigned long long)f->w.bytes_served,
			(unsigned long long)f->live.origin_bytes, cache_percent(f),
			(unsigned long long)f->w.requests, (unsigned long long)f->w.hits,
			(unsigned long long)f->w.misses, (unsigned long long)f->w.status_4xx,
			(unsigned long long)f->w.status_5xx, (unsigned long long)f->w.conns_open,
			(unsigned long long)f->w.conns_total);
		fprintf(out,
			"\"origin_requests\":%llu,\"origin_retries\":%llu,\"fills_started\":%llu,"
			"\"fills_done\":%llu,\"fills_failed\":%llu,",
			(unsigned long long)f->live.origin_requests,
			(unsigned long long)f->live.origin_retries,
			(unsigned long long)f->live.fills_started,
			(unsigned long long)f->live.fills_done,
			(unsigned long long)f->live.fills_failed);
		fprintf(out,
			"\"clients_active\":%llu,\"clients_queued\":%llu,\"rejected_busy\":%llu,"
			"\"rejected_monthly_cap\":%llu,\"throttled_sends\":%llu,"
			"\"month\":\"%04u-%02u\",\"month_uploaded\":%llu,\"monthly_cap_reached\":%"
			"s,"
			"\"business_hours_now\":%s,\"bandwidth_cap_now\":%llu,\"limits\":",
			(unsigned long long)f->live.active_clients,
			(unsigned long long)f->live.queued_clients,
			(unsigned long long)f->live.rejected_busy,
			(unsigned long long)f->live.rejected_cap,
			(unsigned long long)f->live.throttled, f->month / 100, f->month % 100,
			(unsigned long long)f->month_bytes,
			f->pv.monthly_cap && f->month_bytes >= f->pv.monthly_cap ? "true" : "false",
			f->business_now ? "true" : "false", (unsigned long long)f->rate_now);
		limits_json(out, &f->pv);
		fprintf(out,
			",\"objects\":%u,\"objects_complete\":%u,\"evicted\":%llu,"
			"\"evicted_bytes\":%llu,\"shards\":[",
			f->objects, f->complete, (unsigned long long)f->evicted,
			(unsigned long long)f->evicted_bytes);
		for (unsigned i = 0; i < ctl->ss.n; i++) {
			fprintf(out, "%s{\"path\":", i ? "," : "");
			json_str(out, ctl->ss.s[i].path);
			fprintf(out,
				",\"objects\":%u,\"cached_bytes\":%llu,\"fs_size\":%llu,"
				"\"fs_free\":%llu}",
				f->shard[i].objects, (unsigned long long)f->shard[i].cached,
				(unsigned long long)f->shard[i].fs_size,
				(unsigned long long)f->shard[i].fs_free);
		}
		fprintf(out, "],\"top_objects\":[");
		for (unsigned i = 0; i < f->ntop; i++) {
			char hex[ST_ID_HEX + 1];
			const char *key = key_of(ctl, &f->top[i], &m, &have);

			cb_hex_encode(f->top[i].id, ST_ID_LEN, hex);
			fprintf(out, "%s{\"id\":\"%s\",\"requests\":%llu,\"size\":%llu,\"key\":",
				i ? "," : "", hex, (unsigned long long)f->top[i].hits,
				(unsigned long long)f->top[i].size);
			json_str(out, key);
			fprintf(out, "}");
			if (have)
				st_meta_fini(&m);
		}
		fprintf(out, "]}\n");
		free(f);
		return 0;
	}
	fprintf(out, "served              %llu bytes, %.1f %% of them from the cache\n",
		(unsigned long long)f->w.bytes_served, cache_percent(f));
	fprintf(out, "from origins        %llu bytes in %llu requests (%llu retries)\n",
		(unsigned long long)f->live.origin_bytes,
		(unsigned long long)f->live.origin_requests,
		(unsigned long long)f->live.origin_retries);
	fprintf(out, "requests            %llu: %llu hits, %llu misses, %llu 4xx, %llu 5xx\n",
		(unsigned long long)f->w.requests, (unsigned long long)f->w.hits,
		(unsigned long long)f->w.misses, (unsigned long long)f->w.status_4xx,
		(unsigned long long)f->w.status_5xx);
	fprintf(out, "fills               %llu started, %llu done, %llu failed\n",
		(unsigned long long)f->live.fills_started, (unsigned long long)f->live.fills_done,
		(unsigned long long)f->live.fills_failed);
	fprintf(out, "clients             %llu served of %u, %llu waiting\n",
		(unsigned long long)f->live.active_clients, f->pv.max_clients,
		(unsigned long long)f->live.queued_clients);
	fprintf(out, "rejected            %llu busy (503 after the queue), %llu monthly cap\n",
		(unsigned long long)f->live.rejected_busy,
		(unsigned long long)f->live.rejected_cap);
	rate_str(r, sizeof(r), f->rate_now);
	fprintf(out, "bandwidth now       %s%s, %llu sends delayed by a cap\n", r,
		f->business_now ? " (business hours)" : "", (unsigned long long)f->live.throttled);
	fprintf(out, "this month          %04u-%02u: %llu bytes uploaded", f->month / 100,
		f->month % 100, (unsigned long long)f->month_bytes);
	if (f->pv.monthly_cap)
		fprintf(out, " of a %llu byte cap%s", (unsigned long long)f->pv.monthly_cap,
			f->month_bytes >= f->pv.monthly_cap ? ": CAP REACHED, answering 503" : "");
	fprintf(out, "\nconnections         %llu open, %llu since start\n",
		(unsigned long long)f->w.conns_open, (unsigned long long)f->w.conns_total);
	fprintf(out,
		"objects             %u (%u complete); %llu evicted (%llu bytes) since control "
		"started\n",
		f->objects, f->complete, (unsigned long long)f->evicted,
		(unsigned long long)f->evicted_bytes);
	for (unsigned i = 0; i < ctl->ss.n; i++)
		fprintf(out, "shard %-13u %s: %u objects, %llu MiB cached, %llu of %llu MiB free\n",
			i, ctl->ss.s[i].path, f->shard[i].objects,
			(unsigned long long)(f->shard[i].cached >> 20),
			(unsigned long long)(f->shard[i].fs_free >> 20),
			(unsigned long long)(f->shard[i].fs_size >> 20));
	if (f->ntop)
		fprintf(out, "top objects (requests, bytes, key):\n");
	for (unsigned i = 0; i < f->ntop; i++) {
		const char *key = key_of(ctl, &f->top[i], &m, &have);

		fprintf(out, "  %8llu %12llu %s\n", (unsigned long long)f->top[i].hits,
			(unsigned long long)f->top[i].size, key);
		if (have)
			st_meta_fini(&m);
	}
	free(f);
	return 0;
}

/* `limits [--max-clients N] [--queue-timeout DUR] [--max-bandwidth-served RATE] ...` */
int verb_limits(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct cb_policy_vals v;
	bool changed = false;

	cb_policy_read(ctl->pol, &v);
	if (ctl_limits_parse(req->argc - 1, req->argv + 1, &v, &changed, err, errlen))
		return -EINVAL;
	if (changed) {
		cb_policy_publish(ctl->pol, &v);
		cb_info("limits changed at run time: max_clients %u, max_bandwidth_served %llu, "
			"per client %llu, business hours %u-%u min cap %llu, monthly cap %llu",
			v.max_clients, (unsigned long long)v.rate_bps,
			(unsigned long long)v.rate_client_bps, v.business_start_min,
			v.business_end_min, (unsigned long long)v.business_rate_bps,
			(unsigned long long)v.monthly_cap);
	}
	if (req->json) {
		limits_json(out, &v);
		fputc('\n', out);
	} else {
		limits_text(out, &v);
		if (changed)
			fprintf(out,
				"(in force now; until reload or restart, which take the config "
				"file's values)\n");
	}
	return 0;
}

static void metric(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample of a labelled metric: name{label="value"} v */
static void sample(FILE *out, const char *name, const char *label, const char *value, uint64_t v)
{
	fprintf(out, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

void ctl_metrics_write(struct ctl *ctl, FILE *out)
{
	struct figures *f = malloc(sizeof(*f));

	if (!f)
		return;
	gather(ctl, f);
#define M1(name, type, help, val)                                                                  \
	do {                                                                                       \
		metric(out, name, type, help);                                                     \
		fprintf(out, "%s %llu\n", name, (unsigned long long)(val));                        \
	} while (0)
	M1("cachebox_requests_total", "counter", "HTTP requests answered.", f->w.requests);
	M1("cachebox_cache_hits_total", "counter", "Requests served wholly from the cache.",
	   f->w.hits);
	M1("cachebox_cache_misses_total", "counter", "Requests for objects not cached.",
	   f->w.misses);
	metric(out, "cachebox_responses_errors_total", "counter", "Error responses by class.");
	sample(out, "cachebox_responses_errors_total", "class", "4xx", f->w.status_4xx);
	sample(out, "cachebox_responses_errors_total", "class", "5xx", f->w.status_5xx);
	M1("cachebox_served_bytes_total", "counter", "Body bytes served to clients.",
	   f->w.bytes_served);
	M1("cachebox_origin_bytes_total", "counter", "Body bytes fetched from origins.",
	   f->live.origin_bytes);
	M1("cachebox_origin_requests_total", "counter", "Ranged requests sent to origins.",
	   f->live.origin_requests);
	M1("cachebox_origin_retries_total", "counter", "Origin requests retried.",
	   f->live.origin_retries);
	M1("cachebox_fills_started_total", "counter", "Fills started.", f->live.fills_started);
	M1("cachebox_fills_failed_total", "counter", "Fills that failed.", f->live.fills_failed);
	metric(out, "cachebox_cache_served_ratio", "gauge",
	       "Share of served bytes that did not come from an origin (0-1).");
	fprintf(out, "cachebox_cache_served_ratio %.4f\n", cache_percent(f) / 100.0);
	M1("cachebox_clients_active", "gauge", "Client addresses holding a slot.",
	   f->live.active_clients);
	M1("cachebox_clients_queued", "gauge", "Client addresses waiting for a slot.",
	   f->live.queued_clients);
	M1("cachebox_clients_max", "gauge", "The client slot limit.", f->pv.max_clients);
	metric(out, "cachebox_rejected_total", "counter", "Requests answered 503, by reason.");
	sample(out, "cachebox_rejected_total", "reason", "busy", f->live.rejected_busy);
	sample(out, "cachebox_rejected_total", "reason", "monthly_cap", f->live.rejected_cap);
	M1("cachebox_throttled_sends_total", "counter", "Sends delayed by a bandwidth cap.",
	   f->live.throttled);
	M1("cachebox_bandwidth_cap_bits_per_second", "gauge",
	   "Served-bandwidth cap in force now (0 = none).", f->rate_now);
	M1("cachebox_client_bandwidth_cap_bits_per_second", "gauge",
	   "Per-client bandwidth cap (0 = none).", f->pv.rate_client_bps);
	M1("cachebox_month_uploaded_bytes", "gauge", "Body bytes served this calendar month.",
	   f->month_bytes);
	M1("cachebox_monthly_upload_cap_bytes", "gauge", "Monthly upload cap (0 = none).",
	   f->pv.monthly_cap);
	M1("cachebox_connections_open", "gauge", "Client connections open.", f->w.conns_open);
	M1("cachebox_objects", "gauge", "Objects in the index.", f->objects);
	{
		static const char *const names[3][2] = {
			{"cachebox_shard_cached_bytes", "Bytes of objects on each shard."},
			{"cachebox_shard_free_bytes", "Free bytes of each shard's filesystem."},
			{"cachebox_shard_size_bytes", "Size of each shard's filesystem."},
		};

		for (int k = 0; k < 3; k++) {
			metric(out, names[k][0], "gauge", names[k][1]);
			for (unsigned i = 0; i < ctl->ss.n; i++) {
				char idx[12];

				snprintf(idx, sizeof(idx), "%u", i);
				sample(out, names[k][0], "shard", idx,
				       k == 0	? f->shard[i].cached
				       : k == 1 ? f->shard[i].fs_free
						: f->shard[i].fs_size);
			}
		}
	}
	M1("cachebox_evicted_objects_total", "counter",
	   "Objects evicted by this control process since it started.", f->evicted);
	M1("cachebox_evicted_bytes_total", "counter",
	   "Bytes evicted by this control process since it started.", f->evicted_bytes);
	M1("cachebox_storage_restarts_total", "counter", "Restarts of cachebox-storage.",
	   ctl->storage.restarts);
#undef M1
	free(f);
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
		fprintf(out, "{\"origin\":\"%s\",\"quota\":%llu}\n", o->host,
			(unsigned long long)size);
	else
		fprintf(out,
			"origin %s: quota %llu bytes%s (enforced within a second; until reload "
			"or restart)\n",
			o->host, (unsigned long long)size, size ? "" : " (none)");
	return 0;
}
