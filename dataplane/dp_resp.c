/*
 * The responder (dp_resp.h): PROTOCOL.md's five rules in their order, then
 * the OFFER from the shared index and policy, built in the QUERY's buffer.
 * The rules run in PROTOCOL.md's numbering so that each silence is counted
 * under the first rule it breaks; inside rule 4 the nonce is recorded only
 * after the MAC verified, so that forgeries cannot fill the replay cache.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#include "cb_index.h"
#include "cb_disc.h"
#include "cb_log.h"
#include "cb_policy.h"
#include "dp_auth.h"
#include "dp_keys.h"
#include "dp_rate.h"
#include "dp_replay.h"
#include "dp_resp.h"
#include "dp_sources.h"

_Static_assert(DP_DROP_COUNT <= CB_DISC_DROPS, "discovery.shm has a counter per drop reason");

#define RESP_RATE_SOURCES (1u << 16) /* sources with a bucket of their own */
#define RESP_REPLAY_MAX	  (1u << 20) /* nonces remembered at most (32 MiB) */

/* A mapped shared file and the inode it was mapped from, to notice a replacement. */
struct resp_map {
	char path[CFG_PATH_MAX + 32];
	dev_t dev;
	ino_t ino;
};

struct dp_resp {
	struct cb_index *ix;
	struct cb_policy *pol;
	struct resp_map ix_map, pol_map;

	uint8_t group[DP_GUID_LEN];
	char key_path[CFG_PATH_MAX];
	struct dp_keys *keys; /* NULL: no group_key_file, so no AUTH */
	uint64_t window_s;
	struct dp_replay *replay;
	struct dp_rate *rate;
	struct dp_sources sources;

	/* the advertised service: fixed by the config, or the arrival interface's address */
	bool adv_fixed;
	uint8_t adv_family;
	uint8_t adv_addr[DP_ADDR_LEN];
	uint16_t adv_port;
	uint8_t tls;

	uint64_t announce_ns; /* 0: ANNOUNCE at start only */
	uint64_t last_announce_ns;
};

static uint64_t seed64(void)
{
	uint64_t s = 0;

	if (RAND_bytes((unsigned char *)&s, sizeof(s)) != 1)
		s = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	return s;
}

/* A numeric IPv4 or IPv6 literal to family and 16 address bytes; false for names and wildcards. */
static bool parse_numeric(const char *host, uint8_t *family, uint8_t addr[DP_ADDR_LEN])
{
	static const uint8_t zero[DP_ADDR_LEN];

	memset(addr, 0, DP_ADDR_LEN);
	if (inet_pton(AF_INET, host, addr) == 1)
		*family = 4;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = 6;
	else
		return false;
	return memcmp(addr, zero, DP_ADDR_LEN) != 0;
}

/* PROTOCOL.md: [discovery] advertise, else [server] listen when not a wildcard, else per query. */
static void advertise_init(struct dp_resp *r, const struct cfg *c)
{
	r->adv_port =
		c->discovery.advertise.port ? c->discovery.advertise.port : c->server.listen.port;
	r->tls = c->server.tls_cert[0] != '\0';
	if (c->discovery.advertise.host[0])
		r->adv_fixed =
			parse_numeric(c->discovery.advertise.host, &r->adv_family, r->adv_addr);
	else
		r->adv_fixed = parse_numeric(c->server.listen.host, &r->adv_family, r->adv_addr);
}

static int keys_load(struct dp_resp *r, char *err, size_t errlen)
{
	struct dp_keys *ks = calloc(1, sizeof(*ks));
	int ret;

	if (!ks)
		return -ENOMEM;
	ret = dp_keys_load(ks, r->key_path, err, errlen);
	if (ret < 0) {
		dp_keys_wipe(ks);
		free(ks);
		return ret;
	}
	if (r->keys) {
		dp_keys_wipe(r->keys);
		free(r->keys);
	}
	r->keys = ks;
	return 0;
}

/* Re-maps path when it appeared or was replaced since; keeps the old map when it vanished. */
static void *map_refresh(struct resp_map *m, void *cur, void *(*attach)(const char *),
			 void (*close_fn)(void *))
{
	struct stat st;
	void *fresh;

	if (stat(m->path, &st) < 0)
		return cur;
	if (cur && st.st_dev == m->dev && st.st_ino == m->ino)
		return cur;
	fresh = attach(m->path);
	if (!fresh)
		return cur;
	if (cur)
		close_fn(cur);
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	cb_info("mapped %s read-only", m->path);
	return fresh;
}

static void *ix_attach(const char *p)
{
	return cb_index_attach_ro(p);
}
static void ix_close(void *p)
{
	cb_index_close(p);
}
static void *pol_attach(const char *p)
{
	return cb_policy_attach_ro(p);
}
static void pol_close(void *p)
{
	cb_policy_close(p);
}

static void maps_refresh(struct dp_resp *r)
{
	r->ix = map_refresh(&r->ix_map, r->ix, ix_attach, ix_close);
	r->pol = map_refresh(&r->pol_map, r->pol, pol_attach, pol_close);
}

static int guards_init(struct dp_resp *r, const struct cfg *c, char *err, size_t errlen)
{
	uint64_t want;
	int ret;

	r->window_s = c->discovery.auth_window_ms / 1000;
	if (r->window_s == 0)
		r->window_s = 1;
	dp_sources_init(&r->sources, c);
	r->rate = dp_rate_new(RESP_RATE_SOURCES, c->discovery.rate_per_source,
			      c->discovery.rate_global, seed64());
	if (!r->rate) {
		ret = -errno;
		snprintf(err, errlen, "rate limiter: %s", strerror(errno));
		return ret;
	}
	if (!c->discovery.group_key_file[0])
		return 0;
	snprintf(r->key_path, sizeof(r->key_path), "%s", c->discovery.group_key_file);
	ret = keys_load(r, err, errlen);
	if (ret < 0)
		return ret;
	/* the worst case, rate_global for a whole window, within a fixed bound */
	want = (uint64_t)c->discovery.rate_global * r->window_s;
	r->replay = dp_replay_new(want < RESP_REPLAY_MAX ? (unsigned)want : RESP_REPLAY_MAX,
				  r->window_s, seed64());
	if (!r->replay) {
		ret = -errno;
		snprintf(err, errlen, "replay cache: %s", strerror(errno));
		return ret;
	}
	return 0;
}

struct dp_resp *dp_resp_new(const struct cfg *c, char *err, size_t errlen)
{
	struct dp_resp *r = calloc(1, sizeof(*r));
	int ret = -ENOMEM;

	snprintf(err, errlen, "out of memory");
	if (!r)
		goto fail;
	ret = -EINVAL;
	if (c->discovery.group_id[0] && dp_guid_parse(c->discovery.group_id, r->group) < 0) {
		snprintf(err, errlen, "[discovery] group_id: not a GUID");
		goto fail;
	}
	ret = guards_init(r, c, err, errlen);
	if (ret < 0)
		goto fail;
	advertise_init(r, c);
	r->announce_ns = c->discovery.announce_interval_ms * 1000000ull;
	snprintf(r->ix_map.path, sizeof(r->ix_map.path), "%s/index.shm", c->appliance.state_dir);
	snprintf(r->pol_map.path, sizeof(r->pol_map.path), "%s/policy.shm", c->appliance.state_dir);
	maps_refresh(r);
	return r;
fail:
	dp_resp_free(r);
	errno = -ret;
	return NULL;
}

void dp_resp_free(struct dp_resp *r)
{
	if (!r)
		return;
	cb_index_close(r->ix);
	cb_policy_close(r->pol);
	if (r->keys) {
		dp_keys_wipe(r->keys);
		free(r->keys);
	}
	dp_replay_free(r->replay);
	dp_rate_free(r->rate);
	free(r);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * have, sizes and pieces_present for the asked range, from the index
 * alone. piece_count 0 asks from first_piece to the end. The index keeps a
 * count of verified pieces, not their positions (cb_shm.h), so for a
 * partial object the answer is "some", bounded by that count.
 */
static void fill_have(const struct dp_resp *r, const struct dp_query *q, struct dp_offer_fields *f)
{
	struct cb_index_rec rec;
	uint32_t asked, held;

	if (!r->ix || all_zero(q->content_id, DP_CONTENT_LEN) ||
	    cb_index_lookup(r->ix, q->content_id, &rec) < 0 || q->first_piece >= rec.npieces)
		return;
	asked = rec.npieces - q->first_piece;
	if (q->piece_count && q->piece_count < asked)
		asked = q->piece_count;
	if ((rec.flags & CB_INDEX_COMPLETE) || rec.pieces_present >= rec.npieces) {
		f->have = 2;
		held = asked;
	} else {
		held = rec.pieces_present < asked ? rec.pieces_present : asked;
		if (!held)
			return;
		f->have = 1;
	}
	f->object_size = rec.size;
	f->piece_size = rec.piece_size;
	f->pieces_present = held;
}

static bool is_v4(const uint8_t a[16])
{
	static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, v4_prefix, 12) == 0;
}

/* The box's own fields: free slots and the service address. */
static void fill_box(const struct dp_resp *r, const struct cfg_cidr *iface, uint8_t fallback_family,
		     struct dp_offer_fields *f)
{
	f->free_slots = r->pol ? (uint8_t)cb_policy_free_slots(r->pol) : 0;
	f->port = r->adv_port;
	f->tls = r->tls;
	if (r->adv_fixed) {
		f->family = r->adv_family;
		memcpy(f->address, r->adv_addr, DP_ADDR_LEN);
	} else if (iface && is_v4(iface->addr)) {
		f->family = 4;
		memcpy(f->address, iface->addr + 12, 4);
	} else if (iface) {
		f->family = 6;
		memcpy(f->address, iface->addr, DP_ADDR_LEN);
	} else {
		f->family =
			fallback_family; /* no address known: zeros, which a client cannot use */
	}
}

/* Rule 4. The key is returned for signing the OFFER. */
static enum dp_drop check_auth(struct dp_resp *r, const struct dp_msg *m, const uint8_t *buf,
			       size_t len, const struct dp_now *now, const struct dp_key **key)
{
	uint64_t ts = m->auth.timestamp;

	*key = NULL;
	if (!r->keys)
		return (m->hdr.flags & DP_FLAG_AUTH) ? DP_DROP_UNAUTHENTICATED : DP_DROP_NONE;
	if (!(m->hdr.flags & DP_FLAG_AUTH))
		return DP_DROP_UNAUTHENTICATED;
	*key = dp_keys_find(r->keys, m->auth.key_id);
	if (!*key)
		return DP_DROP_UNAUTHENTICATED;
	if ((ts > now->wall_s ? ts - now->wall_s : now->wall_s - ts) > r->window_s)
		return DP_DROP_STALE;
	if (dp_auth_verify(buf, len, (*key)->bytes, (*key)->len) != 0)
		return DP_DROP_BAD_MAC;
	if (dp_replay_seen(r->replay, m->auth.key_id, m->auth.nonce, ts, now->wall_s))
		return DP_DROP_REPLAY;
	return DP_DROP_NONE;
}

static enum dp_drop judge(struct dp_resp *r, const struct dp_msg *m, const uint8_t *buf, size_t len,
			  const struct dp_src *src, const struct dp_now *now,
			  const struct dp_key **key)
{
	enum dp_drop why;

	if (dp_sources_check(&r->sources, src->addr, src->port, src->iface) != DP_SRC_OK)
		return DP_DROP_BAD_SOURCE;
	if (memcmp(m->body.query.group_id, r->group, DP_GUID_LEN) != 0)
		return DP_DROP_WRONG_GROUP;
	why = check_auth(r, m, buf, len, now, key);
	if (why != DP_DROP_NONE)
		return why;
	if (!dp_rate_allow(r->rate, src->addr, now->mono_ns))
		return DP_DROP_RATE_LIMITED;
	return DP_DROP_NONE;
}

static int sign(uint8_t *buf, size_t len, const struct dp_key *key, const struct dp_now *now)
{
	uint8_t nonce[DP_NONCE_LEN];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	return dp_auth_sign(buf, len, key->bytes, key->len, key->id, now->wall_s, nonce);
}

size_t dp_resp_handle(struct dp_resp *r, struct cb_disc_lane *lane, uint8_t *buf, size_t len,
		      const struct dp_src *src, const struct dp_now *now)
{
	struct dp_offer_fields f = {0};
	const struct dp_key *key = NULL;
	enum dp_drop why;
	struct dp_msg m;

	cb_disc_add(&lane->rx, 1);
	why = dp_decode(buf, len, &m);
	if (why == DP_DROP_NONE && m.hdr.type != DP_T_QUERY) {
		cb_disc_add(&lane->ignored, 1);
		return 0;
	}
	if (why == DP_DROP_NONE) {
		cb_disc_add(&lane->queries, 1);
		why = judge(r, &m, buf, len, src, now, &key);
	}
	if (why != DP_DROP_NONE) {
		cb_disc_add(&lane->drops[why], 1);
		return 0;
	}
	fill_have(r, &m.body.query, &f);
	fill_box(r, src->iface, is_v4(src->addr) ? 4 : 6, &f);
	if (dp_offer_in_place(buf, len, &f) < 0 || (key && sign(buf, len, key, now) < 0)) {
		cb_disc_add(&lane->tx_failed, 1); /* cannot happen with fields built above */
		return 0;
	}
	cb_disc_add(&lane->offers, 1);
	return len;
}

int dp_resp_announce(struct dp_resp *r, enum dp_type type, const struct cfg_cidr *iface,
		     const struct dp_now *now, uint8_t *buf, size_t cap)
{
	const struct dp_key *key = r->keys && r->keys->n ? &r->keys->keys[0] : NULL;
	struct dp_hdr h = {.type = (uint8_t)type, .flags = key ? DP_FLAG_AUTH : 0};
	struct dp_offer o = {0};
	int len;

	if (type != DP_T_ANNOUNCE && type != DP_T_BYE)
		return -EINVAL;
	if (RAND_bytes((unsigned char *)&h.txid, sizeof(h.txid)) != 1)
		return -EIO;
	memcpy(o.group_id, r->group, DP_GUID_LEN);
	fill_box(r, iface, 4, &o.f);
	len = dp_encode_offer(buf, cap, &h, &o);
	if (len < 0 || !key)
		return len;
	return sign(buf, (size_t)len, key, now) < 0 ? -EIO : len;
}

bool dp_resp_service(struct dp_resp *r, bool reload, const struct dp_now *now)
{
	char err[256];

	maps_refresh(r);
	if (reload && r->key_path[0]) {
		if (keys_load(r, err, sizeof(err)) < 0)
			cb_err("reload: %s (the old keys stay in force)", err);
		else
			cb_info("reload: %u group keys from %s", r->keys->n, r->key_path);
	}
	return r->announce_ns && now->mono_ns - r->last_announce_ns >= r->announce_ns;
}

void dp_resp_announced(struct dp_resp *r, const struct dp_now *now)
{
	r->last_announce_ns = now->mono_ns;
}

void dp_now_read(struct dp_now *now)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now->mono_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	now->wall_s = (uint64_t)ts.tv_sec;
}

void dp_resp_describe(const struct dp_resp *r, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "";

	if (!r->adv_fixed)
		snprintf(out, cap, "(arrival interface):%u", r->adv_port);
	else if (r->adv_family == 4)
		snprintf(out, cap, "%s:%u", inet_ntop(AF_INET, r->adv_addr, a, sizeof(a)),
			 r->adv_port);
	else
		snprintf(out, cap, "[%s]:%u", inet_ntop(AF_INET6, r->adv_addr, a, sizeof(a)),
			 r->adv_port);
}
