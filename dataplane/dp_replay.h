/*
 * The replay cache of PROTOCOL.md rule 4: every (key_id, nonce) of an
 * authenticated QUERY is remembered for as long as its timestamp could
 * still pass the |now - timestamp| <= auth_window check, so the same
 * datagram sent twice is answered once. Fixed size, made at start; nothing
 * is allocated per packet. Times are seconds since 1970 (the wire's), passed
 * in by the caller so the tests are deterministic.
 */
#ifndef DP_REPLAY_H
#define DP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define DP_NONCE_LEN	 20
#define DP_REPLAY_PROBE	 16	    /* slots one (key_id, nonce) may occupy */
#define DP_REPLAY_MAXCAP (1u << 24) /* entries */

struct dp_replay;

/*
 * A cache of at least capacity entries (rounded up to a power of two, at
 * least DP_REPLAY_PROBE, at most DP_REPLAY_MAXCAP) remembering nonces for
 * window_s seconds past their timestamp. seed keys the slot hash (pass a
 * random one in production). NULL with errno EINVAL (capacity 0 or too
 * large, window 0) or ENOMEM.
 */
struct dp_replay *dp_replay_new(unsigned capacity, uint64_t window_s, uint64_t seed);
void dp_replay_free(struct dp_replay *r);

/*
 * Whether (key_id, nonce) sent at timestamp must be refused as a replay at
 * time now; if not, it is recorded until timestamp + window_s. Call it only
 * after the MAC verified, so only key holders fill the cache. Refused (true)
 * also: a timestamp outside now +- window_s (it cannot be remembered for
 * its whole life; the caller's staleness check should have caught it), and
 * a datagram whose DP_REPLAY_PROBE slots all hold live entries (see
 * dp_replay.c: refusing is the safe answer to a full cache).
 */
bool dp_replay_seen(struct dp_replay *r, uint32_t key_id, const uint8_t nonce[DP_NONCE_LEN],
		    uint64_t timestamp, uint64_t now);
/* How many times dp_replay_seen refused because the cache was full. */
uint64_t dp_replay_full_count(const struct dp_replay *r);

#endif
