/*
 * Where a download's cache hosts come from, in DO's order of precedence:
 * --cache-host (DOCacheHost), DHCP option 235 (DOCacheHostSource: dhcp when
 * no list is given, dhcp-force over the list), then boxes that answer a
 * discovery broadcast (--discover). The group for discovery is --group-id,
 * else DHCP option 234.
 */
#ifndef CF_SOURCES_H
#define CF_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "cf_args.h"
#include "cf_dhcp.h"
#include "cf_hosts.h"

#define CF_DHCP_WAIT_MS 1000 /* for a DHCPINFORM's answer, two tries */

/*
 * Fills v[0..*n) with the hosts to try for content id, in order (--order),
 * and dhcp with what of DHCP's it used (--cache-host-source; else zeroed):
 * option 235 when its hosts were taken, option 234 when it is discovery's
 * group (--discover without --group-id). 0, or an exit code with the
 * reason in err (a bad list, a bad key file). DHCP finding nothing, or a
 * bad option 235, is not an error: one line on stderr says so and the list
 * (or the origin) is used.
 */
int cf_sources_gather(const struct cf_opts *o, const uint8_t id[32], struct cf_host *v, size_t cap,
		      size_t *n, struct cf_dhcp *dhcp, char *err, size_t errlen);

#endif
