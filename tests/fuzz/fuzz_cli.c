/*
 * The CLI's parsers: the input is split at NUL bytes into an argv for
 * cacheboxctl's command line and for the `limits` options, and is also
 * read as a control-socket request (the wire format control parses).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_ipc.h"

#define MAX_ARGV 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[MAX_ARGV + 1], err[256];
	struct cb_policy_vals v = {0};
	struct ctl_cli_args a;
	struct ctl_request req;
	bool want_usage, changed;
	int argc = 1;
	FILE *f;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = "cacheboxctl";
	for (char *p = copy; p < copy + size && argc < MAX_ARGV; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	ctl_cli_parse(argc, argv, &a, &want_usage, err, sizeof(err));
	ctl_limits_parse(argc - 1, argv + 1, &v, &changed, err, sizeof(err));
	f = size ? fmemopen(copy, size, "r") : NULL;
	if (f) {
		memcpy(copy, data, size); /* the parse above does not write, but be sure */
		if (ctl_ipc_recv(f, &req) == 0)
			ctl_request_fini(&req);
		fclose(f);
	}
	free(copy);
	return 0;
}
