/*
 * The group keys of [discovery] group_key_file: one "KEY_ID HEX" per line,
 * read once at start and again on reload, then looked up by the key_id of
 * every authenticated QUERY. The file must be private to its owner (mode
 * 600 or stricter), checked with fstat on the opened descriptor. Key bytes
 * never appear in a message: errors name the file, the line and the rule.
 */
#ifndef DP_KEYS_H
#define DP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define DP_KEYS_MAX	 64	    /* keys in one file: rotation needs two or three */
#define DP_KEY_MIN	 32	    /* bytes: HMAC-SHA256 wants at least its output size */
#define DP_KEY_MAX	 128	    /* bytes: one SHA-256 block is 64; more buys nothing */
#define DP_KEYS_FILE_MAX (1u << 16) /* a larger key file is a mistake */

struct dp_key {
	uint32_t id;
	uint16_t len; /* DP_KEY_MIN..DP_KEY_MAX */
	uint8_t bytes[DP_KEY_MAX];
};

/* Embedded (no heap): the caller parses into a fresh one and swaps on reload. */
struct dp_keys {
	unsigned n;
	struct dp_key keys[DP_KEYS_MAX];
};

/*
 * Parses len bytes of key-file text; name stands for the file in messages.
 * Lines: "KEY_ID HEX" with KEY_ID a decimal uint32 and HEX an even number
 * of hex digits, 2*DP_KEY_MIN to 2*DP_KEY_MAX; '#' starts a comment; blank
 * lines are fine. 0, or -EINVAL with "name:line: why" in err (a bad line, a
 * duplicate key ID, a NUL byte, more than DP_KEYS_MAX keys, or no key at
 * all). On error ks is wiped and holds no key.
 */
int dp_keys_parse(struct dp_keys *ks, const char *name, const char *buf, size_t len, char *err,
		  size_t errlen);
/*
 * Opens path, refuses it unless it is a regular file that neither group nor
 * others may read or write (-EACCES, the message gives the mode and the
 * chmod that fixes it), reads at most DP_KEYS_FILE_MAX bytes (-EFBIG) and
 * parses it as dp_keys_parse. Also -errno of open(2) or read(2).
 */
int dp_keys_load(struct dp_keys *ks, const char *path, char *err, size_t errlen);
/* The key with this ID, or NULL. Points into ks. */
const struct dp_key *dp_keys_find(const struct dp_keys *ks, uint32_t id);
/* Zeroes every key byte in a way the compiler keeps. NULL-safe. */
void dp_keys_wipe(struct dp_keys *ks);

#endif
