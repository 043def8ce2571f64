/*
 * Gathering the cache hosts. The listed ones come first, as DO tries its
 * DOCacheHost list, or DHCP option 235's as DOCacheHostSource says (dhcp:
 * when no list is given; dhcp-force: over the list); discovered boxes
 * follow, ranked as PROTOCOL.md says, asked with --group-id or else DHCP
 * option 234. HRW orders the listed hosts only: discovery's rank already
 * says which box holds the object.
 */
#include "cf_sources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cb_common.h"
#include "cf_discover.h"

/*
 * Asks DHCP (cf_dhcp_find) for options 235 and 234 into dhcp. With
 * take_hosts, option 235's list replaces v[0..*n) when it is good; else v
 * stays (the list, or nothing: the origin only) and one line on stderr
 * (unless -q) says what was found and where it looked.
 */
static void from_dhcp(const struct cf_opts *o, bool take_hosts, struct cf_dhcp *dhcp,
		      struct cf_host *v, size_t cap, size_t *n)
{
	static struct cf_host got[CF_HOSTS_MAX];
	const char *keep = !take_hosts ? "discovery without a group"
			   : *n	       ? "the --cache-host list"
				       : "the origin only";
	char why[512];
	size_t k = 0;

	if (cf_dhcp_find(o->iface, CF_DHCP_WAIT_MS, dhcp, why, sizeof(why)) < 0) {
		if (!o->quiet)
			fprintf(stderr, "cachebox-fetch: %s; using %s\n", why, keep);
		return;
	}
	if (!take_hosts) {
		dhcp->has_hosts = false; /* the list stands: 235 is not used */
		if (!dhcp->has_group && !o->quiet)
			fprintf(stderr, "cachebox-fetch: %s has no option 234; using %s\n",
				dhcp->via, keep);
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
		if (!o->quiet)
			fprintf(stderr,
				"cachebox-fetch: option 235 from %s ignored: %s; using %s\n",
				dhcp->via, why, keep);
		return;
	}
	memcpy(v, got, k * sizeof(*v));
	*n = k;
}

int cf_sources_gather(const struct cf_opts *o, const uint8_t id[32], struct cf_host *v, size_t cap,
		      size_t *n, struct cf_dhcp *dhcp, char *err, size_t errlen)
{
	uint8_t group[DP_GUID_LEN];
	const uint8_t *g = NULL; /* --group-id, else DHCP option 234, else none */
	bool take_hosts;

	*n = 0;
	memset(dhcp, 0, sizeof(*dhcp));
	if (o->group_id) {
		if (cf_disc_group_parse(o->group_id, group, err, errlen) < 0)
			return CF_EXIT_USAGE;
		g = group;
	}
	if (o->cache_host && cf_hosts_parse(o->cache_host, "listed", v, cap, n, err, errlen) < 0)
		return CF_EXIT_USAGE;
	/*
	 * DOCacheHostSource: 1 uses option 235 when no list is given, 2 over the list. DHCP is
	 * also asked, with either, for the group (234) that discovery lacks.
	 */
	take_hosts = o->host_source == CF_SRC_DHCP_FORCE || (o->host_source == CF_SRC_DHCP && !*n);
	if (take_hosts || (o->host_source != CF_SRC_NONE && o->discover && !g))
		from_dhcp(o, take_hosts, dhcp, v, cap, n);
	if (!g && dhcp->has_group)
		g = dhcp->group;
	if (o->order == CF_ORDER_HRW)
		cf_hosts_order_hrw(v, *n, id);
	if (o->discover)
		return cf_discover(o, g, id, v, cap, n, err, errlen);
	return 0;
}
