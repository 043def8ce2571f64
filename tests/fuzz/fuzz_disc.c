/*
 * libFuzzer target of the client's discovery judgement and ranking
 * (client/cf_disc_offer.c), which read datagrams from anyone on the link.
 * The input is cut into 112-byte (or, with the first byte odd, 176-byte)
 * datagrams; each is judged as it came, then "repaired" into an answer to our
 * QUERY (magic, version, OFFER, our txid, group and content ID, signed with
 * our key when it has the trailer) so that the checks past the header run
 * too. Besides "no crash, no read past len": an accepted OFFER has a port
 * and a family of 4 or 6; a signed QUERY accepts only signed OFFERs; the
 * ranked list stays sorted (no entry ranks before one ahead of it), holds
 * each box once and never more than its cap; the hosts made from it are as
 * many, each from = "discovery" with an http:// base.
 */
#include <string.h>

#include "cb_common.h"
#include "cf_discover.h"
#include "dp_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 4

static void judge_and_add(const struct cf_disc_query *q, const uint8_t *buf, size_t len,
			  struct dp_offer_fields *v, size_t *n)
{
	struct dp_offer_fields f;
	enum cf_disc_verdict r = cf_disc_judge(q, buf, len, 1000, &f);

	CB_ASSERT((unsigned)r < CF_DISC_NVERDICTS);
	if (r != CF_DISC_OK)
		return;
	CB_ASSERT(f.port != 0 && (f.family == 4 || f.family == 6));
	CB_ASSERT(!q->key || len == DP_LEN_AUTH);
	cf_disc_add(v, n, CAP, &f);
	CB_ASSERT(*n <= CAP);
}

static void repair(const struct cf_disc_query *q, uint8_t *buf, size_t len)
{
	uint8_t nonce[DP_NONCE_LEN] = {0};

	memcpy(buf, DP_MAGIC, 4);
	buf[4] = DP_VERSION;
	buf[5] = DP_T_OFFER;
	buf[6] = len == DP_LEN_AUTH ? DP_FLAG_AUTH : 0;
	buf[7] = 0;
	for (int i = 0; i < 8; i++)
		buf[8 + i] = (uint8_t)(q->txid >> (56 - 8 * i));
	memcpy(buf + 16, q->group, DP_GUID_LEN);
	memcpy(buf + 32, q->id, DP_CONTENT_LEN);
	memset(buf + 102, 0, 10);
	if (len == DP_LEN_AUTH && q->key && !(buf[120] & 1)) /* now and then a bad MAC stays */
		dp_auth_sign(buf, len, q->key->bytes, q->key->len, q->key->id, 1000, nonce);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dp_key key = {.id = 5, .len = 32, .bytes = {7, 7, 7}};
	struct cf_disc_query q = {.txid = 0x1122334455667788ull, .group = {1}, .id = {2}};
	struct dp_offer_fields v[CAP];
	struct cf_host h[CAP + 1];
	uint8_t buf[DP_LEN_AUTH];
	size_t n = 0, nh = 0, step;

	if (!size)
		return 0;
	q.key = (data[0] & 2) ? &key : NULL;
	step = (data[0] & 1) ? DP_LEN_AUTH : DP_LEN;
	data++, size--;
	judge_and_add(&q, data, size, v, &n); /* the whole input as one datagram */
	for (size_t off = 0; off + step <= size && off < 64 * step; off += step) {
		memcpy(buf, data + off, step);
		judge_and_add(&q, buf, step, v, &n);
		repair(&q, buf, step);
		judge_and_add(&q, buf, step, v, &n);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			CB_ASSERT(!cf_disc_before(&v[j], &v[i]));
			CB_ASSERT(v[i].family != v[j].family || v[i].port != v[j].port ||
				  memcmp(v[i].address, v[j].address, DP_ADDR_LEN) != 0);
		}
	CB_ASSERT(cf_disc_hosts(v, n, h, CAP + 1, &nh) == nh && nh == n);
	for (size_t i = 0; i < nh; i++)
		CB_ASSERT(!strcmp(h[i].from, "discovery") && !strncmp(h[i].base, "http://", 7));
	return 0;
}
