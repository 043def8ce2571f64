/*
 * HMAC-SHA256 of the discovery trailer (dp_auth.h), with OpenSSL's one-shot
 * HMAC() (not deprecated in 3.0) and CRYPTO_memcmp for a comparison whose
 * time does not depend on where the MACs differ, so that a sender cannot
 * learn a valid MAC byte by byte from our response times.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dp_auth.h"

static int auth_args_valid(const uint8_t *buf, size_t len, size_t keylen)
{
	if (len != DP_LEN_AUTH || !(buf[6] & DP_FLAG_AUTH) || keylen == 0 || keylen > INT_MAX)
		return -EINVAL;
	return 0;
}

static int auth_mac(const uint8_t *buf, const uint8_t *key, size_t keylen, uint8_t mac[DP_MAC_LEN])
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, buf, DP_MAC_OFF, mac, &n) || n != DP_MAC_LEN)
		return -EIO;
	return 0;
}

int dp_auth_sign(uint8_t *buf, size_t len, const uint8_t *key, size_t keylen, uint32_t key_id,
		 uint64_t timestamp, const uint8_t nonce[DP_NONCE_LEN])
{
	uint8_t mac[DP_MAC_LEN];
	int ret = auth_args_valid(buf, len, keylen);

	if (ret < 0)
		return ret;
	/* PROTOCOL.md: key_id at 112, timestamp at 116, nonce at 124, all big-endian */
	for (int i = 0; i < 4; i++)
		buf[DP_TRAILER_OFF + i] = (uint8_t)(key_id >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		buf[DP_TRAILER_OFF + 4 + i] = (uint8_t)(timestamp >> (56 - 8 * i));
	memcpy(buf + DP_TRAILER_OFF + 12, nonce, DP_NONCE_LEN);
	ret = auth_mac(buf, key, keylen, mac);
	if (ret == 0)
		memcpy(buf + DP_MAC_OFF, mac, DP_MAC_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

int dp_auth_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen)
{
	uint8_t mac[DP_MAC_LEN];
	int ret = auth_args_valid(buf, len, keylen);

	if (ret < 0)
		return ret;
	ret = auth_mac(buf, key, keylen, mac);
	if (ret == 0 && CRYPTO_memcmp(mac, buf + DP_MAC_OFF, DP_MAC_LEN) != 0)
		ret = -EBADMSG;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}
