/*
 * libFuzzer target for the discovery codec (dataplane/dp_codec.c), which
 * reads datagrams from anyone on the link. Besides "no crash, no read past
 * len" it checks the codec's promises: whatever decodes re-encodes to the
 * same bytes; on refusal the struct is zeroed; a decoded QUERY rewritten in
 * place as an OFFER keeps its length and txid and decodes as an OFFER (a
 * reply is never larger than its request); a signed datagram verifies.
 * Random bytes rarely pass the header, so each input is also tried
 * "repaired": magic, version, flags from its length, reserved zero.
 */
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "dp_auth.h"
#include "dp_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_in_place(const uint8_t *buf, size_t len, const struct dp_msg *q)
{
	struct dp_offer_fields f = {.family = 4, .free_slots = 1, .port = 8004};
	uint8_t *copy = malloc(len);
	struct dp_msg o;
	uint8_t any = 0;

	CB_ASSERT(copy != NULL);
	memcpy(copy, buf, len);
	for (size_t i = 0; i < DP_CONTENT_LEN; i++)
		any |= q->body.query.content_id[i];
	if (any) { /* "is there a box?" is answered with have 0 */
		f.have = 2;
		f.object_size = 1;
		f.piece_size = 4096;
		f.pieces_present = 1;
	}
	/* a decoded QUERY always has an OFFER of its own length */
	CB_ASSERT(dp_offer_in_place(copy, len, &f) == (int)len);
	CB_ASSERT(dp_decode(copy, len, &o) == DP_DROP_NONE);
	CB_ASSERT(o.hdr.type == DP_T_OFFER && o.hdr.txid == q->hdr.txid);
	CB_ASSERT(o.hdr.flags == q->hdr.flags);
	CB_ASSERT(memcmp(o.body.offer.group_id, q->body.query.group_id, DP_GUID_LEN) == 0);
	CB_ASSERT(memcmp(o.body.offer.content_id, q->body.query.content_id, DP_CONTENT_LEN) == 0);
	if (len == DP_LEN_AUTH) {
		static const uint8_t key[32] = {1};
		uint8_t nonce[DP_NONCE_LEN] = {2};

		CB_ASSERT(o.auth.key_id == q->auth.key_id);
		CB_ASSERT(dp_auth_sign(copy, len, key, sizeof(key), o.auth.key_id, 3, nonce) == 0);
		CB_ASSERT(dp_auth_verify(copy, len, key, sizeof(key)) == 0);
	}
	free(copy);
}

static void decode_one(const uint8_t *buf, size_t len)
{
	static const struct dp_msg zero;
	struct dp_msg m;
	uint8_t again[DP_LEN_AUTH];

	if (dp_decode(buf, len, &m) != DP_DROP_NONE) {
		CB_ASSERT(memcmp(&m, &zero, sizeof(m)) == 0);
		return;
	}
	CB_ASSERT(len == DP_LEN || len == DP_LEN_AUTH);
	CB_ASSERT(dp_encode(again, sizeof(again), &m) == (int)len);
	CB_ASSERT(memcmp(again, buf, len) == 0);
	if (m.hdr.type == DP_T_QUERY)
		check_in_place(buf, len, &m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly size bytes on the heap, so ASan catches a read past len */
	uint8_t *buf = malloc(size ? size : 1);

	CB_ASSERT(buf != NULL);
	memcpy(buf, data, size);
	decode_one(buf, size);
	if (size == DP_LEN || size == DP_LEN_AUTH) {
		memcpy(buf, DP_MAGIC, 4);
		buf[4] = DP_VERSION;
		buf[5] = (uint8_t)(1 + buf[5] % 4);
		buf[6] = size == DP_LEN_AUTH ? DP_FLAG_AUTH : 0;
		buf[7] = 0;
		decode_one(buf, size);
	}
	free(buf);
	return 0;
}
