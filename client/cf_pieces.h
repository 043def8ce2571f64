/*
 * The pieces list a box publishes at /_cachebox/pieces/<id> (docs/storage.md):
 * the object's size, piece size, and the SHA-256 of each piece the box holds
 * verified. The client checks every piece it downloads against it.
 */
#ifndef CF_PIECES_H
#define CF_PIECES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_pieces {
	uint64_t size;
	uint32_t piece_size, npieces;
	uint8_t *hashes; /* npieces x 32 bytes */
	bool *known;	 /* npieces: false where the list says "-" */
};

/*
 * Parses text[0..len) into p (allocates its arrays; cf_pieces_fini frees
 * them). 0, -EPROTO on anything but the documented format (a count that
 * does not match the size, a bad hash line), -ENOMEM.
 */
int cf_pieces_parse(const char *text, size_t len, struct cf_pieces *p);
void cf_pieces_fini(struct cf_pieces *p);

#endif
