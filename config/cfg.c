/*
 * The configuration loader of every cachebox process (see cfg.h and the
 * "Config" section of DESIGN.md). libinih splits "key = value" lines and calls
 * us once per key; everything around that is ours, so that the result does
 * not depend on how a distribution compiled libinih: a line reader in front
 * of it counts lines, strips comments and leading blanks (which turns off
 * libinih's multi-line continuation), rejects control bytes and over-long
 * lines, and parses section headers itself (libinih truncates section names
 * to 50 bytes, too short for origin host names). The handler then looks the
 * key up in one table that gives its section, type, field and range, so every
 * key is parsed, range-checked and reported the same way. The first error
 * stops the load and names file, line, section and key.
 */
#include "cfg.h"

#include "cb_common.h"
#include "cb_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define CFG_FILE_MAX (1u << 20) /* a config file larger than this is a mistake */
#define CFG_SHOW_MAX 40		/* bytes of a bad value quoted in a message */
#define CFG_KIB	     1024ull
#define CFG_MIB	     (1024ull * 1024)
#define CFG_DAY_MS   86400000ull

enum cfg_sect {
	CFG_S_NONE,
	CFG_S_APPLIANCE,
	CFG_S_SERVER,
	CFG_S_STORAGE,
	CFG_S_LIMITS,
	CFG_S_DISCOVERY,
	CFG_S_CONTROL,
	CFG_S_ORIGIN,
};

static const char *const cfg_sect_names[] = {
	[CFG_S_NONE] = "",	     [CFG_S_APPLIANCE] = "appliance",
	[CFG_S_SERVER] = "server",   [CFG_S_STORAGE] = "storage",
	[CFG_S_LIMITS] = "limits",   [CFG_S_DISCOVERY] = "discovery",
	[CFG_S_CONTROL] = "control", [CFG_S_ORIGIN] = "origin",
};

enum cfg_type {
	CFG_T_PATH,   /* file or directory path */
	CFG_T_SOCKET, /* path of a Unix socket: must fit sun_path */
	CFG_T_SHARD,  /* repeated path: the first replaces the default list */
	CFG_T_ARGS,   /* free text (EAL arguments) */
	CFG_T_LOG_LEVEL,
	CFG_T_ADDR,
	CFG_T_UINT,
	CFG_T_PERCENT,
	CFG_T_PORT,
	CFG_T_SIZE,
	CFG_T_RATE,
	CFG_T_DURATION,
	CFG_T_BOOL,
	CFG_T_BACKEND,
	CFG_T_EVICTION,
	CFG_T_HOURS,
	CFG_T_GUID,
	CFG_T_GROUP,
	CFG_T_UPSTREAM,
	CFG_T_PROXY,
	CFG_T_KEY_QUERY,
};

#define CFG_F_EMPTY  1u /* an empty value is allowed (and means "none") */
#define CFG_F_REPEAT 2u /* the key may appear more than once */
#define CFG_F_POW2   4u /* the value must be a power of two */

struct cfg_key {
	enum cfg_sect sect;
	const char *name;
	enum cfg_type type;
	size_t off;	   /* into struct cfg, or into struct cfg_origin for [origin] keys */
	size_t size;	   /* of that field */
	uint64_t min, max; /* numeric range, when max != 0 */
	unsigned flags;
	const char *range; /* the range in words, for messages */
};

#define CFG_G(m) offsetof(struct cfg, m), sizeof(((struct cfg *)0)->m)
#define CFG_O(m) offsetof(struct cfg_origin, m), sizeof(((struct cfg_origin *)0)->m)

/*
 * Every key of DESIGN.md plus zerocopy_threshold, max_connections,
 * index_capacity and eviction.
 */
static const struct cfg_key cfg_keys[] = {
	{CFG_S_APPLIANCE, "state_dir", CFG_T_PATH, CFG_G(appliance.state_dir)},
	{CFG_S_APPLIANCE, "log_level", CFG_T_LOG_LEVEL, CFG_G(appliance.log_level)},

	{CFG_S_SERVER, "listen", CFG_T_ADDR, CFG_G(server.listen)},
	{CFG_S_SERVER, "workers", CFG_T_UINT, CFG_G(server.workers), 0, 256, 0, "0 to 256"},
	{CFG_S_SERVER, "tls_cert", CFG_T_PATH, CFG_G(server.tls_cert), .flags = CFG_F_EMPTY},
	{CFG_S_SERVER, "tls_key", CFG_T_PATH, CFG_G(server.tls_key), .flags = CFG_F_EMPTY},
	{CFG_S_SERVER, "header_timeout", CFG_T_DURATION, CFG_G(server.header_timeout_ms), 1,
	 CFG_DAY_MS, 0, "1ms to 1d"},
	{CFG_S_SERVER, "idle_timeout", CFG_T_DURATION, CFG_G(server.idle_timeout_ms), 1, CFG_DAY_MS,
	 0, "1ms to 1d"},
	{CFG_S_SERVER, "zerocopy_threshold", CFG_T_SIZE, CFG_G(server.zerocopy_threshold)},
	{CFG_S_SERVER, "max_connections", CFG_T_UINT, CFG_G(server.max_connections), 1, 1000000, 0,
	 "1 to 1000000"},

	{CFG_S_STORAGE, "shard", CFG_T_SHARD, CFG_G(storage.shards[0]), .flags = CFG_F_REPEAT},
	{CFG_S_STORAGE, "piece_size", CFG_T_SIZE, CFG_G(storage.piece_size), 64 * CFG_KIB,
	 64 * CFG_MIB, CFG_F_POW2, "a power of two from 64K to 64M"},
	{CFG_S_STORAGE, "absolute_max_cache_size", CFG_T_SIZE,
	 CFG_G(storage.absolute_max_cache_size)},
	{CFG_S_STORAGE, "max_cache_size_percent", CFG_T_PERCENT,
	 CFG_G(storage.max_cache_size_percent), 1, 100, 0, "1 to 100"},
	{CFG_S_STORAGE, "min_free_space", CFG_T_SIZE, CFG_G(storage.min_free_space)},
	{CFG_S_STORAGE, "eviction", CFG_T_EVICTION, CFG_G(storage.eviction_lru)},
	{CFG_S_STORAGE, "max_cache_age", CFG_T_DURATION, CFG_G(storage.max_cache_age_ms)},
	{CFG_S_STORAGE, "min_file_size_to_cache", CFG_T_SIZE,
	 CFG_G(storage.min_file_size_to_cache)},
	{CFG_S_STORAGE, "index_capacity", CFG_T_UINT, CFG_G(storage.index_capacity), 1, 1u << 30, 0,
	 "1 to 1073741824"},

	{CFG_S_LIMITS, "max_clients", CFG_T_UINT, CFG_G(limits.max_clients), 1, 100000, 0,
	 "1 to 100000"},
	{CFG_S_LIMITS, "queue_timeout", CFG_T_DURATION, CFG_G(limits.queue_timeout_ms), 0,
	 CFG_DAY_MS, 0, "0 to 1d"},
	{CFG_S_LIMITS, "max_bandwidth_served", CFG_T_RATE, CFG_G(limits.max_bandwidth_served)},
	{CFG_S_LIMITS, "max_bandwidth_per_client", CFG_T_RATE,
	 CFG_G(limits.max_bandwidth_per_client)},
	{CFG_S_LIMITS, "business_hours", CFG_T_HOURS, CFG_G(limits.business_start_min)},
	{CFG_S_LIMITS, "business_hours_max_bandwidth", CFG_T_RATE,
	 CFG_G(limits.business_hours_max_bandwidth)},
	{CFG_S_LIMITS, "monthly_upload_cap", CFG_T_SIZE, CFG_G(limits.monthly_upload_cap)},

	{CFG_S_DISCOVERY, "enabled", CFG_T_BOOL, CFG_G(discovery.enabled)},
	{CFG_S_DISCOVERY, "backend", CFG_T_BACKEND, CFG_G(discovery.backend_dpdk)},
	{CFG_S_DISCOVERY, "port", CFG_T_PORT, CFG_G(discovery.port)},
	{CFG_S_DISCOVERY, "group_id", CFG_T_GUID, CFG_G(discovery.group_id), .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "group_key_file", CFG_T_PATH, CFG_G(discovery.group_key_file),
	 .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "dpdk_args", CFG_T_ARGS, CFG_G(discovery.dpdk_args),
	 .flags = CFG_F_EMPTY},

	{CFG_S_CONTROL, "socket", CFG_T_SOCKET, CFG_G(control.socket)},
	{CFG_S_CONTROL, "allowed_group", CFG_T_GROUP, CFG_G(control.allowed_group),
	 .flags = CFG_F_EMPTY},
	{CFG_S_CONTROL, "metrics_listen", CFG_T_ADDR, CFG_G(control.metrics_listen)},

	{CFG_S_ORIGIN, "upstream", CFG_T_UPSTREAM, CFG_O(upstream)},
	{CFG_S_ORIGIN, "ca_file", CFG_T_PATH, CFG_O(ca_file), .flags = CFG_F_EMPTY},
	{CFG_S_ORIGIN, "proxy", CFG_T_PROXY, CFG_O(proxy), .flags = CFG_F_EMPTY},
	{CFG_S_ORIGIN, "key_query", CFG_T_KEY_QUERY, CFG_O(key_query_keep)},
	{CFG_S_ORIGIN, "quota", CFG_T_SIZE, CFG_O(quota)},
	{CFG_S_ORIGIN, "timeout", CFG_T_DURATION, CFG_O(timeout_ms), 1, CFG_DAY_MS, 0, "1ms to 1d"},
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* One load in progress. Line numbers are 1-based; 0 means "not seen". */
struct cfg_parser {
	struct cfg *c;
	const char *name; /* the file, for messages */
	const char *buf;
	size_t len;
	size_t pos;	 /* next byte the reader looks at */
	unsigned lineno; /* of the line last handed to libinih */
	char *err;
	size_t errlen;
	bool failed;
	unsigned errline;
	enum cfg_sect sect;	   /* current section */
	struct cfg_origin *origin; /* current [origin] section */
	unsigned origin_idx;
	bool shard_seen;
	unsigned origin_line[CFG_MAX_ORIGINS];
	/* Where each key was set: row 0 for the fixed sections, 1 + i for origin i. */
	unsigned key_line[CFG_MAX_ORIGINS + 1][CFG_NKEYS];
};

static bool cfg_is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool cfg_is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool cfg_is_alnum(char ch)
{
	return cfg_is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char cfg_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static int cfg_hexval(char ch)
{
	if (cfg_is_digit(ch))
		return ch - '0';
	ch = cfg_lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Writes one message into err, if the caller gave room for it. */
static void cfg_msg(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cfg_msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Copies s (n bytes) for a message: at most CFG_SHOW_MAX bytes, anything but
 * printable ASCII as '?', so a message never carries terminal escapes.
 */
static const char *cfg_show_n(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < CFG_SHOW_MAX && o + 1 < outlen; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static const char *cfg_show(const char *s, char *out, size_t outlen)
{
	return cfg_show_n(s, strlen(s), out, outlen);
}

/* Records the first error: "<file>:<line>: <text>". Later errors are dropped. */
static void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	p->errline = line;
	if (!p->err || !p->errlen)
		return;
	if (line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void cfg_sect_text(enum cfg_sect s, const struct cfg_origin *o, char *out, size_t len)
{
	if (s == CFG_S_ORIGIN)
		snprintf(out, len, "[origin %s]", o->host);
	else
		snprintf(out, len, "[%s]", cfg_sect_names[s]);
}

/* Records "<file>:<line>: [<section>] <key>: <text>". */
static void cfg_fail_key(struct cfg_parser *p, unsigned line, enum cfg_sect s,
			 const struct cfg_origin *o, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void cfg_fail_key(struct cfg_parser *p, unsigned line, enum cfg_sect s,
			 const struct cfg_origin *o, const char *key, const char *fmt, ...)
{
	char sect[CFG_HOST_MAX + 16], k[CFG_SHOW_MAX + 8], text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cfg_sect_text(s, o, sect, sizeof(sect));
	cfg_fail(p, line, "%s %s: %s", sect, cfg_show(key, k, sizeof(k)), text);
}

/*
 * The error of a value that failed to parse (-EINVAL: "bad <what> '<v>'") or
 * is outside its range (-ERANGE: "<what> out of range '<v>'"); hint, if any,
 * follows in parentheses. Returns -EINVAL for the handler.
 */
static int cfg_bad(struct cfg_parser *p, const char *key, int ret, const char *what, const char *v,
		   const char *hint)
{
	char shown[CFG_SHOW_MAX + 8];

	cfg_show(v, shown, sizeof(shown));
	if (ret == -ERANGE)
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "%s out of range '%s'%s%s%s",
			     what, shown, hint ? " (expected " : "", hint ? hint : "",
			     hint ? ")" : "");
	else
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "bad %s '%s'%s%s%s", what,
			     shown, hint ? " (expected " : "", hint ? hint : "", hint ? ")" : "");
	return -EINVAL;
}

/*
 * Value parsers. They take the whole value (libinih already stripped the
 * blanks around it), accept nothing else around the number, and check every
 * multiplication for overflow. Leading zeros are decimal, never octal.
 */

/* Reads the digits at *sp; -EINVAL if there are none, *ovf set on overflow. */
static int cfg_digits(const char **sp, uint64_t *out, bool *ovf)
{
	const char *s = *sp;
	uint64_t v = 0;

	*ovf = false;
	if (!cfg_is_digit(*s))
		return -EINVAL;
	for (; cfg_is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			*ovf = true;
		else
			v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

static int cfg_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v;
	bool ovf;

	if (cfg_digits(&s, &v, &ovf) < 0 || *s)
		return -EINVAL;
	if (ovf)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A number with an optional '%' after it. */
static int cfg_parse_percent(const char *s, uint64_t *out)
{
	uint64_t v;
	bool ovf;

	if (cfg_digits(&s, &v, &ovf) < 0)
		return -EINVAL;
	if (*s == '%')
		s++;
	if (*s)
		return -EINVAL;
	if (ovf)
		return -ERANGE;
	*out = v;
	return 0;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
	unsigned shift = 0;
	uint64_t v;
	bool ovf;

	if (!s || !out || cfg_digits(&s, &v, &ovf) < 0)
		return -EINVAL;
	switch (cfg_lower(*s)) {
	case '\0':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift && *++s)
		return -EINVAL;
	if (ovf || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int cfg_parse_rate(const char *s, uint64_t *out)
{
	uint64_t v, mult = 1;
	bool ovf;

	if (!s || !out || cfg_digits(&s, &v, &ovf) < 0)
		return -EINVAL;
	switch (*s) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1000;
		break;
	case 'M':
		mult = 1000000;
		break;
	case 'G':
		mult = 1000000000;
		break;
	default:
		return -EINVAL;
	}
	if (mult > 1 && *++s)
		return -EINVAL;
	if (ovf || v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int cfg_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", CFG_DAY_MS},
	};
	uint64_t v;
	bool ovf;

	if (!s || !out || cfg_digits(&s, &v, &ovf) < 0)
		return -EINVAL;
	for (size_t i = 0; i < CB_ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (ovf || v > UINT64_MAX / units[i].ms)
			return -ERANGE;
		*out = v * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	if (!s || !out)
		return -EINVAL;
	for (size_t i = 0; i < CB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * A host name per RFC 1123 §2.1 (labels of letters, digits and inner
 * hyphens, at most 63 bytes each and 253 in all, no trailing dot), or a
 * dotted IPv4 literal: a name whose last label is all digits must be one
 * (RFC 3696 §2), so "1.2.3.999" is refused rather than looked up.
 */
static bool cfg_host_valid(const char *h, size_t len)
{
	size_t lab = 0;
	bool numeric = true;
	char ip[INET_ADDRSTRLEN];
	struct in_addr a4;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = h[i];

		if (ch == '.') {
			if (lab == 0 || h[i - 1] == '-')
				return false;
			lab = 0;
			numeric = true;
			continue;
		}
		if (ch == '-') {
			if (lab == 0)
				return false;
		} else if (!cfg_is_alnum(ch)) {
			return false;
		}
		if (!cfg_is_digit(ch))
			numeric = false;
		if (++lab > 63)
			return false;
	}
	if (lab == 0 || h[len - 1] == '-')
		return false;
	if (!numeric)
		return true;
	if (len >= sizeof(ip))
		return false;
	memcpy(ip, h, len);
	ip[len] = '\0';
	return inet_pton(AF_INET, ip, &a4) == 1;
}

static bool cfg_ip6_valid(const char *h, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	if (len == 0 || len >= sizeof(ip))
		return false;
	memcpy(ip, h, len);
	ip[len] = '\0';
	return inet_pton(AF_INET6, ip, &a6) == 1;
}

/* A decimal port of n bytes, 1..65535. */
static int cfg_port_n(const char *s, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!cfg_is_digit(s[i]))
			return -EINVAL;
		if (v <= 65535)
			v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -ERANGE;
	*out = (uint16_t)v;
	return 0;
}

/*
 * Splits "host:port" or "[v6]:port" (n bytes) into host, without brackets,
 * and port. Without need_port the ":port" may be missing (port 0). A bare
 * IPv6 literal needs its brackets: "::1:80" would be ambiguous.
 */
static int cfg_hostport(const char *s, size_t n, struct cfg_addr *out, bool need_port)
{
	const char *h = s, *rest;
	size_t hl;
	int ret;

	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (!rb)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		rest = rb + 1;
		if (!cfg_ip6_valid(h, hl))
			return -EINVAL;
	} else {
		const char *colon = memchr(s, ':', n);

		hl = colon ? (size_t)(colon - s) : n;
		rest = s + hl;
		if (!cfg_host_valid(h, hl))
			return -EINVAL;
	}
	if (rest == s + n) {
		if (need_port)
			return -EINVAL;
		out->port = 0;
	} else {
		if (*rest != ':')
			return -EINVAL;
		ret = cfg_port_n(rest + 1, (size_t)(s + n - rest - 1), &out->port);
		if (ret < 0)
			return ret;
	}
	CB_ASSERT(hl < sizeof(out->host));
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	return 0;
}

int cfg_parse_addr(const char *s, struct cfg_addr *out)
{
	struct cfg_addr a = {0};
	int ret;

	if (!s || !out)
		return -EINVAL;
	ret = cfg_hostport(s, strlen(s), &a, true);
	if (ret == 0)
		*out = a;
	return ret;
}

/* business_hours: "HH:MM-HH:MM" (one-digit hours allowed), local time. */
static int cfg_parse_hhmm(const char **sp, unsigned *min)
{
	const char *s = *sp;
	unsigned h, m;

	if (!cfg_is_digit(s[0]))
		return -EINVAL;
	h = (unsigned)(*s++ - '0');
	if (cfg_is_digit(*s))
		h = h * 10 + (unsigned)(*s++ - '0');
	if (*s++ != ':' || !cfg_is_digit(s[0]) || !cfg_is_digit(s[1]))
		return -EINVAL;
	m = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	if (h > 23 || m > 59)
		return -EINVAL;
	*sp = s + 2;
	*min = h * 60 + m;
	return 0;
}

int cfg_parse_hours(const char *s, unsigned *start, unsigned *end)
{
	if (cfg_parse_hhmm(&s, start) < 0)
		return -EINVAL;
	while (cfg_is_blank(*s))
		s++;
	if (*s++ != '-')
		return -EINVAL;
	while (cfg_is_blank(*s))
		s++;
	if (cfg_parse_hhmm(&s, end) < 0 || *s)
		return -EINVAL;
	return 0;
}

/* A GUID, 8-4-4-4-12 hex digits, optionally in braces; out gets it lower-cased, bare. */
static int cfg_parse_guid(const char *s, char out[37])
{
	size_t n = strlen(s);

	if (n == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		n = 36;
	}
	if (n != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
		} else if (cfg_hexval(s[i]) < 0) {
			return -EINVAL;
		}
		out[i] = cfg_lower(s[i]);
	}
	out[36] = '\0';
	return 0;
}

/* A Unix group name: letters, digits, '.', '_', '-', not starting with '-'. */
static bool cfg_group_valid(const char *s)
{
	if (s[0] == '-')
		return false;
	for (; *s; s++)
		if (!cfg_is_alnum(*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

/*
 * upstream: "http://host[:port]" or "https://host[:port]", optionally with
 * one trailing '/'; host may be "[v6]". A path prefix, user info, query or
 * fragment is refused (not supported yet). The URL is kept without its
 * trailing '/', so "<upstream><path>" is always well formed.
 */
static int cfg_parse_upstream(const char *s, struct cfg_origin *o, bool *has_path)
{
	struct cfg_addr a = {0};
	bool tls;
	const char *auth;
	size_t n, total = strlen(s);
	int ret;

	*has_path = false;
	if (strncasecmp(s, "https://", 8) == 0) {
		tls = true;
		auth = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		tls = false;
		auth = s + 7;
	} else {
		return -EINVAL;
	}
	n = strlen(auth);
	if (n && auth[n - 1] == '/')
		n--;
	if (memchr(auth, '/', n)) {
		*has_path = true;
		return -EINVAL;
	}
	ret = cfg_hostport(auth, n, &a, false);
	if (ret < 0)
		return ret;
	total -= strlen(auth) - n;
	if (total >= sizeof(o->upstream))
		return -ERANGE;
	memcpy(o->upstream, s, total);
	o->upstream[total] = '\0';
	o->upstream_tls = tls;
	for (char *h = a.host; *h; h++)
		*h = cfg_lower(*h);
	memcpy(o->upstream_host, a.host, sizeof(a.host));
	o->upstream_port = a.port ? a.port : (tls ? 443 : 80);
	return 0;
}

static void cfg_store_u(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case sizeof(uint16_t): {
		uint16_t x = (uint16_t)v;

		memcpy(field, &x, sizeof(x));
		break;
	}
	case sizeof(uint32_t): {
		uint32_t x = (uint32_t)v;

		memcpy(field, &x, sizeof(x));
		break;
	}
	case sizeof(uint64_t):
		memcpy(field, &v, sizeof(v));
		break;
	default:
		CB_ASSERT(!"numeric field of unexpected size");
	}
}

static int cfg_set_string(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			  const char *v, char *field)
{
	size_t n = strlen(v);

	if (n == 0 && !(k->flags & CFG_F_EMPTY)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "value must not be empty");
		return -EINVAL;
	}
	if (n >= k->size) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
			     "value too long (max %zu bytes)", k->size - 1);
		return -EINVAL;
	}
	if (k->type == CFG_T_SOCKET && n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
			     "path too long for a Unix socket (max %zu bytes)",
			     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	memcpy(field, v, n + 1);
	return 0;
}

/* The first "shard =" replaces the default list; later ones append. */
static int cfg_set_shard(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			 const char *v)
{
	struct cfg *c = p->c;
	char shown[CFG_SHOW_MAX + 8];

	if (!p->shard_seen) {
		c->storage.nshards = 0;
		p->shard_seen = true;
	}
	for (unsigned i = 0; i < c->storage.nshards; i++) {
		if (strcmp(c->storage.shards[i], v) == 0) {
			cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "duplicate shard '%s'",
				     cfg_show(v, shown, sizeof(shown)));
			return -EINVAL;
		}
	}
	if (c->storage.nshards == CFG_MAX_SHARDS) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "too many shards (max %d)",
			     CFG_MAX_SHARDS);
		return -EINVAL;
	}
	if (cfg_set_string(p, k, key, v, c->storage.shards[c->storage.nshards]) < 0)
		return -EINVAL;
	c->storage.nshards++;
	return 0;
}

/* Parses v as key k of the current section and stores it; 0 or -EINVAL (error recorded). */
static int cfg_set(struct cfg_parser *p, const struct cfg_key *k, const char *key, const char *v)
{
	char *base = k->sect == CFG_S_ORIGIN ? (char *)p->origin : (char *)p->c;
	char *field = base + k->off;
	const char *what = NULL;
	struct cfg_addr a;
	enum cb_log_level level;
	uint64_t u = 0;
	unsigned start, end;
	bool b, has_path;
	int ret;

	switch (k->type) {
	case CFG_T_PATH:
	case CFG_T_SOCKET:
	case CFG_T_ARGS:
		return cfg_set_string(p, k, key, v, field);
	case CFG_T_SHARD:
		return cfg_set_shard(p, k, key, v);
	case CFG_T_LOG_LEVEL:
		if (cb_log_level_parse(v, &level) < 0)
			return cfg_bad(p, key, -EINVAL, "log level", v,
				       "error, warn, info or debug");
		cfg_store_u(field, k->size, (uint64_t)level);
		return 0;
	case CFG_T_ADDR:
		ret = cfg_parse_addr(v, &a);
		if (ret < 0)
			return cfg_bad(p, key, ret, "address", v, "host:port or [v6]:port");
		memcpy(field, &a, sizeof(a));
		return 0;
	case CFG_T_PROXY:
		if (!*v) {
			memset(field, 0, sizeof(a));
			return 0;
		}
		ret = cfg_parse_addr(v, &a);
		if (ret < 0)
			return cfg_bad(p, key, ret, "proxy address", v, "host:port or [v6]:port");
		memcpy(field, &a, sizeof(a));
		return 0;
	case CFG_T_UINT:
		what = "number";
		ret = cfg_parse_uint(v, &u);
		break;
	case CFG_T_PERCENT:
		what = "percentage";
		ret = cfg_parse_percent(v, &u);
		break;
	case CFG_T_PORT: {
		uint16_t port;

		ret = cfg_port_n(v, strlen(v), &port);
		if (ret < 0)
			return cfg_bad(p, key, ret, "port", v, "1 to 65535");
		cfg_store_u(field, k->size, port);
		return 0;
	}
	case CFG_T_SIZE:
		what = "size";
		ret = cfg_parse_size(v, &u);
		break;
	case CFG_T_RATE:
		what = "rate";
		ret = cfg_parse_rate(v, &u);
		break;
	case CFG_T_DURATION:
		what = "duration";
		ret = cfg_parse_duration_ms(v, &u);
		break;
	case CFG_T_BOOL:
		if (cfg_parse_bool(v, &b) < 0)
			return cfg_bad(p, key, -EINVAL, "boolean", v, "true or false");
		memcpy(field, &b, sizeof(b));
		return 0;
	case CFG_T_BACKEND:
		if (strcmp(v, "socket") == 0)
			b = false;
		else if (strcmp(v, "dpdk") == 0)
			b = true;
		else
			return cfg_bad(p, key, -EINVAL, "backend", v, "socket or dpdk");
		memcpy(field, &b, sizeof(b));
		return 0;
	case CFG_T_EVICTION:
		if (strcmp(v, "sieve") == 0)
			b = false;
		else if (strcmp(v, "lru") == 0)
			b = true;
		else
			return cfg_bad(p, key, -EINVAL, "eviction policy", v, "sieve or lru");
		memcpy(field, &b, sizeof(b));
		return 0;
	case CFG_T_KEY_QUERY:
		if (strcmp(v, "drop") == 0)
			b = false;
		else if (strcmp(v, "keep") == 0)
			b = true;
		else
			return cfg_bad(p, key, -EINVAL, "key_query", v, "drop or keep");
		memcpy(field, &b, sizeof(b));
		return 0;
	case CFG_T_HOURS:
		if (cfg_parse_hours(v, &start, &end) < 0)
			return cfg_bad(p, key, -EINVAL, "time window", v, "HH:MM-HH:MM");
		if (start == end)
			return cfg_bad(p, key, -EINVAL, "time window", v,
				       "different start and end; end before start spans midnight");
		p->c->limits.business_start_min = start;
		p->c->limits.business_end_min = end;
		return 0;
	case CFG_T_GUID: {
		char guid[37];

		if (!*v) {
			field[0] = '\0';
			return 0;
		}
		if (cfg_parse_guid(v, guid) < 0)
			return cfg_bad(p, key, -EINVAL, "GUID", v,
				       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits");
		CB_ASSERT(sizeof(guid) <= k->size);
		memcpy(field, guid, sizeof(guid));
		return 0;
	}
	case CFG_T_GROUP:
		if (!cfg_group_valid(v))
			return cfg_bad(p, key, -EINVAL, "group name", v, NULL);
		return cfg_set_string(p, k, key, v, field);
	case CFG_T_UPSTREAM:
		ret = cfg_parse_upstream(v, p->origin, &has_path);
		if (ret < 0 && has_path) {
			char shown[CFG_SHOW_MAX + 8];

			cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
				     "path in upstream URL '%s' not supported (expected "
				     "http[s]://host[:port])",
				     cfg_show(v, shown, sizeof(shown)));
			return -EINVAL;
		}
		if (ret < 0)
			return cfg_bad(p, key, -EINVAL, "upstream URL", v, "http[s]://host[:port]");
		return 0;
	default:
		CB_ASSERT(!"key type without a parser");
		return -EINVAL;
	}

	/* The numeric types that share the range check. */
	if (ret < 0)
		return cfg_bad(p, key, ret, what, v, ret == -ERANGE ? k->range : NULL);
	if (k->max && (u < k->min || u > k->max || ((k->flags & CFG_F_POW2) && (u & (u - 1)))))
		return cfg_bad(p, key, -ERANGE, what, v, k->range);
	cfg_store_u(field, k->size, u);
	return 0;
}

static int cfg_key_find(enum cfg_sect s, const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (cfg_keys[i].sect == s && strcmp(cfg_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parser *p = user;
	unsigned *line;
	char shown[CFG_SHOW_MAX + 8];
	int i;

	(void)section; /* libinih's copy may be truncated; the reader tracks ours */
	if (p->failed)
		return 0;
	if (!name || !value) { /* a libinih built with INI_ALLOW_NO_VALUE; the reader stops those */
		cfg_fail(p, p->lineno, "expected 'key = value' or '[section]'");
		return 0;
	}
	if (!*name) {
		cfg_fail(p, p->lineno, "missing key name before '='");
		return 0;
	}
	if (p->sect == CFG_S_NONE) {
		cfg_fail(p, p->lineno, "key '%s' outside of any section",
			 cfg_show(name, shown, sizeof(shown)));
		return 0;
	}
	i = cfg_key_find(p->sect, name);
	if (i < 0) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, name, "unknown key");
		return 0;
	}
	line = &p->key_line[p->sect == CFG_S_ORIGIN ? 1 + p->origin_idx : 0][i];
	if (*line && !(cfg_keys[i].flags & CFG_F_REPEAT)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, name,
			     "duplicate key (first set on line %u)", *line);
		return 0;
	}
	*line = p->lineno;
	return cfg_set(p, &cfg_keys[i], name, value) == 0;
}

/* "[origin HOST]": host lower-cased, checked, not seen before. */
static int cfg_origin_section(struct cfg_parser *p, const char *h, size_t n)
{
	struct cfg *c = p->c;
	struct cfg_origin *o;
	char host[CFG_HOST_MAX], shown[CFG_SHOW_MAX + 8];

	if (n == 0) {
		cfg_fail(p, p->lineno, "[origin] needs a host name, e.g. [origin dl.example.com]");
		return -EINVAL;
	}
	if (n >= sizeof(host) || !cfg_host_valid(h, n)) {
		cfg_fail(p, p->lineno, "bad origin host '%s'",
			 cfg_show_n(h, n, shown, sizeof(shown)));
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		host[i] = cfg_lower(h[i]);
	host[n] = '\0';
	for (unsigned i = 0; i < c->norigins; i++) {
		if (strcmp(c->origins[i].host, host) == 0) {
			cfg_fail(p, p->lineno, "duplicate section [origin %s] (first on line %u)",
				 host, p->origin_line[i]);
			return -EINVAL;
		}
	}
	if (c->norigins == CFG_MAX_ORIGINS) {
		cfg_fail(p, p->lineno, "too many origin sections (max %d)", CFG_MAX_ORIGINS);
		return -EINVAL;
	}
	o = &c->origins[c->norigins];
	memset(o, 0, sizeof(*o));
	memcpy(o->host, host, n + 1);
	snprintf(o->upstream, sizeof(o->upstream), "https://%s", host);
	o->upstream_tls = true;
	memcpy(o->upstream_host, host, n + 1);
	o->upstream_port = 443;
	o->timeout_ms = 15000;
	p->origin_line[c->norigins] = p->lineno;
	p->origin_idx = c->norigins++;
	p->origin = o;
	p->sect = CFG_S_ORIGIN;
	return 0;
}

/* A section header from s ('[') to e (past its last non-blank byte). */
static int cfg_section(struct cfg_parser *p, const char *s, const char *e)
{
	char shown[CFG_SHOW_MAX + 8];
	const char *in = s + 1, *ine = e - 1;
	size_t n;

	if (e - s < 2 || e[-1] != ']' || memchr(in, '[', (size_t)(ine - in)) ||
	    memchr(in, ']', (size_t)(ine - in))) {
		cfg_fail(p, p->lineno, "bad section header (expected [name])");
		return -EINVAL;
	}
	while (in < ine && cfg_is_blank(*in))
		in++;
	while (ine > in && cfg_is_blank(ine[-1]))
		ine--;
	n = (size_t)(ine - in);
	p->origin = NULL;
	for (int i = CFG_S_APPLIANCE; i < CFG_S_ORIGIN; i++) {
		if (strlen(cfg_sect_names[i]) == n && memcmp(in, cfg_sect_names[i], n) == 0) {
			p->sect = (enum cfg_sect)i;
			return 0;
		}
	}
	if (n >= 6 && memcmp(in, "origin", 6) == 0 && (n == 6 || cfg_is_blank(in[6]))) {
		in += 6;
		while (in < ine && cfg_is_blank(*in))
			in++;
		return cfg_origin_section(p, in, (size_t)(ine - in));
	}
	cfg_fail(p, p->lineno, "unknown section [%s]", cfg_show_n(in, n, shown, sizeof(shown)));
	return -EINVAL;
}

static char *cfg_reader_blank(char *str, int num)
{
	if (num >= 2) {
		str[0] = '\n';
		str[1] = '\0';
	} else if (num == 1) {
		str[0] = '\0';
	}
	return str;
}

/*
 * libinih's fgets-style reader. Each call hands over exactly one line of the
 * buffer, so libinih's line count and ours stay equal. The line is cleaned
 * first: a UTF-8 BOM, leading blanks, comments (a line starting with ';' or
 * '#', or ';' / '#' after a blank) and trailing blanks go; comment lines and
 * section headers (parsed here) become empty lines. What remains must be a
 * "key = value" line without control bytes that fits libinih's line buffer.
 * Returns NULL at the end or after the first error, which stops libinih.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parser *p = stream;
	const char *s, *e, *end, *nl;
	size_t n;

	if (p->failed || p->pos >= p->len)
		return NULL;
	s = p->buf + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	end = nl ? nl : p->buf + p->len;
	p->pos = (size_t)(end - p->buf) + (nl ? 1 : 0);
	p->lineno++;

	if (p->lineno == 1 && end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && cfg_is_blank(*s))
		s++;
	if (s == end || *s == ';' || *s == '#')
		return cfg_reader_blank(str, num);
	for (e = s + 1; e < end; e++)
		if ((*e == ';' || *e == '#') && cfg_is_blank(e[-1]))
			break;
	while (e > s && cfg_is_blank(e[-1]))
		e--;
	for (const char *q = s; q < e; q++) {
		if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
			cfg_fail(p, p->lineno, "control character in line");
			return NULL;
		}
	}
	if (*s == '[')
		return cfg_section(p, s, e) < 0 ? NULL : cfg_reader_blank(str, num);
	n = (size_t)(e - s);
	if (!memchr(s, '=', n) && !memchr(s, ':', n)) {
		cfg_fail(p, p->lineno, "expected 'key = value' or '[section]'");
		return NULL;
	}
	if (num < 2 || n > (size_t)num - 2) {
		cfg_fail(p, p->lineno, "line too long (max %d characters before a comment)",
			 num > 2 ? num - 2 : 0);
		return NULL;
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* Rules between keys, checked once the whole file is read. */
static void cfg_check(struct cfg_parser *p)
{
	struct cfg *c = p->c;
	unsigned cert = p->key_line[0][cfg_key_find(CFG_S_SERVER, "tls_cert")];
	unsigned key = p->key_line[0][cfg_key_find(CFG_S_SERVER, "tls_key")];
	unsigned listen = p->key_line[0][cfg_key_find(CFG_S_SERVER, "listen")];
	unsigned metrics = p->key_line[0][cfg_key_find(CFG_S_CONTROL, "metrics_listen")];

	if (!c->server.tls_cert[0] != !c->server.tls_key[0]) {
		if (c->server.tls_cert[0])
			cfg_fail_key(p, cert, CFG_S_SERVER, NULL, "tls_cert",
				     "tls_key must be set too (both or neither)");
		else
			cfg_fail_key(p, key, CFG_S_SERVER, NULL, "tls_key",
				     "tls_cert must be set too (both or neither)");
		return;
	}
	if (strcmp(c->server.listen.host, c->control.metrics_listen.host) == 0 &&
	    c->server.listen.port == c->control.metrics_listen.port) {
		if (metrics >= listen)
			cfg_fail_key(p, metrics, CFG_S_CONTROL, NULL, "metrics_listen",
				     "same address as [server] listen");
		else
			cfg_fail_key(p, listen, CFG_S_SERVER, NULL, "listen",
				     "same address as [control] metrics_listen");
	}
}

void cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->appliance.state_dir, "./var");
	c->appliance.log_level = CB_LOG_INFO;

	strcpy(c->server.listen.host, "127.0.0.1");
	c->server.listen.port = 8003;
	c->server.workers = 0;
	c->server.header_timeout_ms = 10 * 1000;
	c->server.idle_timeout_ms = 60 * 1000;
	c->server.zerocopy_threshold = 0; /* splice wins on loopback: docs/benchmarks.md */
	c->server.max_connections = 4096;

	strcpy(c->storage.shards[0], "./var/cache");
	c->storage.nshards = 1;
	c->storage.piece_size = CFG_MIB;
	c->storage.absolute_max_cache_size = 0;
	c->storage.max_cache_size_percent = 90;
	c->storage.min_free_space = 1024 * CFG_MIB;
	c->storage.max_cache_age_ms = 0;
	c->storage.min_file_size_to_cache = 0;
	c->storage.index_capacity = 65536;

	c->limits.max_clients = 3;
	c->limits.queue_timeout_ms = 30 * 1000;
	c->limits.max_bandwidth_served = 0;
	c->limits.max_bandwidth_per_client = 0;
	c->limits.business_start_min = 8 * 60;
	c->limits.business_end_min = 18 * 60;
	c->limits.business_hours_max_bandwidth = 0;
	c->limits.monthly_upload_cap = 0;

	c->discovery.enabled = true;
	c->discovery.backend_dpdk = false;
	c->discovery.port = 8004;

	strcpy(c->control.socket, "./var/control.sock");
	strcpy(c->control.metrics_listen.host, "127.0.0.1");
	c->control.metrics_listen.port = 9003;
}

struct cfg *cfg_load_buf(const char *name, const char *buf, size_t len, char *err, size_t errlen)
{
	struct cfg_parser *p = NULL;
	struct cfg *c = NULL;
	int ret, e = EINVAL;

	cfg_msg(err, errlen, "%s", "");
	if (!name)
		name = "(config)";
	if (!buf && len) {
		cfg_msg(err, errlen, "%s: no buffer", name);
		goto out;
	}
	if (strlen(name) >= sizeof(c->path)) {
		cfg_msg(err, errlen, "%.64s...: file name too long", name);
		e = ENAMETOOLONG;
		goto out;
	}
	c = malloc(sizeof(*c));
	p = calloc(1, sizeof(*p));
	if (!c || !p) {
		cfg_msg(err, errlen, "%s: out of memory", name);
		e = ENOMEM;
		goto out;
	}
	cfg_defaults(c);
	strcpy(c->path, name);
	p->c = c;
	p->name = name;
	p->buf = buf;
	p->len = len;
	p->err = err;
	p->errlen = errlen;

	ret = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	/* The reader lets through only lines libinih accepts; this is a safety net. */
	if (ret > 0 && (!p->failed || (unsigned)ret < p->errline)) {
		p->failed = false;
		cfg_fail(p, (unsigned)ret, "syntax error");
	}
	if (ret < 0 && !p->failed) {
		cfg_msg(err, errlen, "%s: out of memory", name);
		e = ENOMEM;
		goto out;
	}
	if (!p->failed)
		cfg_check(p);
	if (p->failed)
		goto out;
	e = 0;
out:
	free(p);
	if (e) {
		free(c);
		errno = e;
		return NULL;
	}
	return c;
}

struct cfg *cfg_load_string(const char *name, const char *text, char *err, size_t errlen)
{
	return cfg_load_buf(name, text, text ? strlen(text) : 0, err, errlen);
}

struct cfg *cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg *c = NULL;
	char *buf = NULL, *nb, eb[128];
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = -1, e = 0;

	if (!path) {
		cfg_msg(err, errlen, "no config file given");
		errno = EINVAL;
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		cfg_msg(err, errlen, "%s: cannot open: %s", path, strerror_r(e, eb, sizeof(eb)));
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap > CFG_FILE_MAX) {
				e = EFBIG;
				cfg_msg(err, errlen, "%s: file too large (max %u bytes)", path,
					CFG_FILE_MAX);
				goto out;
			}
			cap = cap ? CB_MIN(2 * cap, (size_t)CFG_FILE_MAX + 1) : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				e = ENOMEM;
				cfg_msg(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			cfg_msg(err, errlen, "%s: cannot read: %s", path,
				strerror_r(e, eb, sizeof(eb)));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	c = cfg_load_buf(path, buf, len, err, errlen);
	if (!c)
		e = errno;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (!c)
		errno = e;
	return c;
}

void cfg_free(struct cfg *c)
{
	free(c);
}

const struct cfg_origin *cfg_origin_find(const struct cfg *c, const char *host, size_t len)
{
	if (!c || !host)
		return NULL;
	for (unsigned i = 0; i < c->norigins; i++) {
		const char *h = c->origins[i].host;
		size_t j;

		for (j = 0; j < len && h[j] && h[j] == cfg_lower(host[j]); j++)
			;
		if (j == len && h[j] == '\0')
			return &c->origins[i];
	}
	return NULL;
}
