/* Argument parsers of the CLI (see ctl_args.h). */
#include "ctl_args.h"

#include "ctl_limits.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { GLOBAL_NONE, GLOBAL_DONE, GLOBAL_HELP, GLOBAL_ERR };

/* One global option at argv[*i] (advancing *i past its value). */
static int parse_global(int argc, char *const *argv, int *i, struct ctl_cli_args *a, char *err,
			size_t errlen)
{
	const char *s = argv[*i];

	if (!strcmp(s, "--config") || !strcmp(s, "-c")) {
		if (*i + 1 == argc) {
			snprintf(err, errlen, "%s needs a FILE", s);
			return GLOBAL_ERR;
		}
		a->config = argv[++*i];
	} else if (!strncmp(s, "--config=", 9)) {
		a->config = s + 9;
	} else if (!strcmp(s, "--json") || !strcmp(s, "-j")) {
		a->json = true;
	} else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
		return GLOBAL_HELP;
	} else {
		return GLOBAL_NONE;
	}
	return GLOBAL_DONE;
}

static bool verb_has_option(const struct ctl_verb *v, const char *s)
{
	switch (v->opts) {
	case CTL_VOPT_EVICT:
		return !strcmp(s, "--older-than") || !strcmp(s, "--to-size");
	case CTL_VOPT_LIMITS:
		return ctl_limit_find(s) != NULL;
	case CTL_VOPT_NONE:
	default:
		return false;
	}
}

static int push(struct ctl_cli_args *a, char *s, char *err, size_t errlen)
{
	if (a->nargs + 1 >= CTL_MAX_ARGS) {
		snprintf(err, errlen, "too many arguments (at most %d)", CTL_MAX_ARGS - 1);
		return -E2BIG;
	}
	a->args[++a->nargs] = s;
	return 0;
}

/* The checks that need the whole line: the argument count, limits' values. */
static int check_verb(struct ctl_cli_args *a, char *err, size_t errlen)
{
	const struct ctl_verb *v = a->verb;

	if (a->nargs < v->min_args || a->nargs > v->max_args) {
		snprintf(err, errlen, "usage: cacheboxctl %s%s%s", v->name, v->args[0] ? " " : "",
			 v->args);
		return CTL_CLI_USAGE;
	}
	if (v->opts == CTL_VOPT_LIMITS) {
		struct ctl_limits scratch = {0};
		bool changed;

		if (ctl_limits_parse(a->nargs, a->args + 1, &scratch, &changed, err, errlen))
			return CTL_CLI_USAGE;
	}
	return CTL_CLI_OK;
}

int ctl_cli_parse(int argc, char *const *argv, struct ctl_cli_args *a, bool *want_usage, char *err,
		  size_t errlen)
{
	bool dashdash = false;

	memset(a, 0, sizeof(*a));
	*want_usage = false;
	for (int i = 1; i < argc; i++) {
		char *s = argv[i];

		if (!dashdash && s[0] == '-' && s[1]) {
			if (!strcmp(s, "--")) {
				dashdash = true;
				continue;
			}
			switch (parse_global(argc, argv, &i, a, err, errlen)) {
			case GLOBAL_DONE:
				continue;
			case GLOBAL_HELP:
				return CTL_CLI_HELP;
			case GLOBAL_ERR:
				return CTL_CLI_USAGE;
			default:
				break;
			}
			if (!a->verb) {
				snprintf(err, errlen, "unknown option '%.64s'", s);
				*want_usage = true;
				return CTL_CLI_USAGE;
			}
			if (!verb_has_option(a->verb, s)) {
				snprintf(err, errlen, "%s: unknown option '%.64s' (usage: %s%s%s)",
					 a->verb->name, s, a->verb->name,
					 a->verb->args[0] ? " " : "", a->verb->args);
				return CTL_CLI_USAGE;
			}
			/* A verb option and its value, whatever the value looks like. */
			if (push(a, s, err, errlen) ||
			    (i + 1 < argc && push(a, argv[++i], err, errlen)))
				return CTL_CLI_USAGE;
			continue;
		}
		if (!a->verb) {
			a->verb = ctl_verb_find(s);
			if (!a->verb) {
				snprintf(err, errlen, "unknown verb '%.64s'", s);
				*want_usage = true;
				return CTL_CLI_USAGE;
			}
			a->args[0] = s;
			continue;
		}
		if (push(a, s, err, errlen))
			return CTL_CLI_USAGE;
	}
	if (!a->verb) {
		snprintf(err, errlen, "no verb given");
		*want_usage = true;
		return CTL_CLI_USAGE;
	}
	return check_verb(a, err, errlen);
}
