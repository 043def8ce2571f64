/*
 * cachebox-fetch's argument parser: getopt_long over the options of
 * CF_OPT_TABLE, then the checks a value needs (numbers in range, the
 * checksum's form, one URL). No I/O beyond the usage text, so the unit tests
 * drive it directly.
 */
#include "cf_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cb_common.h"

static const struct option long_opts[] = {
#define CF_OPT_LONG(name, ch, arg, metavar, help) {name, arg, NULL, 0},
	CF_OPT_TABLE(CF_OPT_LONG){NULL, 0, NULL, 0},
#undef CF_OPT_LONG
};

static const struct {
	char ch;
	const char *metavar, *help;
} opt_help[] = {
#define CF_OPT_HELP(name, ch, arg, metavar, help) {ch, metavar, help},
	CF_OPT_TABLE(CF_OPT_HELP)
#undef CF_OPT_HELP
};

void cf_args_usage(FILE *f)
{
	fprintf(f,
		"Usage: cachebox-fetch [OPTIONS] URL [-o FILE]\n\n"
		"Downloads URL through the branch's cache hosts (cachebox), piece by piece in\n"
		"parallel, verifying every piece's SHA-256; falls back to the origin after\n"
		"--fallback-delay. Exit codes: 0 done, 1 generic, 2 usage, 3 file I/O, 4 network,\n"
		"5 TLS, 7 protocol, 8 server error, 10 integrity, 11 disk full, 130 "
		"interrupted.\n\n"
		"Options:\n");
	for (size_t i = 0; i + 1 < CB_ARRAY_SIZE(long_opts); i++) {
		char left[64];

		if (opt_help[i].ch)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", opt_help[i].ch,
				 long_opts[i].name, opt_help[i].metavar ? " " : "",
				 opt_help[i].metavar ? opt_help[i].metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", long_opts[i].name,
				 opt_help[i].metavar ? " " : "",
				 opt_help[i].metavar ? opt_help[i].metavar : "");
		fprintf(f, "  %-34s %s\n", left, opt_help[i].help);
	}
	fprintf(f,
		"\nEnvironment: http_proxy, https_proxy, no_proxy (for the origin only);\n"
		"CACHEBOX_FETCH_DHCLIENT_LEASES, CACHEBOX_FETCH_DHCLIENT_CONF,\n"
		"CACHEBOX_FETCH_NETWORKD_LEASES, CACHEBOX_FETCH_DHCPCD_LEASES,\n"
		"CACHEBOX_FETCH_DHCPCD, CACHEBOX_FETCH_DHCPCD_CONTROL (where DHCP's options are\n"
		"read). See cachebox-fetch(1).\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A speed: digits with an optional K or M (binary) suffix, bytes per second. */
static int parse_speed(const char *s, long *out)
{
	char *end;
	unsigned long long v, mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	if (*end || v > (1ull << 40) / mul)
		return -EINVAL;
	*out = (long)(v * mul);
	return 0;
}

static int parse_checksum(struct cf_opts *o, const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || (size_t)(eq - s) != 7 || strncasecmp(s, "sha-256", 7) || strlen(eq + 1) != 64 ||
	    cb_hex_decode(eq + 1, 64, o->checksum_sha) < 0)
		return -EINVAL;
	o->checksum = s;
	return 0;
}

static int set_enum(const char *v, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

/* One option's value into o; -EINVAL when the value is bad. */
static int apply(struct cf_opts *o, const char *name, const char *v)
{
	static const char *const sources[] = {"none", "dhcp", "dhcp-force"};
	static const char *const orders[] = {"listed", "hrw"};
	long n;
	int e = 0, ret = 0;

	if (!strcmp(name, "output"))
		o->out = v;
	else if (!strcmp(name, "cache-host"))
		o->cache_host = v;
	else if (!strcmp(name, "cache-host-source")) {
		ret = set_enum(v, sources, 3, &e);
		o->host_source = (enum cf_host_source)e;
	} else if (!strcmp(name, "order")) {
		ret = set_enum(v, orders, 2, &e);
		o->order = (enum cf_order)e;
	} else if (!strcmp(name, "discover"))
		o->discover = true;
	else if (!strcmp(name, "discover-target"))
		o->discover_target = v, o->discover = true;
	else if (!strcmp(name, "discover-wait")) {
		ret = parse_long(v, 1, 60000, &n);
		o->discover_wait_ms = (int)n;
	} else if (!strcmp(name, "interface"))
		o->iface = v;
	else if (!strcmp(name, "group-id"))
		o->group_id = v;
	else if (!strcmp(name, "group-key-file"))
		o->group_key_file = v;
	else if (!strcmp(name, "max-connection-per-server")) {
		ret = parse_long(v, 1, CF_MAX_CONN_LIMIT, &n);
		o->max_conn = (int)n;
	} else if (!strcmp(name, "checksum"))
		ret = parse_checksum(o, v);
	else if (!strcmp(name, "lowest-speed-limit"))
		ret = parse_speed(v, &o->lowest_speed);
	else if (!strcmp(name, "timeout")) {
		ret = parse_long(v, 1, 3600, &n);
		o->timeout_s = (int)n;
	} else if (!strcmp(name, "fallback-delay")) {
		ret = parse_long(v, 0, 86400, &n);
		o->fallback_delay_s = (double)n;
	} else if (!strcmp(name, "background"))
		o->background = true;
	else if (!strcmp(name, "no-origin"))
		o->no_origin = true;
	else if (!strcmp(name, "continue"))
		o->resume = true;
	else if (!strcmp(name, "cacert"))
		o->cacert = v;
	else if (!strcmp(name, "quiet"))
		o->quiet = true;
	else if (!strcmp(name, "json"))
		o->json = true;
	else if (!strcmp(name, "print-hosts"))
		o->print_hosts = true;
	else
		CB_ASSERT(!"an option of the table without a case");
	return ret;
}

int cf_args_parse(int argc, char **argv, struct cf_opts *o, char *err, size_t errlen)
{
	char shorts[2 * CB_ARRAY_SIZE(long_opts) + 1];
	size_t ns = 0;
	int c, idx;

	memset(o, 0, sizeof(*o));
	o->discover_wait_ms = 300;
	o->max_conn = 4;
	o->timeout_s = 30;
	o->fallback_delay_s = -1;
	for (size_t i = 0; i + 1 < CB_ARRAY_SIZE(long_opts); i++)
		if (opt_help[i].ch) {
			shorts[ns++] = opt_help[i].ch;
			if (long_opts[i].has_arg)
				shorts[ns++] = ':';
		}
	shorts[ns] = 0; /* options and the URL in any order, as with curl and wget */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, long_opts, &idx)) != -1) {
		const char *name = NULL;

		if (c == '?' || c == ':') {
			snprintf(err, errlen, "%s: unknown option or missing value",
				 argv[optind - 1 > 0 ? optind - 1 : 0]);
			return CF_ARGS_USAGE;
		}
		if (c == 0)
			name = long_opts[idx].name;
		else
			for (size_t i = 0; i + 1 < CB_ARRAY_SIZE(long_opts); i++)
				if (opt_help[i].ch == c)
					name = long_opts[i].name;
		CB_ASSERT(name);
		if (!strcmp(name, "help"))
			return CF_ARGS_HELP;
		if (!strcmp(name, "version"))
			return CF_ARGS_VERSION;
		if (apply(o, name, optarg) < 0) {
			snprintf(err, errlen, "--%s: bad value '%s'", name, optarg ? optarg : "");
			return CF_ARGS_USAGE;
		}
	}
	if (optind != argc - 1) {
		snprintf(err, errlen, optind >= argc ? "no URL given" : "more than one URL given");
		return CF_ARGS_USAGE;
	}
	o->url = argv[optind];
	if (strncasecmp(o->url, "http://", 7) && strncasecmp(o->url, "https://", 8)) {
		snprintf(err, errlen, "%s: only http:// and https:// URLs can be fetched", o->url);
		return CF_ARGS_USAGE;
	}
	if (o->fallback_delay_s < 0)
		o->fallback_delay_s =
			o->background ? CF_FALLBACK_BACKGROUND_S : CF_FALLBACK_FOREGROUND_S;
	if ((o->group_id || o->group_key_file) && !o->discover) {
		snprintf(err, errlen,
			 "--group-id and --group-key-file are for discovery: add "
			 "--discover or --discover-target");
		return CF_ARGS_USAGE;
	}
	if (o->no_origin && !o->cache_host && o->host_source == CF_SRC_NONE && !o->discover) {
		snprintf(err, errlen,
			 "--no-origin without --cache-host, DHCP or --discover: no source");
		return CF_ARGS_USAGE;
	}
	return CF_ARGS_OK;
}
