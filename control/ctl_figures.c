/* The stats table and its three renderings (see ctl_figures.h). */
#include "ctl_figures.h"

#include "cb_shm.h" /* CB_DISC_DROPS */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(struct ctl_figures, field)
#define C	 "counter"
#define G	 "gauge"

/*
 * In JSON order (the keys of `stats --json` before this table existed).
 * Rows of one labelled Prometheus metric stand next to each other: the
 * HELP and TYPE lines are written before the first of them.
 */
const struct ctl_stat ctl_stats[] = {
	{"bytes_served", "served", "cachebox_served_bytes_total", C, NULL,
	 "Object body bytes served to clients (not error, health or 503 bodies).", CTL_STAT_BYTES,
	 F(bytes_served)},
	{"bytes_served_from_cache", "of them from the cache", "cachebox_served_source_bytes_total",
	 C, "source=\"cache\"", "Object body bytes served, by the access log's source.",
	 CTL_STAT_BYTES, F(bytes_cache)},
	{"bytes_served_while_filling", "of them while filling from origins",
	 "cachebox_served_source_bytes_total", C, "source=\"origin\"",
	 "Object body bytes served, by the access log's source.", CTL_STAT_BYTES, F(bytes_fill)},
	{"bytes_from_origin", "from origins", "cachebox_origin_bytes_total", C, NULL,
	 "Body bytes fetched from origins.", CTL_STAT_BYTES, F(origin_bytes)},
	{"percent_from_cache", "served from the cache", "cachebox_cache_served_ratio", G, NULL,
	 "Share of the object bytes served that came from the cache (0-1).", CTL_STAT_PERCENT,
	 F(percent_from_cache)},
	{"requests", "requests", "cachebox_requests_total", C, NULL, "HTTP requests answered.",
	 CTL_STAT_COUNT, F(requests)},
	{"hits", "hits", "cachebox_cache_hits_total", C, NULL,
	 "Requests served wholly from the cache.", CTL_STAT_COUNT, F(hits)},
	{"misses", "misses", "cachebox_cache_misses_total", C, NULL,
	 "Requests for objects not cached.", CTL_STAT_COUNT, F(misses)},
	{"status_4xx", "4xx answers", "cachebox_responses_errors_total", C, "class=\"4xx\"",
	 "Error responses by class.", CTL_STAT_COUNT, F(status_4xx)},
	{"status_5xx", "5xx answers", "cachebox_responses_errors_total", C, "class=\"5xx\"",
	 "Error responses by class.", CTL_STAT_COUNT, F(status_5xx)},
	{"connections_open", "connections open", "cachebox_connections_open", G, NULL,
	 "Client connections open.", CTL_STAT_COUNT, F(conns_open)},
	{"connections_total", "connections since start", NULL, NULL, NULL,
	 "Client connections accepted.", CTL_STAT_COUNT, F(conns_total)},
	{"connections_refused_max_connections", "connections refused (max_connections)",
	 "cachebox_connections_refused_total", C, "reason=\"max_connections\"",
	 "Client connections closed at once, by the limit they met.", CTL_STAT_COUNT,
	 F(conns_refused_max)},
	{"connections_refused_per_client", "connections refused (per client)",
	 "cachebox_connections_refused_total", C, "reason=\"per_client\"",
	 "Client connections closed at once, by the limit they met.", CTL_STAT_COUNT,
	 F(conns_refused_client)},
	{"accept_failures", "accepts failed (descriptors short)", "cachebox_accept_failures_total",
	 C, NULL, "Accepts that failed, mostly for want of file descriptors.", CTL_STAT_COUNT,
	 F(accept_failures)},
	{"origin_requests", "origin requests", "cachebox_origin_requests_total", C, NULL,
	 "Ranged requests sent to origins.", CTL_STAT_COUNT, F(origin_requests)},
	{"origin_retries", "origin retries", "cachebox_origin_retries_total", C, NULL,
	 "Origin requests retried.", CTL_STAT_COUNT, F(origin_retries)},
	{"fills_started", "fills started", "cachebox_fills_started_total", C, NULL,
	 "Fills started.", CTL_STAT_COUNT, F(fills_started)},
	{"fills_done", "fills done", NULL, NULL, NULL, "Fills completed.", CTL_STAT_COUNT,
	 F(fills_done)},
	{"fills_failed", "fills failed", "cachebox_fills_failed_total", C, NULL,
	 "Fills that failed.", CTL_STAT_COUNT, F(fills_failed)},
	{"corrupt_pieces", "pieces found corrupt", "cachebox_corrupt_pieces_total", C, NULL,
	 "Stored pieces that failed their SHA-256 (on read or by verify) and were dropped.",
	 CTL_STAT_COUNT, F(corrupt_pieces)},
	{"clients_active", "clients served", "cachebox_clients_active", G, NULL,
	 "Client addresses holding a slot.", CTL_STAT_COUNT, F(clients_active)},
	{"clients_queued", "clients waiting", "cachebox_clients_queued", G, NULL,
	 "Client addresses waiting for a slot.", CTL_STAT_COUNT, F(clients_queued)},
	{NULL, "client slots", "cachebox_clients_max", G, NULL, "The client slot limit.",
	 CTL_STAT_COUNT, F(clients_max)},
	{"rejected_busy", "rejected busy (503 after the queue)", "cachebox_rejected_total", C,
	 "reason=\"busy\"", "Requests answered 503, by reason.", CTL_STAT_COUNT, F(rejected_busy)},
	{"rejected_monthly_cap", "rejected at the monthly cap", "cachebox_rejected_total", C,
	 "reason=\"monthly_cap\"", "Requests answered 503, by reason.", CTL_STAT_COUNT,
	 F(rejected_cap)},
	{"throttled_sends", "sends delayed by a cap", "cachebox_throttled_sends_total", C, NULL,
	 "Sends delayed by a bandwidth cap.", CTL_STAT_COUNT, F(throttled)},
	{"month", "this month", NULL, NULL, NULL, "The calendar month counted.", CTL_STAT_MONTH,
	 F(month)},
	{"month_uploaded", "uploaded this month", "cachebox_month_uploaded_bytes", G, NULL,
	 "Body bytes served this calendar month.", CTL_STAT_BYTES, F(month_bytes)},
	{NULL, "monthly upload cap", "cachebox_monthly_upload_cap_bytes", G, NULL,
	 "Monthly upload cap (0 = none).", CTL_STAT_BYTES, F(monthly_cap), NULL, "none"},
	{"monthly_cap_reached", "monthly cap reached", NULL, NULL, NULL,
	 "The monthly upload cap is reached.", CTL_STAT_BOOL, F(cap_reached),
	 "CAP REACHED, answering 503"},
	{"business_hours_now", "business hours now", NULL, NULL, NULL,
	 "The business-hours window is in force.", CTL_STAT_BOOL, F(business_now),
	 "yes (business hours)"},
	{"bandwidth_cap_now", "bandwidth cap now", "cachebox_bandwidth_cap_bits_per_second", G,
	 NULL, "Served-bandwidth cap in force now (0 = none).", CTL_STAT_RATE, F(rate_now)},
	{NULL, "bandwidth cap per client", "cachebox_client_bandwidth_cap_bits_per_second", G, NULL,
	 "Per-client bandwidth cap (0 = none).", CTL_STAT_RATE, F(rate_client)},
	{"objects", "objects", "cachebox_objects", G, NULL, "Objects in the index.", CTL_STAT_COUNT,
	 F(objects)},
	{"objects_complete", "objects complete", NULL, NULL, NULL,
	 "Objects with every piece stored.", CTL_STAT_COUNT, F(objects_complete)},
	{"cached_bytes", "cached", "cachebox_cached_bytes", G, NULL,
	 "Bytes of objects on all shards.", CTL_STAT_BYTES, F(cached_bytes)},
	{"absolute_max_cache_size", "cache size limit (all shards)", "cachebox_cache_limit_bytes",
	 G, NULL, "absolute_max_cache_size: bytes all shards together may hold (0 = none).",
	 CTL_STAT_BYTES, F(cache_limit), NULL, "none"},
	{"evicted", "evicted since control started", "cachebox_evicted_objects_total", C, NULL,
	 "Objects evicted by this control process since it started.", CTL_STAT_COUNT, F(evicted)},
	{"evicted_bytes", "evicted bytes", "cachebox_evicted_bytes_total", C, NULL,
	 "Bytes evicted by this control process since it started.", CTL_STAT_BYTES,
	 F(evicted_bytes)},
	{"storage_restarts", "storage restarts", "cachebox_storage_restarts_total", C, NULL,
	 "Restarts of cachebox-storage.", CTL_STAT_COUNT, F(restarts)},
	/* Discovery (cachebox-dataplane, UDP 8004); status has its state in words. */
	{"discovery.running", "discovery answering", "cachebox_discovery_running", G, NULL,
	 "cachebox-dataplane is running and answering (0 or 1).", CTL_STAT_BOOL, F(disc_running)},
	{"discovery.restarts", "discovery restarts", "cachebox_discovery_restarts_total", C, NULL,
	 "Restarts of cachebox-dataplane.", CTL_STAT_COUNT, F(disc_restarts)},
	{"discovery.rx", "discovery datagrams received", "cachebox_discovery_received_total", C,
	 NULL, "Datagrams (dpdk: frames) received on the discovery port.", CTL_STAT_COUNT,
	 F(disc_rx)},
	{"discovery.queries", "discovery QUERYs well formed", "cachebox_discovery_queries_total", C,
	 NULL, "Well-formed discovery QUERYs.", CTL_STAT_COUNT, F(disc_queries)},
	{"discovery.offers", "discovery OFFERs sent", "cachebox_discovery_offers_total", C, NULL,
	 "Discovery OFFERs sent.", CTL_STAT_COUNT, F(disc_offers)},
	{"discovery.ignored", "discovery datagrams ignored", "cachebox_discovery_ignored_total", C,
	 NULL, "Well-formed discovery datagrams that are not QUERYs.", CTL_STAT_COUNT,
	 F(disc_ignored)},
	{"discovery.announces", "discovery ANNOUNCEs sent", "cachebox_discovery_announces_total", C,
	 NULL, "Discovery ANNOUNCE datagrams sent.", CTL_STAT_COUNT, F(disc_announces)},
	{"discovery.byes", "discovery BYEs sent", "cachebox_discovery_byes_total", C, NULL,
	 "Discovery BYE datagrams sent.", CTL_STAT_COUNT, F(disc_byes)},
	{"discovery.tx_failed", "discovery sends failed", "cachebox_discovery_tx_failed_total", C,
	 NULL, "Discovery replies built but not sent.", CTL_STAT_COUNT, F(disc_tx_failed)},
	{"discovery.arp_replies", "discovery ARP replies", "cachebox_discovery_arp_replies_total",
	 C, NULL, "ARP replies sent by the dpdk backend.", CTL_STAT_COUNT, F(disc_arp_replies)},
	{"discovery.not_ours", "discovery frames not ours", "cachebox_discovery_not_ours_total", C,
	 NULL, "Frames the dpdk backend dropped as not for the discovery port.", CTL_STAT_COUNT,
	 F(disc_not_ours)},
/* One row per reason of dataplane/dp_codec.h's table, one labelled metric. */
#define DROP_ROW(id, name)                                                                         \
	{"discovery.drops." name,                                                                  \
	 "discovery dropped: " name,                                                               \
	 "cachebox_discovery_drops_total",                                                         \
	 C,                                                                                        \
	 "reason=\"" name "\"",                                                                    \
	 "Discovery datagrams answered with silence, by reason.",                                  \
	 CTL_STAT_COUNT,                                                                           \
	 F(disc_drops[DP_DROP_##id])},
	DP_DROP_TABLE(DROP_ROW)
#undef DROP_ROW
};

const int ctl_nstats = (int)(sizeof(ctl_stats) / sizeof(ctl_stats[0]));

_Static_assert(DP_DROP_COUNT <= CB_DISC_DROPS, "discovery.shm counts every drop reason");

#undef F
#define F(field) offsetof(struct ctl_shard_figures, field)

const struct ctl_shard_stat ctl_shard_stats[] = {
	{"objects", NULL, NULL, F(objects)},
	{"cached_bytes", "cachebox_shard_cached_bytes", "Bytes of objects on each shard.",
	 F(cached)},
	{"fs_size", "cachebox_shard_size_bytes", "Size of each shard's filesystem.", F(fs_size)},
	{"fs_free", "cachebox_shard_free_bytes", "Free bytes of each shard's filesystem.",
	 F(fs_free)},
	{"limit_bytes", "cachebox_shard_limit_bytes",
	 "Bytes eviction keeps each shard under (max_cache_size_percent, min_free_space).",
	 F(limit)},
};

const int ctl_nshard_stats = (int)(sizeof(ctl_shard_stats) / sizeof(ctl_shard_stats[0]));

#undef F
#undef C
#undef G

static uint64_t u64_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static double dbl_at(const void *base, size_t off)
{
	double v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

void ctl_stat_format(char *buf, size_t cap, const struct ctl_stat *s, const struct ctl_figures *f)
{
	uint64_t v = s->kind == CTL_STAT_PERCENT ? 0 : u64_at(f, s->off);

	if (s->zero && s->kind != CTL_STAT_PERCENT && !v) {
		snprintf(buf, cap, "%s", s->zero);
		return;
	}
	switch (s->kind) {
	case CTL_STAT_BYTES:
		snprintf(buf, cap, "%llu bytes", (unsigned long long)v);
		break;
	case CTL_STAT_RATE:
		ctl_rate_format(buf, cap, v);
		break;
	case CTL_STAT_PERCENT:
		snprintf(buf, cap, "%.1f %%", dbl_at(f, s->off));
		break;
	case CTL_STAT_BOOL:
		snprintf(buf, cap, "%s", !v ? "no" : s->yes ? s->yes : "yes");
		break;
	case CTL_STAT_MONTH:
		snprintf(buf, cap, "%04llu-%02llu", (unsigned long long)(v / 100) % 10000,
			 (unsigned long long)v % 100);
		break;
	case CTL_STAT_COUNT:
	default:
		snprintf(buf, cap, "%llu", (unsigned long long)v);
		break;
	}
}

void ctl_figures_text(FILE *out, const struct ctl_figures *f)
{
	for (int i = 0; i < ctl_nstats; i++) {
		char v[64];

		ctl_stat_format(v, sizeof(v), &ctl_stats[i], f);
		fprintf(out, "%-36s %s\n", ctl_stats[i].label, v);
	}
	for (unsigned i = 0; i < f->nshards; i++)
		fprintf(out,
			"shard %-13u %s: %llu objects, %llu of %llu MiB cached, %llu of %llu MiB "
			"free\n",
			i, f->shard[i].path, (unsigned long long)f->shard[i].objects,
			(unsigned long long)(f->shard[i].cached >> 20),
			(unsigned long long)(f->shard[i].limit >> 20),
			(unsigned long long)(f->shard[i].fs_free >> 20),
			(unsigned long long)(f->shard[i].fs_size >> 20));
	if (f->ntop)
		fprintf(out, "top objects (requests, bytes, key):\n");
	for (unsigned i = 0; i < f->ntop; i++)
		fprintf(out, "  %8llu %12llu %s\n", (unsigned long long)f->top[i].requests,
			(unsigned long long)f->top[i].size, f->top[i].key ? f->top[i].key : "?");
}

static json_t *stat_json(const struct ctl_stat *s, const struct ctl_figures *f)
{
	char buf[16];
	uint64_t v;

	switch (s->kind) {
	case CTL_STAT_PERCENT:
		return json_real(round(dbl_at(f, s->off) * 100.0) / 100.0);
	case CTL_STAT_BOOL:
		return json_boolean(u64_at(f, s->off));
	case CTL_STAT_MONTH:
		ctl_stat_format(buf, sizeof(buf), s, f);
		return json_string(buf);
	default:
		v = u64_at(f, s->off);
		return json_integer((json_int_t)v);
	}
}

/* Adds value to o under key, taking the reference; false when out of memory. */
static bool put(json_t *o, const char *key, json_t *value)
{
	return value && json_object_set_new(o, key, value) == 0;
}

/*
 * put() for a row's key, whose dots name nested objects ("discovery.rx"
 * is key rx of object discovery), made when first met. Takes the reference.
 */
static bool put_path(json_t *root, const char *key, json_t *value)
{
	const char *dot;

	while ((dot = strchr(key, '.'))) {
		char name[64];
		json_t *sub;

		if ((size_t)(dot - key) >= sizeof(name))
			break;
		memcpy(name, key, (size_t)(dot - key));
		name[dot - key] = '\0';
		sub = json_object_get(root, name);
		if (!sub && !put(root, name, sub = json_object()))
			break;
		if (!json_is_object(sub))
			break;
		root = sub;
		key = dot + 1;
	}
	if (dot) {
		json_decref(value);
		return false;
	}
	return put(root, key, value);
}

static bool put_arrays(json_t *root, const struct ctl_figures *f)
{
	json_t *shards = json_array(), *top = json_array();

	if (!put(root, "shards", shards) || !put(root, "top_objects", top))
		return false;
	for (unsigned i = 0; i < f->nshards; i++) {
		json_t *o = json_object();

		if (json_array_append_new(shards, o) < 0 || !o ||
		    !put(o, "path", json_string(f->shard[i].path ? f->shard[i].path : "")))
			return false;
		for (int k = 0; k < ctl_nshard_stats; k++)
			if (!put(o, ctl_shard_stats[k].key,
				 json_integer(
					 (json_int_t)u64_at(&f->shard[i], ctl_shard_stats[k].off))))
				return false;
	}
	for (unsigned i = 0; i < f->ntop; i++) {
		const struct ctl_top_object *t = &f->top[i];
		json_t *o = json_object();

		if (json_array_append_new(top, o) < 0 || !o ||
		    !put(o, "id", json_string(t->id_hex)) ||
		    !put(o, "requests", json_integer((json_int_t)t->requests)) ||
		    !put(o, "size", json_integer((json_int_t)t->size)) ||
		    !put(o, "key",
			 t->key ? json_stringn(t->key, strlen(t->key)) : json_string("?")))
			return false;
	}
	return true;
}

json_t *ctl_figures_json(const struct ctl_figures *f)
{
	json_t *root = json_object();

	if (!root)
		return NULL;
	for (int i = 0; i < ctl_nstats; i++)
		if (ctl_stats[i].key &&
		    !put_path(root, ctl_stats[i].key, stat_json(&ctl_stats[i], f)))
			goto fail;
	if (!put(root, "limits", ctl_limits_json(&f->limits)) || !put_arrays(root, f))
		goto fail;
	return root;
fail:
	json_decref(root);
	return NULL;
}

static void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void ctl_figures_prometheus(FILE *out, const struct ctl_figures *f)
{
	const char *last = "";

	for (int i = 0; i < ctl_nstats; i++) {
		const struct ctl_stat *s = &ctl_stats[i];

		if (!s->prom)
			continue;
		if (strcmp(s->prom, last) != 0)
			prom_head(out, s->prom, s->prom_type, s->help);
		last = s->prom;
		fprintf(out, "%s", s->prom);
		if (s->prom_label)
			fprintf(out, "{%s}", s->prom_label);
		if (s->kind == CTL_STAT_PERCENT)
			fprintf(out, " %.4f\n", dbl_at(f, s->off) / 100.0);
		else
			fprintf(out, " %llu\n", (unsigned long long)u64_at(f, s->off));
	}
	for (int k = 0; k < ctl_nshard_stats; k++) {
		const struct ctl_shard_stat *s = &ctl_shard_stats[k];

		if (!s->prom)
			continue;
		prom_head(out, s->prom, "gauge", s->help);
		for (unsigned i = 0; i < f->nshards; i++)
			fprintf(out, "%s{shard=\"%u\"} %llu\n", s->prom, i,
				(unsigned long long)u64_at(&f->shard[i], s->off));
	}
}

void ctl_figures_fini(struct ctl_figures *f)
{
	for (unsigned i = 0; i < f->ntop && i < CTL_TOP_N; i++) {
		free(f->top[i].key);
		f->top[i].key = NULL;
	}
}

int ctl_json_print(FILE *out, json_t *j)
{
	int ret = 0;

	if (!j)
		return -ENOMEM;
	if (json_dumpf(j, out, JSON_COMPACT | JSON_REAL_PRECISION(15)) < 0 || fputc('\n', out) < 0)
		ret = -EIO;
	json_decref(j);
	return ret;
}

/*
 * Text from the disk or an origin (cache keys, ETags) as a JSON string.
 * jansson refuses bytes that are not UTF-8 (an ETag may carry obs-text,
 * RFC 9110 §8.8.3): those become '?', so one odd byte does not lose the
 * whole answer. NULL only when out of memory.
 */
json_t *ctl_json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !s)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}
