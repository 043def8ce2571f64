/* common/cb_io: whole writes and reads, their errors, and whole-file reads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_io.h"

static void fill_pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

/* Forks a child that writes n bytes of src to fd with cb_write_all, then exits 0 (1 on error). */
static pid_t writer_start(int fd, int other, const uint8_t *src, size_t n)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		close(other);
		_exit(cb_write_all(fd, src, n) == 0 ? 0 : 1);
	}
	close(fd);
	return pid;
}

static int child_status(pid_t pid)
{
	int st = -1;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static int tmp_file(char *path, size_t cap)
{
	int fd;

	snprintf(path, cap, "/tmp/cb_io_test.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	return fd;
}

/* More than a pipe holds (64 KiB): the writer sees short writes while a child drains. */
Test(io, write_all_through_a_pipe_exact_bytes)
{
	enum { N = 300000 };
	uint8_t *src = malloc(N), *dst = malloc(N);
	int p[2], q[2];
	size_t got;
	pid_t pid, wpid;

	cr_assert(src && dst);
	fill_pattern(src, N);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(q), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* Child: copies the pipe back in small reads, so writes stay short. */
		char b[1000];
		ssize_t r;

		close(p[1]);
		close(q[0]);
		while ((r = read(p[0], b, sizeof(b))) > 0)
			if (cb_write_all(q[1], b, (size_t)r))
				_exit(1);
		_exit(r == 0 ? 0 : 1);
	}
	close(p[0]);
	close(q[1]);
	/* A second child writes, so that the parent can read q while p is full. */
	wpid = writer_start(p[1], q[0], src, N);
	cr_assert_eq(cb_read_full(q[0], dst, N, &got), 0);
	cr_assert_eq(got, N);
	cr_assert_eq(memcmp(src, dst, N), 0);
	/* Both writers closed their ends: EOF, nothing more. */
	cr_assert_eq(cb_read_full(q[0], dst, 10, &got), 0);
	cr_assert_eq(got, 0);
	close(q[0]);
	cr_assert_eq(child_status(wpid), 0);
	cr_assert_eq(child_status(pid), 0);
	free(src);
	free(dst);
}

Test(io, write_errors)
{
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	cr_assert_eq(cb_write_all(p[1], "x", 1), -EPIPE);
	close(p[1]);
	cr_assert_eq(cb_write_all(p[1], "x", 1), -EBADF);
	cr_assert_eq(cb_pwrite_all(p[1], "x", 1, 0), -EBADF);
	cr_assert_eq(cb_write_all(-1, "", 0), 0); /* nothing to write: no call */
}

Test(io, pwrite_and_pread_at_offsets)
{
	char path[64], buf[16];
	size_t got;
	int fd = tmp_file(path, sizeof(path));

	cr_assert_eq(cb_pwrite_all(fd, "hello", 5, 10), 0);
	cr_assert_eq(cb_pwrite_all(fd, "ab", 2, 0), 0);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0); /* the offset did not move */
	cr_assert_eq(cb_pread_full(fd, buf, 5, 10, &got), 0);
	cr_assert_eq(got, 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	/* Past the end: short at EOF, no error. */
	cr_assert_eq(cb_pread_full(fd, buf, sizeof(buf), 12, &got), 0);
	cr_assert_eq(got, 3);
	cr_assert_eq(memcmp(buf, "llo", 3), 0);
	cr_assert_eq(cb_read_full(fd, buf, 2, &got), 0);
	cr_assert_eq(got, 2);
	cr_assert_eq(memcmp(buf, "ab", 2), 0);
	cr_assert_eq(cb_pwrite_all(fd, "x", 1, UINT64_MAX), -EINVAL);
	cr_assert_eq(cb_pread_full(fd, buf, 1, UINT64_MAX, &got), -EINVAL);
	close(fd);
	cr_assert_eq(cb_pread_full(fd, buf, 1, 0, &got), -EBADF);
	cr_assert_eq(cb_read_full(fd, buf, 1, &got), -EBADF);
	unlink(path);
}

Test(io, read_file_whole_and_limits)
{
	enum { N = 10000 };
	uint8_t src[N], *out;
	char path[64];
	size_t len;
	int fd = tmp_file(path, sizeof(path));

	fill_pattern(src, N);
	cr_assert_eq(cb_write_all(fd, src, N), 0);
	close(fd);
	cr_assert_eq(cb_read_file(path, N, &out, &len), 0);
	cr_assert_eq(len, N);
	cr_assert_eq(memcmp(out, src, N), 0);
	free(out);
	cr_assert_eq(cb_read_file(path, N - 1, &out, &len), -EFBIG);
	cr_assert_null(out);
	cr_assert_eq(len, 0);
	cr_assert_eq(truncate(path, 0), 0);
	cr_assert_eq(cb_read_file(path, 0, &out, &len), 0);
	cr_assert_eq(len, 0);
	free(out);
	unlink(path);
	cr_assert_eq(cb_read_file(path, 100, &out, &len), -ENOENT);
	cr_assert_null(out);
}

/* A pipe has no size to start from: the buffer grows, and the limit holds. */
Test(io, read_fd_from_a_pipe_grows_and_caps)
{
	enum { N = 50000 };
	uint8_t src[N], *out;
	size_t len;
	pid_t pid;
	int p[2];

	fill_pattern(src, N);
	cr_assert_eq(pipe(p), 0);
	pid = writer_start(p[1], p[0], src, N);
	cr_assert_eq(cb_read_fd(p[0], N, &out, &len), 0);
	cr_assert_eq(len, N);
	cr_assert_eq(memcmp(out, src, N), 0);
	free(out);
	close(p[0]);
	cr_assert_eq(child_status(pid), 0);

	cr_assert_eq(pipe(p), 0);
	pid = writer_start(p[1], p[0], src, N);
	cr_assert_eq(cb_read_fd(p[0], 20000, &out, &len), -EFBIG);
	cr_assert_null(out);
	close(p[0]);
	child_status(pid); /* it fails on the closed pipe: EPIPE or SIGPIPE */
	cr_assert_eq(cb_read_fd(p[0], 10, &out, &len), -EBADF);
	cr_assert_eq(cb_read_fd(0, SIZE_MAX, &out, &len), -EINVAL);
}
