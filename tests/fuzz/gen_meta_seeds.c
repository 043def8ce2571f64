/*
 * Writes the seed corpus of fuzz_meta (tests/fuzz/corpus/meta/) with the
 * real encoder, so the seeds are what the storage engine writes to disk and
 * change with the format: an empty object, one partial piece, several
 * pieces half present, a pinned import with a content ETag, a long key.
 * The fields are fixed, so a run gives the same bytes every time:
 *   build/tests/fuzz/gen_meta_seeds tests/fuzz/corpus/meta
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_format.h"

struct seed {
	const char *name;
	const char *key;
	uint64_t size;
	uint32_t piece_size;
	uint32_t flags;
	const char *etag;	/* NULL: the content ETag of an import */
	unsigned present_every; /* piece i present when i % present_every == 0 */
};

static const struct seed seeds[] = {
	{"empty", "dl.example.com/empty", 0, 65536, ST_META_COMPLETE, "\"e0\"", 1},
	{"one_piece", "dl.example.com/small.bin", 1000, 4096, 0, "W/\"3e8-1\"", 1},
	{"half_present", "dl.example.com/a/b.iso", 5 * 65536 + 17, 65536, 0, "\"abc\"", 2},
	{"pinned_import", "dl.example.com/pkg/x.deb", 3 << 20, 1 << 20,
	 ST_META_COMPLETE | ST_META_PINNED, NULL, 1},
	{"long_key",
	 "mirror.example.org/debian/pool/main/l/linux/"
	 "linux-image-6.1.0-13-amd64_6.1.55-1_amd64.deb?sig=0123456789abcdef",
	 70000, 16384, 0, "", 3},
};

static int seed_write(const struct seed *s, const char *dir)
{
	struct st_meta m, d;
	char path[4096];
	uint8_t *buf;
	size_t len;
	FILE *f;
	int ret;

	memset(&m, 0, sizeof(m));
	m.key_len = (uint16_t)strlen(s->key);
	memcpy(m.key, s->key, m.key_len);
	st_content_id(m.key, m.key_len, m.id);
	m.size = s->size;
	m.piece_size = s->piece_size;
	m.npieces = st_npieces(s->size, s->piece_size);
	m.gen = 7;
	m.last_modified = 1700000000;
	m.created = 1700000100;
	m.flags = s->flags;
	ret = st_meta_alloc(&m);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < m.npieces; i++) {
		memset(m.hashes + (size_t)i * 32, (int)(i * 37 + 1), 32);
		if (i % s->present_every == 0)
			m.present[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	if (s->etag)
		snprintf(m.etag, sizeof(m.etag), "%s", s->etag);
	else
		st_meta_content_etag(&m);
	ret = -ENOMEM;
	len = st_meta_encoded_size(&m);
	buf = malloc(len);
	if (!buf)
		goto out;
	st_meta_encode(&m, buf);
	ret = st_meta_decode(buf, len, &d); /* a seed the decoder refuses seeds nothing */
	st_meta_fini(&d);
	if (ret)
		goto out;
	ret = -ENAMETOOLONG;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, s->name) >= sizeof(path))
		goto out;
	ret = -errno;
	f = fopen(path, "wb");
	if (!f)
		goto out;
	ret = fwrite(buf, 1, len, f) == len ? 0 : -EIO;
	if (fclose(f) != 0 && ret == 0)
		ret = -EIO;
out:
	free(buf);
	st_meta_fini(&m);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		int ret = seed_write(&seeds[i], argv[1]);

		if (ret) {
			fprintf(stderr, "%s: %s: %s\n", argv[0], seeds[i].name, strerror(-ret));
			return 1;
		}
	}
	return 0;
}
