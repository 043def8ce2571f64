/* The stats table (control/ctl_figures.c): every row in text, JSON and Prometheus. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_figures.h"

/* The drop reasons' names from the table itself (dp_drop_name() is in dp_proto, not linked). */
static const char *dp_drop_name_of(int r)
{
#define NAME(id, name) [DP_DROP_##id] = name,
	static const char *const names[DP_DROP_COUNT] = {DP_DROP_TABLE(NAME)};
#undef NAME
	return names[r];
}

/* Every row a distinct value, so a row rendering another's field is seen. */
static void made_up(struct ctl_figures *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < ctl_nstats; i++) {
		uint64_t v = 1000 + (uint64_t)i;

		if (ctl_stats[i].kind == CTL_STAT_PERCENT) {
			f->percent_from_cache = 37.5;
			continue;
		}
		if (ctl_stats[i].kind == CTL_STAT_BOOL)
			v = 1;
		if (ctl_stats[i].kind == CTL_STAT_MONTH)
			v = 202612;
		memcpy((char *)f + ctl_stats[i].off, &v, sizeof(v));
	}
	f->limits.max_clients = 10;
	f->nshards = 2;
	f->shard[0] = (struct ctl_shard_figures){"/srv/a", 3, 4096, 1 << 30, 1 << 29};
	f->shard[1] = (struct ctl_shard_figures){"/srv/\"b\"", 0, 0, 2048, 1024};
	f->ntop = 1;
	snprintf(f->top[0].id_hex, sizeof(f->top[0].id_hex), "%064d", 0);
	f->top[0].requests = 9;
	f->top[0].size = 77;
	f->top[0].key = strdup("origin.example/a \"quoted\" key\n");
}

static char *render(void (*fn)(FILE *, const struct ctl_figures *), const struct ctl_figures *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	cr_assert_not_null(out);
	fn(out, f);
	fclose(out);
	return buf;
}

/* The keys of `stats --json`: those before the table (tests rely on them), and those added. */
static const char *const json_keys[] = {
	"bytes_served",
	"bytes_served_from_cache",
	"bytes_served_while_filling",
	"bytes_from_origin",
	"percent_from_cache",
	"requests",
	"hits",
	"misses",
	"status_4xx",
	"status_5xx",
	"connections_open",
	"connections_total",
	"connections_refused_max_connections",
	"connections_refused_per_client",
	"accept_failures",
	"origin_requests",
	"origin_retries",
	"fills_started",
	"fills_done",
	"fills_failed",
	"corrupt_pieces",
	"clients_active",
	"clients_queued",
	"rejected_busy",
	"rejected_monthly_cap",
	"throttled_sends",
	"month",
	"month_uploaded",
	"monthly_cap_reached",
	"business_hours_now",
	"bandwidth_cap_now",
	"limits",
	"objects",
	"objects_complete",
	"cached_bytes",
	"absolute_max_cache_size",
	"evicted",
	"evicted_bytes",
	"storage_restarts",
	"discovery",
	"shards",
	"top_objects",
};

/* The keys of stats' "discovery" object, and of its "drops" object (DP_DROP_TABLE's names). */
static const char *const discovery_keys[] = {
	"running",   "restarts", "rx",	      "queries",     "offers",	 "ignored",
	"announces", "byes",	 "tx_failed", "arp_replies", "not_ours", "drops",
};
static const char *const drop_keys[] = {
	"invalid", "wrong_group", "unauthenticated", "bad_mac",
	"stale",   "replay",	  "rate_limited",    "bad_source",
};

/* The value under a row's key, whose dots nest objects. */
static json_t *get_path(json_t *j, const char *key)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", key);
	for (char *p = strtok_r(buf, ".", &save); p && j; p = strtok_r(NULL, ".", &save))
		j = json_object_get(j, p);
	return j;
}

#define NKEYS (sizeof(json_keys) / sizeof(json_keys[0]))

Test(stats, json_parses_and_has_the_keys)
{
	struct ctl_figures f;
	json_error_t e;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	json_t *j, *sh, *top, *disc, *drops;

	made_up(&f);
	cr_assert_eq(ctl_json_print(out, ctl_figures_json(&f)), 0);
	fclose(out);
	j = json_loads(buf, 0, &e);
	cr_assert_not_null(j, "not JSON (%s): %s", e.text, buf);
	cr_assert_eq(json_object_size(j), NKEYS);
	for (size_t i = 0; i < NKEYS; i++)
		cr_assert_not_null(json_object_get(j, json_keys[i]), "no %s", json_keys[i]);
	for (int i = 0; i < ctl_nstats; i++)
		if (ctl_stats[i].key && ctl_stats[i].kind == CTL_STAT_COUNT)
			cr_assert_eq(json_integer_value(get_path(j, ctl_stats[i].key)), 1000 + i,
				     "%s", ctl_stats[i].key);
	disc = json_object_get(j, "discovery");
	cr_assert_eq(json_object_size(disc), sizeof(discovery_keys) / sizeof(discovery_keys[0]));
	for (size_t i = 0; i < sizeof(discovery_keys) / sizeof(discovery_keys[0]); i++)
		cr_assert_not_null(json_object_get(disc, discovery_keys[i]), "no discovery.%s",
				   discovery_keys[i]);
	drops = json_object_get(disc, "drops");
	cr_assert_eq(json_object_size(drops), DP_DROP_COUNT - 1);
	cr_assert_eq(json_object_size(drops), sizeof(drop_keys) / sizeof(drop_keys[0]));
	for (size_t i = 0; i < sizeof(drop_keys) / sizeof(drop_keys[0]); i++)
		cr_assert(json_is_integer(json_object_get(drops, drop_keys[i])),
			  "no discovery.drops.%s", drop_keys[i]);
	cr_assert_float_eq(json_real_value(json_object_get(j, "percent_from_cache")), 37.5, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(j, "month")), "2026-12");
	cr_assert(json_is_true(json_object_get(j, "business_hours_now")));
	cr_assert_eq(
		json_integer_value(json_object_get(json_object_get(j, "limits"), "max_clients")),
		10);
	sh = json_object_get(j, "shards");
	cr_assert_eq(json_array_size(sh), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sh, 1), "path")),
			 "/srv/\"b\"");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(sh, 0), "cached_bytes")),
		     4096);
	top = json_array_get(json_object_get(j, "top_objects"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(top, "key")),
			 "origin.example/a \"quoted\" key\n");
	cr_assert_eq(json_integer_value(json_object_get(top, "requests")), 9);
	json_decref(j);
	free(buf);
	ctl_figures_fini(&f);
}

static bool prom_name_ok(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
			return false;
	return true;
}

Test(stats, every_row_renders_in_text)
{
	struct ctl_figures f;
	char *text, val[64];

	made_up(&f);
	text = render(ctl_figures_text, &f);
	for (int i = 0; i < ctl_nstats; i++) {
		const char *line = strstr(text, ctl_stats[i].label);

		ctl_stat_format(val, sizeof(val), &ctl_stats[i], &f);
		cr_assert(line, "no line for %s:\n%s", ctl_stats[i].label, text);
		cr_assert(strstr(line, val), "%s: no %s", ctl_stats[i].label, val);
	}
	cr_assert(strstr(text, "yes (business hours)"), "%s", text);
	cr_assert(strstr(text, "37.5 %"), "%s", text);
	cr_assert(strstr(text, "shard 1"), "%s", text);
	free(text);
	ctl_figures_fini(&f);
}

Test(stats, not_in_business_hours_says_no)
{
	struct ctl_figures f;
	char *text, *line;

	made_up(&f);
	f.business_now = 0;
	f.monthly_cap = 0;
	text = render(ctl_figures_text, &f);
	cr_assert_null(strstr(text, "(business hours)"), "%s", text);
	line = strstr(text, "monthly upload cap");
	cr_assert(line && !strncmp(strchr(line, '\n') - 4, "none", 4), "%s", text);
	free(text);
	ctl_figures_fini(&f);
}

Test(stats, every_row_renders_in_prometheus_with_valid_names)
{
	struct ctl_figures f;
	char *prom, want[256];

	made_up(&f);
	prom = render(ctl_figures_prometheus, &f);
	for (int i = 0; i < ctl_nstats; i++) {
		const struct ctl_stat *s = &ctl_stats[i];

		cr_assert(s->key || s->prom, "row %s is in neither JSON nor Prometheus", s->label);
		if (!s->prom)
			continue;
		cr_assert(prom_name_ok(s->prom), "bad metric name %s", s->prom);
		cr_assert(!strcmp(s->prom_type, "counter") || !strcmp(s->prom_type, "gauge"));
		cr_assert(strcmp(s->prom_type, "counter") || strstr(s->prom, "_total"),
			  "counter %s lacks _total", s->prom);
		snprintf(want, sizeof(want), "# TYPE %s %s\n", s->prom, s->prom_type);
		cr_assert(strstr(prom, want), "no %s", want);
		if (s->kind == CTL_STAT_PERCENT)
			snprintf(want, sizeof(want), "%s 0.3750\n", s->prom);
		else
			snprintf(want, sizeof(want), "%s%s%s%s %d\n", s->prom,
				 s->prom_label ? "{" : "", s->prom_label ? s->prom_label : "",
				 s->prom_label ? "}" : "", s->kind == CTL_STAT_BOOL ? 1 : 1000 + i);
		cr_assert(strstr(prom, want), "no sample %s in\n%s", want, prom);
	}
	cr_assert(strstr(prom, "cachebox_shard_cached_bytes{shard=\"0\"} 4096\n"), "%s", prom);
	cr_assert(strstr(prom, "cachebox_shard_free_bytes{shard=\"1\"} 1024\n"), "%s", prom);
	/* One HELP per metric, even for labelled ones. */
	cr_assert_null(strstr(strstr(prom, "# HELP cachebox_rejected_total") + 1,
			      "# HELP cachebox_rejected_total"));
	cr_assert_null(strstr(strstr(prom, "# HELP cachebox_discovery_drops_total") + 1,
			      "# HELP cachebox_discovery_drops_total"));
	/* one sample per drop reason, each named as DP_DROP_TABLE names it */
	for (int r = 1; r < DP_DROP_COUNT; r++) {
		snprintf(want, sizeof(want), "cachebox_discovery_drops_total{reason=\"%s\"} ",
			 dp_drop_name_of(r));
		cr_assert(strstr(prom, want), "no %s in\n%s", want, prom);
	}
	free(prom);
	ctl_figures_fini(&f);
}

/* The metric names of /metrics before the table (dashboards and tests use them), and added. */
Test(stats, prometheus_names_unchanged)
{
	static const char *const names[] = {
		"cachebox_requests_total",
		"cachebox_cache_hits_total",
		"cachebox_cache_misses_total",
		"cachebox_responses_errors_total",
		"cachebox_served_bytes_total",
		"cachebox_served_source_bytes_total",
		"cachebox_origin_bytes_total",
		"cachebox_origin_requests_total",
		"cachebox_origin_retries_total",
		"cachebox_fills_started_total",
		"cachebox_fills_failed_total",
		"cachebox_corrupt_pieces_total",
		"cachebox_cache_served_ratio",
		"cachebox_clients_active",
		"cachebox_clients_queued",
		"cachebox_clients_max",
		"cachebox_rejected_total",
		"cachebox_throttled_sends_total",
		"cachebox_bandwidth_cap_bits_per_second",
		"cachebox_client_bandwidth_cap_bits_per_second",
		"cachebox_month_uploaded_bytes",
		"cachebox_monthly_upload_cap_bytes",
		"cachebox_connections_open",
		"cachebox_connections_refused_total",
		"cachebox_accept_failures_total",
		"cachebox_objects",
		"cachebox_shard_cached_bytes",
		"cachebox_shard_free_bytes",
		"cachebox_shard_size_bytes",
		"cachebox_shard_limit_bytes",
		"cachebox_cached_bytes",
		"cachebox_cache_limit_bytes",
		"cachebox_evicted_objects_total",
		"cachebox_evicted_bytes_total",
		"cachebox_storage_restarts_total",
		"cachebox_discovery_running",
		"cachebox_discovery_restarts_total",
		"cachebox_discovery_received_total",
		"cachebox_discovery_queries_total",
		"cachebox_discovery_offers_total",
		"cachebox_discovery_ignored_total",
		"cachebox_discovery_announces_total",
		"cachebox_discovery_byes_total",
		"cachebox_discovery_tx_failed_total",
		"cachebox_discovery_arp_replies_total",
		"cachebox_discovery_not_ours_total",
		"cachebox_discovery_drops_total",
	};
	struct ctl_figures f;
	char *prom, want[128];
	int types = 0;

	made_up(&f);
	prom = render(ctl_figures_prometheus, &f);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "# TYPE %s ", names[i]);
		cr_assert(strstr(prom, want), "no %s", names[i]);
	}
	for (char *p = prom; (p = strstr(p, "# TYPE ")); p++)
		types++;
	cr_assert_eq(types, (int)(sizeof(names) / sizeof(names[0])));
	free(prom);
	ctl_figures_fini(&f);
}
