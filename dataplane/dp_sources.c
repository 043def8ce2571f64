/*
 * The allowed-sources matcher (see dp_sources.h): the bad-source rule
 * first, then the list, "any", or the on-link default. A handful of byte
 * compares and at most CFG_MAX_CIDRS prefix matches per datagram.
 */
#include "dp_sources.h"

#include <string.h>

static const uint8_t dp_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void dp_sources_init(struct dp_sources *s, const struct cfg *c)
{
	memset(s, 0, sizeof(*s));
	s->any = c->discovery.allowed_any;
	s->n = c->discovery.nallowed;
	memcpy(s->list, c->discovery.allowed, sizeof(s->list[0]) * s->n);
}

/* Whether addr has every host bit of iface's subnet set: its broadcast address. */
static bool dp_subnet_broadcast(const uint8_t addr[16], const struct cfg_cidr *iface)
{
	if (iface->prefix >= 127 || (iface->v4 && iface->prefix >= 96 + 31))
		return false; /* /31 and /32 (RFC 3021), /127 and /128 have no broadcast */
	if (!cfg_cidr_contains(iface, addr))
		return false;
	for (unsigned bit = iface->prefix; bit < 128; bit++)
		if (!(addr[bit / 8] & (0x80u >> (bit % 8))))
			return false;
	return iface->v4; /* IPv6 has no broadcast: the all-ones host is unicast */
}

static bool dp_source_bad(const uint8_t addr[16], uint16_t port, const struct cfg_cidr *iface)
{
	static const uint8_t zero[16];

	if (port == 0)
		return true;
	if (memcmp(addr, dp_v4mapped, sizeof(dp_v4mapped)) == 0) {
		const uint8_t *a = addr + 12;

		if (a[0] == 0 || (a[0] & 0xf0) == 0xe0)
			return true; /* 0.0.0.0/8 "this network", 224.0.0.0/4 multicast */
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return true;
	} else if (memcmp(addr, zero, 16) == 0 || addr[0] == 0xff) {
		return true; /* :: unspecified, ff00::/8 multicast */
	}
	return iface && dp_subnet_broadcast(addr, iface);
}

enum dp_src_verdict dp_sources_check(const struct dp_sources *s, const uint8_t addr[16],
				     uint16_t port, const struct cfg_cidr *iface)
{
	if (dp_source_bad(addr, port, iface))
		return DP_SRC_BAD;
	if (s->any)
		return DP_SRC_OK;
	if (s->n == 0)
		return iface && cfg_cidr_contains(iface, addr) ? DP_SRC_OK : DP_SRC_DENIED;
	for (unsigned i = 0; i < s->n; i++)
		if (cfg_cidr_contains(&s->list[i], addr))
			return DP_SRC_OK;
	return DP_SRC_DENIED;
}
