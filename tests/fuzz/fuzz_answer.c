/*
 * libFuzzer target of the discovery responder (dataplane/dp_resp.c): any
 * datagram, from an on-link source, against a real index (a complete and a
 * partial object) and policy file made once in a scratch directory. The
 * answer is silence or an OFFER exactly as long as the datagram that
 * decodes, keeps its txid, group and content ID, and says nothing the
 * index does not hold; every datagram is counted exactly once.
 */
#include "cb_disc.h"
#include "cb_index.h"
#include "cb_policy.h"
#include "dp_resp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static struct dp_resp *resp;
static struct cfg *cfg;
static struct cb_index *ix;
static struct cb_policy *pol;
static char dir[64] = "/tmp/cb-fuzz-answer-XXXXXX";
static struct cb_disc_lane lane;
static const struct cfg_cidr iface = {
	.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10},
	.prefix = 120,
	.v4 = true};

static void put(uint8_t tag, uint32_t npieces, uint32_t present)
{
	struct cb_index_rec rec = {.size = npieces * 4096ull, .piece_size = 4096};

	memset(rec.id, tag, sizeof(rec.id));
	rec.npieces = npieces;
	rec.pieces_present = present;
	rec.flags = present == npieces ? CB_INDEX_COMPLETE : 0;
	cb_index_lock(ix);
	CHECK(cb_index_put(ix, &rec) == 0);
	cb_index_unlock(ix);
}

static void teardown(void)
{
	char path[128];

	dp_resp_free(resp);
	cb_index_close(ix);
	cb_policy_close(pol);
	cfg_free(cfg);
	snprintf(path, sizeof(path), "%s/index.shm", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/policy.shm", dir);
	unlink(path);
	rmdir(dir);
}

/* Made once: the index and policy files stay for the process's life, in a fresh directory. */
static void setup(void)
{
	struct cb_policy_vals v = {.max_clients = 3};
	char text[512], err[256], path[128];

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.shm", dir);
	ix = cb_index_create(path, 64);
	CHECK(ix);
	put(0x11, 8, 8);
	put(0x22, 8, 3);
	snprintf(path, sizeof(path), "%s/policy.shm", dir);
	pol = cb_policy_open(path, &v);
	CHECK(pol);
	snprintf(text, sizeof(text),
		 "[appliance]\nstate_dir = %s\nlog_level = error\n[storage]\nshard = %s\n"
		 "[discovery]\nadvertise = 192.0.2.10:8003\nrate_per_source = 1000000\n",
		 dir, dir);
	cfg = cfg_load_string("fuzz.conf", text, err, sizeof(err));
	CHECK(cfg);
	resp = dp_resp_new(cfg, err, sizeof(err));
	CHECK(resp);
	atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dp_now now = {.mono_ns = 1, .wall_s = 1900000000};
	struct dp_src src = {.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 99},
			     .port = 5000,
			     .iface = &iface};
	uint8_t *buf = malloc(size ? size : 1);
	struct dp_msg m;
	uint64_t drops = 0;
	size_t n;

	if (!resp)
		setup();
	CHECK(buf);
	memcpy(buf, data, size);
	now.mono_ns += 1000000; /* 1 ms a datagram: the rate never binds */
	n = dp_resp_handle(resp, &lane, buf, size, &src, &now);
	CHECK(n == 0 || n == size);
	if (n) {
		CHECK(dp_decode(buf, n, &m) == DP_DROP_NONE && m.hdr.type == DP_T_OFFER);
		CHECK(memcmp(buf + 8, data + 8, 56) == 0); /* txid, group, content ID kept */
		CHECK(m.body.offer.f.pieces_present <= 8);
		CHECK(m.body.offer.f.have == 0 || data[32] == 0x11 || data[32] == 0x22);
		CHECK(m.body.offer.f.free_slots == 3);
	} else {
		CHECK(memcmp(buf, data, size) == 0); /* silence leaves the buffer as it was */
	}
	for (unsigned i = 0; i < CB_DISC_DROPS; i++)
		drops += lane.drops[i];
	CHECK(lane.rx == lane.offers + lane.ignored + drops);
	free(buf);
	return 0;
}
