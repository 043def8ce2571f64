/*
 * Gathering the cache hosts. The listed ones come first, as DO tries its
 * DOCacheHost list; discovered boxes follow, ranked as PROTOCOL.md says. HRW
 * orders the listed hosts only: discovery's rank already says which box
 * holds the object.
 */
#include "cf_sources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cb_common.h"
#include "cf_discover.h"

int cf_sources_gather(const struct cf_opts *o, const uint8_t id[32], struct cf_host *v, size_t cap,
		      size_t *n, char *err, size_t errlen)
{
	uint8_t group[DP_GUID_LEN];
	const uint8_t *g = NULL; /* --group-id, else (to come) DHCP option 234, else none */

	*n = 0;
	if (o->group_id) {
		if (cf_disc_group_parse(o->group_id, group, err, errlen) < 0)
			return CF_EXIT_USAGE;
		g = group;
	}
	/* Said plainly rather than ignored: this source is not built yet. */
	if (o->host_source != CF_SRC_NONE) {
		snprintf(err, errlen,
			 "--cache-host-source dhcp: reading DHCP option 235 is not "
			 "built yet; use --cache-host");
		return CF_EXIT_USAGE;
	}
	if (o->cache_host && cf_hosts_parse(o->cache_host, "listed", v, cap, n, err, errlen) < 0)
		return CF_EXIT_USAGE;
	if (o->order == CF_ORDER_HRW)
		cf_hosts_order_hrw(v, *n, id);
	if (o->discover)
		return cf_discover(o, g, id, v, cap, n, err, errlen);
	return 0;
}
