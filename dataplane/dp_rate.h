/*
 * The rate limits of PROTOCOL.md rule 5: a token bucket per source address
 * (rate_per_source per second, burst twice that) and one global bucket
 * (rate_global per second, burst twice that), so that the box can never be
 * made to send more than those rates. The table of sources is fixed at
 * start; nothing is allocated per packet. Time is passed in (monotonic ns).
 */
#ifndef DP_RATE_H
#define DP_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define DP_RATE_PROBE  8	  /* slots one source may occupy */
#define DP_RATE_MAXCAP (1u << 22) /* sources */

struct dp_rate;

/*
 * A limiter for at least capacity sources (a power of two, at least
 * DP_RATE_PROBE, at most DP_RATE_MAXCAP). seed keys the slot hash. NULL with
 * errno EINVAL (a rate of 0, a capacity out of range) or ENOMEM.
 */
struct dp_rate *dp_rate_new(unsigned capacity, uint32_t per_source, uint32_t global, uint64_t seed);
void dp_rate_free(struct dp_rate *r);
/*
 * Whether one QUERY from addr (16 bytes, IPv4 as ::ffff:a.b.c.d) may be
 * answered at now_ns; if so, a token is taken from its bucket and from the
 * global one. A new source finding its DP_RATE_PROBE slots all busy shares
 * one overflow bucket (rate per_source) with every other such source.
 */
bool dp_rate_allow(struct dp_rate *r, const uint8_t addr[16], uint64_t now_ns);
/* QUERYs that went through the overflow bucket (the table was full for them). */
uint64_t dp_rate_overflow_count(const struct dp_rate *r);

#endif
