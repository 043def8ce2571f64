/*
 * Network prefixes for the [discovery] keys and for the dataplane's
 * allowed-sources matcher: one CIDR parser (inet_pton, prefix range, host
 * bits refused), an interface address parser (host bits kept), a CIDR list
 * and a numeric IP[:port]. Everything is kept in the 16-byte form, IPv4 as
 * ::ffff:a.b.c.d, so that dataplane/dp_sources matches both families with
 * one loop. Plain C, no allocation: the dataplane links it.
 */
#include "cfg_priv.h"

#include "cb_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static const uint8_t cfg_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* A numeric address of n bytes into the 16-byte form; 0 or -EINVAL. */
static int cfg_ip_n(const char *s, size_t n, uint8_t out[16], bool *v4)
{
	char ip[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (memchr(ip, ':', n)) {
		*v4 = false;
		return inet_pton(AF_INET6, ip, out) == 1 ? 0 : -EINVAL;
	}
	*v4 = true;
	memcpy(out, cfg_v4mapped, sizeof(cfg_v4mapped));
	return inet_pton(AF_INET, ip, out + 12) == 1 ? 0 : -EINVAL;
}

/* The prefix length after '/', n bytes, at most max; 0, -EINVAL or -ERANGE. */
static int cfg_prefix_n(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 3)
		return n ? -ERANGE : -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!cb_is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Whether any bit of addr past prefix (16-byte form) is set. */
static bool cfg_host_bits(const uint8_t addr[16], unsigned prefix)
{
	for (unsigned bit = prefix; bit < 128; bit++)
		if (addr[bit / 8] & (0x80u >> (bit % 8)))
			return true;
	return false;
}

/* Splits "ip[/len]" and parses both halves; host bits are the caller's business. */
static int cfg_cidr_split(const char *s, size_t n, struct cfg_cidr *out, bool *has_len)
{
	const char *slash = memchr(s, '/', n);
	size_t al = slash ? (size_t)(slash - s) : n;
	unsigned len;
	bool v4;
	int ret;

	if (cfg_ip_n(s, al, out->addr, &v4) < 0)
		return -EINVAL;
	out->v4 = v4;
	*has_len = slash != NULL;
	if (!slash) {
		out->prefix = 128;
		return 0;
	}
	ret = cfg_prefix_n(slash + 1, n - al - 1, v4 ? 32 : 128, &len);
	if (ret < 0)
		return ret;
	out->prefix = (uint8_t)(v4 ? len + 96 : len);
	return 0;
}

int cfg_parse_cidr(const char *s, size_t n, struct cfg_cidr *out)
{
	struct cfg_cidr c = {{0}};
	bool has_len;
	int ret;

	if (!s || !out)
		return -EINVAL;
	ret = cfg_cidr_split(s, n, &c, &has_len);
	if (ret < 0)
		return ret;
	if (cfg_host_bits(c.addr, c.prefix))
		return -EINVAL;
	*out = c;
	return 0;
}

int cfg_parse_ifaddr(const char *s, struct cfg_cidr *out)
{
	struct cfg_cidr c = {{0}};
	bool has_len;
	int ret;
	uint8_t first;

	if (!s || !out)
		return -EINVAL;
	ret = cfg_cidr_split(s, strlen(s), &c, &has_len);
	if (ret < 0)
		return ret;
	if (!c.v4 || !has_len)
		return -EINVAL;
	if (c.prefix == 96)
		return -ERANGE;
	first = c.addr[12];
	if ((first == 0 && !c.addr[13] && !c.addr[14] && !c.addr[15]) || (first & 0xf0) == 0xe0 ||
	    (first == 255 && c.addr[13] == 255 && c.addr[14] == 255 && c.addr[15] == 255))
		return -EINVAL;
	*out = c;
	return 0;
}

int cfg_parse_cidr_list(const char *s, struct cfg_cidr *out, unsigned max, unsigned *n, bool *any,
			const char **bad, size_t *badlen)
{
	unsigned count = 0;
	int ret;

	*n = 0;
	*any = false;
	*bad = s;
	*badlen = 0;
	if (strcmp(s, "any") == 0) {
		*any = true;
		return 0;
	}
	while (*s) {
		size_t len = 0;

		while (*s == ',' || cfg_is_blank(*s))
			s++;
		if (!*s)
			break;
		while (s[len] && s[len] != ',' && !cfg_is_blank(s[len]))
			len++;
		*bad = s;
		*badlen = len;
		if (count == max)
			return -ENOSPC;
		ret = cfg_parse_cidr(s, len, &out[count]);
		if (ret < 0)
			return ret;
		count++;
		s += len;
	}
	*n = count;
	return 0;
}

bool cfg_cidr_contains(const struct cfg_cidr *c, const uint8_t addr[16])
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static size_t cfg_colons(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += s[i] == ':';
	return c;
}

int cfg_parse_ip_port(const char *s, struct cfg_addr *out)
{
	struct cfg_addr a = {{0}};
	size_t n = strlen(s);
	uint8_t ip[16];
	bool v4, bracket = n && s[0] == '[';
	int ret;

	if (!bracket && cfg_colons(s, n) > 1) { /* a bare IPv6 literal: no port */
		if (n >= sizeof(a.host) || cfg_ip_n(s, n, ip, &v4) < 0)
			return -EINVAL;
		memcpy(a.host, s, n + 1);
		*out = a;
		return 0;
	}
	/* The host:port split of every address key, then: numeric only, and
	 * brackets are for IPv6 with a port. */
	ret = cfg_hostport(s, n, &a, false);
	if (ret < 0)
		return ret;
	if (cfg_ip_n(a.host, strlen(a.host), ip, &v4) < 0 || v4 == bracket || (bracket && !a.port))
		return -EINVAL;
	*out = a;
	return 0;
}
