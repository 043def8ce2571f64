/*
 * The chunked transfer coding (RFC 9112 §7.1) of request bodies: a
 * byte-at-a-time state machine that keeps its state between reads, checks
 * every size for overflow, caps size and trailer lines, and refuses what
 * two parsers could read differently (whitespace after the size but before
 * no extension, CTLs in extensions, obs-fold in trailers). The file server
 * only frames the body to find the next request; the data is dropped.
 */
#include "st_http.h"

#include <limits.h>

#include "cb_common.h"
#include "st_http_chars.h"

#define CHUNK_SIZE_MAX (1ull << 62) /* per chunk and for the whole body */
#define CHUNK_LINE_MAX 4096	    /* chunk-size line or trailer field line */

/*
 * Chunked decoder states (RFC 9112 §7.1):
 *   chunk       = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk  = 1*("0") [ chunk-ext ] CRLF
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): whitespace after
 * the size is allowed only before a ';' ("5 \r\n" is refused). Extensions
 * are skipped but may hold no CTL, so the CR that ends them is unambiguous.
 * During the trailer section "remaining" counts the trailer fields.
 */
enum {
	CH_SIZE_FIRST, /* first hex digit of chunk-size */
	CH_SIZE,       /* further hex digits */
	CH_SIZE_BWS,   /* whitespace after the size: only ';' may follow */
	CH_EXT,	       /* inside chunk-ext, up to CR */
	CH_SIZE_LF,    /* CR of the size line seen */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer field line or of the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE, /* OWS field-value OWS, up to CR */
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_ERROR,
};

void st_http_chunked_init(struct st_http_chunked *c)
{
	c->state = CH_SIZE_FIRST;
	c->remaining = 0;
	c->total = 0;
	c->line_len = 0;
}

/* One byte of a chunk-size line: the size, BWS, extensions, its CRLF. */
static bool size_line_step(struct st_http_chunked *c, char ch)
{
	int d;

	switch (c->state) {
	case CH_SIZE_FIRST:
	case CH_SIZE:
		d = cb_hex_digit(ch);
		if (d >= 0) {
			/* Overflow-checked; a chunk over 2^62 is refused outright. */
			if (c->remaining > CHUNK_SIZE_MAX >> 4)
				return false;
			c->remaining = c->remaining << 4 | (unsigned)d;
			if (c->remaining > CHUNK_SIZE_MAX)
				return false;
			c->state = CH_SIZE;
			return true;
		}
		if (c->state == CH_SIZE_FIRST)
			return false;
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == ';')
			c->state = CH_EXT;
		else if (is_ows(ch))
			c->state = CH_SIZE_BWS;
		else
			return false;
		return true;
	case CH_SIZE_BWS:
		if (ch == ';')
			c->state = CH_EXT;
		else if (!is_ows(ch))
			return false;
		return true;
	case CH_EXT:
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (!is_value_char(ch))
			return false;
		return true;
	case CH_SIZE_LF:
		if (ch != '\n')
			return false;
		c->line_len = 0;
		if (c->remaining == 0) {
			c->state = CH_TRAILER_START;
			return true;
		}
		if (c->remaining > CHUNK_SIZE_MAX - c->total)
			return false;
		c->state = CH_DATA;
		return true;
	default:
		return false;
	}
}

/* One byte of framing (everything but chunk data); returns false on bad framing. */
static bool chunked_step(struct st_http_chunked *c, char ch)
{
	switch (c->state) {
	case CH_SIZE_FIRST:
	case CH_SIZE:
	case CH_SIZE_BWS:
	case CH_EXT:
	case CH_SIZE_LF:
		return size_line_step(c, ch);
	case CH_DATA_CR:
		if (ch != '\r')
			return false;
		c->state = CH_DATA_LF;
		return true;
	case CH_DATA_LF:
		if (ch != '\n')
			return false;
		c->state = CH_SIZE_FIRST;
		c->line_len = 0;
		c->remaining = 0;
		return true;
	case CH_TRAILER_START:
		/* RFC 9112 §7.1.2: trailer fields are field lines, so no obs-fold either. */
		if (ch == '\r') {
			c->state = CH_END_LF;
			return true;
		}
		if (!is_tchar(ch) || c->remaining == ST_HTTP_MAX_HEADERS)
			return false;
		c->remaining++;
		c->state = CH_TRAILER_NAME;
		return true;
	case CH_TRAILER_NAME:
		if (ch == ':')
			c->state = CH_TRAILER_VALUE;
		else if (!is_tchar(ch))
			return false;
		return true;
	case CH_TRAILER_VALUE:
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (!is_value_char(ch))
			return false;
		return true;
	case CH_TRAILER_LF:
		if (ch != '\n')
			return false;
		c->line_len = 0;
		c->state = CH_TRAILER_START;
		return true;
	case CH_END_LF:
		if (ch != '\n')
			return false;
		c->state = CH_DONE;
		return true;
	default:
		return false;
	}
}

long st_http_chunked_feed(struct st_http_chunked *c, const char *buf, size_t len, bool *done)
{
	size_t i = 0;

	*done = false;
	if (c->state == CH_ERROR)
		return -1;
	if (len > LONG_MAX)
		len = LONG_MAX;
	while (i < len && c->state != CH_DONE) {
		if (c->state == CH_DATA) {
			uint64_t n = CB_MIN(c->remaining, (uint64_t)(len - i));

			c->remaining -= n;
			c->total += n;
			i += (size_t)n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		/* Size and trailer lines are capped; the CRLF after data is not a line. */
		if (c->state != CH_DATA_CR && c->state != CH_DATA_LF &&
		    ++c->line_len > CHUNK_LINE_MAX)
			goto fail;
		if (!chunked_step(c, buf[i]))
			goto fail;
		i++;
	}
	*done = c->state == CH_DONE;
	return (long)i;
fail:
	c->state = CH_ERROR;
	return -1;
}
