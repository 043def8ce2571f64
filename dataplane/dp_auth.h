/*
 * The discovery authentication trailer (PROTOCOL.md "Authentication
 * trailer"): HMAC-SHA256 with a group key over bytes 0..143 of a 176-byte
 * datagram. Kept apart from dp_codec.h so that the codec itself needs no
 * OpenSSL; this file is the only one of dp_proto that calls it. Key lookup,
 * the time window and the replay cache are the dataplane's guards.
 */
#ifndef DP_AUTH_H
#define DP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dp_codec.h"

/*
 * Fills the trailer of the authenticated datagram in buf (len must be
 * DP_LEN_AUTH with DP_FLAG_AUTH set): key_id, timestamp, nonce, then the MAC
 * over bytes 0..143 under key (keylen > 0 bytes). 0, or -EINVAL (buf not an
 * authenticated datagram, empty key; buf unchanged), or -EIO (OpenSSL failed).
 */
int dp_auth_sign(uint8_t *buf, size_t len, const uint8_t *key, size_t keylen, uint32_t key_id,
		 uint64_t timestamp, const uint8_t nonce[DP_NONCE_LEN]);

/*
 * Checks the MAC at bytes 144..175 of buf under key, in constant time.
 * 0 when it verifies, -EBADMSG when it does not, -EINVAL when buf is not an
 * authenticated datagram or the key is empty, -EIO when OpenSSL failed.
 */
int dp_auth_verify(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen);

#endif
