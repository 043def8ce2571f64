/*
 * Torture in curl's style: an LD_PRELOAD shim that counts the calls a
 * process makes to malloc, open, write, fsync, rename and OpenSSL's I/O,
 * and fails the k-th call of one kind with a realistic error, so that a
 * scenario run K times meets a failure at K different instants
 * (tests/integration/test_torture.py). Built for tests only, never
 * installed.
 *
 *   CBT_PROC=name     count only in the process of that name
 *                     (program_invocation_short_name; default cachebox-storage)
 *   CBT_FAIL=kind:k   fail the k-th call of kind (malloc, open, write, fsync,
 *                     rename, ssl): NULL/ENOMEM, EIO/EMFILE/ENOSPC, or the
 *                     TLS connection broken under the call
 *   CBT_ONCE=path     inject only if path can be created (O_EXCL): a process
 *                     restarted after the failure runs without one
 *   CBT_LOG=path      each injection is appended there (and said on stderr),
 *                     naming the file whose code made the call
 *   CBT_COUNT=path    at exit, "kind count" lines of what was called
 *   CBT_SPARE=a:b     never fail a call made by code in a file whose name
 *                     starts with a or b (libseccomp, OpenSSL: their own
 *                     allocation failures are their bugs, not ours); the
 *                     failure moves to the next call of the kind instead
 *
 * The shim's own I/O goes through syscall(2) with calls the file server's
 * seccomp filter already allows (openat, write, close), so it neither
 * counts itself nor needs a new system call. dlsym may allocate before
 * the real allocator is known: those few bytes come from a static
 * bootstrap buffer that free() recognises and ignores.
 */
/* Both names of each call are wrapped: the daemons, built with 64-bit offsets, call the *64 ones.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define KINDS(X) X(malloc) X(open) X(write) X(fsync) X(rename) X(ssl)

enum kind {
#define X(k) K_##k,
	KINDS(X)
#undef X
		K_N
};

static const char *const kind_names[] = {
#define X(k) #k,
	KINDS(X)
#undef X
};

static unsigned long counts[K_N];
static int active = -1; /* -1 until the environment is read */
static int fail_kind = -1;
static unsigned long fail_at;
static const char *spare; /* CBT_SPARE */
static const char *once_path, *log_path, *count_path;

/* Our own output, through raw system calls (never through the wrappers). */
static void raw_append(const char *path, const char *s, size_t n)
{
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);

	if (fd < 0)
		return;
	if (syscall(SYS_write, (int)fd, s, n) < 0)
		n = 0;
	syscall(SYS_close, (int)fd);
}

static void setup(void)
{
	const char *proc = getenv("CBT_PROC"), *fail = getenv("CBT_FAIL");

	if (!proc)
		proc = "cachebox-storage";
	once_path = getenv("CBT_ONCE");
	log_path = getenv("CBT_LOG");
	count_path = getenv("CBT_COUNT");
	spare = getenv("CBT_SPARE");
	if (fail) {
		const char *colon = strchr(fail, ':');

		for (int k = 0; colon && k < K_N; k++)
			if (strlen(kind_names[k]) == (size_t)(colon - fail) &&
			    strncmp(fail, kind_names[k], (size_t)(colon - fail)) == 0)
				fail_kind = k;
		fail_at = colon ? strtoul(colon + 1, NULL, 10) : 0;
	}
	__atomic_store_n(&active, strcmp(program_invocation_short_name, proc) == 0,
			 __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void cbt_init(void)
{
	setup();
}

/* Writes the counts at a clean exit (a killed process leaves none). */
__attribute__((destructor)) static void cbt_fini(void)
{
	char buf[256];
	int n = 0;

	if (active != 1 || !count_path)
		return;
	for (int k = 0; k < K_N; k++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %lu %d\n", kind_names[k],
			      __atomic_load_n(&counts[k], __ATOMIC_RELAXED), (int)getpid());
	raw_append(count_path, buf, (size_t)n);
}

/* The file (binary or library) that holds code address pc, for the log. */
static const char *caller_of(const void *pc)
{
	Dl_info info;
	const char *slash;

	if (!pc || !dladdr(pc, &info) || !info.dli_fname)
		return "?";
	slash = strrchr(info.dli_fname, '/');
	return slash ? slash + 1 : info.dli_fname;
}

/* Whether file (caller_of's answer) starts with one of CBT_SPARE's prefixes. */
static bool spared(const char *file)
{
	const char *p = spare;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len && strncmp(file, p, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * Counts a call of kind; true when this one is to fail. The log line names
 * the file whose code made the call (a library's own allocation, say).
 */
#define should_fail(k) should_fail_from(k, __builtin_return_address(0))

static bool should_fail_from(enum kind k, const void *pc)
{
	unsigned long n;
	char line[240];
	int len;

	if (__atomic_load_n(&active, __ATOMIC_ACQUIRE) != 1)
		return false;
	n = __atomic_add_fetch(&counts[k], 1, __ATOMIC_RELAXED);
	if ((int)k != fail_kind || n != __atomic_load_n(&fail_at, __ATOMIC_RELAXED))
		return false;
	if (spare && spared(caller_of(pc))) {
		__atomic_add_fetch(&fail_at, 1, __ATOMIC_RELAXED);
		return false;
	}
	if (once_path) {
		long fd = syscall(SYS_openat, AT_FDCWD, once_path,
				  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd < 0)
			return false;
		syscall(SYS_close, (int)fd);
	}
	len = snprintf(line, sizeof(line), "cb_torture: failing %s call #%lu (pid %d) from %s\n",
		       kind_names[k], n, (int)getpid(), caller_of(pc));
	if (len > 0) {
		if (syscall(SYS_write, 2, line, (size_t)len) < 0)
			len = 0;
		if (log_path)
			raw_append(log_path, line, (size_t)len);
	}
	return true;
}

/* ------------------------------------------------------------ allocator */

static char boot[64 * 1024] __attribute__((aligned(16)));
static size_t boot_used;

static bool in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	size_t at = __atomic_fetch_add(&boot_used, (n + 15) & ~(size_t)15, __ATOMIC_RELAXED);

	if (at + n > sizeof(boot))
		return NULL;
	return boot + at;
}

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static __thread int resolving __attribute__((tls_model("initial-exec")));

static void resolve_alloc(void)
{
	if (real_free)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
}

void *malloc(size_t n)
{
	if (resolving)
		return boot_alloc(n);
	resolve_alloc();
	if (should_fail(K_malloc)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (resolving || !real_calloc) {
		if (!real_calloc && !resolving)
			resolve_alloc();
		if (!real_calloc)
			return boot_alloc(a * b); /* static: already zero */
	}
	if (should_fail(K_malloc)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	resolve_alloc();
	if (in_boot(p)) {
		void *q = real_malloc(n);

		if (q)
			memcpy(q, p,
			       n < (size_t)(boot + sizeof(boot) - (char *)p)
				       ? n
				       : (size_t)(boot + sizeof(boot) - (char *)p));
		return q;
	}
	if (should_fail(K_malloc)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_boot(p))
		return;
	resolve_alloc();
	real_free(p);
}

/* ------------------------------------------------------------ files */

#define REAL(ret, name, ...)                                                                       \
	static ret (*real_##name)(__VA_ARGS__);                                                    \
	if (!real_##name)                                                                          \
		real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);

static int open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}

/* A failed open: out of descriptors or an I/O error, alternately by count. */
static int open_errno(void)
{
	return counts[K_open] & 1 ? EMFILE : EIO;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, open, const char *, int, ...)
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (should_fail(K_open)) {
		errno = open_errno();
		return -1;
	}
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, open64, const char *, int, ...)
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (should_fail(K_open)) {
		errno = open_errno();
		return -1;
	}
	return real_open64(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, openat, int, const char *, int, ...)
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (should_fail(K_open)) {
		errno = open_errno();
		return -1;
	}
	return real_openat(dir, path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	REAL(int, openat64, int, const char *, int, ...)
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (should_fail(K_open)) {
		errno = open_errno();
		return -1;
	}
	return real_openat64(dir, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, int, const void *, size_t)
	if (should_fail(K_write)) {
		errno = ENOSPC;
		return -1;
	}
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
	if (should_fail(K_write)) {
		errno = ENOSPC;
		return -1;
	}
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(ssize_t, pwrite64, int, const void *, size_t, off_t)
	if (should_fail(K_write)) {
		errno = ENOSPC;
		return -1;
	}
	return real_pwrite64(fd, buf, n, off);
}

int fsync(int fd)
{
	REAL(int, fsync, int)
	if (should_fail(K_fsync)) {
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(int, fdatasync, int)
	if (should_fail(K_fsync)) {
		errno = EIO;
		return -1;
	}
	return real_fdatasync(fd);
}

int rename(const char *from, const char *to)
{
	REAL(int, rename, const char *, const char *)
	if (should_fail(K_rename)) {
		errno = ENOSPC;
		return -1;
	}
	return real_rename(from, to);
}

/* ------------------------------------------------------------ OpenSSL */

/*
 * OpenSSL's I/O, failed as a connection that breaks at that instant fails
 * it: the socket is shut down, then the real call runs and fails on its
 * own, so the SSL object's state (what SSL_get_error reports) is what
 * OpenSSL makes of a dead peer, not something the shim made up. Declared
 * here so that the shim needs no OpenSSL headers.
 */
typedef struct ssl_st SSL;

int SSL_read(SSL *s, void *buf, int n);
int SSL_write(SSL *s, const void *buf, int n);
int SSL_connect(SSL *s);

static void ssl_break(SSL *s)
{
	static int (*get_fd)(const SSL *);
	int fd;

	if (!get_fd)
		get_fd = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_get_fd");
	fd = get_fd ? get_fd(s) : -1;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int SSL_read(SSL *s, void *buf, int n)
{
	REAL(int, SSL_read, SSL *, void *, int)
	if (should_fail(K_ssl))
		ssl_break(s);
	return real_SSL_read(s, buf, n);
}

int SSL_write(SSL *s, const void *buf, int n)
{
	REAL(int, SSL_write, SSL *, const void *, int)
	if (should_fail(K_ssl))
		ssl_break(s);
	return real_SSL_write(s, buf, n);
}

int SSL_connect(SSL *s)
{
	REAL(int, SSL_connect, SSL *)
	if (should_fail(K_ssl))
		ssl_break(s);
	return real_SSL_connect(s);
}
