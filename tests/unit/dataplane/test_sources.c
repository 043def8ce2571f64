/*
 * The allowed-sources matcher: rule 2's bad sources (0.0.0.0, broadcast,
 * subnet broadcast, multicast, port 0) whatever the list says, the on-link
 * default, "any" and CIDR lists over IPv4 and IPv6.
 */
#include "dp_sources.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

static uint8_t a[16];

static const uint8_t *ip(const char *s)
{
	memset(a, 0, sizeof(a));
	if (strchr(s, ':')) {
		cr_assert_eq(inet_pton(AF_INET6, s, a), 1);
	} else {
		a[10] = a[11] = 0xff;
		cr_assert_eq(inet_pton(AF_INET, s, a + 12), 1);
	}
	return a;
}

static struct cfg *conf(const char *text)
{
	char err[256];
	struct cfg *c = cfg_load_string("t.conf", text, err, sizeof(err));

	cr_assert_not_null(c, "%s", err);
	return c;
}

TestSuite(sources);

Test(sources, on_link_default)
{
	struct cfg *c = conf("");
	struct dp_sources s;
	struct cfg_cidr ifa;

	dp_sources_init(&s, c);
	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/24", &ifa), 0);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.77"), 5000, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.0"), 5000, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.3.77"), 5000, &ifa), DP_SRC_DENIED);
	cr_assert_eq(dp_sources_check(&s, ip("2001:db8::1"), 5000, &ifa), DP_SRC_DENIED);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.77"), 5000, NULL), DP_SRC_DENIED,
		     "no interface known: nobody is on-link");
	cfg_free(c);
}

Test(sources, bad_sources_always_refused)
{
	struct cfg *c = conf("[discovery]\nallowed_sources = any\n");
	struct dp_sources s;
	struct cfg_cidr ifa, ifa31;
	static const char *const bad[] = {
		"0.0.0.0",	   "0.1.2.3", "255.255.255.255", "192.0.2.255", "224.0.0.1",
		"239.255.255.250", "::",      "ff02::1",	 "ff05::1:3",
	};

	dp_sources_init(&s, c);
	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/24", &ifa), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(dp_sources_check(&s, ip(bad[i]), 5000, &ifa), DP_SRC_BAD, "%s",
			     bad[i]);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.77"), 0, &ifa), DP_SRC_BAD, "port 0");
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.77"), 1, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("198.51.100.255"), 1, &ifa), DP_SRC_OK,
		     "another subnet's .255 is unicast for all we know");
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.255"), 1, NULL), DP_SRC_OK,
		     "no interface: no subnet broadcast to recognise");
	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/31", &ifa31), 0);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.11"), 1, &ifa31), DP_SRC_OK,
		     "a /31 has no broadcast (RFC 3021)");
	cr_assert_eq(dp_sources_check(&s, ip("2001:db8::ffff"), 1, &ifa), DP_SRC_OK);
	cfg_free(c);
}

Test(sources, cidr_list)
{
	struct cfg *c = conf("[discovery]\nallowed_sources = 10.0.0.0/8, 2001:db8::/32 "
			     "203.0.113.7\n");
	struct dp_sources s;
	struct cfg_cidr ifa;

	dp_sources_init(&s, c);
	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/24", &ifa), 0);
	cr_assert_eq(dp_sources_check(&s, ip("10.200.1.1"), 9, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("11.0.0.1"), 9, &ifa), DP_SRC_DENIED);
	cr_assert_eq(dp_sources_check(&s, ip("2001:db8:1::5"), 9, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("2001:db9::5"), 9, &ifa), DP_SRC_DENIED);
	cr_assert_eq(dp_sources_check(&s, ip("203.0.113.7"), 9, &ifa), DP_SRC_OK);
	cr_assert_eq(dp_sources_check(&s, ip("203.0.113.8"), 9, &ifa), DP_SRC_DENIED);
	cr_assert_eq(dp_sources_check(&s, ip("192.0.2.77"), 9, &ifa), DP_SRC_DENIED,
		     "a list replaces the on-link default");
	cr_assert_eq(dp_sources_check(&s, ip("10.255.255.255"), 9, &ifa), DP_SRC_OK);
	cfg_free(c);
}
