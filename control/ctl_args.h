/*
 * Argument parsers of the CLI, apart from any I/O so they can be fuzzed
 * (tests/fuzz/fuzz_cli.c) and unit-tested (tests/unit/control/test_args.c):
 * cacheboxctl's command line, checked against the verb table and, for
 * `limits`, the limits table.
 */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl_ipc.h"
#include "ctl_verbs.h"

struct ctl_cli_args {
	const char *config; /* NULL: $CACHEBOX_CONFIG or config/cachebox.conf */
	bool json;
	const struct ctl_verb *verb;
	int nargs;		      /* after the verb */
	char *args[CTL_MAX_ARGS + 1]; /* the verb, then its arguments (into argv), NULL-ended */
};

enum { CTL_CLI_OK = 0, CTL_CLI_HELP = 1, CTL_CLI_USAGE = 2 };

/*
 * Parses cacheboxctl's argv. The global options (--config FILE, -c FILE,
 * --config=FILE, --json, -j, --help, -h) may stand before or after the
 * verb; "--" ends them (what follows is the verb or its arguments, even if
 * it starts with '-'). After the verb, an option of that verb (evict's
 * --older-than/--to-size, the rows of ctl_limits.h for limits) is kept with
 * the word after it, taken as its value whatever it looks like. The verb's
 * argument count and, for limits, the values are checked.
 * CTL_CLI_OK, CTL_CLI_HELP, or CTL_CLI_USAGE with the reason in err (and
 * want_usage when the whole usage text should follow).
 */
int ctl_cli_parse(int argc, char *const *argv, struct ctl_cli_args *a, bool *want_usage, char *err,
		  size_t errlen);

#endif
