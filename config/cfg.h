/*
 * The one configuration loader, used by every cachebox process. It reads the
 * INI file of DESIGN.md with libinih, fills struct cfg with defaults first,
 * and validates every key: an unknown section or key, or a bad value, is an
 * error naming file, line and key. Relative paths are kept as written and
 * are relative to the working directory of the process.
 */
#ifndef CFG_H
#define CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_SHARDS	16
#define CFG_MAX_ORIGINS 64
#define CFG_PATH_MAX	512
#define CFG_HOST_MAX	256
#define CFG_MAX_CIDRS	32

/*
 * An IPv4 or IPv6 prefix, both kept in the 16-byte form: IPv4 as the mapped
 * address ::ffff:a.b.c.d with prefix + 96, so one matcher serves both.
 */
struct cfg_cidr {
	uint8_t addr[16];
	uint8_t prefix; /* 0..128 over the 16-byte form */
	bool v4;	/* written as IPv4 (prefix - 96 is its IPv4 prefix) */
};

struct cfg_addr {
	char host[CFG_HOST_MAX]; /* numeric IPv4/IPv6 literal or name, as written */
	uint16_t port;
};

struct cfg_origin {
	char host[CFG_HOST_MAX];     /* lower-cased section name: the origin host clients ask for */
	char upstream[CFG_PATH_MAX]; /* http:// or https:// URL; default https://<host> */
	bool upstream_tls;
	char upstream_host[CFG_HOST_MAX];
	uint16_t upstream_port;
	char ca_file[CFG_PATH_MAX];
	struct cfg_addr proxy; /* port 0 = none */
	bool key_query_keep;   /* key_query = keep | drop */
	uint64_t timeout_ms;   /* connect, and each read or write towards the upstream */
	uint64_t quota;	       /* bytes, 0 = none */
};

struct cfg {
	char path[CFG_PATH_MAX]; /* the file it was loaded from */
	struct {
		char state_dir[CFG_PATH_MAX];
		int log_level;		       /* enum cb_log_level */
		char user[64];		       /* the children run as this user; "" = as started */
		char access_log[CFG_PATH_MAX]; /* default <state_dir>/access.log */
	} appliance;
	struct {
		struct cfg_addr listen;
		unsigned workers; /* 0 = one per core */
		char tls_cert[CFG_PATH_MAX];
		char tls_key[CFG_PATH_MAX];
		uint64_t header_timeout_ms;
		uint64_t idle_timeout_ms;
		uint64_t zerocopy_threshold; /* bytes: bodies at least this large use O_DIRECT +
						SEND_ZC */
		unsigned max_connections;    /* per worker */
		unsigned max_connections_per_client; /* one address, all workers; 0 = no limit */
	} server;
	struct {
		char shards[CFG_MAX_SHARDS][CFG_PATH_MAX];
		unsigned nshards;
		uint64_t piece_size;
		uint64_t absolute_max_cache_size;
		unsigned max_cache_size_percent;
		uint64_t min_free_space;
		bool eviction_lru; /* eviction = sieve (default) | lru */
		uint64_t max_cache_age_ms;
		uint64_t min_file_size_to_cache;
		unsigned index_capacity; /* objects the shared index holds */
	} storage;
	struct cfg_origin origins[CFG_MAX_ORIGINS];
	unsigned norigins;
	struct {
		unsigned max_clients;
		uint64_t queue_timeout_ms;
		uint64_t max_bandwidth_served; /* bits/s, 0 = unlimited */
		uint64_t max_bandwidth_per_client;
		unsigned business_start_min; /* minutes after midnight, local time */
		unsigned business_end_min;
		uint64_t business_hours_max_bandwidth;
		uint64_t monthly_upload_cap; /* bytes */
	} limits;
	struct {
		bool enabled;
		bool backend_dpdk; /* backend = socket | dpdk */
		uint16_t port;
		bool has_address;	   /* address = IPv4/prefix, for the dpdk backend */
		struct cfg_cidr address;   /* host bits kept: the port's own address */
		struct cfg_addr advertise; /* numeric IP; host "" = unset, port 0 = default */
		bool allowed_any;	   /* allowed_sources = any */
		unsigned nallowed;	   /* 0 and not any: on-link only */
		struct cfg_cidr allowed[CFG_MAX_CIDRS];
		uint32_t rate_per_source;      /* QUERYs/s per source address, burst twice that */
		uint32_t rate_global;	       /* QUERYs/s in all */
		uint64_t announce_interval_ms; /* 0 = at start only */
		uint64_t auth_window_ms;
		char group_id[64];
		char group_key_file[CFG_PATH_MAX];
		char dpdk_args[CFG_PATH_MAX];
	} discovery;
	struct {
		char socket[CFG_PATH_MAX];
		char allowed_group[64];
		struct cfg_addr metrics_listen;
	} control;
};

/*
 * Loads and validates path. Returns a heap cfg (free with cfg_free), or NULL
 * with a one-line message in err such as
 * "cachebox.conf:12: [server] header_timeout: bad duration 'ten'".
 */
struct cfg *cfg_load(const char *path, char *err, size_t errlen);
/*
 * Same as cfg_load on len bytes of INI text already in memory (any bytes, NUL
 * included: they are rejected with a message). name stands for the file in
 * messages and in cfg.path. buf stays the caller's. For tests and fuzzers.
 */
struct cfg *cfg_load_buf(const char *name, const char *buf, size_t len, char *err, size_t errlen);
/* Same as cfg_load_buf on a NUL-terminated string. */
struct cfg *cfg_load_string(const char *name, const char *text, char *err, size_t errlen);
/* Fills c with every default of DESIGN.md (one shard ./var/cache, no origins). */
void cfg_defaults(struct cfg *c);
void cfg_free(struct cfg *c);
/* The origin section for host (case-insensitive, len bytes), or NULL. */
const struct cfg_origin *cfg_origin_find(const struct cfg *c, const char *host, size_t len);

/*
 * The origin a cache key (len bytes, "host/path...", as st_cache_key makes
 * it) belongs to: the section whose host is the key's part before its first
 * '/'. NULL if there is none, or if the key has no '/'.
 */
const struct cfg_origin *cfg_origin_of_key(const struct cfg *c, const char *key, size_t len);

/* Value parsers, exposed for the CLI and tests; 0 or -EINVAL / -ERANGE. */
int cfg_parse_size(const char *s, uint64_t *out);	 /* bytes, K M G T binary suffixes */
int cfg_parse_rate(const char *s, uint64_t *out);	 /* bits/s, k M G decimal suffixes */
int cfg_parse_duration_ms(const char *s, uint64_t *out); /* ms s m h d; bare number = s */
int cfg_parse_bool(const char *s, bool *out);		 /* true/false yes/no on/off 1/0 */
int cfg_parse_addr(const char *s, struct cfg_addr *out); /* host:port, [v6]:port */
int cfg_parse_hours(const char *s, unsigned *start, unsigned *end); /* HH:MM-HH:MM */
/*
 * One prefix of n bytes: "a.b.c.d/len" (len 0..32) or "v6/len" (0..128), a
 * bare address meaning /32 or /128. Host bits set past the prefix are
 * refused (-EINVAL): "10.1.2.3/8" is more likely a typo than a wish for
 * 10.0.0.0/8. Shared by the config keys and dataplane/dp_sources.
 */
int cfg_parse_cidr(const char *s, size_t n, struct cfg_cidr *out);
/*
 * An interface address "a.b.c.d/len" (IPv4 only, len 1..32, required): host
 * bits are the point here, so they are kept. 0.0.0.0, multicast and
 * 255.255.255.255 are refused.
 */
int cfg_parse_ifaddr(const char *s, struct cfg_cidr *out);
/*
 * A list of prefixes separated by commas and/or blanks, or the one word
 * "any". Empty gives *n = 0 and *any false. On -EINVAL or -ERANGE, *bad and
 * *badlen point at the offending element; -ENOSPC: more than max.
 */
int cfg_parse_cidr_list(const char *s, struct cfg_cidr *out, unsigned max, unsigned *n, bool *any,
			const char **bad, size_t *badlen);
/* Whether addr (16-byte form) lies inside c. */
bool cfg_cidr_contains(const struct cfg_cidr *c, const uint8_t addr[16]);
/* An "IP" or "IP:port" (IPv6: "v6" or "[v6]:port"), numeric only; port 0 = none given. */
int cfg_parse_ip_port(const char *s, struct cfg_addr *out);

#endif
