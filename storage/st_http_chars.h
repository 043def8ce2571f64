/*
 * The character classes of HTTP's grammar (RFC 9110 §5.5, §5.6.2) that the
 * head parser (st_http.c) and the chunked decoder (st_http_chunked.c) both
 * apply. Private to those two files.
 */
#ifndef ST_HTTP_CHARS_H
#define ST_HTTP_CHARS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 */
static const uint8_t tchar_tab[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
	['%'] = 1,	   ['&'] = 1,	      ['\''] = 1,	 ['*'] = 1, ['+'] = 1, ['-'] = 1,
	['.'] = 1,	   ['^'] = 1,	      ['_'] = 1,	 ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static inline bool is_tchar(char c)
{
	return tchar_tab[(unsigned char)c];
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 §5.5: field-vchar (VCHAR / obs-text) and SP / HTAB; every other CTL is refused. */
static inline bool is_value_char(char ch)
{
	unsigned char c = (unsigned char)ch;

	return (c >= 0x20 && c != 0x7f) || c == '\t';
}

#endif
