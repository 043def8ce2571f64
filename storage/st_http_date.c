/*
 * IMF-fixdate (RFC 9110 §5.6.7), the one date format cachebox writes
 * (Date, Last-Modified) and the one it accepts (If-Range,
 * Last-Modified from origins). Formatting and parsing are done by hand
 * with the calendar arithmetic below, because gmtime_r and timegm take
 * glibc's time-zone lock on every call and the file server formats a Date
 * for every response.
 */
#include "st_http.h"

#include <string.h>

#include "cb_common.h"

/*
 * Calendar arithmetic for IMF-fixdate without gmtime_r/timegm, which take
 * glibc's time-zone lock on every call. Years are counted from 1 March so
 * that the leap day is the last day of the year; a 400-year era then has a
 * fixed 146097 days and the month lengths from March follow the pattern
 * (153 * m + 2) / 5 (H. Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms"). Valid for every proleptic Gregorian date, negative or not.
 */
#define DAYS_0000_03_01_TO_EPOCH 719468
#define DATE_MIN		 (-62167219200ll) /* 0000-01-01T00:00:00Z: IMF year is 4DIGIT */
#define DATE_MAX		 253402300799ll	  /* 9999-12-31T23:59:59Z */

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;				       /* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	       /* [0, 146096] */
	return era * 146097 + doe - DAYS_0000_03_01_TO_EPOCH;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += DAYS_0000_03_01_TO_EPOCH;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153; /* 0 = March */
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Out-of-range times are clamped to the years an IMF-fixdate can spell (0000-9999). */
void st_http_date_format(int64_t unix_secs, char out[30])
{
	int64_t days, sod, y;
	unsigned m, d, wd;

	unix_secs = CB_MAX(unix_secs, DATE_MIN);
	unix_secs = CB_MIN(unix_secs, DATE_MAX);
	days = floor_div(unix_secs, 86400);
	sod = unix_secs - days * 86400;
	civil_from_days(days, &y, &m, &d);
	wd = (unsigned)(days - floor_div(days + 4, 7) * 7 + 4); /* 1970-01-01 was a Thursday */

	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
	memcpy(out, day_names[wd], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month_names[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, (unsigned)(sod / 3600));
	out[19] = ':';
	put2(out + 20, (unsigned)(sod / 60 % 60));
	out[22] = ':';
	put2(out + 23, (unsigned)(sod % 60));
	memcpy(out + 25, " GMT", 5);
}

static int parse_digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!cb_is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int find_name(const char *s, const char (*names)[4], unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		if (memcmp(s, names[i], 3) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * RFC 9110 §5.6.7: IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT,
 * exactly 29 bytes, names case-sensitive. The rfc850 and asctime forms are
 * refused (a recipient MAY accept them; a cache validator never needs to).
 * The fields must name a real date and the day-name must be its weekday.
 */
int st_http_date_parse(const char *s, size_t len, int64_t *unix_secs)
{
	unsigned day, year, hour, min, sec;
	int wd, mon;
	int64_t days;

	if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
	    memcmp(s + 26, "GMT", 3) != 0)
		return -1;
	wd = find_name(s, day_names, 7);
	mon = find_name(s + 8, month_names, 12);
	if (wd < 0 || mon < 0)
		return -1;
	if (parse_digits(s + 5, 2, &day) || parse_digits(s + 12, 4, &year) ||
	    parse_digits(s + 17, 2, &hour) || parse_digits(s + 20, 2, &min) ||
	    parse_digits(s + 23, 2, &sec))
		return -1;
	if (day < 1 || day > days_in_month(year, (unsigned)mon + 1) || hour > 23 || min > 59 ||
	    sec > 59)
		return -1;
	days = days_from_civil(year, (unsigned)mon + 1, day);
	if (days - floor_div(days + 4, 7) * 7 + 4 != wd)
		return -1;
	*unix_secs = days * 86400 + hour * 3600 + min * 60 + sec;
	return 0;
}
