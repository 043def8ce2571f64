/*
 * Argument parsers of the CLI, apart from any I/O so they can be fuzzed
 * (tests/fuzz/fuzz_cli.c): cacheboxctl's command line, and the options of
 * the `limits` verb (parsed by cachebox-control).
 */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl_ipc.h"
#include "ctl_verbs.h"
#include "cb_policy.h"

struct ctl_cli_args {
	const char *config; /* NULL: $CACHEBOX_CONFIG or config/cachebox.conf */
	bool json;
	const struct ctl_verb *verb;
	int nargs;	   /* after the verb */
	char *const *args; /* the verb, then its arguments */
};

enum { CTL_CLI_OK = 0, CTL_CLI_HELP = 1, CTL_CLI_USAGE = 2 };

/*
 * Parses cacheboxctl's argv: options (--config FILE, --json, --help) before
 * the verb, then the verb and its arguments, checked against the verb
 * table. CTL_CLI_USAGE with the reason in err (and want_usage when the
 * whole usage text should follow).
 */
int ctl_cli_parse(int argc, char *const *argv, struct ctl_cli_args *a, bool *want_usage, char *err,
		  size_t errlen);

/*
 * Applies `limits` options ("--max-clients N" ...) in argv[0..argc) to v.
 * 0, or -EINVAL with the reason in err (v is then partly changed: the
 * caller publishes only on success). *changed tells whether any was given.
 */
int ctl_limits_parse(int argc, char *const *argv, struct cb_policy_vals *v, bool *changed,
		     char *err, size_t errlen);

#endif
