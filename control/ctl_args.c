/* Argument parsers of the CLI (see ctl_args.h). */
#include "ctl_args.h"

#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_cli_parse(int argc, char *const *argv, struct ctl_cli_args *a, bool *want_usage, char *err,
		  size_t errlen)
{
	int i;

	memset(a, 0, sizeof(*a));
	*want_usage = false;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) {
			if (++i == argc) {
				snprintf(err, errlen, "--config needs a FILE");
				return CTL_CLI_USAGE;
			}
			a->config = argv[i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			a->config = argv[i] + 9;
		} else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			a->json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return CTL_CLI_HELP;
		} else if (argv[i][0] == '-') {
			snprintf(err, errlen, "unknown option '%.64s'", argv[i]);
			*want_usage = true;
			return CTL_CLI_USAGE;
		} else {
			break;
		}
	}
	if (i == argc) {
		snprintf(err, errlen, "no verb given");
		*want_usage = true;
		return CTL_CLI_USAGE;
	}
	a->verb = ctl_verb_find(argv[i]);
	if (!a->verb) {
		snprintf(err, errlen, "unknown verb '%.64s'", argv[i]);
		*want_usage = true;
		return CTL_CLI_USAGE;
	}
	a->nargs = argc - i - 1;
	a->args = argv + i;
	if (a->nargs < a->verb->min_args || a->nargs > a->verb->max_args ||
	    a->nargs + 1 > CTL_MAX_ARGS) {
		snprintf(err, errlen, "usage: cacheboxctl %s %s", a->verb->name, a->verb->args);
		return CTL_CLI_USAGE;
	}
	return CTL_CLI_OK;
}

int ctl_limits_parse(int argc, char *const *argv, struct cb_policy_vals *v, bool *changed,
		     char *err, size_t errlen)
{
	*changed = false;
	for (int i = 0; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n = 0;
		int ret = -EINVAL;

		if (!val) {
			snprintf(err, errlen, "%.64s needs a value", opt);
			return -EINVAL;
		}
		if (!strcmp(opt, "--max-clients")) {
			char *end;

			errno = 0;
			n = strtoull(val, &end, 10);
			ret = errno || *end || end == val || val[0] == '-' || n < 1 || n > 100000
				      ? -EINVAL
				      : 0;
			if (!ret)
				v->max_clients = (uint32_t)n;
		} else if (!strcmp(opt, "--queue-timeout")) {
			ret = cfg_parse_duration_ms(val, &v->queue_timeout_ms);
		} else if (!strcmp(opt, "--max-bandwidth-served")) {
			ret = cfg_parse_rate(val, &v->rate_bps);
		} else if (!strcmp(opt, "--max-bandwidth-per-client")) {
			ret = cfg_parse_rate(val, &v->rate_client_bps);
		} else if (!strcmp(opt, "--business-hours")) {
			unsigned s, e;

			ret = cfg_parse_hours(val, &s, &e);
			if (!ret) {
				v->business_start_min = s;
				v->business_end_min = e;
			}
		} else if (!strcmp(opt, "--business-hours-max-bandwidth")) {
			ret = cfg_parse_rate(val, &v->business_rate_bps);
		} else if (!strcmp(opt, "--monthly-upload-cap")) {
			ret = cfg_parse_size(val, &v->monthly_cap);
		} else {
			snprintf(err, errlen,
				 "unknown option '%.64s' (--max-clients, --queue-timeout, "
				 "--max-bandwidth-served, --max-bandwidth-per-client, "
				 "--business-hours, --business-hours-max-bandwidth, "
				 "--monthly-upload-cap)",
				 opt);
			return -EINVAL;
		}
		if (ret) {
			snprintf(err, errlen, "%.64s: bad value '%.64s'", opt, val);
			return -EINVAL;
		}
		*changed = true;
	}
	return 0;
}
