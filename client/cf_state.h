/*
 * The resume state of a download, kept beside the output as FILE.cbfetch
 * while FILE.part is being written: what was asked (URL, content ID), what
 * the object was (size, piece size, validators, for If-Range) and which
 * pieces are in FILE.part verified. -c/--continue reloads it; a finished
 * download removes it.
 */
#ifndef CF_STATE_H
#define CF_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_VALIDATOR_MAX 256

struct cf_state {
	char url[8192];
	char id_hex[65];
	uint64_t size;
	uint32_t piece_size, npieces;
	char etag[CF_VALIDATOR_MAX];
	char last_modified[CF_VALIDATOR_MAX];
	uint8_t *good; /* bitmap of npieces bits: verified and written */
};

/*
 * Writes s to path atomically (a temporary file, fsync, rename). 0 or -errno.
 */
int cf_state_save(const char *path, const struct cf_state *s);

/*
 * Loads path into s (allocates s->good; cf_state_fini frees it). 0, -ENOENT,
 * -EPROTO when the file is not a state file of this format, -errno.
 */
int cf_state_load(const char *path, struct cf_state *s);

/* Sizes s->good for s->npieces pieces, all clear. 0 or -ENOMEM. */
int cf_state_alloc(struct cf_state *s);
void cf_state_fini(struct cf_state *s);

static inline bool cf_state_good(const struct cf_state *s, uint32_t i)
{
	return s->good[i / 8] >> (i % 8) & 1;
}

static inline void cf_state_set_good(struct cf_state *s, uint32_t i, bool on)
{
	if (on)
		s->good[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		s->good[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

#endif
