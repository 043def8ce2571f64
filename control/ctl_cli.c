/*
 * cacheboxctl: the operator's command line. Reads the config only to find
 * the control socket, sends one verb to cachebox-control and prints the
 * answer. Usage text and argument checks come from the verb table
 * (ctl_verbs.c), the same table the control process dispatches on, and
 * from the limits table (ctl_limits.c). It links the config loader, common/
 * basics and the control-socket code, nothing of storage/.
 */
#include "cb_common.h"
#include "cfg.h"
#include "ctl_args.h"
#include "ctl_ipc.h"
#include "ctl_limits.h"
#include "ctl_verbs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cacheboxctl [--config FILE] [--json] VERB [ARGS] [--json]\n\n"
		   "Talks to a running cachebox-control over its control socket\n"
		   "([control] socket in the config; default config: " CB_DEFAULT_CONFIG ").\n\n"
		   "verbs:\n");
	for (int i = 0; i < ctl_nverbs; i++) {
		char left[64];

		const char *h = ctl_verbs[i].help;
		int col = 0;

		snprintf(left, sizeof(left), "%s %s", ctl_verbs[i].name, ctl_verbs[i].args);
		if (strlen(left) > 22)
			fprintf(f, "  %s\n  %-22s ", left, "");
		else
			fprintf(f, "  %-22s ", left);
		/* The help, folded at word boundaries to fit 80 columns. */
		while (*h) {
			size_t w = strcspn(h, " ");

			if (col && col + 1 + (int)w > 55) {
				fprintf(f, "\n  %-22s ", "");
				col = 0;
			} else if (col) {
				fputc(' ', f);
				col++;
			}
			fprintf(f, "%.*s", (int)w, h);
			col += (int)w;
			h += w + strspn(h + w, " ");
		}
		fputc('\n', f);
	}
	fprintf(f, "\noptions (before or after the verb; \"--\" ends them):\n"
		   "  -c, --config FILE      configuration file\n"
		   "  -j, --json             machine-readable output\n"
		   "  -h, --help             this text\n"
		   "\nlimits options:\n");
	ctl_limits_usage(f);
}

int main(int argc, char **argv)
{
	const char *config = getenv("CACHEBOX_CONFIG");
	char err[512], abs_path[PATH_MAX], **args;
	const struct ctl_verb *v;
	struct cfg *cfg = NULL;
	bool json = false, want_usage;
	struct ctl_cli_args a;
	int fd = -1, nargs, ret = 1, send_errno = 0;
	char buf[65536];
	ssize_t n;
	size_t got = 0;

	if (!config)
		config = CB_DEFAULT_CONFIG;
	switch (ctl_cli_parse(argc, argv, &a, &want_usage, err, sizeof(err))) {
	case CTL_CLI_HELP:
		usage(stdout);
		return 0;
	case CTL_CLI_USAGE:
		fprintf(stderr, "cacheboxctl: %s\n%s", err, want_usage ? "\n" : "");
		if (want_usage)
			usage(stderr);
		return 2;
	}
	if (a.config)
		config = a.config;
	json = a.json;
	v = a.verb;
	nargs = a.nargs;
	args = a.args;
	/* The control process opens FILE itself: give it an absolute path. */
	if (strcmp(v->name, "import") == 0) {
		if (!realpath(args[1], abs_path)) {
			fprintf(stderr, "cacheboxctl: %s: %s\n", args[1], strerror(errno));
			return 1;
		}
		args[1] = abs_path;
	}
	cfg = cfg_load(config, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "cacheboxctl: %s\n", err);
		return 1;
	}
	fd = ctl_ipc_connect(cfg->control.socket);
	if (fd < 0) {
		fprintf(stderr, "cacheboxctl: cannot reach cachebox-control at %s: %s%s\n",
			cfg->control.socket, strerror(-fd),
			fd == -EACCES ? " (only root and members of [control] allowed_group may)"
				      : "");
		goto out;
	}
	/*
	 * A refused peer is answered and closed before its request is read:
	 * a failed send still reads the answer, which says why.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (ctl_ipc_send(fd, json, nargs + 1, args) < 0)
		send_errno = errno;
	/* Reply: "OK\n" or "ERR reason\n", then the output. */
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		char *nl;

		got += (size_t)n;
		buf[got] = '\0';
		nl = strchr(buf, '\n');
		if (!nl && got < sizeof(buf) - 1)
			continue;
		if (strncmp(buf, "OK\n", 3) == 0) {
			fwrite(buf + 3, 1, got - 3, stdout);
			ret = 0;
		} else {
			fprintf(stderr, "cacheboxctl: %s", strncmp(buf, "ERR ", 4) ? buf : buf + 4);
			ret = 1;
		}
		break;
	}
	if (got == 0) {
		if (send_errno)
			fprintf(stderr, "cacheboxctl: sending the request: %s\n",
				strerror(send_errno));
		else
			fprintf(stderr, "cacheboxctl: cachebox-control closed the connection "
					"without an answer (not allowed, or it stopped)\n");
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, ret ? stderr : stdout);
out:
	if (fd >= 0)
		close(fd);
	cfg_free(cfg);
	return ret;
}
