/*
 * The config loader's value parsers: sizes, rates, durations, booleans,
 * host names, addresses, time windows, GUIDs, group names and upstream
 * URLs. They take the whole value (libinih already stripped the blanks
 * around it), accept nothing else around the number, and check every
 * multiplication for overflow. Leading zeros are decimal, never octal.
 */
#include "cfg_priv.h"

#include "cb_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

/* Reads the digits at *sp; -EINVAL if there are none, *ovf set on overflow. */
static int cfg_digits(const char **sp, uint64_t *out, bool *ovf)
{
	const char *s = *sp;
	uint64_t v = 0;

	*ovf = false;
	if (!cb_is_digit(*s))
		return -EINVAL;
	for (; cb_is_digit(*s); s++) {
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

int cfg_parse_uint(const char *s, uint64_t *out)
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
int cfg_parse_percent(const char *s, uint64_t *out)
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
bool cfg_host_valid(const char *h, size_t len)
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
		if (!cb_is_digit(ch))
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
int cfg_port_n(const char *s, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!cb_is_digit(s[i]))
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
int cfg_hostport(const char *s, size_t n, struct cfg_addr *out, bool need_port)
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

	if (!cb_is_digit(s[0]))
		return -EINVAL;
	h = (unsigned)(*s++ - '0');
	if (cb_is_digit(*s))
		h = h * 10 + (unsigned)(*s++ - '0');
	if (*s++ != ':' || !cb_is_digit(s[0]) || !cb_is_digit(s[1]))
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
int cfg_parse_guid(const char *s, char out[37])
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
		} else if (cb_hex_digit(s[i]) < 0) {
			return -EINVAL;
		}
		out[i] = cfg_lower(s[i]);
	}
	out[36] = '\0';
	return 0;
}

/* A Unix user or group name: letters, digits, '.', '_', '-', not starting with '-'. */
bool cfg_group_valid(const char *s)
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
int cfg_parse_upstream(const char *s, struct cfg_origin *o, bool *has_path)
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
