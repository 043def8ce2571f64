/*
 * The `limits` options as one table: each row names the option, the field
 * it sets, the kind of value and its help, and that one table drives the
 * parsing of `cacheboxctl limits --OPTION VALUE ...`, the usage text and
 * the text and JSON rendering of the limits. struct ctl_limits is a plain
 * copy of the run-time limits with no storage dependency, so cacheboxctl
 * can check the options without linking the storage engine; control copies
 * it to and from the published policy (ctl_stats.c).
 */
#ifndef CTL_LIMITS_H
#define CTL_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* A business-hours window in minutes after local midnight; start == end: none. */
struct ctl_hours {
	uint32_t start_min, end_min;
};

struct ctl_limits {
	uint32_t max_clients;
	uint64_t queue_timeout_ms;
	uint64_t rate_bps;	  /* max_bandwidth_served, bit/s, 0 = none */
	uint64_t rate_client_bps; /* per client, 0 = none */
	struct ctl_hours business;
	uint64_t business_rate_bps; /* 0: the window has no cap of its own */
	uint64_t monthly_cap;	    /* bytes, 0 = none */
};

enum ctl_limit_kind {
	CTL_LIMIT_COUNT,    /* uint32_t in [min, max] */
	CTL_LIMIT_DURATION, /* uint64_t ms: "30s", "5m" (cfg_parse_duration_ms) */
	CTL_LIMIT_RATE,	    /* uint64_t bit/s: "40M" (cfg_parse_rate); 0 = unlimited */
	CTL_LIMIT_SIZE,	    /* uint64_t bytes: "500G" (cfg_parse_size); 0 = none */
	CTL_LIMIT_HOURS,    /* struct ctl_hours: "HH:MM-HH:MM" (cfg_parse_hours) */
};

struct ctl_limit_opt {
	const char *option; /* "--max-clients" */
	const char *key;    /* its JSON key, also the [limits] key of the config */
	const char *label;  /* the text rendering's left column */
	size_t off;	    /* of the field in struct ctl_limits */
	enum ctl_limit_kind kind;
	uint32_t min, max; /* CTL_LIMIT_COUNT only */
	const char *zero;  /* what 0 (or an empty window) means, shown instead of it */
	const char *metavar;
	const char *help;
};

extern const struct ctl_limit_opt ctl_limit_opts[];
extern const int ctl_nlimit_opts;

/* The row of an option name ("--max-clients"), or NULL. */
const struct ctl_limit_opt *ctl_limit_find(const char *option);

/*
 * Applies `limits` options ("--max-clients N" ...) in argv[0..argc) to v.
 * 0, or -EINVAL with the reason in err (v is then partly changed: the
 * caller publishes only on success). *changed tells whether any was given.
 */
int ctl_limits_parse(int argc, char *const *argv, struct ctl_limits *v, bool *changed, char *err,
		     size_t errlen);

/* The usage lines of the options, for cacheboxctl --help. */
void ctl_limits_usage(FILE *f);
/* Renders v as text, one line per option. */
void ctl_limits_text(FILE *f, const struct ctl_limits *v);
/* The JSON object of the limits (the caller owns the reference), NULL if out of memory. */
json_t *ctl_limits_json(const struct ctl_limits *v);
/* One value as text: "40 Mbit/s", "unlimited", "09:00-17:00", "none". */
void ctl_limit_format(char *buf, size_t cap, const struct ctl_limit_opt *o,
		      const struct ctl_limits *v);

/* A rate in bit/s as text: "40 Mbit/s", 0 = "unlimited". */
void ctl_rate_format(char *buf, size_t cap, uint64_t bps);

#endif
