/*
 * cachebox-control: the appliance's one entry point. It creates the shared
 * index and rebuilds it from the shards, starts cachebox-storage as a child
 * (restarting it with back-off when it dies), answers cacheboxctl on the
 * control socket, and on SIGTERM/SIGINT stops the child and itself.
 *
 * The control socket admits root, the user running the appliance, and
 * members of [control] allowed_group; anyone else is refused (SO_PEERCRED)
 * before a byte of the request is read. Verbs run one at a time in this
 * single-threaded loop; the file server never waits on it.
 */
#include "cb_common.h"
#include "cb_log.h"
#include "cfg.h"
#include "ctl_ipc.h"
#include "ctl_verbs.h"
#include "st_http.h"
#include "st_import.h"
#include "st_index.h"
#include "st_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS      60000
#define STOP_GRACE_MS  5000

struct child {
	const char *name;
	char exe[PATH_MAX];
	pid_t pid;
	uint64_t started_ns;
	uint64_t restart_at_ns; /* 0 = not scheduled */
	unsigned backoff_ms;
	unsigned restarts;
};

struct ctl {
	const char *config_path;
	struct cfg *cfg;
	struct st_shards ss;
	struct st_index *ix;
	struct child storage;
	int lfd, sfd;
	gid_t allowed_gid;
	bool has_allowed_gid;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cachebox-control --config FILE\n"
		   "\n"
		   "Starts the cachebox appliance: builds the shared index from the shards,\n"
		   "starts cachebox-storage (HTTP on [server] listen) and keeps it running,\n"
		   "and answers cacheboxctl on [control] socket. SIGTERM or Ctrl-C stops all.\n"
		   "\n"
		   "  -c, --config FILE  configuration file (INI, see config/cachebox.conf)\n"
		   "  -h, --help         this text\n");
}

/* ------------------------------------------------------------ supervision */

static int find_exe(const char *name, char *out, size_t cap)
{
	char self[PATH_MAX], *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	dir = dirname(self);
	/* Installed side by side, or in the build tree. */
	if (cb_fmt(out, cap, "%s/%s", dir, name) == 0 && access(out, X_OK) == 0)
		return 0;
	if (cb_fmt(out, cap, "%s/../storage/%s", dir, name) == 0 && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

static void child_start(struct ctl *ctl, struct child *ch)
{
	pid_t pid = fork();

	if (pid < 0) {
		cb_err("fork %s: %s", ch->name, strerror(errno));
		ch->restart_at_ns = cb_now_ns() + (uint64_t)ch->backoff_ms * 1000000ull;
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(ch->exe, ch->exe, "--config", ctl->config_path, "--attach", (char *)NULL);
		fprintf(stderr, "cachebox-control: exec %s: %s\n", ch->exe, strerror(errno));
		_exit(127);
	}
	ch->pid = pid;
	ch->started_ns = cb_now_ns();
	ch->restart_at_ns = 0;
	cb_info("started %s (pid %d)", ch->name, (int)pid);
}

static void child_reaped(struct child *ch, int status)
{
	uint64_t up_ms = (cb_now_ns() - ch->started_ns) / 1000000ull;

	if (WIFEXITED(status))
		cb_warn("%s (pid %d) exited with status %d after %llu ms", ch->name, (int)ch->pid,
			WEXITSTATUS(status), (unsigned long long)up_ms);
	else
		cb_warn("%s (pid %d) killed by signal %d after %llu ms", ch->name, (int)ch->pid,
			WTERMSIG(status), (unsigned long long)up_ms);
	ch->pid = 0;
	if (up_ms >= STABLE_MS)
		ch->backoff_ms = BACKOFF_MIN_MS;
	ch->restart_at_ns = cb_now_ns() + (uint64_t)ch->backoff_ms * 1000000ull;
	cb_info("restarting %s in %u ms", ch->name, ch->backoff_ms);
	ch->backoff_ms = CB_MIN(ch->backoff_ms * 2, (unsigned)BACKOFF_MAX_MS);
	ch->restarts++;
}

static void child_stop(struct child *ch)
{
	uint64_t until = cb_now_ns() + STOP_GRACE_MS * 1000000ull;
	int status;

	if (ch->pid <= 0)
		return;
	kill(ch->pid, SIGTERM);
	while (cb_now_ns() < until) {
		pid_t r = waitpid(ch->pid, &status, WNOHANG);

		if (r == ch->pid || (r < 0 && errno == ECHILD)) {
			ch->pid = 0;
			return;
		}
		usleep(20000);
	}
	cb_warn("%s did not stop within %d ms: killing it", ch->name, STOP_GRACE_MS);
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, &status, 0);
	ch->pid = 0;
}

/* -------------------------------------------------------------- the verbs */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int verb_status(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		       size_t errlen)
{
	const struct cfg *c = ctl->cfg;

	(void)err;
	(void)errlen;
	if (req->json) {
		fprintf(out, "{\"control_pid\":%d,\"storage_pid\":%d,\"storage_restarts\":%u,",
			(int)getpid(), (int)ctl->storage.pid, ctl->storage.restarts);
		fprintf(out, "\"listen\":");
		json_str(out, c->server.listen.host);
		fprintf(out, ",\"port\":%u,\"objects\":%u,\"index_capacity\":%u,\"shards\":[",
			c->server.listen.port, st_index_count(ctl->ix), st_index_capacity(ctl->ix));
		for (unsigned i = 0; i < ctl->ss.n; i++) {
			fprintf(out, "%s{\"path\":", i ? "," : "");
			json_str(out, ctl->ss.s[i].path);
			fprintf(out, ",\"fs_size\":%llu}",
				(unsigned long long)ctl->ss.s[i].fs_size);
		}
		fprintf(out, "]}\n");
		return 0;
	}
	fprintf(out, "cachebox-control  pid %d\n", (int)getpid());
	if (ctl->storage.pid > 0)
		fprintf(out, "cachebox-storage  pid %d, restarts %u\n", (int)ctl->storage.pid,
			ctl->storage.restarts);
	else
		fprintf(out, "cachebox-storage  not running (restart scheduled), restarts %u\n",
			ctl->storage.restarts);
	fprintf(out, "listen            http://%s:%u/\n", c->server.listen.host,
		c->server.listen.port);
	fprintf(out, "objects           %u (index capacity %u)\n", st_index_count(ctl->ix),
		st_index_capacity(ctl->ix));
	for (unsigned i = 0; i < ctl->ss.n; i++)
		fprintf(out, "shard %-11u %s (filesystem %llu MiB)\n", i, ctl->ss.s[i].path,
			(unsigned long long)(ctl->ss.s[i].fs_size >> 20));
	return 0;
}

struct list_ctx {
	struct ctl *ctl;
	FILE *out;
	bool json;
	unsigned n;
};

static int list_one(const struct st_index_rec *rec, void *arg)
{
	struct list_ctx *lc = arg;
	char hex[ST_ID_HEX + 1], path[CB_PATH_TMP];
	const char *key = "?";
	struct st_meta m;
	bool have = false;

	cb_hex_encode(rec->id, ST_ID_LEN, hex);
	if (rec->shard < lc->ctl->ss.n &&
	    st_path_meta(lc->ctl->ss.s[rec->shard].path, rec->id, path, sizeof(path)) == 0 &&
	    st_meta_read(path, &m) == 0) {
		have = true;
		key = m.key;
	}
	if (lc->json) {
		fprintf(lc->out,
			"%s{\"id\":\"%s\",\"size\":%llu,\"pieces\":%u,\"complete\":%s,"
			"\"pinned\":%s,\"shard\":%u,\"etag\":",
			lc->n ? "," : "", hex, (unsigned long long)rec->size,
			st_npieces(rec->size, rec->piece_size),
			rec->flags & ST_META_COMPLETE ? "true" : "false",
			rec->flags & ST_META_PINNED ? "true" : "false", rec->shard);
		json_str(lc->out, rec->etag);
		fprintf(lc->out, ",\"key\":");
		json_str(lc->out, key);
		fprintf(lc->out, "}");
	} else {
		fprintf(lc->out, "%s %12llu %6u %-8s %s\n", hex, (unsigned long long)rec->size,
			st_npieces(rec->size, rec->piece_size),
			rec->flags & ST_META_COMPLETE ? "complete" : "partial", key);
	}
	if (have)
		st_meta_fini(&m);
	lc->n++;
	return 0;
}

static int verb_list(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		     size_t errlen)
{
	struct list_ctx lc = {ctl, out, req->json, 0};

	(void)err;
	(void)errlen;
	if (req->json)
		fprintf(out, "[");
	else
		fprintf(out, "%-64s %12s %6s %-8s %s\n", "content-id", "bytes", "pieces", "state",
			"key");
	st_index_foreach(ctl->ix, list_one, &lc);
	if (req->json)
		fprintf(out, "]\n");
	return 0;
}

static int verb_import(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		       size_t errlen)
{
	struct st_import_result res;
	char hex[ST_ID_HEX + 1];
	uint64_t t0 = cb_now_ns();
	int ret;

	ret = st_import_file(ctl->cfg, &ctl->ss, ctl->ix, req->argv[1], req->argv[2], &res, err,
			     errlen);
	if (ret)
		return ret;
	cb_hex_encode(res.id, ST_ID_LEN, hex);
	cb_info("imported %s as %s (%s): %llu bytes, %u pieces, shard %u, %.1f ms%s", req->argv[1],
		res.key, hex, (unsigned long long)res.size, res.npieces, res.shard,
		(double)(cb_now_ns() - t0) / 1e6, res.replaced ? ", replaced the old version" : "");
	if (req->json) {
		fprintf(out, "{\"id\":\"%s\",\"key\":", hex);
		json_str(out, res.key);
		fprintf(out, ",\"size\":%llu,\"pieces\":%u,\"shard\":%u,\"etag\":",
			(unsigned long long)res.size, res.npieces, res.shard);
		json_str(out, res.etag);
		fprintf(out, ",\"replaced\":%s}\n", res.replaced ? "true" : "false");
	} else {
		fprintf(out, "%s %s %llu bytes, %u pieces, verified%s\n", hex, res.key,
			(unsigned long long)res.size, res.npieces,
			res.replaced ? " (replaced the old version)" : "");
	}
	return 0;
}

/*
 * prestage asks the file server for the whole object, the way a client
 * would, and discards the bytes: the server's fill brings the pieces (with
 * its coalescing, so a client asking meanwhile costs the origin nothing
 * more), and the answer ends when the last piece is in and verified.
 */
static int prestage_via_storage(struct ctl *ctl, const char *url, uint64_t from, uint64_t *bytes,
				uint64_t *total, char *err, size_t errlen)
{
	const struct cfg_addr *l = &ctl->cfg->server.listen;
	const char *host = strstr(url, "://") + 3, *rest = strchr(host, '/'), *q, *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct timeval tv = {120, 0};
	struct st_http_resp resp;
	char req[ST_HTTP_MAX_URI + 512], port[8], buf[65536];
	size_t hlen, got = 0;
	int fd = -1, ret = -EIO, n = 0;
	ssize_t r;

	if (!rest)
		rest = "/";
	colon = memchr(host, ':', (size_t)(rest - host));
	hlen = (size_t)((colon && *host != '[' ? colon : rest) - host);
	q = strchr(rest, '?');
	n = snprintf(req, sizeof(req),
		     "GET %s%scacheHostOrigin=%.*s HTTP/1.1\r\nHost: cachebox\r\n"
		     "Range: bytes=%llu-\r\nConnection: close\r\n\r\n",
		     rest, q ? "&" : "?", (int)hlen, host, (unsigned long long)from);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errlen, "URL too long");
		return -E2BIG;
	}
	snprintf(port, sizeof(port), "%u", l->port);
	if (getaddrinfo(!l->host[0] || !strcmp(l->host, "0.0.0.0") ? "127.0.0.1"
			: !strcmp(l->host, "::")		   ? "::1"
								   : l->host,
			port, &hints, &ai) != 0) {
		snprintf(err, errlen, "cannot resolve the file server's address %s", l->host);
		return -EHOSTUNREACH;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(err, errlen, "cannot reach the file server on %s:%u: %s", l->host, l->port,
			 strerror(errno));
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, req, (size_t)n) != n) {
		snprintf(err, errlen, "sending to the file server: %s", strerror(errno));
		goto out;
	}
	for (n = -2; n == -2;) {
		r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0) {
			snprintf(err, errlen, "the file server closed without an answer");
			goto out;
		}
		got += (size_t)r;
		n = st_http_parse_response(buf, got, &resp);
	}
	if (n < 0 || !resp.has_content_length) {
		snprintf(err, errlen, "the file server's answer is malformed");
		goto out;
	}
	if (resp.status != 206 && !(resp.status == 200 && from == 0)) {
		char *nl;

		buf[got] = '\0';
		nl = strchr(buf + n, '\n');
		if (nl)
			*nl = '\0';
		snprintf(err, errlen, "%s", buf + n);
		ret = resp.status == 404 ? -ENOENT : -EIO;
		goto out;
	}
	*total = from + resp.content_length;
	*bytes = got - (size_t)n;
	while (*bytes < resp.content_length) {
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		*bytes += (uint64_t)r;
	}
	if (*bytes != resp.content_length) {
		snprintf(err, errlen,
			 "the fill stopped at byte %llu of %llu (the origin failed; the file "
			 "server's log says why); the pieces in are kept for a retry",
			 (unsigned long long)(from + *bytes), (unsigned long long)*total);
		ret = -EAGAIN;
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ret;
}

static int verb_prestage(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
			 size_t errlen)
{
	char key[ST_KEY_MAX], hex[ST_ID_HEX + 1];
	const char *host = strstr(req->argv[1], "://"), *end;
	struct st_index_rec rec;
	uint64_t t0 = cb_now_ns(), bytes = 0;
	uint8_t id[ST_ID_LEN];
	double secs;
	int n, ret;

	n = st_url_key_of(ctl->cfg, req->argv[1], key, sizeof(key), err, errlen);
	if (n < 0)
		return -EINVAL;
	host += 3;
	end = host + strcspn(host, ":/");
	if (!cfg_origin_find(ctl->cfg, host, (size_t)(end - host))) {
		snprintf(err, errlen, "%s is not a configured origin ([origin HOST] section)",
			 req->argv[1]);
		return -EPERM;
	}
	/*
	 * One more try from where a cut-short answer stopped: the fill resumes
	 * from the pieces it has, and if the origin fails again before the
	 * first missing byte the answer is a 502 that says why.
	 */
	uint64_t from = 0, total = 0;

	{
		ret = prestage_via_storage(ctl, req->argv[1], 0, &bytes, &total, err, errlen);
		if (ret == -EAGAIN) {
			from = bytes;
			ret = prestage_via_storage(ctl, req->argv[1], from, &bytes, &total, err,
						   errlen);
		}
	}
	if (ret) {
		cb_warn("prestage %s failed: %s", req->argv[1], err);
		return ret;
	}
	st_content_id(key, (size_t)n, id);
	cb_hex_encode(id, ST_ID_LEN, hex);
	if (st_index_lookup(ctl->ix, id, &rec) != 0 || !(rec.flags & ST_META_COMPLETE)) {
		if (total < ctl->cfg->storage.min_file_size_to_cache)
			snprintf(err, errlen,
				 "%s (%llu bytes) is smaller than min_file_size_to_cache: passed "
				 "through, not stored",
				 key, (unsigned long long)total);
		else
			snprintf(err, errlen, "%s was served but is not stored complete", key);
		return -EIO;
	}
	secs = (double)(cb_now_ns() - t0) / 1e9;
	cb_info("prestaged %s as %s: %llu bytes, %u pieces, complete and verified, %.2f s", key,
		hex, (unsigned long long)rec.size, st_npieces(rec.size, rec.piece_size), secs);
	if (req->json) {
		fprintf(out, "{\"id\":\"%s\",\"key\":", hex);
		json_str(out, key);
		fprintf(out, ",\"size\":%llu,\"pieces\":%u,\"seconds\":%.3f,\"etag\":",
			(unsigned long long)rec.size, st_npieces(rec.size, rec.piece_size), secs);
		json_str(out, rec.etag);
		fprintf(out, "}\n");
	} else {
		fprintf(out, "%s %s %llu bytes, %u pieces, complete and verified (%.2f s)\n", hex,
			key, (unsigned long long)rec.size, st_npieces(rec.size, rec.piece_size),
			secs);
	}
	return 0;
}

static int verb_evict(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		      size_t errlen)
{
	const char *arg = req->argv[1];
	char key[ST_KEY_MAX], path[CB_PATH_TMP], hex[ST_ID_HEX + 1];
	struct st_index_rec rec;
	uint8_t id[ST_ID_LEN];
	int n, ret;

	if (strlen(arg) == ST_ID_HEX && cb_hex_decode(arg, ST_ID_HEX, id) == 0) {
		/* a content ID */
	} else {
		n = st_url_key_of(ctl->cfg, arg, key, sizeof(key), err, errlen);
		if (n < 0)
			return -EINVAL;
		st_content_id(key, (size_t)n, id);
	}
	cb_hex_encode(id, ST_ID_LEN, hex);
	st_index_lock(ctl->ix);
	ret = st_index_lookup(ctl->ix, id, &rec);
	if (ret == 0) {
		/* Index first: new requests stop finding it; open readers keep their fd. */
		st_index_del(ctl->ix, id);
		if (rec.shard < ctl->ss.n) {
			st_path_meta(ctl->ss.s[rec.shard].path, id, path, sizeof(path));
			unlink(path);
			st_path_data(ctl->ss.s[rec.shard].path, id, rec.gen, path, sizeof(path));
			unlink(path);
		}
	}
	st_index_unlock(ctl->ix);
	if (ret) {
		snprintf(err, errlen, "%s is not cached", hex);
		return -ENOENT;
	}
	cb_info("evicted %s (%llu bytes) on request", hex, (unsigned long long)rec.size);
	if (req->json)
		fprintf(out, "{\"evicted\":\"%s\",\"size\":%llu}\n", hex,
			(unsigned long long)rec.size);
	else
		fprintf(out, "evicted %s (%llu bytes)\n", hex, (unsigned long long)rec.size);
	return 0;
}

/* reload: the file server takes the TLS certificate again (SIGHUP). */
static void reload(struct ctl *ctl)
{
	if (ctl->storage.pid > 0 && kill(ctl->storage.pid, SIGHUP) == 0)
		cb_info("reload: asked cachebox-storage (pid %d) to reload its TLS certificate",
			(int)ctl->storage.pid);
	else
		cb_warn("reload: cachebox-storage is not running");
}

static int verb_reload(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		       size_t errlen)
{
	if (ctl->storage.pid <= 0) {
		snprintf(err, errlen, "cachebox-storage is not running");
		return -ESRCH;
	}
	reload(ctl);
	if (req->json)
		fprintf(out, "{\"reloaded\":[\"tls_cert\"]}\n");
	else
		fprintf(out, "cachebox-storage reloads its TLS certificate (other settings need a "
			     "restart for now)\n");
	return 0;
}

typedef int (*verb_fn)(struct ctl *, const struct ctl_request *, FILE *, char *, size_t);

static const struct {
	const char *name;
	verb_fn fn;
} handlers[] = {
	{"status", verb_status},     {"list", verb_list},   {"import", verb_import},
	{"prestage", verb_prestage}, {"evict", verb_evict}, {"reload", verb_reload},
};

/* ------------------------------------------------------- control socket */

static bool peer_allowed(struct ctl *ctl, int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);
	gid_t groups[256];
	int ngroups = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
		return false;
	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	if (!ctl->has_allowed_gid)
		return false;
	if (cr->gid == ctl->allowed_gid)
		return true;
	/* Supplementary groups of the peer process, from /proc/<pid>/status. */
	{
		char path[64], line[1024];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)cr->pid);
		f = fopen(path, "r");
		if (!f)
			return false;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "Groups:", 7) == 0) {
				char *p = line + 7, *end;

				while (ngroups < (int)CB_ARRAY_SIZE(groups)) {
					unsigned long g = strtoul(p, &end, 10);

					if (end == p)
						break;
					groups[ngroups++] = (gid_t)g;
					p = end;
				}
			}
		}
		fclose(f);
	}
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == ctl->allowed_gid)
			return true;
	return false;
}

static void serve_client(struct ctl *ctl, int cfd)
{
	struct ctl_request req;
	struct ucred cr;
	char err[512] = "";
	char *body = NULL;
	size_t body_len = 0;
	const struct ctl_verb *v;
	FILE *in = NULL, *out = NULL;
	verb_fn fn = NULL;
	int ret;

	if (!peer_allowed(ctl, cfd, &cr)) {
		cb_warn("control socket: refused uid %u gid %u pid %d (not root, owner or "
			"allowed_group)",
			(unsigned)cr.uid, (unsigned)cr.gid, (int)cr.pid);
		if (write(cfd, "ERR permission denied\n", 22) < 0)
			cb_dbg("refusal not delivered");
		close(cfd);
		return;
	}
	{
		struct timeval tv = {5, 0};

		setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	in = fdopen(dup(cfd), "r");
	if (!in || ctl_ipc_recv(in, &req) < 0) {
		if (write(cfd, "ERR malformed request\n", 22) < 0)
			cb_dbg("reply not delivered");
		goto out;
	}
	v = ctl_verb_find(req.argv[0]);
	for (size_t i = 0; v && i < CB_ARRAY_SIZE(handlers); i++)
		if (strcmp(handlers[i].name, v->name) == 0)
			fn = handlers[i].fn;
	if (!v || !fn) {
		snprintf(err, sizeof(err), "unknown verb '%s'", req.argv[0]);
		ret = -EINVAL;
	} else if (req.argc - 1 < v->min_args || req.argc - 1 > v->max_args) {
		snprintf(err, sizeof(err), "usage: %s %s", v->name, v->args);
		ret = -EINVAL;
	} else {
		out = open_memstream(&body, &body_len);
		ret = out ? fn(ctl, &req, out, err, sizeof(err)) : -ENOMEM;
		if (out)
			fclose(out);
	}
	if (ret) {
		char line[600];
		int n;

		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		n = snprintf(line, sizeof(line), "ERR %s\n", err);
		if (write(cfd, line, (size_t)CB_MIN(n, (int)sizeof(line) - 1)) < 0)
			cb_dbg("reply not delivered");
	} else {
		size_t done = 0;

		if (write(cfd, "OK\n", 3) == 3) {
			while (done < body_len) {
				ssize_t w = write(cfd, body + done, body_len - done);

				if (w <= 0)
					break;
				done += (size_t)w;
			}
		}
	}
	ctl_request_fini(&req);
out:
	free(body);
	if (in)
		fclose(in);
	close(cfd);
}

static int control_socket(struct ctl *ctl)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = ctl->cfg->control.socket;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		cb_err("control socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		cb_err("control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Access is decided by SO_PEERCRED; the mode only keeps strangers out early. */
	chmod(path, ctl->has_allowed_gid ? 0660 : 0600);
	if (ctl->has_allowed_gid && chown(path, (uid_t)-1, ctl->allowed_gid) < 0)
		cb_warn("chown %s to group %s: %s", path, ctl->cfg->control.allowed_group,
			strerror(errno));
	return fd;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl ctl = {.lfd = -1, .sfd = -1};
	char err[512], path[CB_PATH_TMP];
	sigset_t set;
	int opt, n, ret = 1;
	bool stop = false;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ctl.config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	cb_log_init("cachebox-control", CB_LOG_INFO);
	ctl.cfg = cfg_load(ctl.config_path, err, sizeof(err));
	if (!ctl.cfg) {
		cb_err("%s", err);
		return 1;
	}
	cb_log_init("cachebox-control", (enum cb_log_level)ctl.cfg->appliance.log_level);
	if (ctl.cfg->control.allowed_group[0]) {
		struct group *g = getgrnam(ctl.cfg->control.allowed_group);

		if (!g) {
			cb_err("%s: [control] allowed_group: no group '%s'", ctl.config_path,
			       ctl.cfg->control.allowed_group);
			goto out;
		}
		ctl.allowed_gid = g->gr_gid;
		ctl.has_allowed_gid = true;
	}
	if (mkdir(ctl.cfg->appliance.state_dir, 0755) < 0 && errno != EEXIST) {
		cb_err("state_dir %s: %s", ctl.cfg->appliance.state_dir, strerror(errno));
		goto out;
	}
	if (st_shards_init(&ctl.ss, ctl.cfg) < 0)
		goto out;
	cb_fmt(path, sizeof(path), "%s/index.shm", ctl.cfg->appliance.state_dir);
	ctl.ix = st_index_create(path, ctl.cfg->storage.index_capacity);
	if (!ctl.ix) {
		cb_err("create %s: %s", path, strerror(errno));
		goto out;
	}
	n = st_index_rebuild(ctl.ix, &ctl.ss);
	if (n < 0)
		goto out;
	cb_info("index rebuilt from %u shard(s): %d object(s)", ctl.ss.n, n);

	ctl.storage.name = "cachebox-storage";
	ctl.storage.backoff_ms = BACKOFF_MIN_MS;
	if (find_exe("cachebox-storage", ctl.storage.exe, sizeof(ctl.storage.exe)) < 0) {
		cb_err("cannot find the cachebox-storage executable next to cachebox-control");
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctl.sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ctl.lfd = control_socket(&ctl);
	if (ctl.sfd < 0 || ctl.lfd < 0)
		goto out;
	child_start(&ctl, &ctl.storage);
	cb_info("cachebox is up: http://%s:%u/ (health: /_cachebox/health), control socket %s",
		ctl.cfg->server.listen.host, ctl.cfg->server.listen.port, ctl.cfg->control.socket);

	while (!stop) {
		struct pollfd pfd[2] = {{ctl.sfd, POLLIN, 0}, {ctl.lfd, POLLIN, 0}};
		int timeout = -1;

		if (ctl.storage.restart_at_ns) {
			uint64_t now = cb_now_ns();

			timeout =
				now >= ctl.storage.restart_at_ns
					? 0
					: (int)((ctl.storage.restart_at_ns - now) / 1000000ull) + 1;
		}
		n = poll(pfd, 2, timeout);
		if (n < 0 && errno != EINTR) {
			cb_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(ctl.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					int status;
					pid_t pid;

					while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
						if (pid == ctl.storage.pid)
							child_reaped(&ctl.storage, status);
				} else if (si.ssi_signo == SIGHUP) {
					reload(&ctl);
				} else {
					cb_info("signal %u: stopping", si.ssi_signo);
					stop = true;
				}
				break;
			}
		}
		if (!stop && (pfd[1].revents & POLLIN)) {
			int cfd = accept4(ctl.lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0)
				serve_client(&ctl, cfd);
		}
		if (!stop && ctl.storage.restart_at_ns && cb_now_ns() >= ctl.storage.restart_at_ns)
			child_start(&ctl, &ctl.storage);
	}
	child_stop(&ctl.storage);
	unlink(ctl.cfg->control.socket);
	cb_info("stopped");
	ret = 0;
out:
	if (ctl.lfd >= 0)
		close(ctl.lfd);
	if (ctl.sfd >= 0)
		close(ctl.sfd);
	st_index_close(ctl.ix);
	cfg_free(ctl.cfg);
	return ret;
}
