/* Object metadata format: round trip, and every kind of damage detected. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_format.h"

static void make_meta(struct st_meta *m, uint64_t size, uint32_t piece)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->key, sizeof(m->key), "dl.example.com/a/b.iso");
	m->key_len = (uint16_t)strlen(m->key);
	st_content_id(m->key, m->key_len, m->id);
	m->size = size;
	m->piece_size = piece;
	m->npieces = st_npieces(size, piece);
	m->gen = 42;
	m->last_modified = 1700000000;
	m->created = 1700000001;
	m->flags = ST_META_COMPLETE;
	snprintf(m->etag, sizeof(m->etag), "\"abc\"");
	cr_assert_eq(st_meta_alloc(m), 0);
	for (uint32_t i = 0; i < m->npieces; i++) {
		memset(m->hashes + i * 32, (int)i, 32);
		m->present[i / 8] |= (uint8_t)(1u << (i % 8));
	}
}

Test(format, npieces)
{
	cr_assert_eq(st_npieces(0, 1 << 20), 0);
	cr_assert_eq(st_npieces(1, 1 << 20), 1);
	cr_assert_eq(st_npieces(1 << 20, 1 << 20), 1);
	cr_assert_eq(st_npieces((1 << 20) + 1, 1 << 20), 2);
}

Test(format, roundtrip)
{
	struct st_meta m, d;
	uint8_t *buf;
	size_t len;

	make_meta(&m, 5 * 1048576 + 3, 1 << 20);
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	cr_assert_eq(st_meta_encode(&m, buf), len);
	cr_assert_eq(st_meta_decode(buf, len, &d), 0);
	cr_assert_eq(d.size, m.size);
	cr_assert_eq(d.npieces, 6);
	cr_assert_eq(d.gen, 42);
	cr_assert_str_eq(d.key, m.key);
	cr_assert_str_eq(d.etag, "\"abc\"");
	cr_assert_eq(memcmp(d.hashes, m.hashes, 6 * 32), 0);
	cr_assert(st_meta_has(&d, 5));
	st_meta_fini(&d);
	st_meta_fini(&m);
	free(buf);
}

Test(format, every_bit_flip_and_truncation_detected)
{
	struct st_meta m, d;
	uint8_t *buf;
	size_t len;

	make_meta(&m, 3 * 65536, 65536);
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1 << bit);
			cr_assert_neq(st_meta_decode(buf, len, &d), 0, "flip at %zu.%d", i, bit);
			buf[i] ^= (uint8_t)(1 << bit);
		}
	}
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_neq(st_meta_decode(buf, cut, &d), 0, "truncated to %zu", cut);
	cr_assert_eq(st_meta_decode(buf, len, &d), 0);
	st_meta_fini(&d);
	st_meta_fini(&m);
	free(buf);
}

Test(format, inconsistent_fields_rejected_even_with_good_checksum)
{
	struct st_meta m, d;
	uint8_t *buf;
	size_t len;

	make_meta(&m, 2 * 65536, 65536);
	m.npieces = 3; /* does not match size / piece_size */
	st_meta_fini(&m);
	cr_assert_eq(st_meta_alloc(&m), 0);
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	free(buf);
	st_meta_fini(&m);

	make_meta(&m, 65536, 65536);
	m.id[0] ^= 1; /* id is not SHA-256 of the key */
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	free(buf);
	st_meta_fini(&m);

	make_meta(&m, 65536, 3000); /* piece size not a power of two */
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	free(buf);
	st_meta_fini(&m);
}

/* Found by fuzz_meta: a size near 2^64 wrapped st_npieces to 0 pieces. */
Test(format, size_that_wraps_npieces_rejected)
{
	struct st_meta m, d;
	uint8_t *buf;
	size_t len;

	make_meta(&m, 0, 4096);
	m.size = UINT64_MAX - 100; /* (size + 4095) / 4096 wraps to 0 */
	cr_assert_eq(st_npieces(m.size, m.piece_size), 0);
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	cr_assert_null(d.hashes);
	free(buf);
	st_meta_fini(&m);

	make_meta(&m, 0, 4096);
	m.size = (uint64_t)4096 << 32; /* 2^32 pieces: truncated to 0 in a u32 */
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	free(buf);
	st_meta_fini(&m);

	make_meta(&m, (uint64_t)ST_MAX_PIECES * 4096, 4096); /* the largest allowed */
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	cr_assert_eq(st_meta_decode(buf, len, &d), 0);
	cr_assert_eq(d.npieces, ST_MAX_PIECES);
	st_meta_fini(&d);
	free(buf);
	st_meta_fini(&m);
}

/* Found by fuzz_meta: an ETag with a NUL inside decoded to a shorter string,
 * so the metadata did not encode back to the bytes on disk. */
Test(format, etag_with_nul_rejected)
{
	struct st_meta m, d;
	uint8_t *buf;
	size_t len, etag_off;

	make_meta(&m, 65536, 65536);
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	st_meta_encode(&m, buf);
	etag_off = 96 + m.key_len;
	cr_assert_eq(memcmp(buf + etag_off, "\"abc\"", 5), 0);
	buf[etag_off + 2] = '\0';
	SHA256(buf, len - 32, buf + len - 32);
	cr_assert_eq(st_meta_decode(buf, len, &d), -EINVAL);
	cr_assert_null(d.hashes);
	free(buf);
	st_meta_fini(&m);
}

Test(format, file_write_read_atomic)
{
	char dir[] = "/tmp/cbx-format-XXXXXX", path[256];
	struct st_meta m, d;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.meta", dir);
	make_meta(&m, 100, 65536);
	cr_assert_eq(st_meta_write(path, &m), 0);
	cr_assert_eq(st_meta_read(path, &d), 0);
	cr_assert_eq(d.size, 100);
	st_meta_fini(&d);
	cr_assert_eq(st_meta_read("/nonexistent/x.meta", &d), -ENOENT);
	unlink(path);
	rmdir(dir);
	st_meta_fini(&m);
}

/* The key alone, from the metadata file an object's id names on a shard. */
Test(format, meta_read_key)
{
	char dir[] = "/tmp/cbx-format-XXXXXX", path[256], key[ST_KEY_MAX];
	struct st_meta m;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	make_meta(&m, 100, 65536);
	cr_assert_eq(st_meta_read_key(dir, m.id, key, sizeof(key)), -ENOENT);
	cr_assert_str_eq(key, "");
	snprintf(path, sizeof(path), "%s/objects", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(st_path_dir(dir, m.id, path, sizeof(path)), 0);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(st_path_meta(dir, m.id, path, sizeof(path)), 0);
	cr_assert_eq(st_meta_write(path, &m), 0);
	cr_assert_eq(st_meta_read_key(dir, m.id, key, sizeof(key)), 0);
	cr_assert_str_eq(key, "dl.example.com/a/b.iso");
	cr_assert_eq(st_meta_read_key(dir, m.id, key, 5), -ENAMETOOLONG);
	/* A damaged file gives no key. */
	f = fopen(path, "r+");
	cr_assert_not_null(f);
	fputc('X', f);
	fclose(f);
	cr_assert_eq(st_meta_read_key(dir, m.id, key, sizeof(key)), -EINVAL);
	unlink(path);
	st_path_dir(dir, m.id, path, sizeof(path));
	rmdir(path);
	snprintf(path, sizeof(path), "%s/objects", dir);
	rmdir(path);
	rmdir(dir);
	st_meta_fini(&m);
}

Test(format, paths_from_id_only)
{
	uint8_t id[32];
	char p[512];

	memset(id, 0xab, sizeof(id));
	cr_assert_eq(st_path_meta("/s", id, p, sizeof(p)), 0);
	cr_assert_str_eq(p,
			 "/s/objects/ab/"
			 "abababababababababababababababababababababababababababababababab.meta");
	cr_assert_eq(st_path_data("/s", id, 0x10, p, sizeof(p)), 0);
	cr_assert_str_eq(p, "/s/objects/ab/"
			    "abababababababababababababababababababababababababababababababab."
			    "0000000000000010.data");
	cr_assert_eq(st_path_meta("/s", id, p, 20), -ENAMETOOLONG);
}
