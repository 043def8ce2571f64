/*
 * Whole reads and writes on file descriptors, for every process: write(2),
 * pwrite(2) and read(2) may move fewer bytes than asked and may be cut by a
 * signal (EINTR), so each caller used to loop on its own. These loops are
 * written once here. Blocking descriptors only (EAGAIN is returned as an
 * error); every function returns 0 or -errno.
 */
#ifndef CB_IO_H
#define CB_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes all len bytes of buf to fd, again after short writes and EINTR.
 * 0, or -errno of the failing write(2) (-EPIPE, -EBADF, -ENOSPC, ...), or
 * -EIO if write(2) moved no byte. Bytes before the failure may be written.
 */
int cb_write_all(int fd, const void *buf, size_t len);
/* cb_write_all with pwrite(2) at offset off (the file offset is not moved). */
int cb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Reads len bytes into buf, stopping early only at end of file: *got is
 * what was read (less than len only at EOF). 0 or -errno (-EBADF, -EIO, ...).
 */
int cb_read_full(int fd, void *buf, size_t len, size_t *got);
/* cb_read_full with pread(2) from offset off. */
int cb_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/*
 * Reads fd to its end into a new heap buffer (*out, the caller's to free;
 * one spare byte past *len, so a NUL can be added). At most max bytes
 * (max < SIZE_MAX): 0, -EFBIG (more than max), -ENOMEM or -errno of
 * read(2); *out is NULL on error.
 */
int cb_read_fd(int fd, size_t max, uint8_t **out, size_t *len);
/* cb_read_fd on the file at path: also -errno of open(2) (-ENOENT, -EACCES, ...). */
int cb_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
