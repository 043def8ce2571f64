/*
 * The control socket protocol between cacheboxctl and cachebox-control
 * (docs/control.md). One request per connection:
 *
 *   request  "cachebox-ctl 1\n" then flags "json=0|1\n", then each
 *            argument (verb first) as "<len>:<bytes>\n", then "\n"
 *   reply    "OK\n" or "ERR <one-line reason>\n", then the output text
 *            until the server closes the connection
 *
 * Arguments are length-prefixed so a file name may hold any byte but NUL.
 * The server checks the peer with SO_PEERCRED before reading anything.
 */
#ifndef CTL_IPC_H
#define CTL_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_MAX_ARGS 16
#define CTL_MAX_ARG  4096

struct ctl_request {
	bool json;
	int argc;
	char *argv[CTL_MAX_ARGS + 1]; /* heap strings, NULL-terminated */
};

/* Client: connects to the socket; fd or -errno. */
int ctl_ipc_connect(const char *path);
/* Client: writes the request; 0 or -errno. */
int ctl_ipc_send(int fd, bool json, int argc, char *const *argv);
/* Server: reads one request from f (bounded); 0 or -EINVAL / -errno. */
int ctl_ipc_recv(FILE *f, struct ctl_request *req);
void ctl_request_fini(struct ctl_request *req);

#endif
