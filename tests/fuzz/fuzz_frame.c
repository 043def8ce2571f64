/*
 * libFuzzer target for the DPDK backend's frame handling
 * (dataplane/dp_frame.c), which reads every frame that reaches the port.
 * Besides "no crash, no read past len" it checks dp_frame.h's promises: a
 * frame that is not ours is left as it was; a datagram's payload lies
 * inside the frame; its reply is no longer than the request and is itself
 * a valid datagram for the original sender (checksums, addresses, ports),
 * carrying the same payload; an ARP reply keeps the request's length and
 * is not taken again as a request.
 */
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "dp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t our_mac[DP_ETH_ALEN] = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00};

/* The original sender's view: its MAC, address and port, to take our reply. */
static void check_reply(const struct dp_frame_cfg *fc, uint8_t *f, size_t len,
			const struct dp_frame_dgram *d)
{
	struct dp_frame_cfg peer = {.port = d->sport};
	struct dp_frame_dgram back;
	uint8_t *payload = malloc(d->len + 1);
	size_t n;

	CB_ASSERT(payload != NULL);
	memcpy(payload, f + d->off, d->len);
	memcpy(peer.mac, f + DP_ETH_ALEN, DP_ETH_ALEN);
	memcpy(&peer.addr, d->src + 12, 4);
	n = dp_frame_reply(fc, f, d, d->len);
	CB_ASSERT(n == DP_FRAME_HDRS + d->len && n <= len);
	CB_ASSERT(dp_frame_classify(&peer, f, n, &back) == DP_FRAME_DGRAM);
	CB_ASSERT(back.len == d->len && back.sport == fc->port && !back.to_bcast);
	CB_ASSERT(memcmp(back.src + 12, &fc->addr, 4) == 0);
	CB_ASSERT(memcmp(f + back.off, payload, d->len) == 0);
	free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_frame_cfg fc;
	struct cfg_cidr a = {
		.addr = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 10}, .prefix = 96 + 24, .v4 = true};
	struct dp_frame_dgram d;
	enum dp_frame_kind k;
	uint8_t *f;

	if (size > 4096)
		return 0;
	CB_ASSERT(dp_frame_cfg_init(&fc, our_mac, &a, 8004) == 0);
	f = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past them */
	CB_ASSERT(f != NULL);
	memcpy(f, data, size);
	k = dp_frame_classify(&fc, f, size, &d);
	CB_ASSERT(dp_frame_kind_name(k)[0] != '?');
	if (k == DP_FRAME_DGRAM) {
		CB_ASSERT(d.off == DP_FRAME_HDRS && d.off + d.len <= size);
		CB_ASSERT(memcmp(f, data, size) == 0);
		check_reply(&fc, f, size, &d);
	} else if (k == DP_FRAME_ARP_REPLY) {
		k = dp_frame_classify(&fc, f, size, &d);
		CB_ASSERT(k != DP_FRAME_ARP_REPLY && k != DP_FRAME_DGRAM);
	} else {
		CB_ASSERT(memcmp(f, data, size) == 0);
	}
	free(f);
	return 0;
}
