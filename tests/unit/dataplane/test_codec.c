/*
 * Unit tests for the discovery codec (dp_codec.h) and its HMAC trailer
 * (dp_auth.h) against ../shared/PROTOCOL.md: every field at its offset,
 * big-endian; round trips of every type with and without the trailer; every
 * rule that makes a datagram invalid; the in-place QUERY -> OFFER rewrite;
 * an HMAC known answer computed outside the codec; GUID text forms. Decoding
 * reads from the end of a page whose successor is unmapped, so a read past
 * len faults.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../guarded.h"
#include "dp_auth.h"
#include "dp_codec.h"

static const uint8_t GROUP[16] = {0x3f, 0x1a, 0x6c, 0x2e, 0x8b, 0x4d, 0x4e, 0x5f,
				  0x9a, 0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x5a, 0x6b};

static uint8_t key32[32];

static void setup_key(void)
{
	for (int i = 0; i < 32; i++)
		key32[i] = (uint8_t)i;
}

TestSuite(codec, .description = "PROTOCOL.md discovery datagrams", .init = setup_key);

/* dp_decode of len bytes copied to the end of a page followed by an unmapped one. */
static enum dp_drop decode_guarded(const uint8_t *buf, size_t len, struct dp_msg *out)
{
	struct guarded g = guard(buf, len);
	enum dp_drop r = dp_decode((const uint8_t *)g.buf, len, out);

	unguard(&g);
	return r;
}

static struct dp_msg sample_query(uint8_t flags)
{
	struct dp_msg m = {
		.hdr = {.type = DP_T_QUERY, .flags = flags, .txid = 0x0102030405060708ULL}};

	memcpy(m.body.query.group_id, GROUP, 16);
	for (int i = 0; i < 32; i++)
		m.body.query.content_id[i] = (uint8_t)(0xa0 + i);
	m.body.query.first_piece = 0x11223344;
	m.body.query.piece_count = 0x55667788;
	m.auth.key_id = 0x0a0b0c0d;
	m.auth.timestamp = 0x65000000;
	for (int i = 0; i < 20; i++)
		m.auth.nonce[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < 32; i++)
		m.auth.mac[i] = (uint8_t)(0xe0 + i);
	return m;
}

static struct dp_offer_fields sample_fields(void)
{
	struct dp_offer_fields f = {.have = 1,
				    .free_slots = 0xfe,
				    .port = 0x1f44,
				    .tls = 1,
				    .family = 6,
				    .object_size = 0x1122334455667788ULL,
				    .piece_size = 0x00100000,
				    .pieces_present = 0x0000abcd};

	for (int i = 0; i < 16; i++)
		f.address[i] = (uint8_t)(0x20 + i);
	return f;
}

static struct dp_msg sample_offer(uint8_t type, uint8_t flags)
{
	struct dp_msg q = sample_query(flags), m = {.hdr = q.hdr, .auth = q.auth};

	m.hdr.type = type;
	memcpy(m.body.offer.group_id, GROUP, 16);
	m.body.offer.f = sample_fields();
	if (type == DP_T_OFFER) {
		memcpy(m.body.offer.content_id, q.body.query.content_id, 32);
	} else {
		m.body.offer.f.have = 0;
		m.body.offer.f.object_size = 0;
		m.body.offer.f.piece_size = 0;
		m.body.offer.f.pieces_present = 0;
	}
	return m;
}

static size_t encode(const struct dp_msg *m, uint8_t *buf)
{
	int n = dp_encode(buf, 200, m);

	cr_assert(n == DP_LEN || n == DP_LEN_AUTH, "encode returned %d", n);
	return (size_t)n;
}

static void expect_bytes(const uint8_t *buf, size_t off, const char *hex)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
		cr_expect_eq(buf[off + i], v, "byte %zu: %02x, want %02x", off + i, buf[off + i],
			     v);
	}
}

static void expect_zero(const uint8_t *buf, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		cr_expect_eq(buf[i], 0, "byte %zu is %02x, want 0", i, buf[i]);
}

Test(codec, query_fields_at_offsets)
{
	struct dp_msg m = sample_query(DP_FLAG_AUTH);
	uint8_t buf[200];

	cr_assert_eq(encode(&m, buf), 176);
	expect_bytes(buf, 0, "43425844"); /* CBXD */
	expect_bytes(buf, 4, "01010100");
	expect_bytes(buf, 8, "0102030405060708");
	expect_bytes(buf, 16, "3f1a6c2e8b4d4e5f9a0b1c2d3e4f5a6b");
	expect_bytes(buf, 32, "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
	expect_bytes(buf, 64, "1122334455667788");
	expect_zero(buf, 72, 112);
	expect_bytes(buf, 112, "0a0b0c0d");
	expect_bytes(buf, 116, "0000000065000000");
	expect_bytes(buf, 124, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3");
	expect_bytes(buf, 144, "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
}

Test(codec, offer_fields_at_offsets)
{
	struct dp_msg m = sample_offer(DP_T_OFFER, 0);
	uint8_t buf[200];

	cr_assert_eq(encode(&m, buf), 112);
	expect_bytes(buf, 0, "4342584401020000");
	expect_bytes(buf, 8, "0102030405060708");
	expect_bytes(buf, 16, "3f1a6c2e8b4d4e5f9a0b1c2d3e4f5a6b");
	expect_bytes(buf, 32, "a0a1a2a3");
	expect_bytes(buf, 64, "01fe1f440106");
	expect_bytes(buf, 70, "202122232425262728292a2b2c2d2e2f");
	expect_bytes(buf, 86, "1122334455667788");
	expect_bytes(buf, 94, "00100000");
	expect_bytes(buf, 98, "0000abcd");
	expect_zero(buf, 102, 112);
}

Test(codec, announce_and_bye_ipv4_at_offsets)
{
	uint8_t types[] = {DP_T_ANNOUNCE, DP_T_BYE};

	for (size_t t = 0; t < 2; t++) {
		struct dp_msg m = sample_offer(types[t], 0);
		uint8_t buf[200];

		m.body.offer.f.family = 4;
		memset(m.body.offer.f.address, 0, 16);
		memcpy(m.body.offer.f.address, "\xc0\xa8\x01\x02", 4);
		cr_assert_eq(encode(&m, buf), 112);
		cr_expect_eq(buf[5], types[t]);
		expect_zero(buf, 32, 64);
		expect_bytes(buf, 64, "00fe1f440104c0a80102");
		expect_zero(buf, 74, 112);
	}
}

static void round_trip(const struct dp_msg *m)
{
	uint8_t buf[200], again[200];
	struct dp_msg d;
	size_t n = encode(m, buf);

	cr_assert_eq(decode_guarded(buf, n, &d), DP_DROP_NONE, "type %u flags %u", m->hdr.type,
		     m->hdr.flags);
	cr_assert_eq(d.hdr.type, m->hdr.type);
	cr_assert_eq(d.hdr.flags, m->hdr.flags);
	cr_assert_eq(d.hdr.txid, m->hdr.txid);
	if (m->hdr.type == DP_T_QUERY)
		cr_assert(memcmp(&d.body.query, &m->body.query, sizeof(d.body.query)) == 0);
	else
		cr_assert(memcmp(&d.body.offer, &m->body.offer, sizeof(d.body.offer)) == 0);
	if (m->hdr.flags & DP_FLAG_AUTH)
		cr_assert(memcmp(&d.auth, &m->auth, sizeof(d.auth)) == 0);
	cr_assert_eq(encode(&d, again), n);
	cr_assert(memcmp(buf, again, n) == 0);
}

Test(codec, round_trips)
{
	for (uint8_t flags = 0; flags <= DP_FLAG_AUTH; flags++) {
		struct dp_msg m = sample_query(flags);

		round_trip(&m);
		for (uint8_t t = DP_T_OFFER; t <= DP_T_BYE; t++) {
			m = sample_offer(t, flags);
			round_trip(&m);
		}
		/* "is there a box?": zero content, have 0 */
		m = sample_offer(DP_T_OFFER, flags);
		memset(m.body.offer.content_id, 0, 32);
		m.body.offer.f.have = 0;
		m.body.offer.f.object_size = m.body.offer.f.piece_size = 0;
		m.body.offer.f.pieces_present = 0;
		round_trip(&m);
	}
}

/* A valid datagram of each type and length, for the invalid cases to damage. */
static size_t valid_sample(int i, uint8_t *buf)
{
	uint8_t flags = (uint8_t)(i & 1), type = (uint8_t)(DP_T_QUERY + i / 2);
	struct dp_msg m = type == DP_T_QUERY ? sample_query(flags) : sample_offer(type, flags);

	return encode(&m, buf);
}

static void expect_invalid(const uint8_t *buf, size_t len, const char *what, size_t at)
{
	struct dp_msg d;

	memset(&d, 0xaa, sizeof(d));
	cr_expect_eq(decode_guarded(buf, len, &d), DP_DROP_INVALID, "%s (%zu) decoded", what, at);
	cr_expect_eq(d.hdr.txid, 0, "%s: out not zeroed", what);
}

Test(codec, every_other_length_is_invalid)
{
	uint8_t buf[256];

	for (int s = 0; s < 8; s++) {
		memset(buf, 0, sizeof(buf));
		valid_sample(s, buf);
		for (size_t len = 0; len <= 200; len++)
			if (len != 112 && len != 176)
				expect_invalid(buf, len, "length", len);
	}
}

Test(codec, magic_version_type_reserved)
{
	uint8_t buf[200];

	for (int s = 0; s < 8; s++) {
		size_t n = valid_sample(s, buf);

		for (size_t at = 0; at < 4; at++)
			for (int v = 0; v < 256; v++) {
				uint8_t keep = buf[at];

				if (v == keep)
					continue;
				buf[at] = (uint8_t)v;
				expect_invalid(buf, n, "magic byte", at);
				buf[at] = keep;
			}
		for (int v = 0; v < 256; v++) {
			uint8_t keep = buf[4], type = buf[5];

			if (v != 1) {
				buf[4] = (uint8_t)v;
				expect_invalid(buf, n, "version", (size_t)v);
				buf[4] = keep;
			}
			if (v == 0 || v > 4) {
				buf[5] = (uint8_t)v;
				expect_invalid(buf, n, "type", (size_t)v);
				buf[5] = type;
			}
			if (v) {
				buf[7] = (uint8_t)v;
				expect_invalid(buf, n, "reserved", (size_t)v);
				buf[7] = 0;
			}
		}
	}
}

Test(codec, flags)
{
	uint8_t buf[200];

	for (int s = 0; s < 8; s++) {
		size_t n = valid_sample(s, buf);

		for (int bit = 1; bit < 8; bit++) {
			buf[6] ^= (uint8_t)(1 << bit);
			expect_invalid(buf, n, "flag bit", (size_t)bit);
			buf[6] ^= (uint8_t)(1 << bit);
		}
		/* AUTH inconsistent with the length */
		buf[6] ^= DP_FLAG_AUTH;
		expect_invalid(buf, n, "AUTH vs length", n);
		buf[6] ^= DP_FLAG_AUTH;
	}
	/* a 112-byte datagram followed by 64 bytes without the flag; a 176 one cut to 112 */
	valid_sample(0, buf);
	expect_invalid(buf, 176, "trailer without AUTH", 176);
	valid_sample(1, buf);
	expect_invalid(buf, 112, "AUTH without trailer", 112);
}

Test(codec, every_padding_byte)
{
	uint8_t buf[200];

	for (int s = 0; s < 8; s++) {
		size_t n = valid_sample(s, buf), from = s < 2 ? 72 : 102;

		for (size_t at = from; at < 112; at++) {
			buf[at] = 0x01;
			expect_invalid(buf, n, "padding", at);
			buf[at] = 0x80;
			expect_invalid(buf, n, "padding", at);
			buf[at] = 0;
		}
	}
}

static void expect_offer_invalid(struct dp_msg *m, const char *what)
{
	uint8_t buf[200];
	struct dp_msg good = sample_offer(m->hdr.type, m->hdr.flags);
	size_t n = encode(&good, buf);

	cr_expect_eq(dp_encode(buf, sizeof(buf), m), -EINVAL, "encoder took %s", what);
	/* the same damage written into valid bytes: the decoder refuses it too */
	buf[64] = m->body.offer.f.have;
	buf[68] = m->body.offer.f.tls;
	buf[69] = m->body.offer.f.family;
	memcpy(buf + 70, m->body.offer.f.address, 16);
	memcpy(buf + 32, m->body.offer.content_id, 32);
	if (m->body.offer.f.object_size == 0) /* sizes: only a zeroing damage is written */
		memset(buf + 86, 0, 8);
	buf[94] = (uint8_t)(m->body.offer.f.piece_size >> 24);
	buf[101] = (uint8_t)m->body.offer.f.pieces_present;
	expect_invalid(buf, n, what, 0);
}

Test(codec, offer_field_rules)
{
	for (uint8_t t = DP_T_OFFER; t <= DP_T_BYE; t++) {
		struct dp_msg m = sample_offer(t, 0);

		m.body.offer.f.have = 3;
		expect_offer_invalid(&m, "have 3");
		m = sample_offer(t, 0);
		m.body.offer.f.tls = 2;
		expect_offer_invalid(&m, "tls 2");
		uint8_t families[] = {0, 5, 44, 255};
		for (size_t i = 0; i < sizeof(families); i++) {
			m = sample_offer(t, 0);
			m.body.offer.f.family = families[i];
			expect_offer_invalid(&m, "family");
		}
		for (int at = 4; at < 16; at++) {
			m = sample_offer(t, 0);
			m.body.offer.f.family = 4;
			memset(m.body.offer.f.address, 0, 16);
			m.body.offer.f.address[at] = 1;
			expect_offer_invalid(&m, "ipv4 tail");
		}
	}
	/* have 0 says nothing is held */
	struct dp_msg m = sample_offer(DP_T_OFFER, 0);
	m.body.offer.f.have = 0;
	m.body.offer.f.object_size = 0;
	m.body.offer.f.pieces_present = 0;
	expect_offer_invalid(&m, "have 0 with a piece size");
	m.body.offer.f.piece_size = 0;
	m.body.offer.f.pieces_present = 5;
	expect_offer_invalid(&m, "have 0 with pieces present");
	/* a zero content_id has nothing */
	m = sample_offer(DP_T_OFFER, 0);
	memset(m.body.offer.content_id, 0, 32);
	expect_offer_invalid(&m, "zero content with have 1");
	/* ANNOUNCE and BYE carry no content_id */
	for (uint8_t t = DP_T_ANNOUNCE; t <= DP_T_BYE; t++) {
		m = sample_offer(t, 0);
		m.body.offer.content_id[31] = 1;
		expect_offer_invalid(&m, "content in announce/bye");
	}
}

Test(codec, encoder_refuses)
{
	uint8_t buf[200];
	struct dp_msg m = sample_query(0);
	struct dp_offer o = sample_offer(DP_T_OFFER, 0).body.offer;

	cr_expect_eq(dp_encode(buf, 111, &m), -ENOSPC);
	m.hdr.flags = DP_FLAG_AUTH;
	cr_expect_eq(dp_encode(buf, 175, &m), -ENOSPC);
	cr_expect_eq(dp_encode(buf, 176, &m), 176);
	m.hdr.flags = 2;
	cr_expect_eq(dp_encode(buf, sizeof(buf), &m), -EINVAL);
	m.hdr.flags = 0;
	m.hdr.type = 0;
	cr_expect_eq(dp_encode(buf, sizeof(buf), &m), -EINVAL);
	m.hdr.type = 5;
	cr_expect_eq(dp_encode(buf, sizeof(buf), &m), -EINVAL);
	m.hdr.type = DP_T_OFFER;
	cr_expect_eq(dp_encode_query(buf, sizeof(buf), &m.hdr, &m.body.query), -EINVAL);
	cr_expect_eq(dp_encode_offer(buf, sizeof(buf), &m.hdr, &o), 112);
	m.hdr.type = DP_T_QUERY;
	cr_expect_eq(dp_encode_offer(buf, sizeof(buf), &m.hdr, &o), -EINVAL);
	cr_expect_eq(dp_encode_query(buf, sizeof(buf), &m.hdr, &m.body.query), 112);
	cr_expect_eq(dp_msg_len(0), 112);
	cr_expect_eq(dp_msg_len(1), 176);
	cr_expect_eq(dp_msg_len(0x81), 0);
}

Test(codec, offer_in_place)
{
	for (uint8_t flags = 0; flags <= DP_FLAG_AUTH; flags++) {
		struct dp_msg q = sample_query(flags), d;
		struct dp_offer_fields f = sample_fields();
		uint8_t buf[200];
		size_t n = encode(&q, buf);

		cr_assert_eq(dp_offer_in_place(buf, n, &f), (int)n);
		cr_assert_eq(decode_guarded(buf, n, &d), DP_DROP_NONE);
		cr_expect_eq(d.hdr.type, DP_T_OFFER);
		cr_expect_eq(d.hdr.flags, flags);
		cr_expect_eq(d.hdr.txid, q.hdr.txid);
		cr_expect(memcmp(d.body.offer.group_id, q.body.query.group_id, 16) == 0);
		cr_expect(memcmp(d.body.offer.content_id, q.body.query.content_id, 32) == 0);
		cr_expect(memcmp(&d.body.offer.f, &f, sizeof(f)) == 0);
		if (flags) {
			uint8_t nonce[20] = {9};

			/* key_id kept; the client's timestamp, nonce and MAC are gone */
			cr_expect_eq(d.auth.key_id, q.auth.key_id);
			expect_zero(buf, 116, 176);
			cr_assert_eq(dp_auth_sign(buf, n, key32, 32, d.auth.key_id, 77, nonce), 0);
			cr_expect_eq(dp_auth_verify(buf, n, key32, 32), 0);
		}
		/* the offer is not a query any more, and can't be rewritten again */
		cr_expect_eq(dp_offer_in_place(buf, n, &f), -EINVAL);
	}
}

Test(codec, offer_in_place_refuses)
{
	struct dp_msg q = sample_query(0);
	struct dp_offer_fields f = sample_fields();
	uint8_t buf[200], copy[200];
	size_t n = encode(&q, buf);

	memcpy(copy, buf, sizeof(buf));
	cr_expect_eq(dp_offer_in_place(buf, 111, &f), -EINVAL);
	cr_expect_eq(dp_offer_in_place(buf, 176, &f), -EINVAL);
	f.family = 5;
	cr_expect_eq(dp_offer_in_place(buf, n, &f), -EINVAL);
	f = sample_fields();
	f.have = 3;
	cr_expect_eq(dp_offer_in_place(buf, n, &f), -EINVAL);
	/* "is there a box?" cannot be answered with have > 0 */
	memset(buf + 32, 0, 32);
	memset(copy + 32, 0, 32);
	f.have = 1;
	cr_expect_eq(dp_offer_in_place(buf, n, &f), -EINVAL);
	cr_expect(memcmp(buf, copy, sizeof(buf)) == 0, "a refused rewrite changed the buffer");
	f = (struct dp_offer_fields){.family = 4, .free_slots = 3, .port = 8080};
	cr_expect_eq(dp_offer_in_place(buf, n, &f), (int)n);
}

Test(codec, drop_reason_names)
{
	const char *want[] = {"none",  "invalid", "wrong_group",  "unauthenticated", "bad_mac",
			      "stale", "replay",  "rate_limited", "bad_source"};

	cr_assert_eq(DP_DROP_COUNT, sizeof(want) / sizeof(want[0]));
	for (int r = 0; r < DP_DROP_COUNT; r++)
		cr_expect_str_eq(dp_drop_name((enum dp_drop)r), want[r]);
	cr_expect_str_eq(dp_drop_name(DP_DROP_COUNT), "?");
	cr_expect_str_eq(dp_drop_name((enum dp_drop) - 1), "?");
}

/*
 * Known answer. The 144 bytes are sample_query(DP_FLAG_AUTH) written out by
 * hand from PROTOCOL.md's tables (python3 struct.pack, not this codec), with
 * key_id 0x0a0b0c0d, timestamp 0x65000000 and nonce c0..d3; the MAC came from
 *   openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f kat.bin
 */
Test(codec, hmac_known_answer)
{
	struct dp_msg m = sample_query(DP_FLAG_AUTH);
	uint8_t buf[200];

	encode(&m, buf);
	cr_assert_eq(
		dp_auth_sign(buf, 176, key32, 32, m.auth.key_id, m.auth.timestamp, m.auth.nonce),
		0);
	expect_bytes(buf, 144, "043553e3b2a61dcdc53a20c1ba00b5c99eec82510240cc633f8b882f276b81fc");
	cr_expect_eq(dp_auth_verify(buf, 176, key32, 32), 0);
}

Test(codec, hmac_every_bit_and_key)
{
	struct dp_msg m = sample_query(DP_FLAG_AUTH);
	uint8_t buf[200], other[32];

	encode(&m, buf);
	cr_assert_eq(dp_auth_sign(buf, 176, key32, 32, 1, 2, m.auth.nonce), 0);
	for (size_t bit = 0; bit < 176 * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1 << bit % 8);
		cr_expect_neq(dp_auth_verify(buf, 176, key32, 32), 0, "bit %zu", bit);
		buf[bit / 8] ^= (uint8_t)(1 << bit % 8);
	}
	cr_expect_eq(dp_auth_verify(buf, 176, key32, 32), 0);
	memcpy(other, key32, 32);
	other[31] ^= 1;
	cr_expect_eq(dp_auth_verify(buf, 176, other, 32), -EBADMSG);
	cr_expect_eq(dp_auth_verify(buf, 176, key32, 31), -EBADMSG);
	cr_expect_eq(dp_auth_verify(buf, 176, key32, 0), -EINVAL);
	cr_expect_eq(dp_auth_verify(buf, 112, key32, 32), -EINVAL);
	buf[6] = 0;
	cr_expect_eq(dp_auth_verify(buf, 176, key32, 32), -EINVAL);
	cr_expect_eq(dp_auth_sign(buf, 176, key32, 32, 1, 2, m.auth.nonce), -EINVAL);
	buf[6] = DP_FLAG_AUTH;
	cr_expect_eq(dp_auth_sign(buf, 112, key32, 32, 1, 2, m.auth.nonce), -EINVAL);
}

Test(codec, guid_parse_and_format)
{
	const char *good[] = {
		"3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b", "{3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b}",
		"3F1A6C2E-8B4D-4E5F-9A0B-1C2D3E4F5A6B", "{3f1A6c2E-8b4D-4e5F-9a0B-1c2D3e4F5a6B}"};
	const char *bad[] = {"",
			     "{}",
			     "3f1a6c2e8b4d4e5f9a0b1c2d3e4f5a6b",
			     "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6",
			     "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b0",
			     "{3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
			     "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b}",
			     "(3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b)",
			     "3f1a6c2e-8b4d-4e5f-9a0b1-c2d3e4f5a6b",
			     "3f1a6c2e_8b4d-4e5f-9a0b-1c2d3e4f5a6b",
			     "3f1a6c2g-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
			     "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6 ",
			     " 3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
			     "{{3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b}}"};
	uint8_t g[16];
	char text[DP_GUID_TEXT];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(g, 0, sizeof(g));
		cr_assert_eq(dp_guid_parse(good[i], g), 0, "%s", good[i]);
		cr_expect(memcmp(g, GROUP, 16) == 0, "%s", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(g, 0x55, sizeof(g));
		cr_expect_eq(dp_guid_parse(bad[i], g), -EINVAL, "'%s' parsed", bad[i]);
		cr_expect_eq(g[0], 0x55, "'%s' changed out", bad[i]);
	}
	dp_guid_format(GROUP, text);
	cr_expect_str_eq(text, "3f1a6c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b");
	memset(g, 0, 16);
	dp_guid_format(g, text);
	cr_expect_str_eq(text, "00000000-0000-0000-0000-000000000000");
	memset(g, 0xff, 16);
	dp_guid_format(g, text);
	cr_assert_eq(dp_guid_parse(text, g + 0), 0);
	cr_expect_str_eq(text, "ffffffff-ffff-ffff-ffff-ffffffffffff");
}
