/*
 * Every config key of DESIGN.md in one table: its section, type, field and
 * range. The table drives parsing (cfg_set), duplicate detection and the
 * messages; the defaults and the rules between keys live beside it, so
 * adding a key touches this file and cfg.h only.
 */
#include "cfg_priv.h"

#include "cb_common.h"
#include "cb_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

const char *const cfg_sect_names[] = {
	[CFG_S_NONE] = "",	     [CFG_S_APPLIANCE] = "appliance",
	[CFG_S_SERVER] = "server",   [CFG_S_STORAGE] = "storage",
	[CFG_S_LIMITS] = "limits",   [CFG_S_DISCOVERY] = "discovery",
	[CFG_S_CONTROL] = "control", [CFG_S_ORIGIN] = "origin",
};

#define CFG_G(m) offsetof(struct cfg, m), sizeof(((struct cfg *)0)->m)
#define CFG_O(m) offsetof(struct cfg_origin, m), sizeof(((struct cfg_origin *)0)->m)

/*
 * Every key of DESIGN.md plus user, access_log, zerocopy_threshold, max_connections,
 * max_connections_per_client, index_capacity and eviction.
 */
const struct cfg_key cfg_keys[] = {
	{CFG_S_APPLIANCE, "state_dir", CFG_T_PATH, CFG_G(appliance.state_dir)},
	{CFG_S_APPLIANCE, "log_level", CFG_T_LOG_LEVEL, CFG_G(appliance.log_level)},
	{CFG_S_APPLIANCE, "user", CFG_T_USER, CFG_G(appliance.user), .flags = CFG_F_EMPTY},
	{CFG_S_APPLIANCE, "access_log", CFG_T_PATH, CFG_G(appliance.access_log),
	 .flags = CFG_F_EMPTY},

	{CFG_S_SERVER, "listen", CFG_T_ADDR, CFG_G(server.listen)},
	{CFG_S_SERVER, "workers", CFG_T_UINT, CFG_G(server.workers), 0, 256, 0, "0 to 256"},
	{CFG_S_SERVER, "tls_cert", CFG_T_PATH, CFG_G(server.tls_cert), .flags = CFG_F_EMPTY},
	{CFG_S_SERVER, "tls_key", CFG_T_PATH, CFG_G(server.tls_key), .flags = CFG_F_EMPTY},
	{CFG_S_SERVER, "header_timeout", CFG_T_DURATION, CFG_G(server.header_timeout_ms), 1,
	 CFG_DAY_MS, 0, "1ms to 1d"},
	{CFG_S_SERVER, "idle_timeout", CFG_T_DURATION, CFG_G(server.idle_timeout_ms), 1, CFG_DAY_MS,
	 0, "1ms to 1d"},
	{CFG_S_SERVER, "zerocopy_threshold", CFG_T_SIZE, CFG_G(server.zerocopy_threshold)},
	{CFG_S_SERVER, "max_connections", CFG_T_UINT, CFG_G(server.max_connections), 1, 1000000, 0,
	 "1 to 1000000"},
	{CFG_S_SERVER, "max_connections_per_client", CFG_T_UINT,
	 CFG_G(server.max_connections_per_client), 0, 1000000, 0, "0 to 1000000"},

	{CFG_S_STORAGE, "shard", CFG_T_SHARD, CFG_G(storage.shards[0]), .flags = CFG_F_REPEAT},
	{CFG_S_STORAGE, "piece_size", CFG_T_SIZE, CFG_G(storage.piece_size), 64 * CFG_KIB,
	 64 * CFG_MIB, CFG_F_POW2, "a power of two from 64K to 64M"},
	{CFG_S_STORAGE, "absolute_max_cache_size", CFG_T_SIZE,
	 CFG_G(storage.absolute_max_cache_size)},
	{CFG_S_STORAGE, "max_cache_size_percent", CFG_T_PERCENT,
	 CFG_G(storage.max_cache_size_percent), 1, 100, 0, "1 to 100"},
	{CFG_S_STORAGE, "min_free_space", CFG_T_SIZE, CFG_G(storage.min_free_space)},
	{CFG_S_STORAGE, "eviction", CFG_T_EVICTION, CFG_G(storage.eviction_lru)},
	{CFG_S_STORAGE, "max_cache_age", CFG_T_DURATION, CFG_G(storage.max_cache_age_ms)},
	{CFG_S_STORAGE, "min_file_size_to_cache", CFG_T_SIZE,
	 CFG_G(storage.min_file_size_to_cache)},
	{CFG_S_STORAGE, "index_capacity", CFG_T_UINT, CFG_G(storage.index_capacity), 1, 1u << 30, 0,
	 "1 to 1073741824"},

	{CFG_S_LIMITS, "max_clients", CFG_T_UINT, CFG_G(limits.max_clients), 1, 100000, 0,
	 "1 to 100000"},
	{CFG_S_LIMITS, "queue_timeout", CFG_T_DURATION, CFG_G(limits.queue_timeout_ms), 0,
	 CFG_DAY_MS, 0, "0 to 1d"},
	{CFG_S_LIMITS, "max_bandwidth_served", CFG_T_RATE, CFG_G(limits.max_bandwidth_served)},
	{CFG_S_LIMITS, "max_bandwidth_per_client", CFG_T_RATE,
	 CFG_G(limits.max_bandwidth_per_client)},
	{CFG_S_LIMITS, "business_hours", CFG_T_HOURS, CFG_G(limits.business_start_min)},
	{CFG_S_LIMITS, "business_hours_max_bandwidth", CFG_T_RATE,
	 CFG_G(limits.business_hours_max_bandwidth)},
	{CFG_S_LIMITS, "monthly_upload_cap", CFG_T_SIZE, CFG_G(limits.monthly_upload_cap)},

	{CFG_S_DISCOVERY, "enabled", CFG_T_BOOL, CFG_G(discovery.enabled)},
	{CFG_S_DISCOVERY, "backend", CFG_T_BACKEND, CFG_G(discovery.backend_dpdk)},
	{CFG_S_DISCOVERY, "port", CFG_T_PORT, CFG_G(discovery.port)},
	{CFG_S_DISCOVERY, "address", CFG_T_IFADDR, CFG_G(discovery.address), .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "advertise", CFG_T_IP_PORT, CFG_G(discovery.advertise),
	 .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "allowed_sources", CFG_T_CIDR_LIST, CFG_G(discovery.allowed),
	 .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "rate_per_source", CFG_T_UINT, CFG_G(discovery.rate_per_source), 1,
	 1000000, 0, "1 to 1000000"},
	{CFG_S_DISCOVERY, "rate_global", CFG_T_UINT, CFG_G(discovery.rate_global), 1, 100000000, 0,
	 "1 to 100000000"},
	{CFG_S_DISCOVERY, "announce_interval", CFG_T_DURATION,
	 CFG_G(discovery.announce_interval_ms), 0, CFG_DAY_MS, 0, "0 to 1d"},
	{CFG_S_DISCOVERY, "auth_window", CFG_T_DURATION, CFG_G(discovery.auth_window_ms), 1000,
	 CFG_DAY_MS, 0, "1s to 1d"},
	{CFG_S_DISCOVERY, "group_id", CFG_T_GUID, CFG_G(discovery.group_id), .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "group_key_file", CFG_T_PATH, CFG_G(discovery.group_key_file),
	 .flags = CFG_F_EMPTY},
	{CFG_S_DISCOVERY, "dpdk_args", CFG_T_ARGS, CFG_G(discovery.dpdk_args),
	 .flags = CFG_F_EMPTY},

	{CFG_S_CONTROL, "socket", CFG_T_SOCKET, CFG_G(control.socket)},
	{CFG_S_CONTROL, "allowed_group", CFG_T_GROUP, CFG_G(control.allowed_group),
	 .flags = CFG_F_EMPTY},
	{CFG_S_CONTROL, "metrics_listen", CFG_T_ADDR, CFG_G(control.metrics_listen)},

	{CFG_S_ORIGIN, "upstream", CFG_T_UPSTREAM, CFG_O(upstream)},
	{CFG_S_ORIGIN, "ca_file", CFG_T_PATH, CFG_O(ca_file), .flags = CFG_F_EMPTY},
	{CFG_S_ORIGIN, "proxy", CFG_T_PROXY, CFG_O(proxy), .flags = CFG_F_EMPTY},
	{CFG_S_ORIGIN, "key_query", CFG_T_KEY_QUERY, CFG_O(key_query_keep)},
	{CFG_S_ORIGIN, "quota", CFG_T_SIZE, CFG_O(quota)},
	{CFG_S_ORIGIN, "timeout", CFG_T_DURATION, CFG_O(timeout_ms), 1, CFG_DAY_MS, 0, "1ms to 1d"},
};

const size_t cfg_nkeys = CB_ARRAY_SIZE(cfg_keys);
_Static_assert(CB_ARRAY_SIZE(cfg_keys) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

static void cfg_store_u(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case sizeof(uint16_t): {
		uint16_t x = (uint16_t)v;

		memcpy(field, &x, sizeof(x));
		break;
	}
	case sizeof(uint32_t): {
		uint32_t x = (uint32_t)v;

		memcpy(field, &x, sizeof(x));
		break;
	}
	case sizeof(uint64_t):
		memcpy(field, &v, sizeof(v));
		break;
	default:
		CB_ASSERT(!"numeric field of unexpected size");
	}
}

static int cfg_set_string(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			  const char *v, char *field)
{
	size_t n = strlen(v);

	if (n == 0 && !(k->flags & CFG_F_EMPTY)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "value must not be empty");
		return -EINVAL;
	}
	if (n >= k->size) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
			     "value too long (max %zu bytes)", k->size - 1);
		return -EINVAL;
	}
	if (k->type == CFG_T_SOCKET && n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
			     "path too long for a Unix socket (max %zu bytes)",
			     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	memcpy(field, v, n + 1);
	return 0;
}

/* The first "shard =" replaces the default list; later ones append. */
static int cfg_set_shard(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			 const char *v)
{
	struct cfg *c = p->c;
	char shown[CFG_SHOW_MAX + 8];

	if (!p->shard_seen) {
		c->storage.nshards = 0;
		p->shard_seen = true;
	}
	for (unsigned i = 0; i < c->storage.nshards; i++) {
		if (strcmp(c->storage.shards[i], v) == 0) {
			cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "duplicate shard '%s'",
				     cfg_show(v, shown, sizeof(shown)));
			return -EINVAL;
		}
	}
	if (c->storage.nshards == CFG_MAX_SHARDS) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "too many shards (max %d)",
			     CFG_MAX_SHARDS);
		return -EINVAL;
	}
	if (cfg_set_string(p, k, key, v, c->storage.shards[c->storage.nshards]) < 0)
		return -EINVAL;
	c->storage.nshards++;
	return 0;
}

/* The numeric types: parsed, then checked against the key's range. */
static int cfg_set_number(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			  const char *v, char *field)
{
	const char *what;
	uint64_t u = 0;
	int ret;

	switch (k->type) {
	case CFG_T_UINT:
		what = "number";
		ret = cfg_parse_uint(v, &u);
		break;
	case CFG_T_PERCENT:
		what = "percentage";
		ret = cfg_parse_percent(v, &u);
		break;
	case CFG_T_SIZE:
		what = "size";
		ret = cfg_parse_size(v, &u);
		break;
	case CFG_T_RATE:
		what = "rate";
		ret = cfg_parse_rate(v, &u);
		break;
	case CFG_T_DURATION:
		what = "duration";
		ret = cfg_parse_duration_ms(v, &u);
		break;
	default:
		CB_ASSERT(!"not a numeric key type");
		return -EINVAL;
	}
	if (ret < 0)
		return cfg_bad(p, key, ret, what, v, ret == -ERANGE ? k->range : NULL);
	if (k->max && (u < k->min || u > k->max || ((k->flags & CFG_F_POW2) && (u & (u - 1)))))
		return cfg_bad(p, key, -ERANGE, what, v, k->range);
	cfg_store_u(field, k->size, u);
	return 0;
}

/* The keys that take one of two words, stored as a bool (true = the second word). */
static const struct cfg_choice {
	enum cfg_type type;
	const char *what, *no, *yes;
} cfg_choices[] = {
	{CFG_T_BOOL, "boolean", "false", "true"},
	{CFG_T_BACKEND, "backend", "socket", "dpdk"},
	{CFG_T_EVICTION, "eviction policy", "sieve", "lru"},
	{CFG_T_KEY_QUERY, "key_query", "drop", "keep"},
};

static int cfg_set_choice(struct cfg_parser *p, const struct cfg_choice *ch, const char *key,
			  const char *v, char *field)
{
	char hint[64];
	bool b;

	if (ch->type == CFG_T_BOOL) {
		if (cfg_parse_bool(v, &b) < 0)
			return cfg_bad(p, key, -EINVAL, ch->what, v, "true or false");
	} else if (strcmp(v, ch->no) == 0 || strcmp(v, ch->yes) == 0) {
		b = strcmp(v, ch->yes) == 0;
	} else {
		snprintf(hint, sizeof(hint), "%s or %s", ch->no, ch->yes);
		return cfg_bad(p, key, -EINVAL, ch->what, v, hint);
	}
	memcpy(field, &b, sizeof(b));
	return 0;
}

/* The [discovery] keys holding prefixes and numeric addresses (config/cfg_net.c). */
static int cfg_set_net(struct cfg_parser *p, const struct cfg_key *k, const char *key,
		       const char *v)
{
	struct cfg *c = p->c;
	char shown[CFG_SHOW_MAX + 8];
	const char *bad;
	size_t badlen;
	int ret;

	switch (k->type) {
	case CFG_T_IFADDR:
		c->discovery.has_address = false;
		memset(&c->discovery.address, 0, sizeof(c->discovery.address));
		if (!*v)
			return 0;
		ret = cfg_parse_ifaddr(v, &c->discovery.address);
		if (ret < 0)
			return cfg_bad(p, key, ret, "interface address", v,
				       "a.b.c.d/len, len 1 to 32, unicast");
		c->discovery.has_address = true;
		return 0;
	case CFG_T_IP_PORT:
		memset(&c->discovery.advertise, 0, sizeof(c->discovery.advertise));
		if (!*v)
			return 0;
		ret = cfg_parse_ip_port(v, &c->discovery.advertise);
		if (ret < 0)
			return cfg_bad(p, key, ret, "address", v,
				       "numeric IP or IP:port, [v6]:port with a port");
		return 0;
	case CFG_T_CIDR_LIST:
		ret = cfg_parse_cidr_list(v, c->discovery.allowed, CFG_MAX_CIDRS,
					  &c->discovery.nallowed, &c->discovery.allowed_any, &bad,
					  &badlen);
		if (ret == -ENOSPC) {
			cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
				     "too many prefixes (max %d)", CFG_MAX_CIDRS);
			return -EINVAL;
		}
		if (ret < 0) {
			cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
				     "bad prefix '%s' (expected a.b.c.d[/0-32] or v6[/0-128], "
				     "host bits zero, or \"any\")",
				     cfg_show_n(bad, badlen, shown, sizeof(shown)));
			return -EINVAL;
		}
		return 0;
	default:
		CB_ASSERT(!"not a network key type");
		return -EINVAL;
	}
}

/* The keys whose value is an address, a name or a window rather than a number or a path. */
static int cfg_set_special(struct cfg_parser *p, const struct cfg_key *k, const char *key,
			   const char *v, char *field)
{
	char guid[37], shown[CFG_SHOW_MAX + 8];
	struct cfg_addr a;
	enum cb_log_level level;
	unsigned start, end;
	uint16_t port;
	bool has_path;
	int ret;

	switch (k->type) {
	case CFG_T_LOG_LEVEL:
		if (cb_log_level_parse(v, &level) < 0)
			return cfg_bad(p, key, -EINVAL, "log level", v,
				       "error, warn, info or debug");
		cfg_store_u(field, k->size, (uint64_t)level);
		return 0;
	case CFG_T_PROXY:
		if (!*v) {
			memset(field, 0, sizeof(a));
			return 0;
		}
		/* fall through */
	case CFG_T_ADDR:
		ret = cfg_parse_addr(v, &a);
		if (ret < 0)
			return cfg_bad(p, key, ret,
				       k->type == CFG_T_PROXY ? "proxy address" : "address", v,
				       "host:port or [v6]:port");
		memcpy(field, &a, sizeof(a));
		return 0;
	case CFG_T_PORT:
		ret = cfg_port_n(v, strlen(v), &port);
		if (ret < 0)
			return cfg_bad(p, key, ret, "port", v, "1 to 65535");
		cfg_store_u(field, k->size, port);
		return 0;
	case CFG_T_HOURS:
		if (cfg_parse_hours(v, &start, &end) < 0)
			return cfg_bad(p, key, -EINVAL, "time window", v, "HH:MM-HH:MM");
		if (start == end)
			return cfg_bad(p, key, -EINVAL, "time window", v,
				       "different start and end; end before start spans midnight");
		p->c->limits.business_start_min = start;
		p->c->limits.business_end_min = end;
		return 0;
	case CFG_T_GUID:
		if (!*v) {
			field[0] = '\0';
			return 0;
		}
		if (cfg_parse_guid(v, guid) < 0)
			return cfg_bad(p, key, -EINVAL, "GUID", v,
				       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits");
		CB_ASSERT(sizeof(guid) <= k->size);
		memcpy(field, guid, sizeof(guid));
		return 0;
	case CFG_T_IFADDR:
	case CFG_T_IP_PORT:
	case CFG_T_CIDR_LIST:
		return cfg_set_net(p, k, key, v);
	case CFG_T_GROUP:
	case CFG_T_USER:
		if (!cfg_group_valid(v))
			return cfg_bad(p, key, -EINVAL,
				       k->type == CFG_T_USER ? "user name" : "group name", v, NULL);
		return cfg_set_string(p, k, key, v, field);
	case CFG_T_UPSTREAM:
		ret = cfg_parse_upstream(v, p->origin, &has_path);
		if (ret < 0 && has_path) {
			cfg_fail_key(p, p->lineno, p->sect, p->origin, key,
				     "path in upstream URL '%s' not supported (expected "
				     "http[s]://host[:port])",
				     cfg_show(v, shown, sizeof(shown)));
			return -EINVAL;
		}
		if (ret < 0)
			return cfg_bad(p, key, -EINVAL, "upstream URL", v, "http[s]://host[:port]");
		return 0;
	default:
		CB_ASSERT(!"key type without a parser");
		return -EINVAL;
	}
}

/* Parses v as key k of the current section and stores it; 0 or -EINVAL (error recorded). */
int cfg_set(struct cfg_parser *p, const struct cfg_key *k, const char *key, const char *v)
{
	char *base = k->sect == CFG_S_ORIGIN ? (char *)p->origin : (char *)p->c;
	char *field = base + k->off;

	switch (k->type) {
	case CFG_T_PATH:
	case CFG_T_SOCKET:
	case CFG_T_ARGS:
		return cfg_set_string(p, k, key, v, field);
	case CFG_T_SHARD:
		return cfg_set_shard(p, k, key, v);
	case CFG_T_UINT:
	case CFG_T_PERCENT:
	case CFG_T_SIZE:
	case CFG_T_RATE:
	case CFG_T_DURATION:
		return cfg_set_number(p, k, key, v, field);
	default:
		for (size_t i = 0; i < CB_ARRAY_SIZE(cfg_choices); i++)
			if (cfg_choices[i].type == k->type)
				return cfg_set_choice(p, &cfg_choices[i], key, v, field);
		return cfg_set_special(p, k, key, v, field);
	}
}

int cfg_key_find(enum cfg_sect s, const char *name)
{
	for (size_t i = 0; i < cfg_nkeys; i++)
		if (cfg_keys[i].sect == s && strcmp(cfg_keys[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

/* Rules between keys, checked once the whole file is read. */
void cfg_check(struct cfg_parser *p)
{
	struct cfg *c = p->c;
	unsigned cert = p->key_line[0][cfg_key_find(CFG_S_SERVER, "tls_cert")];
	unsigned key = p->key_line[0][cfg_key_find(CFG_S_SERVER, "tls_key")];
	unsigned listen = p->key_line[0][cfg_key_find(CFG_S_SERVER, "listen")];
	unsigned metrics = p->key_line[0][cfg_key_find(CFG_S_CONTROL, "metrics_listen")];

	/* access_log follows state_dir unless it is set (or set empty) */
	if ((!p->key_line[0][cfg_key_find(CFG_S_APPLIANCE, "access_log")] ||
	     !c->appliance.access_log[0]) &&
	    snprintf(c->appliance.access_log, sizeof(c->appliance.access_log), "%s/access.log",
		     c->appliance.state_dir) >= (int)sizeof(c->appliance.access_log)) {
		cfg_fail_key(p, p->key_line[0][cfg_key_find(CFG_S_APPLIANCE, "state_dir")],
			     CFG_S_APPLIANCE, NULL, "state_dir",
			     "too long to hold access.log (set access_log)");
		return;
	}
	if (!c->server.tls_cert[0] != !c->server.tls_key[0]) {
		if (c->server.tls_cert[0])
			cfg_fail_key(p, cert, CFG_S_SERVER, NULL, "tls_cert",
				     "tls_key must be set too (both or neither)");
		else
			cfg_fail_key(p, key, CFG_S_SERVER, NULL, "tls_key",
				     "tls_cert must be set too (both or neither)");
		return;
	}
	if (strcmp(c->server.listen.host, c->control.metrics_listen.host) == 0 &&
	    c->server.listen.port == c->control.metrics_listen.port) {
		if (metrics >= listen)
			cfg_fail_key(p, metrics, CFG_S_CONTROL, NULL, "metrics_listen",
				     "same address as [server] listen");
		else
			cfg_fail_key(p, listen, CFG_S_SERVER, NULL, "listen",
				     "same address as [control] metrics_listen");
	}
}

void cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->appliance.state_dir, "./var");
	c->appliance.log_level = CB_LOG_INFO;
	strcpy(c->appliance.access_log, "./var/access.log");

	strcpy(c->server.listen.host, "127.0.0.1");
	c->server.listen.port = 8003;
	c->server.workers = 0;
	c->server.header_timeout_ms = 10 * 1000;
	c->server.idle_timeout_ms = 60 * 1000;
	c->server.zerocopy_threshold = 0; /* splice wins on loopback: docs/benchmarks.md */
	c->server.max_connections = 4096;
	/*
	 * Enough for one address behind which a branch office sits (a NAT, a
	 * proxy) and for the scenarios that open hundreds from 127.0.0.1; far
	 * below the 2 x 4096 a two-worker box holds, so one address cannot take
	 * them all.
	 */
	c->server.max_connections_per_client = 1024;

	strcpy(c->storage.shards[0], "./var/cache");
	c->storage.nshards = 1;
	c->storage.piece_size = CFG_MIB;
	c->storage.absolute_max_cache_size = 0;
	c->storage.max_cache_size_percent = 90;
	c->storage.min_free_space = 1024 * CFG_MIB;
	c->storage.max_cache_age_ms = 0;
	c->storage.min_file_size_to_cache = 0;
	c->storage.index_capacity = 65536;

	c->limits.max_clients = 3;
	c->limits.queue_timeout_ms = 30 * 1000;
	c->limits.max_bandwidth_served = 0;
	c->limits.max_bandwidth_per_client = 0;
	c->limits.business_start_min = 8 * 60;
	c->limits.business_end_min = 18 * 60;
	c->limits.business_hours_max_bandwidth = 0;
	c->limits.monthly_upload_cap = 0;

	c->discovery.enabled = true;
	c->discovery.backend_dpdk = false;
	c->discovery.port = 8004;
	c->discovery.rate_per_source = 100;
	c->discovery.rate_global = 1000000;
	c->discovery.announce_interval_ms = 0;
	c->discovery.auth_window_ms = 30 * 1000;

	strcpy(c->control.socket, "./var/control.sock");
	strcpy(c->control.metrics_listen.host, "127.0.0.1");
	c->control.metrics_listen.port = 9003;
}
