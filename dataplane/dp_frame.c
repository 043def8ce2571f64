/*
 * The DPDK backend's Ethernet, ARP, IPv4 and UDP handling (dp_frame.h),
 * byte by byte in network order so that nothing depends on the host's
 * endianness or on the frame's alignment in its buffer. Checks follow
 * what a Linux receiver does (RFC 826 for ARP, RFC 791 and RFC 1122 for
 * IPv4, RFC 768 for UDP), minus what a discovery datagram never needs: IP
 * options, fragments and VLAN tags are dropped.
 */
#include <errno.h>
#include <string.h>

#include "dp_frame.h"

#define ETH_P_IP4 0x0800
#define ETH_P_ARP 0x0806
#define IPPROTO_U 17
#define ARP_REQ	  1
#define ARP_REP	  2
#define IP_DF	  0x4000
#define IP_FRAG	  0x3fff /* MF and the fragment offset */
#define IP_TTL	  64

/* Field offsets from the frame's start. */
enum {
	ETH_DST = 0,
	ETH_SRC = 6,
	ETH_TYPE = 12,
	IP = DP_ETH_HLEN,
	IP_VHL = IP,
	IP_TOS = IP + 1,
	IP_LEN = IP + 2,
	IP_ID = IP + 4,
	IP_OFF = IP + 6,
	IP_TTLF = IP + 8,
	IP_PROTO = IP + 9,
	IP_SUM = IP + 10,
	IP_SRC = IP + 12,
	IP_DST = IP + 16,
	UDP = IP + DP_IP4_HLEN,
	UDP_SPORT = UDP,
	UDP_DPORT = UDP + 2,
	UDP_LEN = UDP + 4,
	UDP_SUM = UDP + 6,
	ARP = DP_ETH_HLEN,
	ARP_HTYPE = ARP,
	ARP_PTYPE = ARP + 2,
	ARP_HLEN = ARP + 4,
	ARP_PLEN = ARP + 5,
	ARP_OP = ARP + 6,
	ARP_SHA = ARP + 8,
	ARP_SPA = ARP + 14,
	ARP_THA = ARP + 18,
	ARP_TPA = ARP + 24,
};

static const uint8_t bcast_mac[DP_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Addresses stay in network order: copied as bytes, compared as such. */
static uint32_t get_addr(const uint8_t *p)
{
	uint32_t a;

	memcpy(&a, p, 4);
	return a;
}

static void put_addr(uint8_t *p, uint32_t a)
{
	memcpy(p, &a, 4);
}

uint16_t dp_frame_csum(const void *data, size_t n, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	for (; n > 1; n -= 2, p += 2)
		s += get16(p);
	if (n)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* RFC 768: the pseudo-header's sum (source, destination, protocol, UDP length), folded. */
static uint16_t pseudo_sum(const uint8_t *frame, uint16_t ulen)
{
	uint8_t ph[12];

	memcpy(ph, frame + IP_SRC, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_U;
	put16(ph + 10, ulen);
	return dp_frame_csum(ph, sizeof(ph), 0);
}

int dp_frame_cfg_init(struct dp_frame_cfg *fc, const uint8_t mac[DP_ETH_ALEN],
		      const struct cfg_cidr *address, uint16_t port)
{
	unsigned bits;
	uint32_t host = 0, mask;

	if (!address->v4 || address->prefix < 96 || address->prefix > 128)
		return -EINVAL;
	memset(fc, 0, sizeof(*fc));
	memcpy(fc->mac, mac, DP_ETH_ALEN);
	memcpy(&fc->addr, address->addr + 12, 4);
	fc->port = port;
	bits = address->prefix - 96u;
	if (bits < 31) {
		for (int i = 0; i < 4; i++)
			host = host << 8 | address->addr[12 + i];
		mask = bits ? ~0u << (32 - bits) : 0;
		host |= ~mask;
		for (int i = 3; i >= 0; i--, host >>= 8)
			((uint8_t *)&fc->bcast)[i] = (uint8_t)host;
	}
	return 0;
}

static bool is_group_mac(const uint8_t *m)
{
	return m[0] & 1;
}

/* RFC 826: a request for our address becomes the reply, in place. */
static enum dp_frame_kind arp_answer(const struct dp_frame_cfg *fc, uint8_t *f, size_t len)
{
	uint8_t sha[DP_ETH_ALEN];
	uint32_t spa;

	if (len < DP_ETH_HLEN + DP_ARP_LEN)
		return DP_FRAME_NOT_SHORT;
	if (get16(f + ARP_HTYPE) != 1 || get16(f + ARP_PTYPE) != ETH_P_IP4 ||
	    f[ARP_HLEN] != DP_ETH_ALEN || f[ARP_PLEN] != 4 || get16(f + ARP_OP) != ARP_REQ)
		return DP_FRAME_NOT_ARP;
	spa = get_addr(f + ARP_SPA);
	if (get_addr(f + ARP_TPA) != fc->addr || spa == fc->addr || is_group_mac(f + ARP_SHA))
		return DP_FRAME_NOT_ARP; /* another's, or a host announcing our address */
	memcpy(sha, f + ARP_SHA, DP_ETH_ALEN);
	memcpy(f + ETH_DST, sha, DP_ETH_ALEN);
	memcpy(f + ETH_SRC, fc->mac, DP_ETH_ALEN);
	put16(f + ARP_OP, ARP_REP);
	memcpy(f + ARP_THA, sha, DP_ETH_ALEN);
	put_addr(f + ARP_TPA, spa);
	memcpy(f + ARP_SHA, fc->mac, DP_ETH_ALEN);
	put_addr(f + ARP_SPA, fc->addr);
	memset(f + DP_ETH_HLEN + DP_ARP_LEN, 0, len - DP_ETH_HLEN - DP_ARP_LEN); /* padding */
	return DP_FRAME_ARP_REPLY;
}

/*
 * The UDP checksum policy (dp_frame.h): 0 (none sent, RFC 768), the right
 * one, or the pseudo-header sum alone that a checksum-offloading sender
 * leaves for hardware that a veth does not have.
 */
static bool udp_sum_ok(const uint8_t *f, uint16_t ulen)
{
	uint16_t field = get16(f + UDP_SUM), ph = pseudo_sum(f, ulen);

	if (field == 0 || field == ph)
		return true;
	return dp_frame_csum(f + UDP, ulen, ph) == 0xffff;
}

/* RFC 791 / RFC 1122 3.2.1: the IPv4 header, then RFC 768's UDP header. */
static enum dp_frame_kind ip4_take(const struct dp_frame_cfg *fc, const uint8_t *f, size_t len,
				   struct dp_frame_dgram *d)
{
	uint16_t tot, ulen;
	uint32_t dst;

	if (len < DP_FRAME_HDRS)
		return DP_FRAME_NOT_SHORT;
	if (f[IP_VHL] != 0x45 || dp_frame_csum(f + IP, DP_IP4_HLEN, 0) != 0xffff)
		return DP_FRAME_NOT_IP_HEADER;
	tot = get16(f + IP_LEN);
	if (tot < DP_IP4_HLEN || tot > len - DP_ETH_HLEN)
		return tot < DP_IP4_HLEN ? DP_FRAME_NOT_IP_HEADER : DP_FRAME_NOT_SHORT;
	if (get16(f + IP_OFF) & IP_FRAG)
		return DP_FRAME_NOT_FRAGMENT;
	if (f[IP_PROTO] != IPPROTO_U)
		return DP_FRAME_NOT_NOT_UDP;
	dst = get_addr(f + IP_DST);
	if (dst != fc->addr && dst != 0xffffffffu && !(fc->bcast && dst == fc->bcast))
		return DP_FRAME_NOT_ADDRESS;
	if (tot < DP_IP4_HLEN + DP_UDP_HLEN)
		return DP_FRAME_NOT_UDP_LENGTH;
	if (get16(f + UDP_DPORT) != fc->port)
		return DP_FRAME_NOT_PORT;
	ulen = get16(f + UDP_LEN);
	if (ulen < DP_UDP_HLEN || ulen > tot - DP_IP4_HLEN)
		return DP_FRAME_NOT_UDP_LENGTH; /* shorter is fine: the rest is IP padding */
	if (!udp_sum_ok(f, ulen))
		return DP_FRAME_NOT_UDP_CHECKSUM;
	d->off = DP_FRAME_HDRS;
	d->len = ulen - DP_UDP_HLEN;
	memset(d->src, 0, 10);
	d->src[10] = d->src[11] = 0xff;
	memcpy(d->src + 12, f + IP_SRC, 4);
	d->sport = get16(f + UDP_SPORT);
	d->to_bcast = dst != fc->addr;
	return DP_FRAME_DGRAM;
}

enum dp_frame_kind dp_frame_classify(const struct dp_frame_cfg *fc, uint8_t *frame, size_t len,
				     struct dp_frame_dgram *d)
{
	if (len < DP_ETH_HLEN)
		return DP_FRAME_NOT_SHORT;
	if ((memcmp(frame + ETH_DST, fc->mac, DP_ETH_ALEN) != 0 &&
	     memcmp(frame + ETH_DST, bcast_mac, DP_ETH_ALEN) != 0) ||
	    is_group_mac(frame + ETH_SRC) || memcmp(frame + ETH_SRC, fc->mac, DP_ETH_ALEN) == 0)
		return DP_FRAME_NOT_MAC;
	switch (get16(frame + ETH_TYPE)) {
	case ETH_P_ARP:
		return arp_answer(fc, frame, len);
	case ETH_P_IP4:
		return ip4_take(fc, frame, len, d);
	default:
		return DP_FRAME_NOT_ETHERTYPE;
	}
}

/* The IPv4 and UDP headers of a datagram from fc to dst:dport carrying plen bytes. */
static void ip4_udp_write(const struct dp_frame_cfg *fc, uint8_t *f, uint32_t dst, uint16_t dport,
			  size_t plen)
{
	uint16_t ulen = (uint16_t)(DP_UDP_HLEN + plen), sum;

	f[IP_VHL] = 0x45;
	f[IP_TOS] = 0;
	put16(f + IP_LEN, (uint16_t)(DP_IP4_HLEN + ulen));
	put16(f + IP_ID, 0); /* RFC 6864: an atomic datagram's ID means nothing */
	put16(f + IP_OFF, IP_DF);
	f[IP_TTLF] = IP_TTL;
	f[IP_PROTO] = IPPROTO_U;
	put16(f + IP_SUM, 0);
	put_addr(f + IP_SRC, fc->addr);
	put_addr(f + IP_DST, dst);
	put16(f + IP_SUM, (uint16_t)~dp_frame_csum(f + IP, DP_IP4_HLEN, 0));
	put16(f + UDP_SPORT, fc->port);
	put16(f + UDP_DPORT, dport);
	put16(f + UDP_LEN, ulen);
	put16(f + UDP_SUM, 0);
	sum = (uint16_t)~dp_frame_csum(f + UDP, ulen, pseudo_sum(f, ulen));
	put16(f + UDP_SUM, sum ? sum : 0xffff); /* RFC 768: a computed 0 is sent as all ones */
}

size_t dp_frame_reply(const struct dp_frame_cfg *fc, uint8_t *frame, const struct dp_frame_dgram *d,
		      size_t reply_len)
{
	uint32_t peer;
	uint16_t sport;

	if (reply_len > d->len || d->off != DP_FRAME_HDRS)
		return 0;
	peer = get_addr(frame + IP_SRC);
	sport = get16(frame + UDP_SPORT);
	memcpy(frame + ETH_DST, frame + ETH_SRC, DP_ETH_ALEN);
	memcpy(frame + ETH_SRC, fc->mac, DP_ETH_ALEN);
	ip4_udp_write(fc, frame, peer, sport, reply_len);
	return DP_FRAME_HDRS + reply_len;
}

int dp_frame_announce(const struct dp_frame_cfg *fc, const uint8_t *payload, size_t plen,
		      uint8_t *buf, size_t cap)
{
	if (cap < DP_FRAME_HDRS || plen > cap - DP_FRAME_HDRS || plen > 0xffff - 28)
		return -ENOSPC;
	memcpy(buf + ETH_DST, bcast_mac, DP_ETH_ALEN);
	memcpy(buf + ETH_SRC, fc->mac, DP_ETH_ALEN);
	put16(buf + ETH_TYPE, ETH_P_IP4);
	memcpy(buf + DP_FRAME_HDRS, payload, plen);
	ip4_udp_write(fc, buf, fc->bcast ? fc->bcast : 0xffffffffu, fc->port, plen);
	return (int)(DP_FRAME_HDRS + plen);
}

const char *dp_frame_kind_name(enum dp_frame_kind k)
{
	static const char *const names[DP_FRAME_KIND_COUNT] = {[DP_FRAME_DGRAM] = "dgram",
							       [DP_FRAME_ARP_REPLY] = "arp_reply",
#define DP_FRAME_NAME(id, name) [DP_FRAME_NOT_##id] = name,
							       DP_FRAME_WHY_TABLE(DP_FRAME_NAME)
#undef DP_FRAME_NAME
	};

	return (unsigned)k < DP_FRAME_KIND_COUNT ? names[k] : "?";
}
