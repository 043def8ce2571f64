/* Control socket protocol (see ctl_ipc.h). */
#include "ctl_ipc.h"

#include "cb_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int ctl_ipc_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int ctl_ipc_send(int fd, bool json, int argc, char *const *argv)
{
	char hdr[64];
	int ret;

	if (argc < 1 || argc > CTL_MAX_ARGS)
		return -EINVAL;
	snprintf(hdr, sizeof(hdr), "cachebox-ctl 1\njson=%d\n", json ? 1 : 0);
	ret = cb_write_all(fd, hdr, strlen(hdr));
	for (int i = 0; i < argc && ret == 0; i++) {
		size_t len = strlen(argv[i]);

		if (len > CTL_MAX_ARG)
			return -E2BIG;
		snprintf(hdr, sizeof(hdr), "%zu:", len);
		ret = cb_write_all(fd, hdr, strlen(hdr));
		if (ret == 0)
			ret = cb_write_all(fd, argv[i], len);
		if (ret == 0)
			ret = cb_write_all(fd, "\n", 1);
	}
	if (ret == 0)
		ret = cb_write_all(fd, "\n", 1);
	if (ret == 0)
		shutdown(fd, SHUT_WR);
	return ret;
}

void ctl_request_fini(struct ctl_request *req)
{
	for (int i = 0; i < req->argc; i++)
		free(req->argv[i]);
	req->argc = 0;
}

int ctl_ipc_recv(FILE *f, struct ctl_request *req)
{
	char line[32];
	int c;

	memset(req, 0, sizeof(*req));
	if (!fgets(line, sizeof(line), f) || strcmp(line, "cachebox-ctl 1\n") != 0)
		return -EINVAL;
	if (!fgets(line, sizeof(line), f) ||
	    (strcmp(line, "json=0\n") != 0 && strcmp(line, "json=1\n") != 0))
		return -EINVAL;
	req->json = line[5] == '1';
	for (;;) {
		size_t len = 0;
		char *arg;

		c = fgetc(f);
		if (c == '\n')
			break;
		while (c >= '0' && c <= '9' && len <= CTL_MAX_ARG) {
			len = len * 10 + (size_t)(c - '0');
			c = fgetc(f);
		}
		if (c != ':' || len > CTL_MAX_ARG || req->argc == CTL_MAX_ARGS)
			goto bad;
		arg = malloc(len + 1);
		if (!arg)
			goto bad;
		if (fread(arg, 1, len, f) != len || fgetc(f) != '\n' || memchr(arg, '\0', len)) {
			free(arg);
			goto bad;
		}
		arg[len] = '\0';
		req->argv[req->argc++] = arg;
	}
	if (req->argc == 0)
		goto bad;
	return 0;
bad:
	ctl_request_fini(req);
	return -EINVAL;
}
