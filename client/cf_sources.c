/*
 * Gathering the cache hosts. The listed ones come first, as DO tries its
 * DOCacheHost list, or DHCP option 235's as DOCacheHostSource says (dhcp:
 * when no list is given; dhcp-force: over the list); discovered boxes follow, ranked as PROTOCOL.md
 * says. HRW orders the listed hosts only: discovery's rank already says which box holds the object.
 */
#include "cf_sources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cb_common.h"

/*
 * DHCP's hosts (option 235) in place of v[0..*n) when it has a good list;
 * else v stays (the list, or nothing: the origin) and one line on stderr
 * says what was found and where it looked. The group goes into dhcp.
 */
static void from_dhcp(const struct cf_opts *o, struct cf_dhcp *dhcp, struct cf_host *v, size_t cap,
		      size_t *n)
{
	static struct cf_host got[CF_HOSTS_MAX];
	const char *keep = *n ? "the --cache-host list" : "the origin only";
	char why[512];
	size_t k = 0;

	if (cf_dhcp_find(o->iface, CF_DHCP_WAIT_MS, dhcp, why, sizeof(why)) < 0) {
		if (!o->quiet)
			fprintf(stderr, "cachebox-fetch: %s; using %s\n", why, keep);
		return;
	}
	if (!dhcp->has_hosts) {
		if (!o->quiet)
			fprintf(stderr, "cachebox-fetch: %s has no option 235; using %s\n",
				dhcp->via, keep);
		return;
	}
	if (cf_hosts_parse(dhcp->hosts, "dhcp", got, CB_MIN(cap, CF_HOSTS_MAX), &k, why,
			   sizeof(why)) < 0) {
		fprintf(stderr, "cachebox-fetch: option 235 from %s ignored: %s; using %s\n",
			dhcp->via, why, keep);
		return;
	}
	memcpy(v, got, k * sizeof(*v));
	*n = k;
}

int cf_sources_gather(const struct cf_opts *o, const uint8_t id[32], struct cf_host *v, size_t cap,
		      size_t *n, struct cf_dhcp *dhcp, char *err, size_t errlen)
{
	*n = 0;
	memset(dhcp, 0, sizeof(*dhcp));
	/* Said plainly rather than ignored: these sources are not built yet. */
	if (o->discover || o->group_id || o->group_key_file) {
		snprintf(err, errlen,
			 "--discover, --group-id and --group-key-file: discovery from "
			 "the client is not built yet; use --cache-host");
		return CF_EXIT_USAGE;
	}
	if (o->cache_host && cf_hosts_parse(o->cache_host, "listed", v, cap, n, err, errlen) < 0)
		return CF_EXIT_USAGE;
	/* DOCacheHostSource: 1 when no list is given, 2 over the list */
	if (o->host_source == CF_SRC_DHCP_FORCE || (o->host_source == CF_SRC_DHCP && !*n))
		from_dhcp(o, dhcp, v, cap, n);
	if (o->order == CF_ORDER_HRW)
		cf_hosts_order_hrw(v, *n, id);
	return 0;
}
