/*
 * The discovery codec: the one place that turns the bytes of a UDP 8004
 * datagram (../shared/PROTOCOL.md, fixed byte for byte) into host-order
 * structs and back. Plain C on caller buffers, no rte_* include, no
 * allocation, no I/O, so that the DPDK backend, the socket backend and the
 * client all produce and accept exactly the same bytes. The codec decides
 * only whether a datagram is well formed ("invalid"); the other drop reasons
 * of the table below are decided by the dataplane's guards (group, keys,
 * replay, rate, sources), which share the table so that every counter has
 * one name. The HMAC trailer is signed and checked by dp_auth.h.
 */
#ifndef DP_CODEC_H
#define DP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_MAGIC       "CBXD"
#define DP_VERSION     1
#define DP_LEN	       112 /* header + body */
#define DP_LEN_AUTH    176 /* header + body + authentication trailer */
#define DP_FLAG_AUTH   0x01
#define DP_GUID_LEN    16
#define DP_CONTENT_LEN 32
#define DP_ADDR_LEN    16
#define DP_NONCE_LEN   20
#define DP_MAC_LEN     32
#define DP_MAC_OFF     144 /* the MAC covers bytes 0..143 */
#define DP_TRAILER_OFF 112
#define DP_GUID_TEXT   37 /* 36 characters and a NUL */

enum dp_type {
	DP_T_QUERY = 1,
	DP_T_OFFER = 2,
	DP_T_ANNOUNCE = 3,
	DP_T_BYE = 4,
};

/*
 * Why a datagram gets silence: one table for the enum, the counter names
 * (stats, /metrics) and dp_drop_name(). DP_DROP_NONE (0) is "accepted".
 */
#define DP_DROP_TABLE(X)                                                                           \
	X(INVALID, "invalid")                                                                      \
	X(WRONG_GROUP, "wrong_group")                                                              \
	X(UNAUTHENTICATED, "unauthenticated")                                                      \
	X(BAD_MAC, "bad_mac")                                                                      \
	X(STALE, "stale")                                                                          \
	X(REPLAY, "replay")                                                                        \
	X(RATE_LIMITED, "rate_limited")                                                            \
	X(BAD_SOURCE, "bad_source")

enum dp_drop {
	DP_DROP_NONE = 0,
#define DP_DROP_ENUM(id, name) DP_DROP_##id,
	DP_DROP_TABLE(DP_DROP_ENUM)
#undef DP_DROP_ENUM
		DP_DROP_COUNT
};

/* Header fields; magic, version and reserved are implied. flags decides the length. */
struct dp_hdr {
	uint8_t type;  /* enum dp_type */
	uint8_t flags; /* DP_FLAG_AUTH or 0 */
	uint64_t txid;
};

struct dp_query {
	uint8_t group_id[DP_GUID_LEN];
	uint8_t content_id[DP_CONTENT_LEN];
	uint32_t first_piece;
	uint32_t piece_count;
};

/* What a box says about itself and the object: the OFFER/ANNOUNCE/BYE body past the ids. */
struct dp_offer_fields {
	uint8_t have; /* 0 none, 1 some, 2 all */
	uint8_t free_slots;
	uint16_t port;
	uint8_t tls;	/* 0 or 1 */
	uint8_t family; /* 4 or 6 */
	uint8_t address[DP_ADDR_LEN];
	uint64_t object_size;
	uint32_t piece_size;
	uint32_t pieces_present;
};

/* OFFER, ANNOUNCE and BYE body. */
struct dp_offer {
	uint8_t group_id[DP_GUID_LEN];
	uint8_t content_id[DP_CONTENT_LEN];
	struct dp_offer_fields f;
};

struct dp_auth {
	uint32_t key_id;
	uint64_t timestamp;
	uint8_t nonce[DP_NONCE_LEN];
	uint8_t mac[DP_MAC_LEN];
};

struct dp_msg {
	struct dp_hdr hdr;
	union {
		struct dp_query query; /* hdr.type == DP_T_QUERY */
		struct dp_offer offer; /* OFFER, ANNOUNCE, BYE */
	} body;
	struct dp_auth auth; /* meaningful when hdr.flags & DP_FLAG_AUTH */
};

/* The counter name of a reason ("invalid", ...), "none" for DP_DROP_NONE, "?" out of range. */
const char *dp_drop_name(enum dp_drop reason);

/* DP_LEN or DP_LEN_AUTH for the flags, 0 when they hold an unknown bit. */
size_t dp_msg_len(uint8_t flags);

/*
 * Decodes and validates one datagram of len bytes. Returns DP_DROP_NONE with
 * *out filled, or DP_DROP_INVALID (the only reason the codec decides) with
 * *out zeroed. Reads at most len bytes of buf. The MAC is not checked here
 * (dp_auth_verify needs the key).
 */
enum dp_drop dp_decode(const uint8_t *buf, size_t len, struct dp_msg *out);

/*
 * Writes the datagram of m into buf (cap bytes): exactly DP_LEN bytes, or
 * DP_LEN_AUTH when m->hdr.flags has DP_FLAG_AUTH (the trailer is copied from
 * m->auth; dp_auth_sign then fills it). Returns the length, -ENOSPC when cap
 * is too small, -EINVAL when m would not decode (bad type, flags or field).
 */
int dp_encode(uint8_t *buf, size_t cap, const struct dp_msg *m);
/* dp_encode() of a QUERY / of an OFFER, ANNOUNCE or BYE (type from hdr, which must match). */
int dp_encode_query(uint8_t *buf, size_t cap, const struct dp_hdr *hdr, const struct dp_query *q);
int dp_encode_offer(uint8_t *buf, size_t cap, const struct dp_hdr *hdr, const struct dp_offer *o);

/*
 * Turns the QUERY datagram in buf (len bytes, as accepted by dp_decode) into
 * its OFFER, in place: same length, flags and txid, the QUERY's group_id and
 * content_id kept, bytes 64..111 replaced by f. With AUTH the key_id is kept
 * and timestamp, nonce and MAC are zeroed: the caller must dp_auth_sign().
 * Returns len (a reply is never larger than its request), or -EINVAL when
 * buf is not a QUERY of a valid length or f would not decode (buf unchanged).
 */
int dp_offer_in_place(uint8_t *buf, size_t len, const struct dp_offer_fields *f);

/*
 * A GUID in its 8-4-4-4-12 text form, with or without braces, either case,
 * to its 16 bytes in text order. 0 or -EINVAL (out unchanged).
 */
int dp_guid_parse(const char *s, uint8_t out[DP_GUID_LEN]);
/* The bare, lower-case text form of a GUID: 36 characters and a NUL. */
void dp_guid_format(const uint8_t g[DP_GUID_LEN], char out[DP_GUID_TEXT]);

#endif
