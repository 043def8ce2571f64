/* common/: hex, bounded formatting, log levels. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cb_common.h"
#include "cb_log.h"

Test(common, hex_roundtrip_and_rejects)
{
	uint8_t in[4] = {0x00, 0xab, 0x10, 0xff}, out[4];
	char hex[9];

	cb_hex_encode(in, 4, hex);
	cr_assert_str_eq(hex, "00ab10ff");
	cr_assert_eq(cb_hex_decode("00AB10ff", 8, out), 0);
	cr_assert_eq(memcmp(in, out, 4), 0);
	cr_assert_eq(cb_hex_decode("00ab10f", 7, out), -EINVAL);
	cr_assert_eq(cb_hex_decode("00ab10fg", 8, out), -EINVAL);
	cr_assert_eq(cb_hex_decode("0x", 2, out), -EINVAL);
}

Test(common, fmt_reports_truncation)
{
	char buf[8];

	cr_assert_eq(cb_fmt(buf, sizeof(buf), "%s", "1234567"), 0);
	cr_assert_str_eq(buf, "1234567");
	cr_assert_eq(cb_fmt(buf, sizeof(buf), "%s", "12345678"), -ENAMETOOLONG);
	cr_assert_eq(strlen(buf), 7);
}

Test(common, log_levels)
{
	enum cb_log_level l;

	cr_assert_eq(cb_log_level_parse("debug", &l), 0);
	cr_assert_eq(l, CB_LOG_DEBUG);
	cr_assert_eq(cb_log_level_parse("error", &l), 0);
	cr_assert_eq(l, CB_LOG_ERROR);
	cr_assert_eq(cb_log_level_parse("verbose", &l), -EINVAL);
	cr_assert_eq(cb_log_level_parse("", &l), -EINVAL);
}
