/*
 * discovery.shm (cb_disc.h): made or repaired by the dataplane at start,
 * mapped read-only by control. The header fields other than state are
 * written only while state is STARTING, before any reader needs them
 * whole; state itself is an atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_disc.h"
#include "cb_log.h"

struct cb_disc {
	struct cb_disc_file *f;
};

static bool file_valid(const struct cb_disc_file *f)
{
	return f->magic == CB_DISC_MAGIC && f->layout == CB_DISC_LAYOUT && f->size == sizeof(*f);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	memset(dst + n, 0, cap - n);
}

static struct cb_disc *disc_map(const char *path, bool writer)
{
	struct cb_disc *d = NULL;
	struct stat st;
	void *base;
	int fd, ret;

	fd = open(path, writer ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return NULL;
	ret = -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EPROTO;
	if (!writer && st.st_size != (off_t)sizeof(struct cb_disc_file))
		goto out;
	if (writer && st.st_size != (off_t)sizeof(struct cb_disc_file)) {
		if (st.st_size)
			cb_warn("%s: size %lld, not %zu: starting its counters afresh", path,
				(long long)st.st_size, sizeof(struct cb_disc_file));
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(struct cb_disc_file)) < 0) {
			ret = -errno;
			goto out;
		}
	}
	base = mmap(NULL, sizeof(struct cb_disc_file), writer ? PROT_READ | PROT_WRITE : PROT_READ,
		    MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	d->f = base;
	ret = 0;
	if (!writer && !file_valid(d->f)) {
		munmap(base, sizeof(struct cb_disc_file));
		ret = -EPROTO;
	}
out:
	close(fd);
	if (ret) {
		free(d);
		errno = -ret;
		return NULL;
	}
	return d;
}

struct cb_disc *cb_disc_open(const char *path, const char *backend)
{
	struct cb_disc *d = disc_map(path, true);
	struct cb_disc_file *f;

	if (!d)
		return NULL;
	f = d->f;
	if (!file_valid(f)) {
		if (f->magic)
			cb_warn("%s: another layout: starting its counters afresh", path);
		memset(f, 0, sizeof(*f));
		f->layout = CB_DISC_LAYOUT;
		f->size = sizeof(*f);
		atomic_thread_fence(memory_order_release);
		f->magic = CB_DISC_MAGIC;
	}
	atomic_store(&f->state, CB_DISC_STARTING);
	f->pid = (uint32_t)getpid();
	f->started = (int64_t)time(NULL);
	f->starts++;
	copy_text(f->backend, sizeof(f->backend), backend);
	copy_text(f->listen, sizeof(f->listen), "");
	copy_text(f->advertise, sizeof(f->advertise), "");
	return d;
}

struct cb_disc *cb_disc_attach(const char *path)
{
	return disc_map(path, false);
}

void cb_disc_close(struct cb_disc *d)
{
	if (!d)
		return;
	munmap(d->f, sizeof(*d->f));
	free(d);
}

void cb_disc_set_state(struct cb_disc *d, enum cb_disc_state s)
{
	atomic_store(&d->f->state, s);
}

void cb_disc_set_text(struct cb_disc *d, const char *listen, const char *advertise)
{
	copy_text(d->f->listen, sizeof(d->f->listen), listen);
	copy_text(d->f->advertise, sizeof(d->f->advertise), advertise);
}

void cb_disc_count_reload(struct cb_disc *d)
{
	cb_disc_add(&d->f->reloads, 1);
}

struct cb_disc_lane *cb_disc_lane(struct cb_disc *d, unsigned i)
{
	return i < CB_DISC_LANES ? &d->f->lane[i] : NULL;
}

static void lane_sum(struct cb_disc_lane *t, const struct cb_disc_lane *l)
{
	const uint64_t *src = (const uint64_t *)l;
	uint64_t *dst = (uint64_t *)t;

	/* the lane is nothing but uint64_t counters (and alignment padding, zero) */
	for (size_t i = 0; i < sizeof(*l) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void cb_disc_read(const struct cb_disc *d, struct cb_disc_info *out)
{
	const struct cb_disc_file *f = d->f;

	memset(out, 0, sizeof(*out));
	out->state = (enum cb_disc_state)atomic_load(&f->state);
	out->pid = f->pid;
	out->started = f->started;
	out->starts = __atomic_load_n(&f->starts, __ATOMIC_RELAXED);
	out->reloads = __atomic_load_n(&f->reloads, __ATOMIC_RELAXED);
	memcpy(out->backend, f->backend, sizeof(out->backend) - 1);
	memcpy(out->listen, f->listen, sizeof(out->listen) - 1);
	memcpy(out->advertise, f->advertise, sizeof(out->advertise) - 1);
	for (unsigned i = 0; i < CB_DISC_LANES; i++)
		lane_sum(&out->total, &f->lane[i]);
}

const char *cb_disc_state_name(enum cb_disc_state s)
{
	switch (s) {
	case CB_DISC_STOPPED:
		return "stopped";
	case CB_DISC_STARTING:
		return "starting";
	case CB_DISC_RUNNING:
		return "running";
	}
	return "?";
}
