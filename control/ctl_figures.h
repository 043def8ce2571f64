/*
 * The figures of `cacheboxctl stats` and of the Prometheus endpoint as one
 * table: each row names a figure once (JSON key, text label, Prometheus
 * name, type and help, kind, where its value is) and the same rows are
 * rendered three ways, so text, JSON and /metrics cannot drift apart.
 * Plain data, no storage dependency: ctl_stats.c fills struct ctl_figures
 * from the index and the policy, tests/unit/control/test_stats.c renders
 * made-up figures.
 */
#ifndef CTL_FIGURES_H
#define CTL_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cfg.h"
#include "ctl_limits.h"
#include "dp_codec.h" /* DP_DROP_TABLE: the discovery drop reasons */

#define CTL_TOP_N 10

struct ctl_shard_figures {
	const char *path; /* borrowed from the config */
	uint64_t objects, cached, fs_size, fs_free;
	uint64_t limit; /* what eviction keeps it under (max_cache_size_percent, min_free_space) */
};

struct ctl_top_object {
	char id_hex[65];
	uint64_t requests, size;
	char *key; /* heap, freed by ctl_figures_fini; NULL: unknown */
};

struct ctl_figures {
	uint64_t bytes_served, origin_bytes;
	double percent_from_cache;	  /* of bytes_served, 0..100 */
	uint64_t bytes_cache, bytes_fill; /* of bytes_served: by the access log's source */
	uint64_t requests, hits, misses, status_4xx, status_5xx;
	uint64_t conns_open, conns_total;
	uint64_t conns_refused_max, conns_refused_client, accept_failures;
	uint64_t origin_requests, origin_retries, fills_started, fills_done, fills_failed;
	uint64_t corrupt_pieces; /* failed their SHA-256: on read (storage) + by verify (control) */
	uint64_t clients_active, clients_queued, clients_max;
	uint64_t rejected_busy, rejected_cap, throttled;
	uint64_t month, month_bytes, monthly_cap, cap_reached; /* month: YYYYMM */
	uint64_t business_now, rate_now, rate_client;
	uint64_t objects, objects_complete, evicted, evicted_bytes, restarts;
	uint64_t cached_bytes, cache_limit; /* all shards; cache_limit: absolute_max_cache_size */
	/* discovery: discovery.shm, every lane summed (0 when the dataplane never ran) */
	uint64_t disc_running, disc_restarts;
	uint64_t disc_rx, disc_queries, disc_offers, disc_ignored, disc_announces, disc_byes;
	uint64_t disc_tx_failed, disc_arp_replies, disc_not_ours;
	uint64_t disc_drops[DP_DROP_COUNT]; /* by enum dp_drop; [DP_DROP_NONE] stays 0 */
	struct ctl_limits limits;
	unsigned nshards, ntop;
	struct ctl_shard_figures shard[CFG_MAX_SHARDS];
	struct ctl_top_object top[CTL_TOP_N];
};

enum ctl_stat_kind {
	CTL_STAT_COUNT,	  /* uint64_t */
	CTL_STAT_BYTES,	  /* uint64_t, text with "bytes" */
	CTL_STAT_RATE,	  /* uint64_t bit/s, text "40 Mbit/s", 0 = unlimited */
	CTL_STAT_PERCENT, /* double 0..100; Prometheus exports it as a 0..1 ratio */
	CTL_STAT_BOOL,	  /* uint64_t 0/1 */
	CTL_STAT_MONTH,	  /* uint64_t YYYYMM, JSON and text "YYYY-MM" */
};

struct ctl_stat {
	/* JSON key, dots nesting objects ("discovery.drops.invalid"); NULL: not in the JSON */
	const char *key;
	const char *label;	/* text */
	const char *prom;	/* Prometheus metric; NULL: not exported */
	const char *prom_type;	/* "counter" or "gauge" */
	const char *prom_label; /* a label of the sample ("class=\"4xx\""), or NULL */
	const char *help;	/* Prometheus HELP, the same for all samples of a metric */
	enum ctl_stat_kind kind;
	size_t off;	  /* of the value in struct ctl_figures */
	const char *yes;  /* CTL_STAT_BOOL: the text when true (else "yes") */
	const char *zero; /* the text of 0 when it means "none" (else the number) */
};

extern const struct ctl_stat ctl_stats[];
extern const int ctl_nstats;

/* Per-shard figures: one JSON object per shard, one labelled sample per shard. */
struct ctl_shard_stat {
	const char *key, *prom, *help;
	size_t off; /* of a uint64_t in struct ctl_shard_figures */
};

extern const struct ctl_shard_stat ctl_shard_stats[];
extern const int ctl_nshard_stats;

/* One row's value as text ("158 bytes", "33.3 %", "yes", "2026-12"). */
void ctl_stat_format(char *buf, size_t cap, const struct ctl_stat *s, const struct ctl_figures *f);

void ctl_figures_text(FILE *out, const struct ctl_figures *f);
/* The JSON object of stats (the caller owns it), NULL if out of memory. */
json_t *ctl_figures_json(const struct ctl_figures *f);
/* The Prometheus text exposition (format 0.0.4). */
void ctl_figures_prometheus(FILE *out, const struct ctl_figures *f);
void ctl_figures_fini(struct ctl_figures *f);

/* Writes j compactly and a newline, then drops the reference; 0, -ENOMEM or -EIO. */
int ctl_json_print(FILE *out, json_t *j);

/* s as a JSON string, bytes that are not UTF-8 as '?'; NULL when out of memory. */
json_t *ctl_json_text(const char *s);

#endif
