/* cacheboxctl's command line (control/ctl_args.c) and the limits table (ctl_limits.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_limits.h"

static struct ctl_cli_args a;
static bool want_usage;
static char err[512];

#define PARSE(...)                                                                                 \
	({                                                                                         \
		char *argv_[] = {"cacheboxctl", __VA_ARGS__, NULL};                                \
		err[0] = '\0';                                                                     \
		ctl_cli_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, &a, &want_usage, \
			      err, sizeof(err));                                                   \
	})

Test(args, json_before_or_after_the_verb)
{
	cr_assert_eq(PARSE("stats", "--json"), CTL_CLI_OK, "%s", err);
	cr_assert(a.json);
	cr_assert_str_eq(a.verb->name, "stats");
	cr_assert_eq(a.nargs, 0);
	cr_assert_eq(PARSE("--json", "stats"), CTL_CLI_OK, "%s", err);
	cr_assert(a.json);
	cr_assert_eq(PARSE("-j", "stats"), CTL_CLI_OK, "%s", err);
	cr_assert(a.json);
	cr_assert_eq(PARSE("stats"), CTL_CLI_OK, "%s", err);
	cr_assert_not(a.json);
}

Test(args, config_before_or_after_the_verb)
{
	cr_assert_eq(PARSE("--config", "/x.conf", "status"), CTL_CLI_OK, "%s", err);
	cr_assert_str_eq(a.config, "/x.conf");
	cr_assert_eq(PARSE("status", "-c", "/y.conf"), CTL_CLI_OK, "%s", err);
	cr_assert_str_eq(a.config, "/y.conf");
	cr_assert_eq(PARSE("status", "--config=/z.conf", "--json"), CTL_CLI_OK, "%s", err);
	cr_assert_str_eq(a.config, "/z.conf");
	cr_assert(a.json);
	cr_assert_eq(PARSE("status", "--config"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "needs a FILE"), "%s", err);
}

Test(args, verb_arguments_around_options)
{
	cr_assert_eq(PARSE("import", "/tmp/f", "--json", "http://o/f"), CTL_CLI_OK, "%s", err);
	cr_assert_eq(a.nargs, 2);
	cr_assert_str_eq(a.args[0], "import");
	cr_assert_str_eq(a.args[1], "/tmp/f");
	cr_assert_str_eq(a.args[2], "http://o/f");
	cr_assert_null(a.args[3]);
	cr_assert(a.json);
}

Test(args, double_dash_ends_the_options)
{
	cr_assert_eq(PARSE("pin", "--", "--json"), CTL_CLI_OK, "%s", err);
	cr_assert_not(a.json);
	cr_assert_eq(a.nargs, 1);
	cr_assert_str_eq(a.args[1], "--json");
	cr_assert_eq(PARSE("--", "stats"), CTL_CLI_OK, "%s", err);
	cr_assert_str_eq(a.verb->name, "stats");
}

Test(args, help_anywhere)
{
	cr_assert_eq(PARSE("--help"), CTL_CLI_HELP);
	cr_assert_eq(PARSE("stats", "-h"), CTL_CLI_HELP);
}

Test(args, evict_options_reach_the_verb)
{
	cr_assert_eq(PARSE("evict", "--older-than", "30d", "--json"), CTL_CLI_OK, "%s", err);
	cr_assert_eq(a.nargs, 2);
	cr_assert_str_eq(a.args[1], "--older-than");
	cr_assert_str_eq(a.args[2], "30d");
	cr_assert(a.json);
	cr_assert_eq(PARSE("--json", "evict", "--to-size", "1G"), CTL_CLI_OK, "%s", err);
	cr_assert_str_eq(a.args[1], "--to-size");
	cr_assert_eq(PARSE("evict", "--newer-than", "1d"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "unknown option '--newer-than'"), "%s", err);
}

Test(args, limits_options_from_the_table)
{
	static const char *const sample[] = {"5", "30s", "40M", "8M", "09:00-17:00", "2M", "500G"};

	cr_assert_eq(ctl_nlimit_opts, 7);
	for (int i = 0; i < ctl_nlimit_opts; i++) {
		char opt[64], val[32];
		char *argv[] = {"cacheboxctl", "limits", opt, val, "--json", NULL};

		snprintf(opt, sizeof(opt), "%s", ctl_limit_opts[i].option);
		snprintf(val, sizeof(val), "%s", sample[i]);

		cr_assert_eq(ctl_cli_parse(5, argv, &a, &want_usage, err, sizeof(err)), CTL_CLI_OK,
			     "%s: %s", ctl_limit_opts[i].option, err);
		cr_assert_eq(a.nargs, 2);
		cr_assert(a.json);
	}
}

Test(args, limits_values_are_checked)
{
	cr_assert_eq(PARSE("limits", "--max-clients", "0"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "--max-clients: bad value '0'"), "%s", err);
	cr_assert_eq(PARSE("limits", "--max-clients", "100001"), CTL_CLI_USAGE);
	cr_assert_eq(PARSE("limits", "--max-clients", "-3"), CTL_CLI_USAGE);
	cr_assert_eq(PARSE("limits", "--queue-timeout", "soon"), CTL_CLI_USAGE);
	cr_assert_eq(PARSE("limits", "--business-hours", "25:00-26:00"), CTL_CLI_USAGE);
	cr_assert_eq(PARSE("limits", "--monthly-upload-cap", "lots"), CTL_CLI_USAGE);
	cr_assert_eq(PARSE("limits", "--max-bandwidth-served"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "needs a value"), "%s", err);
	/* A value is the word after the option, whatever it looks like. */
	cr_assert_eq(PARSE("limits", "--max-clients", "--json"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "bad value '--json'"), "%s", err);
	cr_assert_eq(PARSE("limits", "--max-speed", "1"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "unknown option '--max-speed'"), "%s", err);
}

Test(args, bad_input_rejected_with_a_message)
{
	cr_assert_eq(PARSE("--bogus", "stats"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "unknown option '--bogus'"), "%s", err);
	cr_assert(want_usage);
	cr_assert_eq(PARSE("stats", "--bogus"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "stats: unknown option '--bogus'"), "%s", err);
	cr_assert_eq(PARSE("frobnicate"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "unknown verb 'frobnicate'"), "%s", err);
	cr_assert(want_usage);
	cr_assert_eq(PARSE("--json"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "no verb given"), "%s", err);
	cr_assert_eq(PARSE("stats", "extra"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "usage: cacheboxctl stats"), "%s", err);
	cr_assert_eq(PARSE("import", "/tmp/f"), CTL_CLI_USAGE);
	cr_assert(strstr(err, "usage: cacheboxctl import FILE URL"), "%s", err);
}

Test(args, too_many_arguments)
{
	char *argv[CTL_MAX_ARGS + 8];
	int argc = 0;

	argv[argc++] = "cacheboxctl";
	argv[argc++] = "limits";
	while (argc < CTL_MAX_ARGS + 6) {
		argv[argc++] = "--max-clients";
		argv[argc++] = "5";
	}
	argv[argc] = NULL;
	cr_assert_eq(ctl_cli_parse(argc, argv, &a, &want_usage, err, sizeof(err)), CTL_CLI_USAGE);
	cr_assert(strstr(err, "too many arguments"), "%s", err);
}

Test(limits, parse_sets_the_fields)
{
	char *argv[] = {"--max-clients",
			"7",
			"--queue-timeout",
			"2m",
			"--max-bandwidth-served",
			"40M",
			"--business-hours",
			"8:00-17:30",
			"--monthly-upload-cap",
			"1G",
			NULL};
	struct ctl_limits v = {0};
	bool changed;

	cr_assert_eq(ctl_limits_parse(10, argv, &v, &changed, err, sizeof(err)), 0, "%s", err);
	cr_assert(changed);
	cr_assert_eq(v.max_clients, 7);
	cr_assert_eq(v.queue_timeout_ms, 120000);
	cr_assert_eq(v.rate_bps, 40000000);
	cr_assert_eq(v.business.start_min, 8 * 60);
	cr_assert_eq(v.business.end_min, 17 * 60 + 30);
	cr_assert_eq(v.monthly_cap, 1ull << 30);
	cr_assert_eq(ctl_limits_parse(0, argv, &v, &changed, err, sizeof(err)), 0);
	cr_assert_not(changed);
}

Test(limits, text_and_json_render_every_row)
{
	struct ctl_limits v = {.max_clients = 3, .rate_client_bps = 8000000};
	char *buf = NULL, *s;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *j = ctl_limits_json(&v);

	ctl_limits_text(f, &v);
	fclose(f);
	cr_assert_not_null(j);
	for (int i = 0; i < ctl_nlimit_opts; i++) {
		cr_assert(strstr(buf, ctl_limit_opts[i].label), "text lacks %s",
			  ctl_limit_opts[i].label);
		cr_assert_not_null(json_object_get(j, ctl_limit_opts[i].key), "JSON lacks %s",
				   ctl_limit_opts[i].key);
	}
	cr_assert_eq(json_object_size(j), (size_t)ctl_nlimit_opts);
	cr_assert_eq(json_integer_value(json_object_get(j, "max_clients")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(j, "business_hours")), "none");
	s = strstr(buf, "max bandwidth per client");
	cr_assert(s && strstr(s, "8 Mbit/s"), "%s", buf);
	cr_assert(strstr(buf, "unlimited"), "%s", buf);
	json_decref(j);
	free(buf);
}
