/*
 * What options 235 and 234 hold, however they arrived (a DHCPACK, a lease
 * file, dhcpcd's output): a server may send 235 with quotes, blanks or a
 * trailing NUL around the list (a C string sent with its terminator, a
 * quoted string from a config file), and 234 as a text GUID, with or
 * without braces, or as its 16 raw bytes. One cleaning for every source.
 */
#include "cf_dhcp.h"

#include <errno.h>
#include <string.h>

#include "dp_codec.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cf_dhcp_opt235_clean(const uint8_t *v, size_t len, char *out, size_t cap)
{
	size_t a = 0, b = len;

	/* trailing NULs (a C string sent with its terminator), then blanks and quotes */
	while (b > a && v[b - 1] == 0)
		b--;
	for (;;) {
		while (a < b && is_blank((char)v[a]))
			a++;
		while (b > a && is_blank((char)v[b - 1]))
			b--;
		if (b - a >= 2 && (v[a] == '"' || v[a] == '\'') && v[b - 1] == v[a])
			a++, b--;
		else
			break;
	}
	if (a == b)
		return -EINVAL;
	for (size_t i = a; i < b; i++)
		if (v[i] < 0x20 || v[i] == 0x7f)
			return -EINVAL;
	if (b - a >= cap)
		return -E2BIG;
	memcpy(out, v + a, b - a);
	out[b - a] = 0;
	return 0;
}

int cf_dhcp_opt234(const uint8_t *v, size_t len, uint8_t group[16])
{
	char text[64];

	if (len == 16) { /* 16 raw bytes: a text GUID has 36 or 38 */
		memcpy(group, v, 16);
		return 0;
	}
	if (cf_dhcp_opt235_clean(v, len, text, sizeof(text)) < 0)
		return -EINVAL;
	return dp_guid_parse(text, group);
}

int cf_dhcp_take(struct cf_dhcp *out, unsigned code, const uint8_t *v, size_t len)
{
	int ret = 0;

	if (code == CF_DHCP_OPT_HOSTS) {
		ret = cf_dhcp_opt235_clean(v, len, out->hosts, sizeof(out->hosts));
		if (!ret)
			out->has_hosts = true;
	} else if (code == CF_DHCP_OPT_GROUP) {
		ret = cf_dhcp_opt234(v, len, out->group);
		if (!ret)
			out->has_group = true;
	}
	return ret;
}
