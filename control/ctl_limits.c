/* The `limits` options table and what it drives (see ctl_limits.h). */
#include "ctl_limits.h"

#include "cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(struct ctl_limits, field)

const struct ctl_limit_opt ctl_limit_opts[] = {
	{"--max-clients", "max_clients", "max clients", F(max_clients), CTL_LIMIT_COUNT, 1, 100000,
	 NULL, "N", "client addresses served at once; others wait"},
	{"--queue-timeout", "queue_timeout_ms", "queue timeout", F(queue_timeout_ms),
	 CTL_LIMIT_DURATION, 0, 0, NULL, "DUR", "how long a client waits for a slot, then 503"},
	{"--max-bandwidth-served", "max_bandwidth_served", "max bandwidth served", F(rate_bps),
	 CTL_LIMIT_RATE, 0, 0, "unlimited", "RATE", "cap on all bytes served (0 = none)"},
	{"--max-bandwidth-per-client", "max_bandwidth_per_client", "max bandwidth per client",
	 F(rate_client_bps), CTL_LIMIT_RATE, 0, 0, "unlimited", "RATE",
	 "cap on each client (0 = none)"},
	{"--business-hours", "business_hours", "business hours", F(business), CTL_LIMIT_HOURS, 0, 0,
	 "none", "HH:MM-HH:MM", "local-time window with a cap of its own"},
	{"--business-hours-max-bandwidth", "business_hours_max_bandwidth",
	 "business hours max bandwidth", F(business_rate_bps), CTL_LIMIT_RATE, 0, 0,
	 "(the normal one)", "RATE", "cap on all bytes served during business hours"},
	{"--monthly-upload-cap", "monthly_upload_cap", "monthly upload cap", F(monthly_cap),
	 CTL_LIMIT_SIZE, 0, 0, "none", "SIZE", "bytes served per calendar month, then 503"},
};

const int ctl_nlimit_opts = (int)(sizeof(ctl_limit_opts) / sizeof(ctl_limit_opts[0]));

#undef F

static void *field(struct ctl_limits *v, const struct ctl_limit_opt *o)
{
	return (char *)v + o->off;
}

static const void *cfield(const struct ctl_limits *v, const struct ctl_limit_opt *o)
{
	return (const char *)v + o->off;
}

const struct ctl_limit_opt *ctl_limit_find(const char *option)
{
	for (int i = 0; i < ctl_nlimit_opts; i++)
		if (strcmp(ctl_limit_opts[i].option, option) == 0)
			return &ctl_limit_opts[i];
	return NULL;
}

/* One value into its field; 0 or -EINVAL (the field is then unchanged). */
static int limit_set(struct ctl_limits *v, const struct ctl_limit_opt *o, const char *val)
{
	unsigned long long n;
	unsigned s, e;
	uint64_t u;
	char *end;

	switch (o->kind) {
	case CTL_LIMIT_COUNT:
		errno = 0;
		n = strtoull(val, &end, 10);
		if (errno || *end || end == val || val[0] == '-' || n < o->min || n > o->max)
			return -EINVAL;
		*(uint32_t *)field(v, o) = (uint32_t)n;
		return 0;
	case CTL_LIMIT_DURATION:
		if (cfg_parse_duration_ms(val, &u))
			return -EINVAL;
		break;
	case CTL_LIMIT_RATE:
		if (cfg_parse_rate(val, &u))
			return -EINVAL;
		break;
	case CTL_LIMIT_SIZE:
		if (cfg_parse_size(val, &u))
			return -EINVAL;
		break;
	case CTL_LIMIT_HOURS:
		if (cfg_parse_hours(val, &s, &e))
			return -EINVAL;
		((struct ctl_hours *)field(v, o))->start_min = s;
		((struct ctl_hours *)field(v, o))->end_min = e;
		return 0;
	default:
		return -EINVAL;
	}
	*(uint64_t *)field(v, o) = u;
	return 0;
}

int ctl_limits_parse(int argc, char *const *argv, struct ctl_limits *v, bool *changed, char *err,
		     size_t errlen)
{
	*changed = false;
	for (int i = 0; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		const struct ctl_limit_opt *o = ctl_limit_find(opt);

		if (!o) {
			char names[512];
			size_t len = 0;

			names[0] = '\0';
			for (int k = 0; k < ctl_nlimit_opts && len < sizeof(names); k++)
				len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
							k ? ", " : "", ctl_limit_opts[k].option);
			snprintf(err, errlen, "unknown option '%.64s' (%s)", opt, names);
			return -EINVAL;
		}
		if (!val) {
			snprintf(err, errlen, "%s needs a value (%s)", o->option, o->metavar);
			return -EINVAL;
		}
		if (limit_set(v, o, val)) {
			snprintf(err, errlen, "%s: bad value '%.64s' (%s)", o->option, val,
				 o->metavar);
			return -EINVAL;
		}
		*changed = true;
	}
	return 0;
}

void ctl_limits_usage(FILE *f)
{
	for (int i = 0; i < ctl_nlimit_opts; i++) {
		const struct ctl_limit_opt *o = &ctl_limit_opts[i];
		char left[64];

		snprintf(left, sizeof(left), "%s %s", o->option, o->metavar);
		if (strlen(left) > 22)
			fprintf(f, "  %s\n  %-22s %s\n", left, "", o->help);
		else
			fprintf(f, "  %-22s %s\n", left, o->help);
	}
}

void ctl_rate_format(char *buf, size_t cap, uint64_t bps)
{
	if (!bps) {
		snprintf(buf, cap, "unlimited");
		return;
	}
	if (bps >= 1000000000ull)
		snprintf(buf, cap, "%.3g Gbit/s", (double)bps / 1e9);
	else if (bps >= 1000000ull)
		snprintf(buf, cap, "%.3g Mbit/s", (double)bps / 1e6);
	else
		snprintf(buf, cap, "%.3g kbit/s", (double)bps / 1e3);
}

static void hours_str(char *buf, size_t cap, const struct ctl_hours *h)
{
	snprintf(buf, cap, "%02u:%02u-%02u:%02u", (h->start_min / 60) % 100, h->start_min % 60,
		 (h->end_min / 60) % 100, h->end_min % 60);
}

void ctl_limit_format(char *buf, size_t cap, const struct ctl_limit_opt *o,
		      const struct ctl_limits *v)
{
	const struct ctl_hours *h;
	uint64_t u = 0;

	if (o->kind == CTL_LIMIT_COUNT) {
		snprintf(buf, cap, "%u", *(const uint32_t *)cfield(v, o));
		return;
	}
	if (o->kind == CTL_LIMIT_HOURS) {
		h = cfield(v, o);
		if (h->start_min == h->end_min)
			snprintf(buf, cap, "%s", o->zero ? o->zero : "none");
		else
			hours_str(buf, cap, h);
		return;
	}
	u = *(const uint64_t *)cfield(v, o);
	if (!u && o->zero) {
		snprintf(buf, cap, "%s", o->zero);
		return;
	}
	switch (o->kind) {
	case CTL_LIMIT_DURATION:
		snprintf(buf, cap, "%llu ms", (unsigned long long)u);
		break;
	case CTL_LIMIT_RATE:
		ctl_rate_format(buf, cap, u);
		break;
	case CTL_LIMIT_SIZE:
		snprintf(buf, cap, "%llu bytes", (unsigned long long)u);
		break;
	default:
		snprintf(buf, cap, "%llu", (unsigned long long)u);
		break;
	}
}

void ctl_limits_text(FILE *f, const struct ctl_limits *v)
{
	for (int i = 0; i < ctl_nlimit_opts; i++) {
		char val[64];

		ctl_limit_format(val, sizeof(val), &ctl_limit_opts[i], v);
		fprintf(f, "%-29s %s\n", ctl_limit_opts[i].label, val);
	}
}

json_t *ctl_limits_json(const struct ctl_limits *v)
{
	json_t *o = json_object();

	for (int i = 0; o && i < ctl_nlimit_opts; i++) {
		const struct ctl_limit_opt *r = &ctl_limit_opts[i];
		const struct ctl_hours *h;
		char buf[32];
		json_t *val;

		switch (r->kind) {
		case CTL_LIMIT_COUNT:
			val = json_integer(*(const uint32_t *)cfield(v, r));
			break;
		case CTL_LIMIT_HOURS:
			h = cfield(v, r);
			if (h->start_min == h->end_min)
				snprintf(buf, sizeof(buf), "none");
			else
				hours_str(buf, sizeof(buf), h);
			val = json_string(buf);
			break;
		default:
			val = json_integer((json_int_t) * (const uint64_t *)cfield(v, r));
			break;
		}
		if (json_object_set_new(o, r->key, val) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}
