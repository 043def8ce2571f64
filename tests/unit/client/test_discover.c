/*
 * Unit tests of the client's discovery (client/cf_disc_offer.c): the QUERY
 * it sends, the judgement of OFFERs built by the dataplane's own encoder and
 * signer (dp_codec, dp_auth), PROTOCOL.md's ranking, deduplication, the
 * cache hosts made from OFFERs, and the target and group parsers.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cf_discover.h"
#include "dp_auth.h"

#define NOW 1790000000ull

static const uint8_t nonce[DP_NONCE_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static struct dp_key key_of(uint32_t id, uint8_t seed)
{
	struct dp_key k = {.id = id, .len = 32};

	for (int i = 0; i < 32; i++)
		k.bytes[i] = (uint8_t)(seed + i);
	return k;
}

static struct cf_disc_query query_of(const struct dp_key *key)
{
	struct cf_disc_query q = {.txid = 0x0123456789abcdefull, .key = key};

	for (int i = 0; i < DP_GUID_LEN; i++)
		q.group[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < DP_CONTENT_LEN; i++)
		q.id[i] = (uint8_t)(0x10 + i);
	return q;
}

/* A box's fields: IPv4 10.0.0.<last>:8003 holding the whole object (5 pieces), 3 free slots. */
static struct dp_offer_fields fields(uint8_t last)
{
	struct dp_offer_fields f = {.have = 2, .free_slots = 3, .port = 8003, .family = 4};

	f.address[0] = 10;
	f.address[3] = last;
	f.object_size = 5 * 65536 - 10;
	f.piece_size = 65536;
	f.pieces_present = 5;
	return f;
}

/*
 * The OFFER a box would send for q: the dataplane's encoder, signed with
 * key (id, bytes) at ts when key is given. Returns the length.
 */
static size_t offer(const struct cf_disc_query *q, const struct dp_offer_fields *f,
		    const struct dp_key *key, uint64_t ts, uint8_t buf[DP_LEN_AUTH])
{
	struct dp_hdr h = {.type = DP_T_OFFER, .flags = key ? DP_FLAG_AUTH : 0, .txid = q->txid};
	struct dp_offer o = {.f = *f};
	int len;

	memcpy(o.group_id, q->group, DP_GUID_LEN);
	memcpy(o.content_id, q->id, DP_CONTENT_LEN);
	len = dp_encode_offer(buf, DP_LEN_AUTH, &h, &o);
	cr_assert(len == DP_LEN || len == DP_LEN_AUTH, "encode: %d", len);
	if (key)
		cr_assert_eq(
			dp_auth_sign(buf, (size_t)len, key->bytes, key->len, key->id, ts, nonce),
			0);
	return (size_t)len;
}

static enum cf_disc_verdict judge(const struct cf_disc_query *q, const uint8_t *buf, size_t len)
{
	struct dp_offer_fields f;

	return cf_disc_judge(q, buf, len, NOW, &f);
}

Test(discover, query_bytes)
{
	struct dp_key k = key_of(7, 1);
	struct cf_disc_query q = query_of(NULL), qk = query_of(&k);
	uint8_t buf[DP_LEN_AUTH];
	struct dp_msg m;
	int len = cf_disc_query_encode(&q, NOW, nonce, buf, sizeof(buf));

	cr_assert_eq(len, DP_LEN);
	cr_assert_eq(dp_decode(buf, (size_t)len, &m), DP_DROP_NONE);
	cr_assert_eq(m.hdr.type, DP_T_QUERY);
	cr_assert_eq(m.hdr.flags, 0);
	cr_assert_eq(m.hdr.txid, q.txid);
	cr_assert_eq(buf[8], 0x01, "txid big-endian on the wire");
	cr_assert_arr_eq(m.body.query.group_id, q.group, DP_GUID_LEN);
	cr_assert_arr_eq(m.body.query.content_id, q.id, DP_CONTENT_LEN);
	cr_assert_eq(m.body.query.first_piece, 0);
	cr_assert_eq(m.body.query.piece_count, 0, "the whole object");

	len = cf_disc_query_encode(&qk, NOW, nonce, buf, sizeof(buf));
	cr_assert_eq(len, DP_LEN_AUTH);
	cr_assert_eq(dp_decode(buf, (size_t)len, &m), DP_DROP_NONE);
	cr_assert_eq(m.hdr.flags, DP_FLAG_AUTH);
	cr_assert_eq(m.auth.key_id, 7);
	cr_assert_eq(m.auth.timestamp, NOW);
	cr_assert_arr_eq(m.auth.nonce, nonce, DP_NONCE_LEN);
	cr_assert_eq(dp_auth_verify(buf, (size_t)len, k.bytes, k.len), 0, "signed with the key");
	cr_assert_eq(cf_disc_query_encode(&qk, NOW, nonce, buf, DP_LEN), -ENOSPC);
}

Test(discover, good_offers_accepted)
{
	struct dp_key k = key_of(7, 1);
	struct cf_disc_query q = query_of(NULL), qk = query_of(&k);
	struct dp_offer_fields f = fields(5), got;
	uint8_t buf[DP_LEN_AUTH];
	size_t len = offer(&q, &f, NULL, 0, buf);

	cr_assert_eq(cf_disc_judge(&q, buf, len, NOW, &got), CF_DISC_OK);
	cr_assert_eq(got.have, 2);
	cr_assert_eq(got.port, 8003);
	cr_assert_eq(got.pieces_present, 5);
	cr_assert_arr_eq(got.address, f.address, DP_ADDR_LEN);
	for (int64_t skew = -CF_DISC_WINDOW_S; skew <= CF_DISC_WINDOW_S; skew += CF_DISC_WINDOW_S) {
		len = offer(&qk, &f, &k, (uint64_t)((int64_t)NOW + skew), buf);
		cr_assert_eq(cf_disc_judge(&qk, buf, len, NOW, &got), CF_DISC_OK,
			     "signed, clock %+lld s", (long long)skew);
	}
	f.family = 6;
	memset(f.address, 0, DP_ADDR_LEN);
	f.address[0] = 0xfd, f.address[15] = 1;
	len = offer(&q, &f, NULL, 0, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_OK, "IPv6 fd00::1");
}

Test(discover, not_ours_refused)
{
	struct cf_disc_query q = query_of(NULL), other = query_of(NULL);
	struct dp_offer_fields f = fields(5);
	uint8_t buf[DP_LEN_AUTH + 1] = {0};
	size_t len;

	other.txid ^= 1;
	len = offer(&other, &f, NULL, 0, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_WRONG_TXID);
	other = query_of(NULL);
	other.group[15] ^= 1;
	len = offer(&other, &f, NULL, 0, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_WRONG_GROUP);
	other = query_of(NULL);
	memset(other.group, 0, DP_GUID_LEN);
	len = offer(&other, &f, NULL, 0, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_WRONG_GROUP, "a box of no group");
	other = query_of(NULL);
	other.id[0] ^= 1;
	len = offer(&other, &f, NULL, 0, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_WRONG_CONTENT);

	/* our own QUERY (a broadcast comes back on loopback) and a box's ANNOUNCE */
	cr_assert_eq(cf_disc_query_encode(&q, NOW, nonce, buf, sizeof(buf)), DP_LEN);
	cr_assert_eq(judge(&q, buf, DP_LEN), CF_DISC_NOT_OFFER);
	{
		struct dp_hdr h = {.type = DP_T_ANNOUNCE, .txid = q.txid};
		struct dp_offer a = {.f = fields(5)};

		a.f.have = 0, a.f.object_size = 0, a.f.piece_size = 0, a.f.pieces_present = 0;
		memcpy(a.group_id, q.group, DP_GUID_LEN);
		cr_assert_eq(dp_encode_offer(buf, sizeof(buf), &h, &a), DP_LEN);
		cr_assert_eq(judge(&q, buf, DP_LEN), CF_DISC_NOT_OFFER);
	}
}

Test(discover, malformed_refused)
{
	struct cf_disc_query q = query_of(NULL);
	struct dp_offer_fields f = fields(5);
	uint8_t buf[DP_LEN_AUTH + 1] = {0}, bad[DP_LEN_AUTH + 1];
	size_t len = offer(&q, &f, NULL, 0, buf);
	static const size_t cuts[] = {0, 1, 16, 64, 100, DP_LEN - 1};

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		cr_assert_eq(judge(&q, buf, cuts[i]), CF_DISC_INVALID, "truncated to %zu", cuts[i]);
	cr_assert_eq(judge(&q, buf, len + 1), CF_DISC_INVALID, "one byte too many");
	cr_assert_eq(judge(&q, buf, DP_LEN_AUTH), CF_DISC_INVALID, "176 bytes without AUTH");
	memcpy(bad, buf, len);
	bad[0] = 'X';
	cr_assert_eq(judge(&q, bad, len), CF_DISC_INVALID, "magic");
	memcpy(bad, buf, len);
	bad[4] = 2;
	cr_assert_eq(judge(&q, bad, len), CF_DISC_INVALID, "version");
	memcpy(bad, buf, len);
	bad[6] = 0x02;
	cr_assert_eq(judge(&q, bad, len), CF_DISC_INVALID, "unknown flag");
	memcpy(bad, buf, len);
	bad[64] = 3;
	cr_assert_eq(judge(&q, bad, len), CF_DISC_INVALID, "have 3");
	memcpy(bad, buf, len);
	bad[110] = 1;
	cr_assert_eq(judge(&q, bad, len), CF_DISC_INVALID, "padding");
}

Test(discover, authentication)
{
	struct dp_key k = key_of(7, 1), other_id = key_of(8, 1), other_bytes = key_of(7, 50);
	struct cf_disc_query q = query_of(NULL), qk = query_of(&k);
	struct dp_offer_fields f = fields(5);
	uint8_t buf[DP_LEN_AUTH];
	size_t len;

	len = offer(&qk, &f, NULL, 0, buf);
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_UNAUTHENTICATED, "unsigned when keyed");
	len = offer(&q, &f, &k, NOW, buf);
	cr_assert_eq(judge(&q, buf, len), CF_DISC_UNAUTHENTICATED, "signed when we did not");
	len = offer(&qk, &f, &other_id, NOW, buf);
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_UNAUTHENTICATED, "another key ID");
	len = offer(&qk, &f, &other_bytes, NOW, buf);
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_BAD_MAC, "the same ID, another key");
	len = offer(&qk, &f, &k, NOW, buf);
	buf[DP_LEN_AUTH - 1] ^= 1;
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_BAD_MAC, "a flipped MAC bit");
	len = offer(&qk, &f, &k, NOW, buf);
	buf[65] ^= 1; /* free_slots changed after signing */
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_BAD_MAC, "a field changed after signing");
	len = offer(&qk, &f, &k, NOW - CF_DISC_WINDOW_S - 1, buf);
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_STALE, "too old");
	len = offer(&qk, &f, &k, NOW + CF_DISC_WINDOW_S + 1, buf);
	cr_assert_eq(judge(&qk, buf, len), CF_DISC_STALE, "from the future");
}

Test(discover, unusable_address_refused)
{
	struct cf_disc_query q = query_of(NULL);
	static const uint8_t v4[][4] = {{0, 0, 0, 0}, {224, 0, 0, 1}, {255, 255, 255, 255}};
	uint8_t buf[DP_LEN_AUTH];
	struct dp_offer_fields f;

	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		f = fields(0);
		memcpy(f.address, v4[i], 4);
		cr_assert_eq(judge(&q, buf, offer(&q, &f, NULL, 0, buf)), CF_DISC_NO_ADDRESS,
			     "%u.%u.%u.%u", v4[i][0], v4[i][1], v4[i][2], v4[i][3]);
	}
	f = fields(5);
	f.port = 0;
	cr_assert_eq(judge(&q, buf, offer(&q, &f, NULL, 0, buf)), CF_DISC_NO_ADDRESS, "port 0");
	f = fields(5);
	f.family = 6;
	memset(f.address, 0, DP_ADDR_LEN);
	cr_assert_eq(judge(&q, buf, offer(&q, &f, NULL, 0, buf)), CF_DISC_NO_ADDRESS, "::");
	f.address[0] = 0xfe, f.address[1] = 0x80, f.address[15] = 1;
	cr_assert_eq(judge(&q, buf, offer(&q, &f, NULL, 0, buf)), CF_DISC_NO_ADDRESS, "fe80::1");
	f.address[0] = 0xff, f.address[1] = 0x02;
	cr_assert_eq(judge(&q, buf, offer(&q, &f, NULL, 0, buf)), CF_DISC_NO_ADDRESS, "ff02::1");
}

static struct dp_offer_fields box(uint8_t last, uint8_t have, uint32_t present, uint8_t slots)
{
	struct dp_offer_fields f = fields(last);

	f.have = have;
	f.pieces_present = have ? present : 0;
	f.free_slots = slots;
	if (!have)
		f.object_size = 0, f.piece_size = 0;
	return f;
}

Test(discover, ranking)
{
	/* arrival order; the expected rank is in the address's last byte */
	struct dp_offer_fields in[] = {
		box(6, 0, 0, 3), box(4, 1, 3, 1), box(2, 2, 5, 0), box(3, 1, 4, 0),
		box(1, 2, 5, 2), box(5, 1, 3, 1), box(7, 0, 0, 0),
	};
	struct dp_offer_fields v[CF_HOSTS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		cf_disc_add(v, &n, CF_HOSTS_MAX, &in[i]);
	cr_assert_eq(n, 7);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(v[i].address[3], i + 1, "rank %zu is box %u", i + 1, v[i].address[3]);
	cr_assert(cf_disc_before(&in[2], &in[4]) == false && cf_disc_before(&in[4], &in[2]));
	cr_assert(!cf_disc_before(&in[1], &in[5]) && !cf_disc_before(&in[5], &in[1]), "a tie");
	/* have = 2 wins over more pieces of a partial object, and over free slots */
	{
		struct dp_offer_fields whole = box(1, 2, 2, 0), part = box(2, 1, 9, 255);

		cr_assert(cf_disc_before(&whole, &part) && !cf_disc_before(&part, &whole));
	}
}

Test(discover, dedupe_and_cap)
{
	struct dp_offer_fields v[3], a = box(1, 1, 2, 1), a_better = box(1, 2, 5, 1),
				     a_worse = box(1, 0, 0, 9), b = box(2, 1, 3, 0);
	size_t n = 0;

	cf_disc_add(v, &n, 3, &a);
	cf_disc_add(v, &n, 3, &b);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0].address[3], 2);
	cf_disc_add(v, &n, 3, &a_worse);
	cr_assert_eq(n, 2, "the same box again");
	cr_assert_eq(v[1].have, 1, "keeps its better OFFER");
	cf_disc_add(v, &n, 3, &a_better);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0].address[3], 1);
	cr_assert_eq(v[0].have, 2, "the better OFFER replaces the worse, in its rank");
	a.port = 9000; /* another service on the same address is another box */
	cf_disc_add(v, &n, 3, &a);
	cr_assert_eq(n, 3);
	{
		struct dp_offer_fields worst = box(9, 0, 0, 0), best = box(8, 2, 5, 3);

		cf_disc_add(v, &n, 3, &worst);
		cr_assert_eq(n, 3);
		for (size_t i = 0; i < n; i++)
			cr_assert_neq(v[i].address[3], 9, "full: a worse OFFER is dropped");
		cf_disc_add(v, &n, 3, &best);
		cr_assert_eq(n, 3);
		cr_assert_eq(v[0].address[3], 8, "full: a better one replaces the last");
		cr_assert_eq(v[2].address[3], 2);
	}
}

Test(discover, hosts_from_offers)
{
	struct dp_offer_fields v[3] = {box(1, 2, 5, 1), box(2, 0, 0, 3), box(3, 1, 1, 1)};
	struct cf_host h[CF_HOSTS_MAX];
	char err[128];
	size_t n = 0;

	cr_assert_eq(cf_hosts_parse("10.0.0.3:8003,listed-box", "listed", h, CF_HOSTS_MAX, &n, err,
				    sizeof(err)),
		     0);
	v[1].family = 6;
	memset(v[1].address, 0, DP_ADDR_LEN);
	v[1].address[0] = 0xfd, v[1].address[15] = 2;
	v[1].port = 9003;
	cr_assert_eq(cf_disc_hosts(v, 3, h, CF_HOSTS_MAX, &n), 2, "the listed one is skipped");
	cr_assert_eq(n, 4);
	cr_assert_str_eq(h[0].from, "listed");
	cr_assert_str_eq(h[2].base, "http://10.0.0.1:8003");
	cr_assert_str_eq(h[2].from, "discovery");
	cr_assert(h[2].id_form, "have 2: the content-ID form");
	cr_assert_str_eq(h[3].base, "http://[fd00::2]:9003");
	cr_assert(!h[3].id_form, "have 0: the connected-cache form");
	cr_assert(!h[3].https);
	n = 0;
	cr_assert_eq(cf_disc_hosts(v, 3, h, 1, &n), 1, "no room past cap");
	cr_assert_eq(n, 1);
	cr_assert_str_eq(h[0].base, "http://10.0.0.1:8003", "the best one first");
}

Test(discover, target_parse)
{
	static const char *const good[] = {"127.0.0.1",	    "10.1.2.255:9004", "::1",
					   "[::1]",	    "[fd00::1]:8004",  "fe80::1%lo",
					   "[fe80::1%lo]:9"};
	static const unsigned ports[] = {8004, 9004, 8004, 8004, 8004, 8004, 9};
	static const char *const bad[] = {"",		"1.2.3",	 "box.example",
					  "1.2.3.4:",	"1.2.3.4:0",	 "1.2.3.4:65536",
					  "[::1",	"[::1]x",	 "[::1]:",
					  "1.2.3.4:8x", "[1.2.3.4]:80x", "fe80::1%cbnone0",
					  "1.2.3.4%lo"};
	struct sockaddr_storage ss;
	socklen_t sl;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(cf_disc_target_parse(good[i], &ss, &sl), 0, "%s", good[i]);
		cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), ports[i], "%s", good[i]);
		cr_assert_eq(sl, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6));
		if (strchr(good[i], '%'))
			cr_assert_eq(((struct sockaddr_in6 *)&ss)->sin6_scope_id,
				     if_nametoindex("lo"), "%s: the interface's index", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cf_disc_target_parse(bad[i], &ss, &sl), -EINVAL, "%s", bad[i]);
}

Test(discover, group_parse_and_names)
{
	static const uint8_t want[DP_GUID_LEN] = {0x3f, 0x1a, 0x6c, 0x2e, 0x8b, 0x4d, 0x4c, 0x1e,
						  0x9a, 0x0b, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
	uint8_t g[DP_GUID_LEN];
	char err[256] = "";

	cr_assert_eq(cf_disc_group_parse("3f1a6c2e-8b4d-4c1e-9a0b-112233445566", g, err, 256), 0);
	cr_assert_arr_eq(g, want, DP_GUID_LEN);
	cr_assert_eq(cf_disc_group_parse("{3F1A6C2E-8B4D-4C1E-9A0B-112233445566}", g, err, 256), 0);
	cr_assert_arr_eq(g, want, DP_GUID_LEN);
	cr_assert_eq(cf_disc_group_parse("3f1a6c2e8b4d4c1e9a0b112233445566", g, err, 256), -EINVAL);
	cr_assert(strstr(err, "not a GUID"), "%s", err);
	cr_assert_eq(cf_disc_group_parse("{3f1a6c2e-8b4d-4c1e-9a0b-11223344556g}", g, err, 256),
		     -EINVAL);
	cr_assert_str_eq(cf_disc_verdict_name(CF_DISC_BAD_MAC), "bad_mac");
	cr_assert_str_eq(cf_disc_verdict_name(CF_DISC_OK), "ok");
	cr_assert_str_eq(cf_disc_verdict_name(CF_DISC_NVERDICTS), "?");
}
