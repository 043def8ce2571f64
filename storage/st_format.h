/*
 * The on-disk object format (docs/storage.md). An object version is two
 * files in its shard, both named from the content ID:
 *
 *   <shard>/objects/<id[0..2]>/<id>.meta             metadata, checksummed
 *   <shard>/objects/<id[0..2]>/<id>.<gen>.data       the bytes, piece after piece
 *
 * The metadata holds the cache key, size, piece size, validators, the
 * SHA-256 of every piece and a presence bitmap, and ends with a SHA-256 of
 * everything before it. It is replaced only by writing a temporary file,
 * fsync and rename(2), so a reader sees the old or the new version, never a
 * mix. A new object version gets a new data file (new gen); the old data
 * file is unlinked after the new metadata is in place, so a reader that has
 * it open finishes with the old bytes.
 */
#ifndef ST_FORMAT_H
#define ST_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st_url.h"

#define ST_META_MAGIC	"CBXMETA1"
#define ST_META_VERSION 1
#define ST_ETAG_MAX	80	   /* with quotes, NUL-terminated */
#define ST_MAX_PIECES	(1u << 22) /* 4 Mi pieces: 4 TiB at 1 MiB */

enum st_meta_flags {
	ST_META_COMPLETE = 1u << 0, /* every piece present and hashed */
	ST_META_PINNED = 1u << 1,
};

/* Decoded metadata. Owns hashes and present (st_meta_fini frees them). */
struct st_meta {
	uint8_t id[ST_ID_LEN];
	uint64_t size;
	uint32_t piece_size;
	uint32_t npieces;
	uint64_t gen;
	int64_t last_modified; /* unix seconds */
	int64_t created;       /* unix seconds */
	uint32_t flags;
	char etag[ST_ETAG_MAX];
	char key[ST_KEY_MAX];
	uint16_t key_len;
	uint8_t *hashes;  /* npieces * 32 */
	uint8_t *present; /* (npieces + 7) / 8 */
};

/* ceil(size / piece_size); an empty object has 0 pieces. */
static inline uint32_t st_npieces(uint64_t size, uint32_t piece_size)
{
	return (uint32_t)((size + piece_size - 1) / piece_size);
}

static inline bool st_meta_has(const struct st_meta *m, uint32_t piece)
{
	/* Fills set bits while readers look (st_fill_fetch.c): an acquire load pairs with their
	 * release. */
	return __atomic_load_n(&m->present[piece >> 3], __ATOMIC_ACQUIRE) & (1u << (piece & 7));
}

/* Allocates hashes/present for m->npieces (zeroed); 0 or -ENOMEM. */
int st_meta_alloc(struct st_meta *m);
void st_meta_fini(struct st_meta *m);

/* Bytes st_meta_encode writes for m. */
size_t st_meta_encoded_size(const struct st_meta *m);
/* Encodes m into buf (st_meta_encoded_size bytes); returns the length. */
size_t st_meta_encode(const struct st_meta *m, uint8_t *buf);
/*
 * Decodes and validates buf[0..len): magic, version, lengths, that npieces
 * matches size and piece_size, that id is SHA-256 of the key, and the
 * trailing checksum. 0, or -EINVAL (corrupt) / -ENOMEM; m is left empty on
 * error.
 */
int st_meta_decode(const uint8_t *buf, size_t len, struct st_meta *m);

/* "<shard>/objects/ab" */
int st_path_dir(const char *shard, const uint8_t id[ST_ID_LEN], char *out, size_t cap);
/* "<shard>/objects/ab/<id>.meta" */
int st_path_meta(const char *shard, const uint8_t id[ST_ID_LEN], char *out, size_t cap);
/* "<shard>/objects/ab/<id>.<gen as 16 hex>.data" */
int st_path_data(const char *shard, const uint8_t id[ST_ID_LEN], uint64_t gen, char *out,
		 size_t cap);

/* Reads and decodes a metadata file; 0, -ENOENT, -EINVAL (corrupt), -errno. */
int st_meta_read(const char *path, struct st_meta *m);
/*
 * The cache key of object id from its metadata on the shard at shard_path,
 * NUL-terminated in key (cap bytes). 0, -ENAMETOOLONG (the path, or the key
 * for cap), or st_meta_read's errors: -ENOENT, -EINVAL (corrupt), -errno.
 */
int st_meta_read_key(const char *shard_path, const uint8_t id[ST_ID_LEN], char *key, size_t cap);
/* Writes m to path atomically (tmp file in the same dir, fsync, rename); 0 or -errno. */
int st_meta_write(const char *path, const struct st_meta *m);

/* The strong ETag of an imported object: quoted hex of SHA-256 over the piece hashes. */
void st_meta_content_etag(struct st_meta *m);

#endif
