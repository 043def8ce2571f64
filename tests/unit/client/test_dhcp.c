/*
 * Unit tests of client/cf_dhcp_lease.c and cf_dhcp_inform.c: options 235
 * and 234 out of dhclient's, networkd's and dhcpcd's lease state (samples
 * as those programs wrote them in tests/integration/test_dhcp.py's
 * network), the cleaning of their values, and the DHCPINFORM packet.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf_dhcp.h"
#include "dp_codec.h"

#define LIT(s)	  s, strlen(s)
#define GUID_TEXT "3f1a6c2e-8b4d-4e7a-9c1d-5b2f0a9e8d71"

static const uint8_t guid[16] = {0x3f, 0x1a, 0x6c, 0x2e, 0x8b, 0x4d, 0x4e, 0x7a,
				 0x9c, 0x1d, 0x5b, 0x2f, 0x0a, 0x9e, 0x8d, 0x71};

static void names(struct cf_dhcp_names *n)
{
	cf_dhcp_names_default(n);
}

Test(dhcp, opt235_clean)
{
	static const struct {
		const char *in;
		size_t len;
		int ret;
		const char *out;
	} c[] = {
		{"box1:8003,box2", 14, 0, "box1:8003,box2"},
		{"\"box1, box2\"", 12, 0, "box1, box2"},
		{"  'box1' \t", 10, 0, "box1"},
		{"\" \"box1\" \"", 10, 0, "box1"},
		{"box1\0\0", 6, 0, "box1"},
		{"\"box1\"\0", 7, 0, "box1"},
		{"", 0, -EINVAL, ""},
		{"\0", 1, -EINVAL, ""},
		{"\"\"", 2, -EINVAL, ""},
		{"  ", 2, -EINVAL, ""},
		{"bo\0x1", 5, -EINVAL, ""},
		{"box1\nbox2", 9, -EINVAL, ""},
		{"\"box1", 5, 0, "\"box1"}, /* unbalanced: left to cf_hosts_parse to refuse */
	};
	char out[64];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = cf_dhcp_opt235_clean((const uint8_t *)c[i].in, c[i].len, out, sizeof(out));

		cr_assert_eq(r, c[i].ret, "case %zu: %d", i, r);
		if (!r)
			cr_assert_str_eq(out, c[i].out, "case %zu", i);
	}
	cr_assert_eq(cf_dhcp_opt235_clean((const uint8_t *)"box1", 4, out, 4), -E2BIG);
	cr_assert_eq(cf_dhcp_opt235_clean((const uint8_t *)"box1", 4, out, 5), 0);
}

Test(dhcp, opt234_text_braces_raw)
{
	uint8_t g[16];

	cr_assert_eq(cf_dhcp_opt234((const uint8_t *)GUID_TEXT, 36, g), 0);
	cr_assert_arr_eq(g, guid, 16);
	memset(g, 0, 16);
	cr_assert_eq(
		cf_dhcp_opt234((const uint8_t *)"{3F1A6C2E-8B4D-4E7A-9C1D-5B2F0A9E8D71}", 38, g),
		0);
	cr_assert_arr_eq(g, guid, 16);
	memset(g, 0, 16);
	cr_assert_eq(cf_dhcp_opt234((const uint8_t *)"\"" GUID_TEXT "\"\0", 39, g), 0);
	cr_assert_arr_eq(g, guid, 16);
	memset(g, 0, 16);
	cr_assert_eq(cf_dhcp_opt234(guid, 16, g), 0);
	cr_assert_arr_eq(g, guid, 16);
	cr_assert_eq(cf_dhcp_opt234((const uint8_t *)"3f1a6c2e-8b4d-4e7a-9c1d-5b2f0a9e8d7", 35, g),
		     -EINVAL);
	cr_assert_eq(cf_dhcp_opt234((const uint8_t *)"3f1a6c2e+8b4d-4e7a-9c1d-5b2f0a9e8d71", 36, g),
		     -EINVAL);
	cr_assert_eq(cf_dhcp_opt234((const uint8_t *)"{" GUID_TEXT, 37, g), -EINVAL);
	cr_assert_eq(cf_dhcp_opt234(guid, 15, g), -EINVAL);
	cr_assert_eq(cf_dhcp_opt234(guid, 0, g), -EINVAL);
}

/* dhclient 4.4.3's file as it wrote it in test_dhcp.py, an older lease of eth1 between. */
static const char dhclient_leases[] =
	"default-duid \"\\000\\001\\000\\001-\\311\\274\\002\\212\\241\\226\\3207\";\n"
	"lease {\n"
	"  interface \"eth0\";\n"
	"  fixed-address 10.231.1.150;\n"
	"  option cachebox-group \"3f1a6c2e-8b4d-4e7a-9c1d-5b2f0a9e8d71\";\n"
	"  option cachebox-hosts \"old-box:8003\";\n"
	"  expire 3 2026/12/02 17:42:30;\n"
	"}\n"
	"lease {\n"
	"  interface \"eth0\";\n"
	"  fixed-address 10.231.1.199;\n"
	"  option cachebox-group \"3f1a6c2e-8b4d-4e7a-9c1d-5b2f0a9e8d71\";\n"
	"  option cachebox-hosts \"10.231.1.11:8003\";\n"
	"  option subnet-mask 255.255.255.0;\n"
	"  option routers 10.231.1.1;\n"
	"  renew 3 2026/12/02 18:07:17;\n"
	"  expire 3 2026/12/02 18:42:30;\n"
	"}\n"
	"lease {\n"
	"  interface \"eth1\";\n"
	"  fixed-address 10.9.0.5;\n"
	"  option unknown-235 \"eth1-box\";\n"
	"}\n";

Test(dhcp, dhclient_newest_block_of_the_interface)
{
	struct cf_dhcp d = {0};
	struct cf_dhcp_names n;

	names(&n);
	cr_assert_eq(
		cf_dhcp_parse_dhclient(dhclient_leases, strlen(dhclient_leases), "eth0", &n, 0, &d),
		0);
	cr_assert(d.has_hosts && d.has_group);
	cr_assert_str_eq(d.hosts, "10.231.1.11:8003");
	cr_assert_arr_eq(d.group, guid, 16);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(
		cf_dhcp_parse_dhclient(dhclient_leases, strlen(dhclient_leases), NULL, &n, 0, &d),
		0);
	cr_assert_str_eq(d.hosts, "eth1-box"); /* any interface: the last lease */
	cr_assert(!d.has_group);
	cr_assert_eq(
		cf_dhcp_parse_dhclient(dhclient_leases, strlen(dhclient_leases), "eth2", &n, 0, &d),
		-ENOENT);
}

Test(dhcp, dhclient_expired_leases_skipped)
{
	static const char epoch[] = "lease {\n  option unknown-235 \"b\";\n"
				    "  expire epoch 1796000000; # Sat Nov 30 ...\n}\n";
	static const char never[] = "lease {\n  option unknown-235 \"b\";\n  expire never;\n}\n";
	int64_t at_1800 = 1796234400, at_1900 = 1796238000; /* 2026-12-02 18:00 / 19:00 UTC */
	struct cf_dhcp d = {0};
	struct cf_dhcp_names n;

	names(&n);
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(dhclient_leases), "eth0", &n, at_1800, &d), 0);
	cr_assert_str_eq(d.hosts, "10.231.1.11:8003");
	memset(&d, 0, sizeof(d));
	/* at 19:00 both leases of eth0 have expired; eth1's has no expiry */
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(dhclient_leases), "eth0", &n, at_1900, &d),
		     -ENOENT);
	cr_assert(!d.has_hosts);
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(dhclient_leases), NULL, &n, at_1900, &d), 0);
	cr_assert_str_eq(d.hosts, "eth1-box");
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(epoch), NULL, &n, 1795999999, &d), 0);
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(epoch), NULL, &n, 1796000000, &d), -ENOENT);
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT(never), NULL, &n, at_1900, &d), 0);
}

Test(dhcp, dhclient_hex_unknown_escapes_and_declared_names)
{
	/* unknown options that are not all printable are written as hex: here a trailing NUL */
	static const char hex[] =
		"lease {\n  interface \"eth0\";\n"
		"  option unknown-235 62:6f:78:31:2c:20:62:6f:78:32:0;\n"
		"  option unknown-234 3f:1a:6c:2e:8b:4d:4e:7a:9c:1d:5b:2f:a:9e:8d:71;\n"
		"}\n";
	static const char esc[] = "lease {\n"
				  "  option do-hosts \"\\\"box1:8003, box2\\\" \\040\";\n"
				  "  option do-group \"{" GUID_TEXT "}\";\n}\n";
	static const char conf[] =
		"# dhclient.conf\noption do-group code 234 = text;\n"
		"option do-hosts code 235 = text;\nrequest do-group, do-hosts;\n";
	struct cf_dhcp d = {0};
	struct cf_dhcp_names n;

	names(&n);
	cr_assert_eq(cf_dhcp_parse_dhclient(hex, strlen(hex), "eth0", &n, 0, &d), 0);
	cr_assert_str_eq(d.hosts, "box1, box2");
	cr_assert_arr_eq(d.group, guid, 16);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cf_dhcp_parse_dhclient(esc, strlen(esc), NULL, &n, 0, &d), -ENOENT);
	cf_dhcp_names_from_conf(conf, strlen(conf), false, &n);
	cr_assert_str_eq(n.hosts, "do-hosts");
	cr_assert_str_eq(n.group, "do-group");
	cr_assert_eq(cf_dhcp_parse_dhclient(esc, strlen(esc), NULL, &n, 0, &d), 0);
	cr_assert_str_eq(d.hosts, "box1:8003, box2");
	cr_assert_arr_eq(d.group, guid, 16);
}

Test(dhcp, dhclient_malformed)
{
	static const char *const bad[] = {
		"lease {\n option cachebox-hosts \"box1;\n}\n",		/* no closing quote */
		"lease {\n option cachebox-hosts \"box1\"\n}\n",	/* no ';' */
		"lease {\n option unknown-235 62:6f:zz;\n}\n",		/* not hex */
		"lease {\n option unknown-235 62:6f:;\n}\n",		/* a trailing ':' */
		"lease {\n option unknown-235 626f78;\n}\n",		/* not colon-separated */
		"lease {\n option cachebox-hosts \"\";\n}\n",		/* empty */
		"lease {\n option cachebox-group \"not-a-guid\";\n}\n", /* a bad 234 */
	};
	struct cf_dhcp d = {0};
	struct cf_dhcp_names n;

	names(&n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cf_dhcp_parse_dhclient(bad[i], strlen(bad[i]), NULL, &n, 0, &d),
			     -EINVAL, "case %zu", i);
	/* a lease block never closed, and a file with no lease, have nothing */
	cr_assert_eq(cf_dhcp_parse_dhclient(LIT("lease {\n option unknown-235 \"b\";\n"), NULL, &n,
					    0, &d),
		     -ENOENT);
	cr_assert_eq(cf_dhcp_parse_dhclient("", 0, NULL, &n, 0, &d), -ENOENT);
	cr_assert(!d.has_hosts && !d.has_group);
}

/* systemd 252's /run/systemd/netif/leases/2, written by systemd-networkd in test_dhcp.py */
static const char networkd_lease[] =
	"# This is private data. Do not parse.\n"
	"ADDRESS=10.231.1.191\nNETMASK=255.255.255.0\nROUTER=10.231.1.1\n"
	"SERVER_ADDRESS=10.231.1.1\nT1=1800\nT2=3150\nLIFETIME=3600\nHOSTNAME=vm\n"
	"CLIENTID=ff202259fb00020000ab110033bdebf95e192c\n"
	"OPTION_234=33663161366332652d386234642d346537612d396331642d356232663061396538643731\n"
	"OPTION_235=31302e3233312e312e31313a38303033\n";

Test(dhcp, networkd_env_and_json)
{
	static const char json[] =
		"{\n  \"Address\" : [10, 231, 1, 191],\n  \"Private_Options\" : [\n"
		"    { \"Option\" : 224, \"Data\" : \"00\" },\n"
		"    { \"Option\" : 235, \"Data\" : \"22626f78312c626f78322200\" },\n"
		"    { \"Option\" : 234, \"Data\" : \"3f1a6c2e8b4d4e7a9c1d5b2f0a9e8d71\" }\n  "
		"]\n}\n";
	struct cf_dhcp d = {0};

	cr_assert_eq(cf_dhcp_parse_networkd(networkd_lease, strlen(networkd_lease), &d), 0);
	cr_assert_str_eq(d.hosts, "10.231.1.11:8003");
	cr_assert(d.has_group);
	cr_assert_arr_eq(d.group, guid, 16);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cf_dhcp_parse_networkd(json, strlen(json), &d), 0);
	cr_assert_str_eq(d.hosts, "box1,box2");
	cr_assert_arr_eq(d.group, guid, 16); /* 16 raw bytes */
}

Test(dhcp, networkd_malformed_and_absent)
{
	static const char *const bad[] = {
		"OPTION_235=3130e\n",
		"OPTION_235=zz\n",
		"OPTION_235=\n",
		"OPTION_234=3f1a\n",
		"{\"Private_Options\": [{\"Option\": 235, \"Data\": \"3g\"}]}",
		"{\"Private_Options\": [{\"Option\": 235}]}",
		"{\"Private_Options\": [",
	};
	struct cf_dhcp d = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cf_dhcp_parse_networkd(bad[i], strlen(bad[i]), &d), -EINVAL,
			     "case %zu", i);
	cr_assert_eq(cf_dhcp_parse_networkd(
			     LIT("ADDRESS=10.0.0.2\nOPTION_236=61\nOPTION_2350=61\n"), &d),
		     -ENOENT);
	cr_assert_eq(cf_dhcp_parse_networkd(LIT("{\"Address\": [10, 0, 0, 2]}"), &d), -ENOENT);
	cr_assert(!d.has_hosts && !d.has_group);
}

Test(dhcp, dhcpcd_names_quotes_escapes)
{
	/* dhcpcd 9.4.1's `dhcpcd -4 -U eth0` with `define 235 string cachebox_hosts` */
	static const char out[] = "reason=BOUND\ninterface=eth0\nprotocol=dhcp\n"
				  "ip_address=10.231.1.154\nsubnet_cidr=24\nrouters=10.231.1.1\n"
				  "cachebox_group=" GUID_TEXT "\ncachebox_hosts=10.231.1.11:8003\n";
	static const char quoted[] = "cachebox_hosts='box1, box2'\n"
				     "unknown_234=\"{" GUID_TEXT "}\"\n";
	static const char octal[] = "do_hosts=box1,\\040box2\\000\n";
	static const char conf[] = "define 235 string do_hosts\noption do_hosts\n";
	struct cf_dhcp d = {0};
	struct cf_dhcp_names n;

	names(&n);
	snprintf(n.hosts, sizeof(n.hosts), "cachebox_hosts");
	snprintf(n.group, sizeof(n.group), "cachebox_group");
	cr_assert_eq(cf_dhcp_parse_dhcpcd(out, strlen(out), &n, &d), 0);
	cr_assert_str_eq(d.hosts, "10.231.1.11:8003");
	cr_assert_arr_eq(d.group, guid, 16);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cf_dhcp_parse_dhcpcd(quoted, strlen(quoted), &n, &d), 0);
	cr_assert_str_eq(d.hosts, "box1, box2");
	cr_assert_arr_eq(d.group, guid, 16);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cf_dhcp_parse_dhcpcd(octal, strlen(octal), &n, &d), -ENOENT);
	cf_dhcp_names_from_conf(conf, strlen(conf), true, &n);
	cr_assert_str_eq(n.hosts, "do_hosts");
	cr_assert_eq(cf_dhcp_parse_dhcpcd(octal, strlen(octal), &n, &d), 0);
	cr_assert_str_eq(d.hosts, "box1, box2");
	snprintf(n.hosts, sizeof(n.hosts), "cachebox_hosts");
	cr_assert_eq(cf_dhcp_parse_dhcpcd(LIT("cachebox_hosts='box1\n"), &n, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_parse_dhcpcd(LIT("cachebox_hosts=box1\\\n"), &n, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_parse_dhcpcd(LIT("cachebox_hosts=\n"), &n, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_parse_dhcpcd(LIT("dhcpcd is not running\n"), &n, &d), -ENOENT);
}

/* A DHCPACK to xid: the fixed part, the cookie, then opts (n bytes). */
static size_t ack(uint8_t *p, uint32_t xid, const uint8_t *opts, size_t n)
{
	memset(p, 0, 548);
	p[0] = 2, p[1] = 1, p[2] = 6;
	memcpy(p + 4, &xid, 4);
	p[236] = 99, p[237] = 130, p[238] = 83, p[239] = 99;
	memcpy(p + 240, opts, n);
	return 240 + n;
}

Test(dhcp, inform_build)
{
	static const uint8_t mac[6] = {0x8a, 0x41, 0x91, 0xd9, 0xfe, 0x70};
	uint8_t b[CF_DHCP_PKT_MAX], small[299];
	uint32_t xid = 0x12345678, ip = 0x0a01e70a;

	cr_assert_eq(cf_dhcp_inform_build(b, sizeof(b), xid, ip, mac), 300);
	cr_assert(b[0] == 1 && b[1] == 1 && b[2] == 6 && b[3] == 0);
	cr_assert(!memcmp(b + 4, &xid, 4) && !memcmp(b + 12, &ip, 4));
	cr_assert(!memcmp(b + 28, mac, 6));
	cr_assert(b[10] == 0 && b[11] == 0, "no broadcast flag: the answer comes to ciaddr");
	cr_assert(b[236] == 99 && b[237] == 130 && b[238] == 83 && b[239] == 99);
	cr_assert(b[240] == 53 && b[241] == 1 && b[242] == 8, "DHCPINFORM");
	cr_assert(b[243] == 55 && b[244] == 2 && b[245] == 234 && b[246] == 235);
	cr_assert_eq(cf_dhcp_inform_build(small, sizeof(small), xid, ip, mac), -ENOSPC);
}

Test(dhcp, inform_parse_ack)
{
	static const uint8_t opts[] = {
		53,   1,    5,	  54,	4,    10,   231,  1,	1,    0,    0, /* pads */
		235,  11,   '"',  'b',	'o',  'x',  '1',  ',',	'b',  'o',  'x',
		'2',  '"',  234,  16,	0x3f, 0x1a, 0x6c, 0x2e, 0x8b, 0x4d, 0x4e,
		0x7a, 0x9c, 0x1d, 0x5b, 0x2f, 0x0a, 0x9e, 0x8d, 0x71, 255};
	uint8_t p[548];
	struct cf_dhcp d = {0};
	size_t n = ack(p, 77, opts, sizeof(opts));

	cr_assert_eq(cf_dhcp_inform_parse(p, n, 77, &d), 0);
	cr_assert_str_eq(d.hosts, "box1,box2");
	cr_assert_arr_eq(d.group, guid, 16);
	cr_assert_eq(cf_dhcp_inform_parse(p, n, 78, &d), -ESRCH, "another xid");
	p[0] = 1;
	cr_assert_eq(cf_dhcp_inform_parse(p, n, 77, &d), -ESRCH, "a BOOTREQUEST");
	p[0] = 2, p[239] = 0;
	cr_assert_eq(cf_dhcp_inform_parse(p, n, 77, &d), -EINVAL, "no magic cookie");
	cr_assert_eq(cf_dhcp_inform_parse(p, 239, 77, &d), -ESRCH, "shorter than the fixed part");
}

Test(dhcp, inform_parse_split_overload_and_malformed)
{
	/* 235 in two parts (RFC 3396), the second in `file` (option 52 = 1) */
	static const uint8_t split[] = {53, 1, 5, 52, 1, 1, 235, 5, 'b', 'o', 'x', '1', ',', 255};
	static const uint8_t file[] = {235, 4, 'b', 'o', 'x', '2', 255};
	static const uint8_t nak[] = {53, 1, 6, 255};
	static const uint8_t noend[] = {53, 1, 5, 235, 4, 'b', 'o', 'x', '1'};
	static const uint8_t over[] = {53, 1, 5, 235, 40, 'b', 'o', 'x', '1', 255};
	static const uint8_t bad235[] = {53, 1, 5, 235, 3, 'a', 0, 'b', 255};
	static const uint8_t none[] = {53, 1, 5, 1, 4, 255, 255, 255, 0, 255};
	uint8_t p[548];
	struct cf_dhcp d = {0};
	size_t n = ack(p, 9, split, sizeof(split));

	memcpy(p + 108, file, sizeof(file));
	cr_assert_eq(cf_dhcp_inform_parse(p, n, 9, &d), 0);
	cr_assert_str_eq(d.hosts, "box1,box2");
	cr_assert(!d.has_group);
	p[108 + 1] = 200; /* an option in file running past its 128 bytes */
	cr_assert_eq(cf_dhcp_inform_parse(p, n, 9, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_inform_parse(p, ack(p, 9, nak, sizeof(nak)), 9, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_inform_parse(p, ack(p, 9, noend, sizeof(noend)), 9, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_inform_parse(p, ack(p, 9, over, sizeof(over)), 9, &d), -EINVAL);
	cr_assert_eq(cf_dhcp_inform_parse(p, ack(p, 9, bad235, sizeof(bad235)), 9, &d), -EINVAL);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(cf_dhcp_inform_parse(p, ack(p, 9, none, sizeof(none)), 9, &d), 0);
	cr_assert(!d.has_hosts && !d.has_group, "an ACK without 234 or 235");
}

Test(dhcp, dhcpcd_lease_file_bootp)
{
	/* dhcpcd's eth0.lease is the DHCPACK as received: lease time 3600 s */
	static const uint8_t opts[] = {53,   1,	  5, 51,  4,   0,   0,	 0x0e,
				       0x10, 235, 4, 'b', 'o', 'x', '1', 255};
	static const uint8_t bootp[] = {1, 4, 255, 255, 255, 0, 235, 4, 'b', 'o', 'x', '2', 255};
	static const uint8_t none[] = {53, 1, 5, 51, 4, 0, 0, 0x0e, 0x10, 255};
	uint8_t p[548];
	uint32_t lease_s = 0;
	struct cf_dhcp d = {0};

	cr_assert_eq(cf_dhcp_parse_bootp(p, ack(p, 123, opts, sizeof(opts)), &lease_s, &d), 0);
	cr_assert_str_eq(d.hosts, "box1");
	cr_assert_eq(lease_s, 3600);
	lease_s = 7;
	cr_assert_eq(cf_dhcp_parse_bootp(p, ack(p, 1, bootp, sizeof(bootp)), &lease_s, &d), 0,
		     "a BOOTP reply: no option 53");
	cr_assert_str_eq(d.hosts, "box2");
	cr_assert_eq(lease_s, 0);
	cr_assert_eq(cf_dhcp_parse_bootp(p, ack(p, 1, none, sizeof(none)), NULL, &d), -ENOENT);
	p[0] = 1;
	cr_assert_eq(cf_dhcp_parse_bootp(p, 300, NULL, &d), -EINVAL, "a BOOTREQUEST");
	cr_assert_eq(cf_dhcp_parse_bootp(p, 200, NULL, &d), -EINVAL, "too short");
}

/* cf_dhcp_find through the environment's places: a lease file wins over the rest. */
Test(dhcp, find_from_a_lease_file_and_nothing)
{
	char path[64], err[1024] = "";
	struct cf_dhcp d;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/cf-dhcp-%d.leases", getpid());
	f = fopen(path, "w");
	cr_assert(f);
	/* the newest lease has expired (real time is used here): the one before it is taken */
	fputs("lease {\n  interface \"eth0\";\n  option cachebox-hosts \"10.231.1.11:8003\";\n"
	      "  expire never;\n}\nlease {\n  interface \"eth0\";\n"
	      "  option cachebox-hosts \"expired:8003\";\n  expire epoch 1000000000;\n}\n",
	      f);
	fclose(f);
	setenv("CACHEBOX_FETCH_DHCLIENT_LEASES", path, 1);
	setenv("CACHEBOX_FETCH_DHCLIENT_CONF", "/nonexistent", 1);
	setenv("CACHEBOX_FETCH_NETWORKD_LEASES", "/nonexistent", 1);
	setenv("CACHEBOX_FETCH_DHCPCD_LEASES", "/nonexistent", 1);
	setenv("CACHEBOX_FETCH_DHCPCD", "", 1);
	cr_assert_eq(cf_dhcp_find("eth0", 100, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(d.hosts, "10.231.1.11:8003");
	cr_assert(strstr(d.via, path), "%s", d.via);
	unlink(path);
	/* nothing anywhere, and a DHCPINFORM on lo nobody answers */
	cr_assert_eq(cf_dhcp_find("lo", 100, &d, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, path) && strstr(err, "/nonexistent") &&
			  strstr(err, "not installed") && strstr(err, "DHCPINFORM"),
		  "%s", err);
}
