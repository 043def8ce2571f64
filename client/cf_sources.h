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
#include "cf_hosts.h"

/*
 * Fills v[0..*n) with the hosts to try for content id, in order (--order).
 * 0, or an exit code with the reason in err (a bad list, a bad key file).
 */
int cf_sources_gather(const struct cf_opts *o, const uint8_t id[32], struct cf_host *v, size_t cap,
		      size_t *n, char *err, size_t errlen);

#endif
