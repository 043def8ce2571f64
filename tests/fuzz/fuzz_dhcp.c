/*
 * libFuzzer target for the client's DHCP parsers (client/cf_dhcp_lease.c,
 * cf_dhcp_inform.c): a DHCPACK comes from anyone on the link, lease files
 * (dhcpcd's is the DHCPACK itself) and dhcpcd's output hold what a server
 * sent. The first byte picks the
 * parser, the rest is its input, copied to a buffer of exactly its size so
 * that a read past the end is caught. Besides "no crash": whatever a parser
 * takes is a clean option 235 (NUL-terminated, no control byte, no blank or
 * quote at its ends) that cleans to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "cf_dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const struct cf_dhcp *d)
{
	char again[CF_DHCP_HOSTS_MAX];
	size_t n;

	if (!d->has_hosts)
		return;
	n = strnlen(d->hosts, sizeof(d->hosts));
	CB_ASSERT(n > 0 && n < sizeof(d->hosts));
	for (size_t i = 0; i < n; i++)
		CB_ASSERT((unsigned char)d->hosts[i] >= 0x20 && d->hosts[i] != 0x7f);
	CB_ASSERT(d->hosts[0] != ' ' && d->hosts[n - 1] != ' ');
	/* cleaning is idempotent: nothing is left to strip */
	CB_ASSERT(cf_dhcp_opt235_clean((const uint8_t *)d->hosts, n, again, sizeof(again)) == 0);
	CB_ASSERT(strcmp(again, d->hosts) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cf_dhcp d;
	struct cf_dhcp_names names;
	uint8_t *buf, g[16];
	uint32_t lease_s;
	char out[64];

	if (size < 1)
		return 0;
	buf = malloc(size - 1 ? size - 1 : 1);
	CB_ASSERT(buf != NULL);
	memcpy(buf, data + 1, size - 1);
	memset(&d, 0, sizeof(d));
	cf_dhcp_names_default(&names);
	switch (data[0] % 7) {
	case 0:
		(void)cf_dhcp_parse_dhclient((const char *)buf, size - 1,
					     data[0] & 8 ? "eth0" : NULL, &names,
					     data[0] & 16 ? 1796000000 : 0, &d);
		break;
	case 1:
		(void)cf_dhcp_parse_networkd((const char *)buf, size - 1, &d);
		break;
	case 2:
		(void)cf_dhcp_parse_dhcpcd((const char *)buf, size - 1, &names, &d);
		break;
	case 3:
		if (data[0] & 8)
			(void)cf_dhcp_parse_bootp(buf, size - 1, &lease_s, &d);
		else
			(void)cf_dhcp_inform_parse(buf, size - 1, 0x01020304, &d);
		break;
	case 4:
		cf_dhcp_names_from_conf((const char *)buf, size - 1, data[0] & 8, &names);
		CB_ASSERT(strlen(names.hosts) < sizeof(names.hosts));
		CB_ASSERT(strlen(names.group) < sizeof(names.group));
		break;
	case 5:
		if (cf_dhcp_opt235_clean(buf, size - 1, out, sizeof(out)) == 0)
			CB_ASSERT(strlen(out) < sizeof(out) && strlen(out) > 0);
		break;
	default:
		(void)cf_dhcp_opt234(buf, size - 1, g);
		break;
	}
	check_clean(&d);
	free(buf);
	return 0;
}
