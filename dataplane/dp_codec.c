/*
 * The discovery codec (dp_codec.h): validation, decoding and encoding of
 * PROTOCOL.md's datagrams, and the in-place QUERY -> OFFER rewrite the DPDK
 * backend uses. Every field is read and written with explicit big-endian
 * byte shifts at its PROTOCOL.md offset (no packed struct is cast over the
 * buffer), and the encoder runs the decoder's field rules, so whatever
 * decodes re-encodes to the same bytes and nothing is encoded that a peer
 * would drop as invalid. docs/protocol.md lists what "invalid" covers.
 */
#include <errno.h>
#include <string.h>

#include "cb_common.h"
#include "dp_codec.h"

/* Offsets of PROTOCOL.md "Layout". */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_TYPE = 5,
	OFF_FLAGS = 6,
	OFF_RESERVED = 7,
	OFF_TXID = 8,
	OFF_GROUP = 16,
	OFF_CONTENT = 32,
	/* QUERY */
	OFF_FIRST = 64,
	OFF_COUNT = 68,
	OFF_QPAD = 72,
	/* OFFER, ANNOUNCE, BYE */
	OFF_HAVE = 64,
	OFF_SLOTS = 65,
	OFF_PORT = 66,
	OFF_TLS = 68,
	OFF_FAMILY = 69,
	OFF_ADDR = 70,
	OFF_SIZE = 86,
	OFF_PSIZE = 94,
	OFF_PRESENT = 98,
	OFF_OPAD = 102,
	/* trailer */
	OFF_KEY_ID = 112,
	OFF_TIME = 116,
	OFF_NONCE = 124,
};

static const char *const drop_names[DP_DROP_COUNT] = {[DP_DROP_NONE] = "none",
#define DP_DROP_NAME(id, name) [DP_DROP_##id] = name,
						      DP_DROP_TABLE(DP_DROP_NAME)
#undef DP_DROP_NAME
};

const char *dp_drop_name(enum dp_drop reason)
{
	if ((unsigned)reason >= DP_DROP_COUNT)
		return "?";
	return drop_names[reason];
}

size_t dp_msg_len(uint8_t flags)
{
	if (flags & ~DP_FLAG_AUTH)
		return 0;
	return flags & DP_FLAG_AUTH ? DP_LEN_AUTH : DP_LEN;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/*
 * The field rules of the OFFER/ANNOUNCE/BYE body beyond padding, shared by
 * the decoder and the encoders (docs/protocol.md "What invalid covers"):
 * have 0..2, tls 0/1, family 4 or 6 with an IPv4 address's 12 trailing bytes
 * zero, nothing held (sizes and count 0) when have = 0, have = 0 for a zero
 * content_id, and a zero content_id in ANNOUNCE and BYE.
 */
static bool offer_fields_valid(uint8_t type, const uint8_t content_id[DP_CONTENT_LEN],
			       const struct dp_offer_fields *f)
{
	bool no_content = all_zero(content_id, DP_CONTENT_LEN);

	if (f->have > 2 || f->tls > 1)
		return false;
	if (f->family == 4) {
		if (!all_zero(f->address + 4, DP_ADDR_LEN - 4))
			return false;
	} else if (f->family != 6) {
		return false;
	}
	if (f->have == 0 && (f->object_size || f->piece_size || f->pieces_present))
		return false;
	if (no_content && f->have != 0)
		return false;
	if ((type == DP_T_ANNOUNCE || type == DP_T_BYE) && !no_content)
		return false;
	return true;
}

static void offer_fields_get(const uint8_t *buf, struct dp_offer_fields *f)
{
	f->have = buf[OFF_HAVE];
	f->free_slots = buf[OFF_SLOTS];
	f->port = get16(buf + OFF_PORT);
	f->tls = buf[OFF_TLS];
	f->family = buf[OFF_FAMILY];
	memcpy(f->address, buf + OFF_ADDR, DP_ADDR_LEN);
	f->object_size = get64(buf + OFF_SIZE);
	f->piece_size = get32(buf + OFF_PSIZE);
	f->pieces_present = get32(buf + OFF_PRESENT);
}

static void offer_fields_put(uint8_t *buf, const struct dp_offer_fields *f)
{
	buf[OFF_HAVE] = f->have;
	buf[OFF_SLOTS] = f->free_slots;
	put16(buf + OFF_PORT, f->port);
	buf[OFF_TLS] = f->tls;
	buf[OFF_FAMILY] = f->family;
	memcpy(buf + OFF_ADDR, f->address, DP_ADDR_LEN);
	put64(buf + OFF_SIZE, f->object_size);
	put32(buf + OFF_PSIZE, f->piece_size);
	put32(buf + OFF_PRESENT, f->pieces_present);
	memset(buf + OFF_OPAD, 0, DP_LEN - OFF_OPAD);
}

/* PROTOCOL.md rule 1 and the header table: length, magic, version, type, flags, reserved. */
static bool header_valid(const uint8_t *buf, size_t len)
{
	if (len != DP_LEN && len != DP_LEN_AUTH)
		return false;
	if (memcmp(buf + OFF_MAGIC, DP_MAGIC, 4) != 0 || buf[OFF_VERSION] != DP_VERSION)
		return false;
	if (buf[OFF_TYPE] < DP_T_QUERY || buf[OFF_TYPE] > DP_T_BYE)
		return false;
	/* an unknown flag bit gives 0; AUTH must agree with the length */
	if (dp_msg_len(buf[OFF_FLAGS]) != len)
		return false;
	return buf[OFF_RESERVED] == 0;
}

enum dp_drop dp_decode(const uint8_t *buf, size_t len, struct dp_msg *out)
{
	memset(out, 0, sizeof(*out));
	if (!header_valid(buf, len))
		return DP_DROP_INVALID;
	out->hdr.type = buf[OFF_TYPE];
	out->hdr.flags = buf[OFF_FLAGS];
	out->hdr.txid = get64(buf + OFF_TXID);
	if (out->hdr.type == DP_T_QUERY) {
		struct dp_query *q = &out->body.query;

		if (!all_zero(buf + OFF_QPAD, DP_LEN - OFF_QPAD))
			goto invalid;
		memcpy(q->group_id, buf + OFF_GROUP, DP_GUID_LEN);
		memcpy(q->content_id, buf + OFF_CONTENT, DP_CONTENT_LEN);
		q->first_piece = get32(buf + OFF_FIRST);
		q->piece_count = get32(buf + OFF_COUNT);
	} else {
		struct dp_offer *o = &out->body.offer;

		if (!all_zero(buf + OFF_OPAD, DP_LEN - OFF_OPAD))
			goto invalid;
		memcpy(o->group_id, buf + OFF_GROUP, DP_GUID_LEN);
		memcpy(o->content_id, buf + OFF_CONTENT, DP_CONTENT_LEN);
		offer_fields_get(buf, &o->f);
		if (!offer_fields_valid(out->hdr.type, o->content_id, &o->f))
			goto invalid;
	}
	if (out->hdr.flags & DP_FLAG_AUTH) {
		out->auth.key_id = get32(buf + OFF_KEY_ID);
		out->auth.timestamp = get64(buf + OFF_TIME);
		memcpy(out->auth.nonce, buf + OFF_NONCE, DP_NONCE_LEN);
		memcpy(out->auth.mac, buf + DP_MAC_OFF, DP_MAC_LEN);
	}
	return DP_DROP_NONE;
invalid:
	memset(out, 0, sizeof(*out));
	return DP_DROP_INVALID;
}

static bool msg_valid(const struct dp_msg *m)
{
	if (dp_msg_len(m->hdr.flags) == 0)
		return false;
	switch (m->hdr.type) {
	case DP_T_QUERY:
		return true;
	case DP_T_OFFER:
	case DP_T_ANNOUNCE:
	case DP_T_BYE:
		return offer_fields_valid(m->hdr.type, m->body.offer.content_id, &m->body.offer.f);
	default:
		return false;
	}
}

int dp_encode(uint8_t *buf, size_t cap, const struct dp_msg *m)
{
	size_t len = dp_msg_len(m->hdr.flags);

	if (!msg_valid(m))
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	memcpy(buf + OFF_MAGIC, DP_MAGIC, 4);
	buf[OFF_VERSION] = DP_VERSION;
	buf[OFF_TYPE] = m->hdr.type;
	buf[OFF_FLAGS] = m->hdr.flags;
	buf[OFF_RESERVED] = 0;
	put64(buf + OFF_TXID, m->hdr.txid);
	if (m->hdr.type == DP_T_QUERY) {
		const struct dp_query *q = &m->body.query;

		memcpy(buf + OFF_GROUP, q->group_id, DP_GUID_LEN);
		memcpy(buf + OFF_CONTENT, q->content_id, DP_CONTENT_LEN);
		put32(buf + OFF_FIRST, q->first_piece);
		put32(buf + OFF_COUNT, q->piece_count);
		memset(buf + OFF_QPAD, 0, DP_LEN - OFF_QPAD);
	} else {
		const struct dp_offer *o = &m->body.offer;

		memcpy(buf + OFF_GROUP, o->group_id, DP_GUID_LEN);
		memcpy(buf + OFF_CONTENT, o->content_id, DP_CONTENT_LEN);
		offer_fields_put(buf, &o->f);
	}
	if (m->hdr.flags & DP_FLAG_AUTH) {
		put32(buf + OFF_KEY_ID, m->auth.key_id);
		put64(buf + OFF_TIME, m->auth.timestamp);
		memcpy(buf + OFF_NONCE, m->auth.nonce, DP_NONCE_LEN);
		memcpy(buf + DP_MAC_OFF, m->auth.mac, DP_MAC_LEN);
	}
	return (int)len;
}

int dp_encode_query(uint8_t *buf, size_t cap, const struct dp_hdr *hdr, const struct dp_query *q)
{
	struct dp_msg m = {.hdr = *hdr, .body.query = *q};

	if (hdr->type != DP_T_QUERY)
		return -EINVAL;
	return dp_encode(buf, cap, &m);
}

int dp_encode_offer(uint8_t *buf, size_t cap, const struct dp_hdr *hdr, const struct dp_offer *o)
{
	struct dp_msg m = {.hdr = *hdr, .body.offer = *o};

	if (hdr->type == DP_T_QUERY)
		return -EINVAL;
	return dp_encode(buf, cap, &m);
}

int dp_offer_in_place(uint8_t *buf, size_t len, const struct dp_offer_fields *f)
{
	if (!header_valid(buf, len) || buf[OFF_TYPE] != DP_T_QUERY)
		return -EINVAL;
	if (!offer_fields_valid(DP_T_OFFER, buf + OFF_CONTENT, f))
		return -EINVAL;
	buf[OFF_TYPE] = DP_T_OFFER;
	offer_fields_put(buf, f);
	if (len == DP_LEN_AUTH)
		memset(buf + OFF_TIME, 0, DP_LEN_AUTH - OFF_TIME);
	return (int)len;
}

int dp_guid_parse(const char *s, uint8_t out[DP_GUID_LEN])
{
	uint8_t g[DP_GUID_LEN];
	size_t n = strlen(s), k = 0;

	if (n == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		n = 36;
	}
	if (n != 36)
		return -EINVAL;
	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < 36; i++) {
		int d;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		d = cb_hex_digit(s[i]);
		if (d < 0)
			return -EINVAL;
		/* digits fill the bytes in text order, high nibble first */
		g[k / 2] |= (uint8_t)(k % 2 ? d : d << 4);
		k++;
	}
	CB_ASSERT(k == 2 * DP_GUID_LEN);
	memcpy(out, g, DP_GUID_LEN);
	return 0;
}

void dp_guid_format(const uint8_t g[DP_GUID_LEN], char out[DP_GUID_TEXT])
{
	static const uint8_t groups[] = {4, 2, 2, 2, 6};
	size_t at = 0;

	for (size_t i = 0; i < CB_ARRAY_SIZE(groups); i++) {
		if (i)
			*out++ = '-';
		cb_hex_encode(g + at, groups[i], out);
		out += 2 * groups[i];
		at += groups[i];
	}
	*out = '\0';
}
