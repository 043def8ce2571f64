/*
 * What the three files of the config loader share, and nothing outside
 * config/ sees: the section and key-type enums, the key table's row type,
 * the state of one load, the message helpers and the value parsers that
 * the key table calls. cfg.c reads the file (line reader, sections,
 * libinih's handler, messages), cfg_keys.c knows every key (the table,
 * defaults, storing a value, rules between keys), cfg_value.c turns value
 * text into numbers, addresses and names.
 */
#ifndef CFG_PRIV_H
#define CFG_PRIV_H

#include "cfg.h"

#include "cb_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_FILE_MAX (1u << 20) /* a config file larger than this is a mistake */
#define CFG_SHOW_MAX 40		/* bytes of a bad value quoted in a message */
#define CFG_KIB	     1024ull
#define CFG_MIB	     (1024ull * 1024)
#define CFG_DAY_MS   86400000ull
#define CFG_MAX_KEYS 64 /* rows of the key table; cfg_keys.c checks the table fits */

enum cfg_sect {
	CFG_S_NONE,
	CFG_S_APPLIANCE,
	CFG_S_SERVER,
	CFG_S_STORAGE,
	CFG_S_LIMITS,
	CFG_S_DISCOVERY,
	CFG_S_CONTROL,
	CFG_S_ORIGIN,
};

extern const char *const cfg_sect_names[];

enum cfg_type {
	CFG_T_PATH,   /* file or directory path */
	CFG_T_SOCKET, /* path of a Unix socket: must fit sun_path */
	CFG_T_SHARD,  /* repeated path: the first replaces the default list */
	CFG_T_ARGS,   /* free text (EAL arguments) */
	CFG_T_LOG_LEVEL,
	CFG_T_ADDR,
	CFG_T_UINT,
	CFG_T_PERCENT,
	CFG_T_PORT,
	CFG_T_SIZE,
	CFG_T_RATE,
	CFG_T_DURATION,
	CFG_T_BOOL,
	CFG_T_BACKEND,
	CFG_T_EVICTION,
	CFG_T_HOURS,
	CFG_T_GUID,
	CFG_T_GROUP,
	CFG_T_USER,
	CFG_T_UPSTREAM,
	CFG_T_PROXY,
	CFG_T_KEY_QUERY,
	CFG_T_IFADDR,	 /* IPv4 address/prefix of an interface */
	CFG_T_IP_PORT,	 /* numeric IP or IP:port */
	CFG_T_CIDR_LIST, /* prefixes, or "any" */
};

#define CFG_F_EMPTY  1u /* an empty value is allowed (and means "none") */
#define CFG_F_REPEAT 2u /* the key may appear more than once */
#define CFG_F_POW2   4u /* the value must be a power of two */

struct cfg_key {
	enum cfg_sect sect;
	const char *name;
	enum cfg_type type;
	size_t off;	   /* into struct cfg, or into struct cfg_origin for [origin] keys */
	size_t size;	   /* of that field */
	uint64_t min, max; /* numeric range, when max != 0 */
	unsigned flags;
	const char *range; /* the range in words, for messages */
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* One load in progress. Line numbers are 1-based; 0 means "not seen". */
struct cfg_parser {
	struct cfg *c;
	const char *name; /* the file, for messages */
	const char *buf;
	size_t len;
	size_t pos;	 /* next byte the reader looks at */
	unsigned lineno; /* of the line last handed to libinih */
	char *err;
	size_t errlen;
	bool failed;
	unsigned errline;
	enum cfg_sect sect;	   /* current section */
	struct cfg_origin *origin; /* current [origin] section */
	unsigned origin_idx;
	bool shard_seen;
	unsigned origin_line[CFG_MAX_ORIGINS];
	/* Where each key was set: row 0 for the fixed sections, 1 + i for origin i. */
	unsigned key_line[CFG_MAX_ORIGINS + 1][CFG_MAX_KEYS];
};

static inline bool cfg_is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static inline bool cfg_is_alnum(char ch)
{
	return cb_is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static inline char cfg_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Messages (cfg.c). cfg_fail records the first error: "<file>:<line>: <text>". */
void cfg_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *cfg_show_n(const char *s, size_t n, char *out, size_t outlen);
const char *cfg_show(const char *s, char *out, size_t outlen);
void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_fail_key(struct cfg_parser *p, unsigned line, enum cfg_sect s, const struct cfg_origin *o,
		  const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int cfg_bad(struct cfg_parser *p, const char *key, int ret, const char *what, const char *v,
	    const char *hint);

/* Value parsers (cfg_value.c): 0, -EINVAL (malformed) or -ERANGE. */
int cfg_parse_uint(const char *s, uint64_t *out);
int cfg_parse_percent(const char *s, uint64_t *out);
bool cfg_host_valid(const char *h, size_t len);
int cfg_port_n(const char *s, size_t n, uint16_t *out);
/*
 * Splits "host:port" or "[v6]:port" (n bytes) into host, without brackets,
 * and port; without need_port the ":port" may be missing (port 0).
 */
int cfg_hostport(const char *s, size_t n, struct cfg_addr *out, bool need_port);
int cfg_parse_guid(const char *s, char out[37]);
bool cfg_group_valid(const char *s);
int cfg_parse_upstream(const char *s, struct cfg_origin *o, bool *has_path);

/* The keys (cfg_keys.c). */
/* The index in cfg_keys of key name in section s, or -ENOENT. */
int cfg_key_find(enum cfg_sect s, const char *name);
/* Parses v as key k of the current section and stores it; 0 or -EINVAL (error recorded). */
int cfg_set(struct cfg_parser *p, const struct cfg_key *k, const char *key, const char *v);
/* Rules between keys, checked once the whole file is read. */
void cfg_check(struct cfg_parser *p);

#endif
