/*
 * Ethernet frames for the DPDK backend, in plain C on byte buffers (no
 * rte_* include, so that it builds and is unit-tested without DPDK). A
 * DPDK port owns its interface: no kernel answers ARP or checks IP and UDP
 * headers for it, so this file does what the kernel does for the socket
 * backend, and no more: it answers ARP for the port's address, hands out
 * the UDP payload of an IPv4 datagram to the discovery port (for
 * dp_resp_handle() to judge), turns a frame whose payload was replied to in
 * place into the reply frame, and builds the ANNOUNCE/BYE broadcast frame.
 *
 * What is taken, and what is dropped as "not ours" (counted in the lane's
 * not_ours): see dp_frame_classify(). The UDP checksum policy is that of a
 * Linux receiver on a veth: a correct checksum, no checksum (0), or the
 * unfinished one a sender with checksum offload leaves (the pseudo-header
 * sum alone; a veth hands it on as it is) are accepted; any other value is
 * dropped. So tests need not turn tx offload off on the sending veth.
 * IPv6 (neighbour discovery included) is not answered over DPDK yet.
 */
#ifndef DP_FRAME_H
#define DP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define DP_ETH_ALEN   6
#define DP_ETH_HLEN   14
#define DP_IP4_HLEN   20
#define DP_UDP_HLEN   8
#define DP_ARP_LEN    28					/* Ethernet/IPv4 ARP body */
#define DP_FRAME_HDRS (DP_ETH_HLEN + DP_IP4_HLEN + DP_UDP_HLEN) /* 42: payload offset */
#define DP_FRAME_MIN  60 /* shortest Ethernet frame without FCS: shorter ones are padded */

/* The port's identity: fixed at start. Addresses in network order. */
struct dp_frame_cfg {
	uint8_t mac[DP_ETH_ALEN];
	uint32_t addr;	/* the port's IPv4 address ([discovery] address) */
	uint32_t bcast; /* its subnet broadcast; 0 for a /31 or /32, which have none */
	uint16_t port;	/* the discovery port, host order */
};

/*
 * Why a frame is not ours: one table for the enum and dp_frame_why_name().
 * All of them are counted together as not_ours; the reason is for tests
 * and debugging.
 */
#define DP_FRAME_WHY_TABLE(X)                                                                      \
	X(SHORT, "short")		/* shorter than its headers say */                         \
	X(MAC, "mac")			/* to another unicast MAC, a multicast one, or from one */ \
	X(ETHERTYPE, "ethertype")	/* not IPv4 or ARP (IPv6, VLAN tags...) */                 \
	X(ARP, "arp")			/* not an Ethernet/IPv4 request for our address */         \
	X(IP_HEADER, "ip_header")	/* not version 4, options, bad length or checksum */       \
	X(FRAGMENT, "fragment")		/* a fragment: no valid datagram needs one */              \
	X(NOT_UDP, "not_udp")		/* another IP protocol */                                  \
	X(ADDRESS, "address")		/* to another IP address */                                \
	X(PORT, "port")			/* to another UDP port */                                  \
	X(UDP_LENGTH, "udp_length")	/* UDP length beyond the IP payload, or under 8 */         \
	X(UDP_CHECKSUM, "udp_checksum") /* a UDP checksum neither right nor unfinished */

enum dp_frame_kind {
	DP_FRAME_DGRAM = 0, /* a datagram to the discovery port: judge it */
	DP_FRAME_ARP_REPLY, /* was an ARP request for our address: now the reply, same length */
#define DP_FRAME_ENUM(id, name) DP_FRAME_NOT_##id,
	DP_FRAME_WHY_TABLE(DP_FRAME_ENUM)
#undef DP_FRAME_ENUM
		DP_FRAME_KIND_COUNT
};

/* A datagram's place in its frame and where it came from. */
struct dp_frame_dgram {
	size_t off;	 /* payload offset in the frame (DP_FRAME_HDRS) */
	size_t len;	 /* payload length, as the UDP header gives it */
	uint8_t src[16]; /* IPv4 source as ::ffff:a.b.c.d, for dp_src */
	uint16_t sport;	 /* host order */
	bool to_bcast;	 /* sent to 255.255.255.255 or the subnet broadcast */
};

/*
 * The port's identity from its MAC, [discovery] address (IPv4/prefix, host
 * bits kept) and port. -EINVAL when address is not IPv4.
 */
int dp_frame_cfg_init(struct dp_frame_cfg *fc, const uint8_t mac[DP_ETH_ALEN],
		      const struct cfg_cidr *address, uint16_t port);

/*
 * Classifies the frame (len bytes, writable). DP_FRAME_DGRAM: an IPv4 UDP
 * datagram to fc->port addressed to fc->addr, 255.255.255.255 or fc->bcast,
 * from a unicast MAC to ours or to the broadcast MAC, with a valid IPv4
 * header (version 4, no options, checksum, total length within the frame,
 * not a fragment) and UDP length; *d says where its payload is (the frame
 * is not changed). DP_FRAME_ARP_REPLY: the frame was an ARP request for
 * fc->addr (not a gratuitous one from a host claiming it) and is now the
 * reply, same length. Anything else: the DP_FRAME_NOT_* reason, frame
 * unchanged.
 */
enum dp_frame_kind dp_frame_classify(const struct dp_frame_cfg *fc, uint8_t *frame, size_t len,
				     struct dp_frame_dgram *d);

/*
 * Turns a DP_FRAME_DGRAM frame, whose payload at d->off now holds a reply
 * of reply_len bytes (at most d->len), into the reply frame: back to the
 * sender's MAC, IP and port, from our MAC, fc->addr (never the broadcast
 * address it was sent to) and port, with fresh IP and UDP checksums.
 * Returns the reply frame's length, never more than the request's (0 when
 * reply_len > d->len: a bug of the caller's, nothing is changed).
 */
size_t dp_frame_reply(const struct dp_frame_cfg *fc, uint8_t *frame, const struct dp_frame_dgram *d,
		      size_t reply_len);

/*
 * Writes the broadcast frame carrying payload (an ANNOUNCE or BYE of plen
 * bytes) into buf (cap bytes): to ff:ff:ff:ff:ff:ff and the subnet
 * broadcast (255.255.255.255 when there is none), from fc's MAC, address
 * and port to fc's port. Returns the frame length, or -ENOSPC.
 */
int dp_frame_announce(const struct dp_frame_cfg *fc, const uint8_t *payload, size_t plen,
		      uint8_t *buf, size_t cap);

/* The name of a kind ("dgram", "arp_reply", or a not-ours reason), "?" out of range. */
const char *dp_frame_kind_name(enum dp_frame_kind k);

/* The Internet checksum (RFC 1071) of n bytes, folded, not complemented, starting from sum. */
uint16_t dp_frame_csum(const void *data, size_t n, uint32_t sum);

#endif
