/*
 * The responder against a real index and policy file in a scratch state
 * directory: every answer field (have, sizes, pieces_present, free_slots,
 * the advertised address), each of PROTOCOL.md's five rules with the
 * counter it bumps, the authenticated path (signature, staleness, replay,
 * reload of the key file) and the re-mapping of a replaced index. Time is
 * passed in, so nothing here waits.
 */
#include "cb_disc.h"
#include "cb_index.h"
#include "cb_policy.h"
#include "dp_auth.h"
#include "dp_resp.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K1    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
#define GROUP "3f1a6c2e-8b4d-4c1e-9a0b-112233445566"
#define NOW_S 1900000000ull

static char dir[64];
static struct cfg *cfg;
static struct dp_resp *resp;
static struct cb_index *ix;
static struct cb_policy *pol;
static struct cb_disc_lane lane;
static struct dp_now now = {.mono_ns = 5000000000ull, .wall_s = NOW_S};
static const struct cfg_cidr iface = {
	.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10},
	.prefix = 120,
	.v4 = true};
static const uint8_t id_complete[32] = {1}, id_partial[32] = {2}, id_unknown[32] = {3};

static void key_file(const char *text, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void put(const uint8_t id[32], uint64_t size, uint32_t npieces, uint32_t present)
{
	struct cb_index_rec rec = {.size = size, .piece_size = 65536, .npieces = npieces};

	memcpy(rec.id, id, 32);
	rec.pieces_present = present;
	rec.flags = present == npieces ? CB_INDEX_COMPLETE : 0;
	cb_index_lock(ix);
	cr_assert_eq(cb_index_put(ix, &rec), 0);
	cb_index_unlock(ix);
}

/* A scratch state directory with an index (a complete and a partial object) and a policy. */
static void prepare(void)
{
	struct cb_policy_vals v = {.max_clients = 3};
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/cb-test-resp-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.shm", dir);
	ix = cb_index_create(path, 64);
	cr_assert_not_null(ix);
	put(id_complete, 10 * 65536 - 100, 10, 10);
	put(id_partial, 10 * 65536, 10, 4);
	snprintf(path, sizeof(path), "%s/policy.shm", dir);
	pol = cb_policy_open(path, &v);
	cr_assert_not_null(pol);
	memset(&lane, 0, sizeof(lane));
}

/* The config for [discovery] lines extra ("@KEYS" stands for the scratch key file). */
static struct cfg *config(const char *extra)
{
	char text[2048], err[256], keys[128], body[512];
	const char *at = strstr(extra, "@KEYS");
	struct cfg *c;

	snprintf(keys, sizeof(keys), "%s/keys", dir);
	if (at)
		snprintf(body, sizeof(body), "%.*s%s%s", (int)(at - extra), extra, keys, at + 5);
	else
		snprintf(body, sizeof(body), "%s", extra);
	snprintf(text, sizeof(text),
		 "[appliance]\nstate_dir = %s\n[server]\nlisten = 0.0.0.0:8003\n"
		 "[storage]\nshard = %s\n[discovery]\n%s\n",
		 dir, dir, body);
	c = cfg_load_string("t.conf", text, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	return c;
}

/* prepare(), then a responder for [discovery] lines extra. */
static void start(const char *extra)
{
	char err[256];

	if (!ix)
		prepare();
	cfg = config(extra);
	resp = dp_resp_new(cfg, err, sizeof(err));
	cr_assert_not_null(resp, "%s", err);
}

static void stop(void)
{
	char cmd[128];

	dp_resp_free(resp);
	cb_index_close(ix);
	cb_policy_close(pol);
	ix = NULL;
	cfg_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static size_t make_query(uint8_t *buf, const uint8_t id[32], uint32_t first, uint32_t count,
			 const char *group, bool auth)
{
	struct dp_hdr h = {.type = DP_T_QUERY, .flags = auth ? DP_FLAG_AUTH : 0, .txid = 0x1122};
	struct dp_query q = {.first_piece = first, .piece_count = count};

	if (id)
		memcpy(q.content_id, id, 32);
	if (group)
		cr_assert_eq(dp_guid_parse(group, q.group_id), 0);
	return (size_t)dp_encode_query(buf, DP_LEN_AUTH, &h, &q);
}

static void sign_with(uint8_t *buf, const char *hex, uint32_t key_id, uint64_t ts, uint8_t n)
{
	uint8_t key[32], nonce[DP_NONCE_LEN];

	for (int i = 0; i < 32; i++)
		sscanf(hex + 2 * i, "%2hhx", &key[i]);
	memset(nonce, n, sizeof(nonce));
	cr_assert_eq(dp_auth_sign(buf, DP_LEN_AUTH, key, 32, key_id, ts, nonce), 0);
}

/* The answer to buf from 192.0.2.99:5000 on iface: its OFFER decoded, or false for silence. */
static bool ask(uint8_t *buf, size_t len, struct dp_msg *offer)
{
	struct dp_src src = {.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 99},
			     .port = 5000,
			     .iface = &iface};
	size_t n = dp_resp_handle(resp, &lane, buf, len, &src, &now);

	if (!n)
		return false;
	cr_assert_eq(n, len, "a reply is as long as its request");
	cr_assert_eq(dp_decode(buf, n, offer), DP_DROP_NONE);
	cr_assert_eq(offer->hdr.type, DP_T_OFFER);
	cr_assert_eq(offer->hdr.txid, 0x1122);
	return true;
}

static struct dp_offer_fields offer_for(const uint8_t id[32], uint32_t first, uint32_t count)
{
	uint8_t buf[DP_LEN_AUTH];
	struct dp_msg m;

	cr_assert(ask(buf, make_query(buf, id, first, count, NULL, false), &m));
	return m.body.offer.f;
}

TestSuite(resp);

Test(resp, is_there_a_box_and_the_box_fields)
{
	struct dp_offer_fields f;

	start("advertise = 198.51.100.7:9000");
	f = offer_for(NULL, 0, 0);
	cr_assert_eq(f.have, 0);
	cr_assert_eq(f.object_size, 0);
	cr_assert_eq(f.free_slots, 3);
	cr_assert_eq(f.port, 9000);
	cr_assert_eq(f.tls, 0);
	cr_assert_eq(f.family, 4);
	cr_assert_arr_eq(f.address, ((uint8_t[]){198, 51, 100, 7}), 4);
	cb_policy_live(pol)->active_clients = 2;
	cr_assert_eq(offer_for(NULL, 0, 0).free_slots, 1);
	cb_policy_live(pol)->active_clients = 7;
	cr_assert_eq(offer_for(NULL, 0, 0).free_slots, 0, "busy, clamped at 0");
	cr_assert_eq(lane.rx, 3);
	cr_assert_eq(lane.queries, 3);
	cr_assert_eq(lane.offers, 3);
	stop();
}

Test(resp, advertises_the_arrival_interface_without_a_configured_address)
{
	struct dp_offer_fields f;

	start("");
	f = offer_for(NULL, 0, 0);
	cr_assert_eq(f.family, 4);
	cr_assert_arr_eq(f.address, ((uint8_t[]){192, 0, 2, 10}), 4);
	cr_assert_eq(f.port, 8003, "[server] listen's port");
	stop();
}

Test(resp, have_and_pieces_come_from_the_index)
{
	struct dp_offer_fields f;

	start("advertise = 198.51.100.7");
	f = offer_for(id_complete, 0, 0);
	cr_assert_eq(f.have, 2);
	cr_assert_eq(f.object_size, 10 * 65536 - 100);
	cr_assert_eq(f.piece_size, 65536);
	cr_assert_eq(f.pieces_present, 10);
	f = offer_for(id_complete, 8, 5);
	cr_assert_eq(f.have, 2);
	cr_assert_eq(f.pieces_present, 2, "pieces 8 and 9 exist of the five asked");
	cr_assert_eq(offer_for(id_complete, 10, 1).have, 0, "past the end");
	f = offer_for(id_partial, 0, 0);
	cr_assert_eq(f.have, 1);
	cr_assert_eq(f.pieces_present, 4);
	f = offer_for(id_partial, 0, 2);
	cr_assert_eq(f.have, 1);
	cr_assert_eq(f.pieces_present, 2, "bounded by the asked count");
	f = offer_for(id_unknown, 0, 0);
	cr_assert_eq(f.have, 0);
	cr_assert_eq(f.object_size + f.piece_size + f.pieces_present, 0);
	stop();
}

Test(resp, rules_one_to_three_each_count_their_reason)
{
	uint8_t buf[DP_LEN_AUTH + 1];
	struct dp_src src = {.port = 5000, .iface = &iface};
	struct dp_msg m;
	size_t len;

	start("group_id = {" GROUP "}");
	len = make_query(buf, NULL, 0, 0, GROUP, false);
	cr_assert(ask(buf, len, &m));
	cr_assert_arr_eq(m.body.offer.group_id, buf + 16, 16);
	len = make_query(buf, NULL, 0, 0, NULL, false);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_WRONG_GROUP], 1);
	len = make_query(buf, NULL, 0, 0, GROUP, false);
	buf[0] = 'X';
	cr_assert_not(ask(buf, len, &m));
	cr_assert_not(ask(buf, 113, &m));
	cr_assert_eq(lane.drops[DP_DROP_INVALID], 2);
	len = make_query(buf, NULL, 0, 0, GROUP, true);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_UNAUTHENTICATED], 1, "AUTH without a key file");
	/* an OFFER (another box's answer) is never answered, and not a drop */
	len = make_query(buf, NULL, 0, 0, GROUP, false);
	cr_assert(ask(buf, len, &m));
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.ignored, 1);
	/* rule 2: port 0, 0.0.0.0, the subnet broadcast, off-link */
	const uint8_t bad[][4] = {{192, 0, 2, 99}, {0, 0, 0, 0}, {192, 0, 2, 255}, {10, 0, 0, 1}};
	for (unsigned i = 0; i < 4; i++) {
		memset(src.addr, 0, 16);
		src.addr[10] = src.addr[11] = 0xff;
		memcpy(src.addr + 12, bad[i], 4);
		src.port = i == 0 ? 0 : 5000;
		len = make_query(buf, NULL, 0, 0, GROUP, false);
		cr_assert_eq(dp_resp_handle(resp, &lane, buf, len, &src, &now), 0, "source %u", i);
	}
	cr_assert_eq(lane.drops[DP_DROP_BAD_SOURCE], 4);
	cr_assert_eq(lane.rx,
		     lane.offers + lane.ignored + lane.drops[DP_DROP_WRONG_GROUP] +
			     lane.drops[DP_DROP_INVALID] + lane.drops[DP_DROP_UNAUTHENTICATED] +
			     lane.drops[DP_DROP_BAD_SOURCE],
		     "every datagram counted once");
	stop();
}

Test(resp, rule_four_keys_window_mac_replay)
{
	uint8_t buf[DP_LEN_AUTH], key[32];
	struct dp_msg m;
	size_t len;

	prepare();
	key_file("1 " K1 "\n", 0600);
	start("group_key_file = @KEYS");
	len = make_query(buf, id_complete, 0, 0, NULL, false);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_UNAUTHENTICATED], 1, "no AUTH with a key file");
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K1, 9, NOW_S, 1);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_UNAUTHENTICATED], 2, "unknown key_id");
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K1, 1, NOW_S - 31, 2);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_STALE], 1);
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K2, 1, NOW_S, 3);
	cr_assert_not(ask(buf, len, &m));
	cr_assert_eq(lane.drops[DP_DROP_BAD_MAC], 1);
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K1, 1, NOW_S - 30, 4);
	{
		uint8_t copy[DP_LEN_AUTH];

		memcpy(copy, buf, len);
		cr_assert(ask(buf, len, &m), "inside the window");
		cr_assert_eq(m.body.offer.f.have, 2);
		cr_assert_eq(m.auth.key_id, 1);
		cr_assert_eq(m.auth.timestamp, NOW_S, "the box's own clock");
		for (int i = 0; i < 32; i++)
			sscanf(K1 + 2 * i, "%2hhx", &key[i]);
		cr_assert_eq(dp_auth_verify(buf, len, key, 32), 0, "the OFFER is signed");
		cr_assert_not(ask(copy, len, &m));
		cr_assert_eq(lane.drops[DP_DROP_REPLAY], 1);
	}
	/* reload: key 2 replaces key 1; a bad file (mode 644) later keeps key 2 */
	key_file("2 " K2 "\n", 0600);
	dp_resp_service(resp, true, &now);
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K2, 2, NOW_S, 5);
	cr_assert(ask(buf, len, &m), "the new key is honoured");
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K1, 1, NOW_S, 6);
	cr_assert_not(ask(buf, len, &m), "the old key is gone");
	key_file("3 " K1 "\n", 0644);
	dp_resp_service(resp, true, &now);
	len = make_query(buf, id_complete, 0, 0, NULL, true);
	sign_with(buf, K2, 2, NOW_S, 7);
	cr_assert(ask(buf, len, &m), "a refused file leaves the old keys in force");
	stop();
}

Test(resp, rule_five_rate_per_source)
{
	uint8_t buf[DP_LEN_AUTH];
	struct dp_msg m;
	unsigned answered = 0;

	start("rate_per_source = 5");
	for (int i = 0; i < 30; i++)
		answered += ask(buf, make_query(buf, NULL, 0, 0, NULL, false), &m);
	cr_assert_eq(answered, 10, "the burst is twice the rate");
	cr_assert_eq(lane.drops[DP_DROP_RATE_LIMITED], 20);
	now.mono_ns += 1000000000ull;
	answered = 0;
	for (int i = 0; i < 30; i++)
		answered += ask(buf, make_query(buf, NULL, 0, 0, NULL, false), &m);
	cr_assert_eq(answered, 5, "a second refills rate tokens");
	stop();
}

Test(resp, a_replaced_index_is_mapped_again)
{
	char path[128];
	struct cb_index *fresh;
	uint8_t id[32] = {9};

	start("");
	cr_assert_eq(offer_for(id, 0, 0).have, 0);
	snprintf(path, sizeof(path), "%s/index.shm", dir);
	fresh = cb_index_create(path, 64); /* a restarted file server's new index */
	cr_assert_not_null(fresh);
	cb_index_close(ix);
	ix = fresh;
	put(id, 100, 1, 1);
	cr_assert_eq(offer_for(id, 0, 0).have, 0, "the old map until the service pass");
	dp_resp_service(resp, false, &now);
	cr_assert_eq(offer_for(id, 0, 0).have, 2);
	stop();
}

Test(resp, announce_and_bye)
{
	uint8_t buf[DP_LEN_AUTH];
	struct dp_msg m;
	int len;

	start("advertise = 198.51.100.7\nannounce_interval = 10s");
	len = dp_resp_announce(resp, DP_T_ANNOUNCE, &iface, &now, buf, sizeof(buf));
	cr_assert_eq(len, DP_LEN);
	cr_assert_eq(dp_decode(buf, (size_t)len, &m), DP_DROP_NONE);
	cr_assert_eq(m.hdr.type, DP_T_ANNOUNCE);
	cr_assert_eq(m.body.offer.f.have, 0);
	cr_assert_eq(m.body.offer.f.free_slots, 3);
	cr_assert_arr_eq(m.body.offer.f.address, ((uint8_t[]){198, 51, 100, 7}), 4);
	len = dp_resp_announce(resp, DP_T_BYE, &iface, &now, buf, sizeof(buf));
	cr_assert_eq(dp_decode(buf, (size_t)len, &m), DP_DROP_NONE);
	cr_assert_eq(m.hdr.type, DP_T_BYE);
	cr_assert_lt(dp_resp_announce(resp, DP_T_QUERY, &iface, &now, buf, sizeof(buf)), 0);
	dp_resp_announced(resp, &now);
	cr_assert_not(dp_resp_service(resp, false, &now));
	now.mono_ns += 10000000000ull;
	cr_assert(dp_resp_service(resp, false, &now), "due after announce_interval");
	stop();
}

Test(resp, a_key_file_others_can_read_is_refused_at_start)
{
	char err[256];
	struct cfg *c;

	prepare();
	key_file("1 " K1 "\n", 0644);
	c = config("group_key_file = @KEYS");
	cfg = NULL;
	cr_assert_null(dp_resp_new(c, err, sizeof(err)));
	cr_assert(strstr(err, "chmod 600"), "%s", err);
	cfg_free(c);
	stop();
}
