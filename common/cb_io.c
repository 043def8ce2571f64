/* Whole reads and writes with EINTR and short transfers handled (see cb_io.h). */
#include "cb_io.h"

#include "cb_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* off < 0: write(2); else pwrite(2) at off. */
static int write_loop(int fd, const uint8_t *p, size_t len, int64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w =
			off < 0 ? write(fd, p + done, len - done)
				: pwrite(fd, p + done, len - done, (off_t)(off + (int64_t)done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		done += (size_t)w;
	}
	return 0;
}

int cb_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, -1);
}

int cb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return write_loop(fd, buf, len, (int64_t)off);
}

/* off < 0: read(2); else pread(2) at off. */
static int read_loop(int fd, uint8_t *p, size_t len, int64_t off, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t r = off < 0 ? read(fd, p + *got, len - *got)
				    : pread(fd, p + *got, len - *got, (off_t)(off + (int64_t)*got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

int cb_read_full(int fd, void *buf, size_t len, size_t *got)
{
	return read_loop(fd, buf, len, -1, got);
}

int cb_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	*got = 0;
	if (off > INT64_MAX)
		return -EINVAL;
	return read_loop(fd, buf, len, (int64_t)off, got);
}

/*
 * The buffer starts at the file's size (plus one, to see EOF in the same
 * pass) for a regular file, else at 4 KiB, and doubles up to max + 1: a
 * buffer that fills at max + 1 bytes means the file is over the limit.
 */
int cb_read_fd(int fd, size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 4096, got = 0, n;
	uint8_t *buf = NULL, *nb;
	struct stat st;
	int ret;

	*out = NULL;
	*len = 0;
	if (max >= SIZE_MAX)
		return -EINVAL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (uint64_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
	cap = CB_MIN(cap, max + 1);
	for (;;) {
		ret = -ENOMEM;
		nb = realloc(buf, cap);
		if (!nb)
			goto fail;
		buf = nb;
		ret = cb_read_full(fd, buf + got, cap - got, &n);
		if (ret)
			goto fail;
		got += n;
		if (got < cap)
			break; /* end of file, with the spare byte left */
		ret = -EFBIG;
		if (cap > max)
			goto fail;
		cap = cap > max / 2 ? max + 1 : 2 * cap;
	}
	*out = buf;
	*len = got;
	return 0;
fail:
	free(buf);
	return ret;
}

int cb_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int fd, ret;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = cb_read_fd(fd, max, out, len);
	close(fd);
	return ret;
}
