/*
 * The responder: PROTOCOL.md's "What a box answers", as one function over
 * one received datagram, shared by the socket and the DPDK backends so that
 * both send the same bytes for the same QUERY. It owns the guards (keys,
 * replay cache, rate limits, allowed sources), reads the shared index and
 * policy read-only without locks, builds the OFFER in place in the
 * datagram's own buffer (a reply is never larger than its request) and
 * counts every datagram once in its lane (common/cb_disc.h).
 *
 * One responder serves one packet loop: the rate limiter and the replay
 * cache are not shared between threads. Nothing here allocates, locks or
 * makes a system call per datagram; dp_resp_service() does the slow work
 * (re-mapping a replaced index, re-reading the key file) and is called by
 * the backend between bursts, about once a second and after SIGHUP.
 */
#ifndef DP_RESP_H
#define DP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cb_shm.h"
#include "cfg.h"
#include "dp_codec.h"

struct dp_resp;

/* Where a datagram came from, as the backend saw it. */
struct dp_src {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint16_t port;
	/*
	 * The address/prefix of the interface it arrived on (host bits kept),
	 * in the source's family: on-link checks, the subnet broadcast and the
	 * advertised address when nothing else gives one. NULL when unknown.
	 */
	const struct cfg_cidr *iface;
};

/* The clocks a datagram is judged by: read once per burst by the backend. */
struct dp_now {
	uint64_t mono_ns; /* CLOCK_MONOTONIC: rate limits, announce timing */
	uint64_t wall_s;  /* CLOCK_REALTIME seconds: auth timestamps */
};

/*
 * A responder for the [discovery] section of c: group, keys (loaded now;
 * a bad file or mode fails here), guards sized for the rates, the
 * advertised address. Maps <state_dir>/index.shm and policy.shm read-only
 * when they exist (until then every OFFER says have 0 and free_slots 0; see
 * dp_resp_service). NULL with errno and a one-line reason in err.
 */
struct dp_resp *dp_resp_new(const struct cfg *c, char *err, size_t errlen);
void dp_resp_free(struct dp_resp *r);

/*
 * Judges the datagram in buf (len bytes, as received; the buffer must hold
 * at least len writable bytes) from src at now, counting it in lane.
 * Returns len with buf turned into the OFFER to send back to src, or 0:
 * silence (the reason is counted in lane->drops[] or lane->ignored).
 */
size_t dp_resp_handle(struct dp_resp *r, struct cb_disc_lane *lane, uint8_t *buf, size_t len,
		      const struct dp_src *src, const struct dp_now *now);

/*
 * Writes an ANNOUNCE or a BYE (type DP_T_ANNOUNCE or DP_T_BYE) into buf
 * (cap bytes) for the interface iface (its address is advertised when the
 * config gives none; may be NULL), signed with the key file's first key
 * when there is one. Returns the length, or -errno.
 */
int dp_resp_announce(struct dp_resp *r, enum dp_type type, const struct cfg_cidr *iface,
		     const struct dp_now *now, uint8_t *buf, size_t cap);

/*
 * The slow path, outside packet processing: re-maps index.shm and
 * policy.shm when they appeared or were replaced (a restarted file server
 * makes a new index), and with reload set re-reads the group key file
 * (a bad new file keeps the old keys and is logged). Returns true when an
 * ANNOUNCE is due (announce_interval elapsed since the last one; never when
 * the interval is 0, the first one being the backend's at start).
 */
bool dp_resp_service(struct dp_resp *r, bool reload, const struct dp_now *now);
/* Records that ANNOUNCEs went out at now (start, or a due one). */
void dp_resp_announced(struct dp_resp *r, const struct dp_now *now);

/* What OFFERs advertise, for status: "192.0.2.10:8003", or "(arrival interface):8003". */
void dp_resp_describe(const struct dp_resp *r, char *out, size_t cap);

/* Fills now from the two clocks (clock_gettime: the vDSO, no system call). */
void dp_now_read(struct dp_now *now);

#endif
