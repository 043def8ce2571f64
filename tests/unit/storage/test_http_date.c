/*
 * Unit tests for st_http_date.c: IMF-fixdate (RFC 9110 §5.6.7) written and
 * read, the obsolete forms and malformed dates refused, a round trip over
 * a wide range of times.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "st_http.h"

TestSuite(http_date, .description = "RFC 9110 IMF-fixdate");

/* ---- IMF-fixdate -------------------------------------------------------- */

Test(http_date, date_format)
{
	char out[30];

	st_http_date_format(784111777, out);
	cr_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	st_http_date_format(0, out);
	cr_assert_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	st_http_date_format(951782400, out);
	cr_assert_str_eq(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	st_http_date_format(-1, out);
	cr_assert_str_eq(out, "Wed, 31 Dec 1969 23:59:59 GMT");
	st_http_date_format(4102444799, out);
	cr_assert_str_eq(out, "Thu, 31 Dec 2099 23:59:59 GMT");
	/* clamped to what four year digits can say */
	st_http_date_format(INT64_MAX, out);
	cr_assert_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	st_http_date_format(INT64_MIN, out);
	cr_assert_str_eq(out, "Sat, 01 Jan 0000 00:00:00 GMT");
}

Test(http_date, date_parse)
{
	int64_t t = 0;

	cr_assert_eq(st_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
	cr_assert_eq(t, 784111777);
	cr_assert_eq(st_http_date_parse("Tue, 29 Feb 2000 00:00:00 GMT", 29, &t), 0);
	cr_assert_eq(t, 951782400);
	cr_assert_eq(st_http_date_parse("Wed, 31 Dec 1969 23:59:59 GMT", 29, &t), 0);
	cr_assert_eq(t, -1);
}

Test(http_date, date_parse_refused)
{
	static const char *const bad[] = {
		"Sunday, 06-Nov-94 08:49:37 GMT", /* rfc850 */
		"Sun Nov  6 08:49:37 1994",	  /* asctime */
		"Mon, 06 Nov 1994 08:49:37 GMT",  /* wrong weekday */
		"sun, 06 Nov 1994 08:49:37 GMT",  /* case-sensitive */
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 gmt",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 8:49:37 GMT ",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49:60 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Thu, 31 Nov 1994 08:49:37 GMT",
		"Fri, 30 Feb 2024 00:00:00 GMT",
		"Thu, 29 Feb 1900 00:00:00 GMT", /* 1900 is not a leap year */
		"Sun, 06 Nov 1994 08:49:3x GMT",
		"Sun, 06 Nov +994 08:49:37 GMT",
		"Sun; 06 Nov 1994 08:49:37 GMT",
		"",
	};
	int64_t t = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(st_http_date_parse(bad[i], strlen(bad[i]), &t), -1, "%s", bad[i]);
	/* an embedded NUL is just a bad byte */
	cr_assert_eq(st_http_date_parse("Sun, 06 Nov 1994 08:49:37 G\0T", 29, &t), -1);
}

Test(http_date, date_round_trip)
{
	char out[30];
	int64_t t;

	/* every day for 600 years around the epoch, at varying times of day */
	for (int64_t d = -365 * 300; d < 365 * 300; d++) {
		int64_t secs = d * 86400 + (d * 7919) % 86400;

		if (secs < d * 86400)
			secs += 86400;
		st_http_date_format(secs, out);
		/* plain checks: a passing cr_assert costs a message to the runner */
		if (strlen(out) != 29 || st_http_date_parse(out, 29, &t) != 0 || t != secs)
			cr_assert_fail("%s for %" PRId64, out, secs);
	}
	st_http_date_format(253402300799, out);
	cr_assert_eq(st_http_date_parse(out, 29, &t), 0);
	cr_assert_eq(t, 253402300799);
	st_http_date_format(-62167219200, out);
	cr_assert_eq(st_http_date_parse(out, 29, &t), 0);
	cr_assert_eq(t, -62167219200);
}
