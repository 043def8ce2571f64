/*
 * The pure half of the client's discovery (cf_discover.h): the QUERY's
 * bytes, the judgement of each datagram that comes back, PROTOCOL.md's
 * ranking of the OFFERs that pass, and their turning into cache hosts. No
 * socket and no clock of its own (the caller passes the time and the
 * nonce), so that every rule is unit-tested on datagrams made by the
 * dataplane's codec (tests/unit/client/test_discover.c).
 */
#include "cf_discover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cb_common.h"
#include "dp_auth.h"

static const char *const verdict_names[] = {
#define CF_DISC_NAME(id, name) name,
	CF_DISC_VERDICTS(CF_DISC_NAME)
#undef CF_DISC_NAME
};

const char *cf_disc_verdict_name(enum cf_disc_verdict v)
{
	return (unsigned)v < CF_DISC_NVERDICTS ? verdict_names[v] : "?";
}

int cf_disc_query_encode(const struct cf_disc_query *q, uint64_t now_s,
			 const uint8_t nonce[DP_NONCE_LEN], uint8_t *buf, size_t cap)
{
	struct dp_hdr h = {.type = DP_T_QUERY, .flags = q->key ? DP_FLAG_AUTH : 0, .txid = q->txid};
	struct dp_query body = {.first_piece = 0, .piece_count = 0}; /* the whole object */
	int len, e;

	memcpy(body.group_id, q->group, DP_GUID_LEN);
	memcpy(body.content_id, q->id, DP_CONTENT_LEN);
	len = dp_encode_query(buf, cap, &h, &body);
	if (len < 0 || !q->key)
		return len;
	e = dp_auth_sign(buf, (size_t)len, q->key->bytes, q->key->len, q->key->id, now_s, nonce);
	return e < 0 ? e : len;
}

/* An address a client can connect to: not zero, broadcast, multicast, or unscoped link-local. */
static bool address_usable(const struct dp_offer_fields *f)
{
	static const uint8_t zero[DP_ADDR_LEN];
	const uint8_t *a = f->address;

	if (f->family == 4)
		return a[0] != 0 && a[0] < 224; /* 224/4 multicast, 240/4 and 255.255.255.255 */
	return memcmp(a, zero, DP_ADDR_LEN) != 0 && a[0] != 0xff &&
	       !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

enum cf_disc_verdict cf_disc_judge(const struct cf_disc_query *q, const uint8_t *buf, size_t len,
				   uint64_t now_s, struct dp_offer_fields *f)
{
	struct dp_msg m;
	uint64_t ts;

	if (dp_decode(buf, len, &m) != DP_DROP_NONE)
		return CF_DISC_INVALID;
	if (m.hdr.type != DP_T_OFFER)
		return CF_DISC_NOT_OFFER;
	if (m.hdr.txid != q->txid)
		return CF_DISC_WRONG_TXID;
	if (memcmp(m.body.offer.group_id, q->group, DP_GUID_LEN) != 0)
		return CF_DISC_WRONG_GROUP;
	if (memcmp(m.body.offer.content_id, q->id, DP_CONTENT_LEN) != 0)
		return CF_DISC_WRONG_CONTENT;
	/* PROTOCOL.md "What a client accepts": signed exactly as the QUERY was. */
	if (!q->key != !(m.hdr.flags & DP_FLAG_AUTH) || (q->key && m.auth.key_id != q->key->id))
		return CF_DISC_UNAUTHENTICATED;
	if (q->key) {
		ts = m.auth.timestamp;
		if ((ts > now_s ? ts - now_s : now_s - ts) > CF_DISC_WINDOW_S)
			return CF_DISC_STALE;
		if (dp_auth_verify(buf, len, q->key->bytes, q->key->len) != 0)
			return CF_DISC_BAD_MAC;
	}
	if (!m.body.offer.f.port || !address_usable(&m.body.offer.f))
		return CF_DISC_NO_ADDRESS;
	*f = m.body.offer.f;
	return CF_DISC_OK;
}

bool cf_disc_before(const struct dp_offer_fields *a, const struct dp_offer_fields *b)
{
	if ((a->have == 2) != (b->have == 2))
		return a->have == 2;
	if (a->pieces_present != b->pieces_present)
		return a->pieces_present > b->pieces_present;
	return a->free_slots > b->free_slots;
}

static bool same_box(const struct dp_offer_fields *a, const struct dp_offer_fields *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->address, b->address, DP_ADDR_LEN) == 0;
}

void cf_disc_add(struct dp_offer_fields *v, size_t *n, size_t cap, const struct dp_offer_fields *f)
{
	size_t at;

	for (size_t i = 0; i < *n; i++)
		if (same_box(&v[i], f)) {
			if (!cf_disc_before(f, &v[i]))
				return;
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			break;
		}
	if (!cap)
		return;
	if (*n == cap) {
		if (!cf_disc_before(f, &v[cap - 1]))
			return;
		(*n)--;
	}
	/* after every entry that f does not rank before: ties keep their arrival order */
	for (at = *n; at > 0 && cf_disc_before(f, &v[at - 1]); at--)
		;
	memmove(&v[at + 1], &v[at], (*n - at) * sizeof(*v));
	v[at] = *f;
	(*n)++;
}

size_t cf_disc_hosts(const struct dp_offer_fields *v, size_t nv, struct cf_host *h, size_t cap,
		     size_t *n)
{
	size_t added = 0;

	for (size_t i = 0; i < nv && *n < cap; i++) {
		struct cf_host x;
		bool dup = false;

		memset(&x, 0, sizeof(x));
		if (!inet_ntop(v[i].family == 4 ? AF_INET : AF_INET6, v[i].address, x.name,
			       sizeof(x.name)))
			continue;
		x.port = v[i].port;
		x.id_form = v[i].have > 0;
		x.from = "discovery";
		cf_host_set_base(&x);
		for (size_t j = 0; j < *n; j++)
			dup |= !strcasecmp(h[j].name, x.name) && h[j].port == x.port;
		if (dup)
			continue;
		h[(*n)++] = x;
		added++;
	}
	return added;
}

/* Decimal port s[0..len), 1..65535; 0 when it is not one. */
static uint16_t port_of(const char *s, size_t len)
{
	unsigned long p = 0;

	if (!len || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!cb_is_digit(s[i]))
			return 0;
		p = p * 10 + (unsigned long)(s[i] - '0');
	}
	return p <= 65535 ? (uint16_t)p : 0;
}

int cf_disc_target_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], *scope;
	const char *end = s + strlen(s), *colon = NULL;
	unsigned scope_id = 0;
	size_t hl;
	uint16_t port = CF_DISC_PORT;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		hl = (size_t)(close - s - 1);
		s++;
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address: no port */
		hl = colon ? (size_t)(colon - s) : (size_t)(end - s);
	}
	if (colon && !(port = port_of(colon + 1, (size_t)(end - colon - 1))))
		return -EINVAL;
	if (!hl || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		*sl = sizeof(struct sockaddr_in);
		return 0;
	}
	scope = strchr(host, '%'); /* fe80::1%eth0: a link-local address and its interface */
	if (scope) {
		*scope++ = 0;
		scope_id = if_nametoindex(scope);
		if (!scope_id)
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		((struct sockaddr_in6 *)ss)->sin6_scope_id = scope_id;
		*sl = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

int cf_disc_group_parse(const char *text, uint8_t out[DP_GUID_LEN], char *err, size_t errlen)
{
	if (dp_guid_parse(text, out) == 0)
		return 0;
	snprintf(err, errlen,
		 "--group-id '%s': not a GUID (8-4-4-4-12 hex digits, braces optional, e.g. "
		 "3f1a6c2e-8b4d-4c1e-9a0b-112233445566)",
		 text);
	return -EINVAL;
}
