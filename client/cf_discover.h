/*
 * Discovery from the client (PROTOCOL.md, UDP 8004): one QUERY for the
 * object's content ID, broadcast on the LAN (or sent to --discover-target),
 * signed with the first key of --group-key-file when one is given; then the
 * OFFERs that arrive within --discover-wait, each checked against what the
 * QUERY asked (txid, group, content ID, and the MAC and clock when signed),
 * deduplicated by box and ranked as PROTOCOL.md says: have = 2 first, then
 * more pieces_present, then more free_slots. The checks and the ranking are
 * pure functions on bytes, so the unit tests drive them without a socket;
 * the datagrams are built and read by the dataplane's codec (dp_codec.h,
 * dp_auth.h), never by hand, so the client and the boxes agree byte for byte.
 */
#ifndef CF_DISCOVER_H
#define CF_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cf_args.h"
#include "cf_hosts.h"
#include "dp_codec.h"
#include "dp_keys.h"

#define CF_DISC_PORT	      8004
#define CF_DISC_WINDOW_S      30   /* a signed OFFER's clock may differ this much (auth_window) */
#define CF_DISC_DATAGRAMS_MAX 4096 /* datagrams read in one wait, whatever they are */

/* What one QUERY asked; its OFFERs must match it. */
struct cf_disc_query {
	uint64_t txid;
	uint8_t group[DP_GUID_LEN]; /* all zero: no group */
	uint8_t id[DP_CONTENT_LEN];
	const struct dp_key *key; /* NULL: unauthenticated */
};

/* Why a datagram was not taken as an OFFER: the enum and the names in messages. */
#define CF_DISC_VERDICTS(X)                                                                        \
	X(OK, "ok")                                                                                \
	X(INVALID, "invalid")		      /* not a well-formed datagram (dp_decode) */         \
	X(NOT_OFFER, "not_offer")	      /* a QUERY, ANNOUNCE or BYE */                       \
	X(WRONG_TXID, "wrong_txid")	      /* not an answer to our QUERY */                     \
	X(WRONG_GROUP, "wrong_group")	      /* another group's box */                            \
	X(WRONG_CONTENT, "wrong_content")     /* about another object */                           \
	X(UNAUTHENTICATED, "unauthenticated") /* not signed as our QUERY was (or signed when it    \
						 was not, or under another key ID) */              \
	X(STALE, "stale")		      /* signed, clock off by more than the window */      \
	X(BAD_MAC, "bad_mac")                                                                      \
	X(NO_ADDRESS, "no_address") /* an address or port a client cannot connect to */

enum cf_disc_verdict {
#define CF_DISC_ENUM(id, name) CF_DISC_##id,
	CF_DISC_VERDICTS(CF_DISC_ENUM)
#undef CF_DISC_ENUM
		CF_DISC_NVERDICTS
};

/* The name of a verdict ("bad_mac", ...), "?" out of range. */
const char *cf_disc_verdict_name(enum cf_disc_verdict v);

/*
 * Writes q's QUERY for the whole object (first_piece 0, piece_count 0) into
 * buf: DP_LEN bytes, or DP_LEN_AUTH signed with q->key, timestamp now_s and
 * nonce. Returns the length, or -ENOSPC / -EINVAL / -EIO (dp_encode,
 * dp_auth_sign).
 */
int cf_disc_query_encode(const struct cf_disc_query *q, uint64_t now_s,
			 const uint8_t nonce[DP_NONCE_LEN], uint8_t *buf, size_t cap);

/*
 * Judges one datagram of len bytes as an answer to q, at wall clock now_s.
 * CF_DISC_OK with the box's fields in *f, or why not (f then undefined).
 * An OFFER is ours when it decodes, has q's txid, group and content ID, and
 * is signed exactly when q is: under q's key ID, with a timestamp within
 * CF_DISC_WINDOW_S of now_s and a MAC that verifies under q->key. Its
 * address must be one to connect to (not zero, broadcast, multicast or
 * link-local without a scope) and its port not 0.
 */
enum cf_disc_verdict cf_disc_judge(const struct cf_disc_query *q, const uint8_t *buf, size_t len,
				   uint64_t now_s, struct dp_offer_fields *f);

/* True when OFFER a ranks before b: have = 2 first, then more pieces_present, then free_slots. */
bool cf_disc_before(const struct dp_offer_fields *a, const struct dp_offer_fields *b);

/*
 * Adds f to the ranked list v[0..*n) (cap entries), in rank order, after
 * the entries that rank the same (first come, first tried). A box already
 * in v (same family, address and port) keeps the better of its two OFFERs.
 * When v is full, f replaces the last entry only if it ranks before it.
 */
void cf_disc_add(struct dp_offer_fields *v, size_t *n, size_t cap, const struct dp_offer_fields *f);

/*
 * Appends the boxes of v[0..nv), in order, to the hosts h[*n..cap) as
 * from = "discovery": name the OFFER's address, port its port, plain HTTP
 * (the port speaks both), id_form when the box holds some of the object (a
 * box with have = 0 cannot name it by content ID, so it gets the
 * connected-cache form and fills from the origin). A box already in h (a
 * listed host) is skipped. Returns how many were added.
 */
size_t cf_disc_hosts(const struct dp_offer_fields *v, size_t nv, struct cf_host *h, size_t cap,
		     size_t *n);

/*
 * --discover-target: an IPv4 or IPv6 address, with an optional port
 * ("ADDR", "ADDR:PORT", "[V6]", "[V6]:PORT"; default CF_DISC_PORT; an IPv6
 * address may carry its interface, "fe80::1%eth0") into ss. 0 or -EINVAL.
 */
int cf_disc_target_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl);

/*
 * A group GUID in text (8-4-4-4-12 hex digits, braces optional) into out.
 * 0, or -EINVAL with the reason in err.
 */
int cf_disc_group_parse(const char *text, uint8_t out[DP_GUID_LEN], char *err, size_t errlen);

/*
 * Runs discovery for content id: a QUERY with group (16 bytes, or NULL for
 * none: from --group-id or DHCP option 234), to --discover-target or the
 * IPv4 limited broadcast 255.255.255.255:8004 (on --interface only, when
 * given), then OFFERs for o->discover_wait_ms. The boxes are appended to
 * v[*n..cap) in rank order (cf_disc_hosts). A network failure or no OFFER
 * is not an error: it says so on stderr (unless -q) and adds nothing.
 * Returns 0, or CF_EXIT_USAGE with the reason in err (a bad target, an
 * unknown interface, a key file that cannot be read or parsed).
 */
int cf_discover(const struct cf_opts *o, const uint8_t *group, const uint8_t id[32],
		struct cf_host *v, size_t cap, size_t *n, char *err, size_t errlen);

#endif
