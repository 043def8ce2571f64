/*
 * The test build's failpoints (cb_failpoint.h): the environment is read
 * once, before main, and every CB_FAILPOINT compares its name with the
 * armed one. Compiled only into tests/failpoint/'s binaries; nothing here
 * is linked into a shipped daemon.
 */
#include "cb_failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN 64

static const char *const names[] = {
#define X(name, where) name,
	CB_FAILPOINT_LIST(X)
#undef X
};

static char armed[NAME_MAX_LEN];
static unsigned long fire_at = 1;
static unsigned long hits;
static const char *once_path;

static bool listed(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* CACHEBOX_FAILPOINT=name[:N]: a name not on the list stops the process at once. */
__attribute__((constructor)) static void failpoint_init(void)
{
	const char *v = getenv("CACHEBOX_FAILPOINT");
	const char *colon;
	size_t len;

	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	len = colon ? (size_t)(colon - v) : strlen(v);
	if (len >= sizeof(armed)) {
		fprintf(stderr, "CACHEBOX_FAILPOINT=%s: name too long\n", v);
		_exit(2);
	}
	memcpy(armed, v, len);
	armed[len] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		fire_at = strtoul(colon + 1, &end, 10);
		if (errno || *end || fire_at == 0) {
			fprintf(stderr, "CACHEBOX_FAILPOINT=%s: the count must be 1 or more\n", v);
			_exit(2);
		}
	}
	if (!listed(armed)) {
		fprintf(stderr,
			"CACHEBOX_FAILPOINT=%s: no such failpoint (common/cb_failpoint.h)\n", v);
		_exit(2);
	}
	once_path = getenv("CACHEBOX_FAILPOINT_ONCE");
}

/* The first firing creates once_path; a later process (or thread) finds it and runs on. */
static bool first_firing(const char *name)
{
	char line[160];
	int fd, n;

	if (!once_path || !*once_path)
		return true;
	fd = open(once_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	n = snprintf(line, sizeof(line), "%s %s %d\n", name, program_invocation_short_name,
		     (int)getpid());
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
	return true;
}

bool cb_failpoint_armed(const char *name)
{
	if (!listed(name)) {
		fprintf(stderr, "failpoint %s is not in CB_FAILPOINT_LIST\n", name);
		abort();
	}
	if (!armed[0] || strcmp(name, armed) != 0)
		return false;
	if (__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED) != fire_at)
		return false;
	return first_firing(name);
}

void cb_failpoint_crash(const char *name)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), "failpoint %s: crashing (%s pid %d)\n", name,
		     program_invocation_short_name, (int)getpid());
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		n = 0;
	for (;;)
		raise(SIGKILL);
}
