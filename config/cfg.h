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
		int log_level; /* enum cb_log_level */
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

#endif
