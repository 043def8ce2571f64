/* Unit tests of client/cf_hosts.c: list parsing and the HRW order. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf_hosts.h"

static size_t parse(const char *list, struct cf_host *v, int expect)
{
	char err[256] = "";
	size_t n = 0;

	cr_assert_eq(cf_hosts_parse(list, "listed", v, CF_HOSTS_MAX, &n, err, sizeof(err)), expect,
		     "%s: %s", list, err);
	if (expect)
		cr_assert(strstr(err, "cache host") || strstr(err, "more than"), "reason: %s", err);
	return n;
}

Test(hosts, names_ports_ipv6_schemes)
{
	struct cf_host v[CF_HOSTS_MAX];
	size_t n = parse(" box1 ,10.0.0.2:9000,[fd00::1]:8080,[fd00::2],https://box3:8443/,", v, 0);

	cr_assert_eq(n, 5);
	cr_assert_str_eq(v[0].base, "http://box1:8003");
	cr_assert_str_eq(v[1].base, "http://10.0.0.2:9000");
	cr_assert_str_eq(v[2].base, "http://[fd00::1]:8080");
	cr_assert_str_eq(v[3].base, "http://[fd00::2]:8003");
	cr_assert_str_eq(v[4].base, "https://box3:8443");
	cr_assert(v[4].https);
	cr_assert_str_eq(v[0].from, "listed");
}

Test(hosts, duplicates_skipped_and_empty_list)
{
	struct cf_host v[CF_HOSTS_MAX];

	cr_assert_eq(parse("a,A:8003,a:1", v, 0), 2);
	cr_assert_eq(parse("", v, 0), 0);
	cr_assert_eq(parse(" , ,", v, 0), 0);
}

Test(hosts, bad_items_refused)
{
	static const char *const bad[] = {"a:0", "a:65536", "a:",    "a:12x",	 "[fd00::1",
					  "a b", "a/b",	    "[]:80", "a:123456", "ftp://a"};
	struct cf_host v[CF_HOSTS_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse(bad[i], v, -EINVAL);
}

Test(hosts, too_many)
{
	struct cf_host v[CF_HOSTS_MAX];
	char list[1024] = "";

	for (int i = 0; i <= CF_HOSTS_MAX; i++)
		sprintf(list + strlen(list), "h%d,", i);
	parse(list, v, -EINVAL);
}

/* HRW: the same order from any starting order; removing a box moves only its share. */
Test(hosts, hrw_stable_and_minimal_moves)
{
	struct cf_host v[3], w[3], two[2];
	uint8_t id[32];
	int moved = 0, own = 0;

	for (int k = 0; k < 200; k++) {
		memset(id, 0, sizeof(id));
		id[0] = (uint8_t)k;
		id[31] = (uint8_t)(k * 7);
		parse("b1,b2,b3", v, 0);
		parse("b3,b1,b2", w, 0);
		cf_hosts_order_hrw(v, 3, id);
		cf_hosts_order_hrw(w, 3, id);
		for (int i = 0; i < 3; i++)
			cr_assert_str_eq(v[i].name, w[i].name);
		parse("b1,b3", two, 0); /* b2 removed */
		cf_hosts_order_hrw(two, 2, id);
		if (strcmp(v[0].name, "b2")) {
			moved += strcmp(two[0].name, v[0].name) != 0;
		} else {
			own++;
			cr_assert_str_eq(two[0].name,
					 v[1].name); /* its share goes to the runner-up */
		}
	}
	cr_assert_eq(moved, 0, "objects not on b2 kept their box");
	cr_assert(own > 30 && own < 110, "b2 held a fair share (%d of 200)", own);
}
