/*
 * Who may ask: PROTOCOL.md rule 2. A source must be a unicast address with
 * a non-zero port (never 0.0.0.0/8, ::, 255.255.255.255, the subnet's
 * broadcast address, 224.0.0.0/4 or ff00::/8: an answer to those would go
 * to many hosts or to a forged nobody), and inside [discovery]
 * allowed_sources: a CIDR list parsed by config/cfg_net.c, "any", or by
 * default the subnet of the interface the QUERY arrived on.
 */
#ifndef DP_SOURCES_H
#define DP_SOURCES_H

#include "cfg.h"

#include <stdbool.h>
#include <stdint.h>

enum dp_src_verdict {
	DP_SRC_OK,
	DP_SRC_BAD,    /* not a unicast source, or port 0: rule 2's first half */
	DP_SRC_DENIED, /* unicast, but outside allowed_sources */
};

struct dp_sources {
	bool any;
	unsigned n; /* 0 and not any: on-link only */
	struct cfg_cidr list[CFG_MAX_CIDRS];
};

/* From the loaded config's allowed_sources. */
void dp_sources_init(struct dp_sources *s, const struct cfg *c);
/*
 * The verdict for a QUERY from addr (16 bytes, IPv4 as ::ffff:a.b.c.d) and
 * port that arrived on an interface with address/prefix iface (host bits
 * kept, as cfg_parse_ifaddr gives it; NULL when unknown: then on-link only
 * admits nobody, and no subnet broadcast can be recognised).
 */
enum dp_src_verdict dp_sources_check(const struct dp_sources *s, const uint8_t addr[16],
				     uint16_t port, const struct cfg_cidr *iface);

#endif
