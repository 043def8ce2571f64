/*
 * libFuzzer target for the object metadata decoder (st_format.c), which
 * reads `.meta` bytes from disk that may have been truncated, bit-flipped
 * or written by another version. Random bytes almost never carry a valid
 * trailing SHA-256 nor an id that is the SHA-256 of the key, so each input
 * is decoded twice: as it is, and "repaired" (id recomputed from the key
 * it announces, checksum recomputed), which lets the fuzzer reach the
 * field checks behind the checksum. Besides "no crash" it checks the
 * decoder's promises: on error the struct is left empty; on success the
 * fields are consistent (npieces covers size exactly, lengths in bounds)
 * and encoding the result gives back the input, byte for byte.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_common.h"
#include "st_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { HDR_LEN = 96, SUM_LEN = 32 };

static void check_decoded(const struct st_meta *m, const uint8_t *buf, size_t len)
{
	unsigned __int128 covered = (unsigned __int128)m->npieces * m->piece_size;
	uint8_t *again;

	CB_ASSERT(m->key_len > 0 && m->key_len < ST_KEY_MAX);
	CB_ASSERT(m->key[m->key_len] == '\0');
	CB_ASSERT(strlen(m->etag) < ST_ETAG_MAX);
	CB_ASSERT(m->piece_size >= 4096 && (m->piece_size & (m->piece_size - 1)) == 0);
	CB_ASSERT(m->npieces <= ST_MAX_PIECES);
	/* the pieces cover the size, and the last one is not empty */
	CB_ASSERT(covered >= m->size);
	CB_ASSERT(m->npieces == 0 || covered - m->piece_size < m->size);
	CB_ASSERT(m->hashes != NULL && m->present != NULL);
	if (m->npieces) /* ASan checks both arrays are as long as announced */
		CB_ASSERT(m->hashes[(size_t)m->npieces * 32 - 1] ==
			  buf[len - SUM_LEN - (m->npieces + 7) / 8 - 1]);
	for (uint32_t p = 0; p < m->npieces; p += 1 + m->npieces / 8)
		(void)st_meta_has(m, p);
	(void)st_meta_has(m, m->npieces ? m->npieces - 1 : 0);

	CB_ASSERT(st_meta_encoded_size(m) == len);
	again = malloc(len);
	CB_ASSERT(again != NULL);
	CB_ASSERT(st_meta_encode(m, again) == len);
	CB_ASSERT(memcmp(again, buf, len) == 0);
	free(again);
}

static void decode_one(const uint8_t *buf, size_t len)
{
	struct st_meta m;
	int ret = st_meta_decode(buf, len, &m);

	CB_ASSERT(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret == 0)
		check_decoded(&m, buf, len);
	else
		CB_ASSERT(m.hashes == NULL && m.present == NULL);
	st_meta_fini(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t key_len;

	memcpy(buf, data, size);
	decode_one(buf, size);

	/* repaired: id = SHA-256(key) where the key fits, trailing checksum */
	if (size >= HDR_LEN + SUM_LEN) {
		key_len = (size_t)(buf[92] | buf[93] << 8);
		if (key_len <= size - HDR_LEN - SUM_LEN)
			st_content_id((const char *)buf + HDR_LEN, key_len, buf + 16);
		SHA256(buf, size - SUM_LEN, buf + size - SUM_LEN);
		decode_one(buf, size);
	}
	free(buf);
	return 0;
}
