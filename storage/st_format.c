/*
 * Object metadata encoding (see st_format.h for the layout on disk). The
 * encoding is little-endian, fixed header then variable parts:
 *
 *   magic[8] version:u32 hdr_len:u32 id[32] size:u64 piece_size:u32
 *   npieces:u32 gen:u64 last_modified:i64 created:i64 flags:u32
 *   key_len:u16 etag_len:u16 | key | etag | hashes[npieces*32]
 *   | present[(npieces+7)/8] | sha256(everything before)[32]
 *
 * Every field read from disk is validated before it is used: the file may
 * have been truncated or bit-flipped while the box was down.
 */
#include "st_format.h"

#include "cb_common.h"
#include "cb_failpoint.h"
#include "cb_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HDR_LEN 96

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int st_meta_alloc(struct st_meta *m)
{
	size_t n = m->npieces ? m->npieces : 1;

	m->hashes = calloc(n, 32);
	m->present = calloc((n + 7) / 8, 1);
	if (!m->hashes || !m->present) {
		st_meta_fini(m);
		return -ENOMEM;
	}
	return 0;
}

void st_meta_fini(struct st_meta *m)
{
	if (!m)
		return;
	free(m->hashes);
	free(m->present);
	m->hashes = NULL;
	m->present = NULL;
}

size_t st_meta_encoded_size(const struct st_meta *m)
{
	return HDR_LEN + m->key_len + strlen(m->etag) + (size_t)m->npieces * 32 +
	       (m->npieces + 7) / 8 + 32;
}

size_t st_meta_encode(const struct st_meta *m, uint8_t *buf)
{
	size_t etag_len = strlen(m->etag), off = HDR_LEN;

	memset(buf, 0, HDR_LEN);
	memcpy(buf, ST_META_MAGIC, 8);
	put_u32(buf + 8, ST_META_VERSION);
	put_u32(buf + 12, HDR_LEN);
	memcpy(buf + 16, m->id, 32);
	put_u64(buf + 48, m->size);
	put_u32(buf + 56, m->piece_size);
	put_u32(buf + 60, m->npieces);
	put_u64(buf + 64, m->gen);
	put_u64(buf + 72, (uint64_t)m->last_modified);
	put_u64(buf + 80, (uint64_t)m->created);
	put_u32(buf + 88, m->flags);
	put_u16(buf + 92, m->key_len);
	put_u16(buf + 94, (uint16_t)etag_len);
	memcpy(buf + off, m->key, m->key_len);
	off += m->key_len;
	memcpy(buf + off, m->etag, etag_len);
	off += etag_len;
	memcpy(buf + off, m->hashes, (size_t)m->npieces * 32);
	off += (size_t)m->npieces * 32;
	memcpy(buf + off, m->present, (m->npieces + 7) / 8);
	off += (m->npieces + 7) / 8;
	st_sha256(buf, off, buf + off);
	return off + 32;
}

int st_meta_decode(const uint8_t *buf, size_t len, struct st_meta *m)
{
	uint8_t sum[32], id[ST_ID_LEN];
	size_t off = HDR_LEN, etag_len, need;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len < HDR_LEN + 32 || memcmp(buf, ST_META_MAGIC, 8) != 0 ||
	    get_u32(buf + 8) != ST_META_VERSION || get_u32(buf + 12) != HDR_LEN)
		return -EINVAL;
	st_sha256(buf, len - 32, sum);
	if (memcmp(sum, buf + len - 32, 32) != 0)
		return -EINVAL;
	memcpy(m->id, buf + 16, 32);
	m->size = get_u64(buf + 48);
	m->piece_size = get_u32(buf + 56);
	m->npieces = get_u32(buf + 60);
	m->gen = get_u64(buf + 64);
	m->last_modified = (int64_t)get_u64(buf + 72);
	m->created = (int64_t)get_u64(buf + 80);
	m->flags = get_u32(buf + 88);
	m->key_len = get_u16(buf + 92);
	etag_len = get_u16(buf + 94);
	/* size is bounded first: st_npieces would wrap on a size near 2^64 */
	if (m->piece_size < 4096 || (m->piece_size & (m->piece_size - 1)) ||
	    m->size > (uint64_t)ST_MAX_PIECES * m->piece_size || m->npieces > ST_MAX_PIECES ||
	    m->npieces != st_npieces(m->size, m->piece_size) || m->key_len == 0 ||
	    m->key_len >= ST_KEY_MAX || etag_len >= ST_ETAG_MAX)
		return -EINVAL;
	need = HDR_LEN + m->key_len + etag_len + (size_t)m->npieces * 32 + (m->npieces + 7) / 8 +
	       32;
	if (need != len)
		return -EINVAL;
	memcpy(m->key, buf + off, m->key_len);
	m->key[m->key_len] = '\0';
	off += m->key_len;
	/* a C string in memory: a NUL inside would not survive a rewrite */
	if (memchr(buf + off, '\0', etag_len))
		return -EINVAL;
	memcpy(m->etag, buf + off, etag_len);
	m->etag[etag_len] = '\0';
	off += etag_len;
	st_content_id(m->key, m->key_len, id);
	if (memcmp(id, m->id, ST_ID_LEN) != 0)
		return -EINVAL;
	ret = st_meta_alloc(m);
	if (ret)
		return ret;
	memcpy(m->hashes, buf + off, (size_t)m->npieces * 32);
	off += (size_t)m->npieces * 32;
	memcpy(m->present, buf + off, (m->npieces + 7) / 8);
	return 0;
}

int st_path_dir(const char *shard, const uint8_t id[ST_ID_LEN], char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/objects/%02x", shard, id[0]);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int st_path_meta(const char *shard, const uint8_t id[ST_ID_LEN], char *out, size_t cap)
{
	char hex[ST_ID_HEX + 1];
	int n;

	cb_hex_encode(id, ST_ID_LEN, hex);
	n = snprintf(out, cap, "%s/objects/%.2s/%s.meta", shard, hex, hex);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int st_path_data(const char *shard, const uint8_t id[ST_ID_LEN], uint64_t gen, char *out,
		 size_t cap)
{
	char hex[ST_ID_HEX + 1];
	int n;

	cb_hex_encode(id, ST_ID_LEN, hex);
	n = snprintf(out, cap, "%s/objects/%.2s/%s.%016llx.data", shard, hex, hex,
		     (unsigned long long)gen);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The largest metadata file st_meta_decode can accept. */
#define META_FILE_MAX (HDR_LEN + ST_KEY_MAX + ST_ETAG_MAX + (size_t)ST_MAX_PIECES * 33 + 32)

int st_meta_read(const char *path, struct st_meta *m)
{
	uint8_t *buf;
	size_t len;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = cb_read_file(path, META_FILE_MAX, &buf, &len);
	if (ret == -EFBIG)
		return -EINVAL; /* no valid metadata is that large */
	if (ret)
		return ret;
	ret = st_meta_decode(buf, len, m);
	free(buf);
	return ret;
}

int st_meta_read_key(const char *shard_path, const uint8_t id[ST_ID_LEN], char *key, size_t cap)
{
	char path[CB_PATH_TMP];
	struct st_meta m;
	int ret;

	if (cap)
		key[0] = '\0';
	ret = st_path_meta(shard_path, id, path, sizeof(path));
	if (ret)
		return ret;
	ret = st_meta_read(path, &m);
	if (ret)
		return ret;
	ret = cb_fmt(key, cap, "%s", m.key);
	st_meta_fini(&m);
	return ret;
}

#ifdef CB_FAILPOINTS
/* A torn in-place write: the first half of the new encoding over the old file. */
static void meta_write_torn(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd >= 0) {
		if (cb_pwrite_all(fd, buf, len / 2, 0) == 0)
			fsync(fd);
		close(fd);
	}
}
#endif

int st_meta_write(const char *path, const struct st_meta *m)
{
	size_t len = st_meta_encoded_size(m);
	char tmp[CB_PATH_TMP];
	uint8_t *buf;
	int fd = -1, ret;

	ret = cb_fmt(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if (ret)
		return ret;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	st_meta_encode(m, buf);
	CB_FAILPOINT_DO("meta-torn", meta_write_torn(path, buf, len));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = cb_write_all(fd, buf, len);
	if (ret)
		goto out;
	CB_FAILPOINT("meta-written");
	if (fsync(fd) < 0) {
		ret = -errno;
		goto out;
	}
	CB_FAILPOINT("meta-synced");
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out;
	}
	CB_FAILPOINT("meta-renamed");
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		unlink(tmp);
	free(buf);
	return ret;
}

void st_meta_content_etag(struct st_meta *m)
{
	uint8_t top[32];
	char hex[65];

	st_sha256(m->hashes, (size_t)m->npieces * 32, top);
	cb_hex_encode(top, 16, hex);
	snprintf(m->etag, sizeof(m->etag), "\"%s\"", hex);
}
