/*
 * The DPDK backend's frame handling without DPDK: which frames are taken
 * (unicast, limited and subnet broadcast to the port), which are not ours
 * and why (MACs, ethertypes, IPv4 header, fragments, lengths, the UDP
 * checksum policy), the ARP reply, the reply frame and the ANNOUNCE frame.
 * Frames are built here with a checksum of the test's own, so that
 * dp_frame.c is checked against code it did not write.
 */
#include "dp_frame.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static const uint8_t our_mac[6] = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x07};
static const uint8_t bc_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct dp_frame_cfg fc;

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* RFC 1071 the slow way: 16-bit big-endian words, carries folded at the end. */
static uint16_t sum16(const uint8_t *p, size_t n, uint32_t start)
{
	uint64_t s = start;

	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s > 0xffff)
		s = (s >> 16) + (s & 0xffff);
	return (uint16_t)s;
}

static uint32_t pseudo(const uint8_t *f, uint16_t ulen)
{
	return sum16(f + 26, 8, 0) + 17u + ulen;
}

static void set16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void fix_ip_sum(uint8_t *f)
{
	set16(f + 24, 0);
	set16(f + 24, (uint16_t)~sum16(f + 14, 20, 0));
}

static void fix_udp_sum(uint8_t *f)
{
	uint16_t ulen = (uint16_t)get16(f + 38), s;

	set16(f + 40, 0);
	s = (uint16_t)~sum16(f + 34, ulen, pseudo(f, ulen));
	set16(f + 40, s ? s : 0xffff);
}

/* An Ethernet/IPv4/UDP frame with plen payload bytes (0x5a), checksums right. Returns its length.
 */
static size_t udp_frame(uint8_t *f, const uint8_t *dmac, const char *src, const char *dst,
			unsigned sport, unsigned dport, size_t plen)
{
	uint32_t s = ip4(src), d = ip4(dst);

	memset(f, 0, 42 + plen);
	memcpy(f, dmac, 6);
	memcpy(f + 6, peer_mac, 6);
	set16(f + 12, 0x0800);
	f[14] = 0x45;
	set16(f + 16, (unsigned)(28 + plen));
	set16(f + 18, 0x1234);
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, &s, 4);
	memcpy(f + 30, &d, 4);
	fix_ip_sum(f);
	set16(f + 34, sport);
	set16(f + 36, dport);
	set16(f + 38, (unsigned)(8 + plen));
	memset(f + 42, 0x5a, plen);
	fix_udp_sum(f);
	return 42 + plen;
}

static size_t arp_frame(uint8_t *f, unsigned op, const char *spa, const char *tpa)
{
	uint32_t s = ip4(spa), t = ip4(tpa);

	memset(f, 0, 60);
	memcpy(f, bc_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	set16(f + 12, 0x0806);
	set16(f + 14, 1);
	set16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	set16(f + 20, op);
	memcpy(f + 22, peer_mac, 6);
	memcpy(f + 28, &s, 4);
	memcpy(f + 38, &t, 4);
	memset(f + 42, 0xee, 18); /* padding that must not leak into the reply */
	return 60;
}

static void setup(void)
{
	struct cfg_cidr a;

	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/24", &a), 0);
	cr_assert_eq(dp_frame_cfg_init(&fc, our_mac, &a, 8004), 0);
}

TestSuite(frame, .init = setup);

Test(frame, cfg_broadcast_of_the_prefix)
{
	struct dp_frame_cfg c;
	struct cfg_cidr a;

	cr_assert_eq(fc.addr, ip4("192.0.2.10"));
	cr_assert_eq(fc.bcast, ip4("192.0.2.255"));
	cr_assert_eq(cfg_parse_ifaddr("10.1.2.3/8", &a), 0);
	cr_assert_eq(dp_frame_cfg_init(&c, our_mac, &a, 1), 0);
	cr_assert_eq(c.bcast, ip4("10.255.255.255"));
	cr_assert_eq(cfg_parse_ifaddr("10.1.2.3/31", &a), 0);
	cr_assert_eq(dp_frame_cfg_init(&c, our_mac, &a, 1), 0);
	cr_assert_eq(c.bcast, 0, "a /31 has no broadcast address");
	cr_assert_eq(cfg_parse_ifaddr("10.1.2.3/32", &a), 0);
	cr_assert_eq(dp_frame_cfg_init(&c, our_mac, &a, 1), 0);
	cr_assert_eq(c.bcast, 0);
	memset(&a, 0, sizeof(a));
	a.prefix = 64; /* an IPv6 prefix */
	cr_assert_eq(dp_frame_cfg_init(&c, our_mac, &a, 1), -EINVAL);
}

Test(frame, unicast_datagram_taken_unchanged)
{
	uint8_t f[256], copy[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);

	memcpy(copy, f, n);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
	cr_assert_eq(d.off, 42);
	cr_assert_eq(d.len, 112);
	cr_assert_eq(d.sport, 40000);
	cr_assert_not(d.to_bcast);
	cr_assert_eq(d.src[10], 0xff);
	cr_assert_eq(d.src[11], 0xff);
	cr_assert_eq(memcmp(d.src + 12, f + 26, 4), 0);
	cr_assert_eq(memcmp(f, copy, n), 0, "classifying a datagram does not change it");
}

Test(frame, broadcasts_taken)
{
	static const char *const dst[] = {"255.255.255.255", "192.0.2.255"};
	uint8_t f[256];
	struct dp_frame_dgram d;

	for (unsigned i = 0; i < 2; i++) {
		size_t n = udp_frame(f, bc_mac, "192.0.2.77", dst[i], 40000, 8004, 176);

		cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM, "%s", dst[i]);
		cr_assert(d.to_bcast);
		cr_assert_eq(d.len, 176);
	}
}

Test(frame, other_addresses_ports_and_macs_not_ours)
{
	static const uint8_t other_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
	static const uint8_t mcast_mac[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	uint8_t f[256];
	struct dp_frame_dgram d;
	size_t n;

	n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.11", 40000, 8004, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ADDRESS);
	n = udp_frame(f, bc_mac, "192.0.2.77", "192.0.3.255", 40000, 8004, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ADDRESS);
	n = udp_frame(f, bc_mac, "192.0.2.77", "224.0.0.1", 40000, 8004, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ADDRESS);
	n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8005, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_PORT);
	n = udp_frame(f, other_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_MAC);
	n = udp_frame(f, mcast_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_MAC);
	n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);
	f[6] |= 1; /* a group address as source */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_MAC);
	memcpy(f + 6, our_mac, 6); /* our own frame, looped back */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_MAC);
}

Test(frame, ethertypes_and_short_frames)
{
	uint8_t f[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);

	cr_assert_eq(dp_frame_classify(&fc, f, 13, &d), DP_FRAME_NOT_SHORT);
	cr_assert_eq(dp_frame_classify(&fc, f, 41, &d), DP_FRAME_NOT_SHORT);
	cr_assert_eq(dp_frame_classify(&fc, f, n - 1, &d), DP_FRAME_NOT_SHORT,
		     "IP total length beyond the frame");
	set16(f + 12, 0x86dd); /* IPv6: neighbour discovery included, not answered */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ETHERTYPE);
	set16(f + 12, 0x8100); /* a VLAN tag */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ETHERTYPE);
}

Test(frame, ip_header_checked)
{
	uint8_t f[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);

	f[24] ^= 1;
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_IP_HEADER, "bad checksum");
	f[24] ^= 1;
	f[14] = 0x46; /* options */
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_IP_HEADER);
	f[14] = 0x65; /* version 6 in an IPv4 frame */
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_IP_HEADER);
	f[14] = 0x45;
	set16(f + 16, 19);
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_IP_HEADER);
	set16(f + 16, 24);
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_UDP_LENGTH);
	set16(f + 16, (unsigned)(n - 14));
	set16(f + 20, 0x2000); /* more fragments */
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_FRAGMENT);
	set16(f + 20, 0x0001); /* a later fragment */
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_FRAGMENT);
	set16(f + 20, 0x4000); /* DF alone is fine */
	f[23] = 6;
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_NOT_UDP);
	f[23] = 17;
	fix_ip_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
}

Test(frame, udp_length_checked)
{
	uint8_t f[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);

	set16(f + 38, 121); /* one more than the IP payload */
	fix_udp_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_UDP_LENGTH);
	set16(f + 38, 7);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_UDP_LENGTH);
	set16(f + 38, 8 + 100); /* shorter than the IP payload: the rest is padding */
	fix_udp_sum(f);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
	cr_assert_eq(d.len, 100);
	/* Ethernet padding past the IP total length is ignored too */
	n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 4);
	cr_assert_eq(n, 46);
	memset(f + n, 0, 60 - n);
	cr_assert_eq(dp_frame_classify(&fc, f, 60, &d), DP_FRAME_DGRAM);
	cr_assert_eq(d.len, 4);
}

Test(frame, udp_checksum_policy)
{
	uint8_t f[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40000, 8004, 112);

	f[100] ^= 0x10; /* a flipped payload bit under the old checksum */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_UDP_CHECKSUM);
	set16(f + 40, 0); /* no checksum */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
	/* what a sender with checksum offload leaves on a veth: the pseudo-header sum */
	set16(f + 40, sum16(f + 26, 8, 17u + 120u));
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
	set16(f + 40, get16(f + 40) + 1);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_UDP_CHECKSUM);
}

Test(frame, arp_request_answered_in_place)
{
	uint8_t f[64];
	struct dp_frame_dgram d;
	uint32_t peer = ip4("192.0.2.77"), ours = ip4("192.0.2.10");
	size_t n = arp_frame(f, 1, "192.0.2.77", "192.0.2.10");

	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_ARP_REPLY);
	cr_assert_eq(memcmp(f, peer_mac, 6), 0, "to the asker");
	cr_assert_eq(memcmp(f + 6, our_mac, 6), 0);
	cr_assert_eq(get16(f + 12), 0x0806);
	cr_assert_eq(get16(f + 20), 2, "a reply");
	cr_assert_eq(memcmp(f + 22, our_mac, 6), 0, "sender hardware address: ours");
	cr_assert_eq(memcmp(f + 28, &ours, 4), 0);
	cr_assert_eq(memcmp(f + 32, peer_mac, 6), 0);
	cr_assert_eq(memcmp(f + 38, &peer, 4), 0);
	for (unsigned i = 42; i < 60; i++)
		cr_assert_eq(f[i], 0, "padding zeroed at %u", i);
	/* a probe (RFC 5227: sender 0.0.0.0) is answered too */
	n = arp_frame(f, 1, "0.0.0.0", "192.0.2.10");
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_ARP_REPLY);
}

Test(frame, other_arp_not_ours)
{
	uint8_t f[64];
	struct dp_frame_dgram d;
	size_t n = arp_frame(f, 1, "192.0.2.77", "192.0.2.11");

	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ARP, "another's address");
	n = arp_frame(f, 1, "192.0.2.10", "192.0.2.10");
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ARP, "gratuitous");
	n = arp_frame(f, 2, "192.0.2.77", "192.0.2.10");
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ARP, "a reply");
	n = arp_frame(f, 1, "192.0.2.77", "192.0.2.10");
	f[16] = 0x86; /* another protocol type */
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_NOT_ARP);
	n = arp_frame(f, 1, "192.0.2.77", "192.0.2.10");
	cr_assert_eq(dp_frame_classify(&fc, f, 41, &d), DP_FRAME_NOT_SHORT);
}

/* The reply is a valid datagram from our side: the peer's classifier takes it. */
static void check_reply(const uint8_t *f, size_t n, const uint8_t *req, size_t plen)
{
	uint32_t ours = ip4("192.0.2.10");

	cr_assert_eq(n, 42 + plen);
	cr_assert_eq(memcmp(f, peer_mac, 6), 0);
	cr_assert_eq(memcmp(f + 6, our_mac, 6), 0);
	cr_assert_eq(memcmp(f + 26, &ours, 4), 0, "from our address, never a broadcast one");
	cr_assert_eq(memcmp(f + 30, req + 26, 4), 0, "to the sender");
	cr_assert_eq(get16(f + 34), 8004);
	cr_assert_eq(get16(f + 36), get16(req + 34));
	cr_assert_eq(get16(f + 16), 28 + plen);
	cr_assert_eq(get16(f + 38), 8 + plen);
	cr_assert_eq(sum16(f + 14, 20, 0), 0xffff, "IP checksum");
	cr_assert_eq(sum16(f + 34, 8 + plen, pseudo(f, (uint16_t)(8 + plen))), 0xffff,
		     "UDP checksum");
	cr_assert_neq(get16(f + 40), 0);
}

Test(frame, reply_built_in_place)
{
	static const char *const dst[] = {"192.0.2.10", "255.255.255.255", "192.0.2.255"};
	uint8_t f[256], req[256];

	for (unsigned i = 0; i < 3; i++) {
		struct dp_frame_dgram d;
		size_t n =
			udp_frame(f, i ? bc_mac : our_mac, "192.0.2.77", dst[i], 40001, 8004, 176);

		memcpy(req, f, n);
		cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
		memset(f + d.off, 0xa5, d.len); /* the responder's OFFER */
		cr_assert_eq(dp_frame_reply(&fc, f, &d, d.len), n, "never larger than the request");
		check_reply(f, n, req, 176);
		cr_assert_eq(f[d.off], 0xa5);
	}
}

Test(frame, reply_shorter_and_never_longer)
{
	uint8_t f[256], req[256];
	struct dp_frame_dgram d;
	size_t n = udp_frame(f, our_mac, "192.0.2.77", "192.0.2.10", 40001, 8004, 176);

	memcpy(req, f, n);
	cr_assert_eq(dp_frame_classify(&fc, f, n, &d), DP_FRAME_DGRAM);
	cr_assert_eq(dp_frame_reply(&fc, f, &d, 177), 0);
	cr_assert_eq(memcmp(f, req, n), 0, "an impossible reply changes nothing");
	cr_assert_eq(dp_frame_reply(&fc, f, &d, 112), 42 + 112);
	check_reply(f, 42 + 112, req, 112);
}

Test(frame, announce_frame)
{
	uint8_t payload[112], f[256];
	struct dp_frame_cfg c;
	struct cfg_cidr a;
	uint32_t bc = ip4("192.0.2.255"), all = 0xffffffffu, ours = ip4("192.0.2.10");
	int n;

	memset(payload, 0x3c, sizeof(payload));
	n = dp_frame_announce(&fc, payload, sizeof(payload), f, sizeof(f));
	cr_assert_eq(n, 154);
	cr_assert_eq(memcmp(f, bc_mac, 6), 0);
	cr_assert_eq(memcmp(f + 6, our_mac, 6), 0);
	cr_assert_eq(get16(f + 12), 0x0800);
	cr_assert_eq(memcmp(f + 26, &ours, 4), 0);
	cr_assert_eq(memcmp(f + 30, &bc, 4), 0, "to the subnet broadcast");
	cr_assert_eq(get16(f + 34), 8004);
	cr_assert_eq(get16(f + 36), 8004);
	cr_assert_eq(sum16(f + 14, 20, 0), 0xffff);
	cr_assert_eq(sum16(f + 34, 120, pseudo(f, 120)), 0xffff);
	cr_assert_eq(memcmp(f + 42, payload, 112), 0);
	cr_assert_eq(dp_frame_announce(&fc, payload, sizeof(payload), f, 153), -ENOSPC);
	cr_assert_eq(dp_frame_announce(&fc, payload, sizeof(payload), f, 20), -ENOSPC);
	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/32", &a), 0);
	cr_assert_eq(dp_frame_cfg_init(&c, our_mac, &a, 8004), 0);
	cr_assert_eq(dp_frame_announce(&c, payload, sizeof(payload), f, sizeof(f)), 154);
	cr_assert_eq(memcmp(f + 30, &all, 4), 0, "no subnet broadcast: the limited one");
}

Test(frame, kind_names)
{
	for (int k = 0; k < DP_FRAME_KIND_COUNT; k++) {
		const char *name = dp_frame_kind_name((enum dp_frame_kind)k);

		cr_assert(name && name[0] && strcmp(name, "?") != 0, "kind %d", k);
		for (int j = 0; j < k; j++)
			cr_assert_str_neq(name, dp_frame_kind_name((enum dp_frame_kind)j));
	}
	cr_assert_str_eq(dp_frame_kind_name(DP_FRAME_KIND_COUNT), "?");
	cr_assert_str_eq(dp_frame_kind_name(DP_FRAME_NOT_UDP_CHECKSUM), "udp_checksum");
}
