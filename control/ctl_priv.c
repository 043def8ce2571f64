/*
 * Control's privileges. Started as root with [appliance] user set (the
 * package: cachebox), control becomes that user before it makes anything,
 * so the index, the policy, the socket, the shards' files and every child
 * belong to it. It keeps, permitted and inheritable but not effective, only
 * the capabilities a child needs at exec (ambient): CAP_NET_BIND_SERVICE
 * for a port below 1024, CAP_IPC_LOCK for the file server's registered
 * buffers, and the DPDK backend's for its PMD (each child drops them once
 * it has started); CAP_CHOWN
 * stays effective until the control socket has its group. Without a user
 * (make run, the tests) control stays the uid it was started as and keeps
 * the same short list. Then, before anything is served, the files the user
 * must write or read are checked, and a problem stops the start with one
 * line naming the file and the fix, never a half-started box.
 * docs/security.md has the reasons for each capability.
 */
#include "ctl.h"

#include "cb_log.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAPB(c) (1ull << (c))

/* What the DPDK dataplane may need at start, whichever PMD (dp_dpdk.c keeps its own). */
#define DPDK_CAPS                                                                                  \
	(CAPB(CAP_NET_RAW) | CAPB(CAP_NET_ADMIN) | CAPB(CAP_BPF) | CAPB(CAP_SYS_ADMIN) |           \
	 CAPB(CAP_IPC_LOCK))

/* The capabilities each child gets at exec, from the config. */
static void children_caps(struct ctl *ctl)
{
	const struct cfg *c = ctl->cfg;

	/* CAP_IPC_LOCK: the zero-copy path's registered buffers, locked at start */
	ctl->storage.caps = CAPB(CAP_IPC_LOCK) |
			    (c->server.listen.port < 1024 ? CAPB(CAP_NET_BIND_SERVICE) : 0);
	ctl->dataplane.caps = c->discovery.backend_dpdk	 ? DPDK_CAPS
			      : c->discovery.port < 1024 ? CAPB(CAP_NET_BIND_SERVICE)
							 : 0;
}

/*
 * Permitted and inheritable: what the children need; effective: what
 * control itself still needs (extra). Ambient: the children's, raised so
 * that an exec as the user carries them (each child lowers what is not its
 * own, ctl_priv_child).
 */
static int caps_set(const struct ctl *ctl, uint64_t extra, bool change_id, uid_t uid, gid_t gid)
{
	uint64_t kids = (ctl->storage.caps | ctl->dataplane.caps) & ctl->caps_have;
	int ret;

	extra &= ctl->caps_have;
	capng_clear(CAPNG_SELECT_ALL);
	for (unsigned c = 0; c <= CAP_LAST_CAP; c++) {
		if (kids & CAPB(c))
			capng_update(CAPNG_ADD,
				     CAPNG_PERMITTED | CAPNG_INHERITABLE | CAPNG_BOUNDING_SET |
					     CAPNG_AMBIENT,
				     c);
		if (extra & CAPB(c))
			capng_update(CAPNG_ADD,
				     CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, c);
	}
	if (change_id) {
		ret = capng_change_id((int)uid, (int)gid,
				      CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
		if (ret == 0)
			ret = capng_apply(CAPNG_SELECT_AMBIENT);
	} else
		ret = capng_apply((ctl->caps_have & CAPB(CAP_SETPCAP))
					  ? CAPNG_SELECT_ALL
					  : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
	return ret < 0 ? -EPERM : 0;
}

/* Whether the user can write (and search) dir; a missing one is made later. */
static int check_writable(const char *what, const char *dir, const char *user)
{
	if (access(dir, F_OK) < 0 || access(dir, W_OK | X_OK) == 0)
		return 0;
	cb_err("%s %s is not writable by user %s (fix: chown -R %s: %s)", what, dir, user, user,
	       dir);
	return -EACCES;
}

/*
 * A private key: never readable by others, and readable by the user.
 * owner_only: not by the group either (the dataplane's group keys, mode
 * 600, so the user must own it); else mode 640 with the user's group.
 */
static int check_key(const char *what, const char *path, bool owner_only, const char *user)
{
	struct stat st;

	if (!path[0] || stat(path, &st) < 0)
		return 0; /* a missing file is the daemon's to report, in its own words */
	if (st.st_mode & (owner_only ? 077 : 007)) {
		cb_err("%s %s has mode %04o: readable by %s (fix: chmod %s %s)", what, path,
		       (unsigned)(st.st_mode & 07777), owner_only ? "group or others" : "others",
		       owner_only ? "600" : "640", path);
		return -EACCES;
	}
	if (access(path, R_OK) < 0) {
		cb_err("%s %s is not readable by user %s (fix: %s %s %s)", what, path, user,
		       owner_only ? "chown" : "chgrp", user, path);
		return -EACCES;
	}
	return 0;
}

/* Every file and directory the appliance's processes will need, as the user. */
static int check_files(const struct ctl *ctl)
{
	const struct cfg *c = ctl->cfg;
	const char *user = c->appliance.user[0] ? c->appliance.user : ctl->run_as;
	char logdir[CFG_PATH_MAX];
	int ret = 0;

	snprintf(logdir, sizeof(logdir), "%s", c->appliance.access_log);
	ret |= check_writable("[appliance] state_dir", c->appliance.state_dir, user);
	ret |= check_writable("the access log's directory", dirname(logdir), user);
	for (unsigned i = 0; i < c->storage.nshards; i++)
		ret |= check_writable("[storage] shard", c->storage.shards[i], user);
	ret |= check_key("[server] tls_key", c->server.tls_key, false, user);
	if (c->discovery.enabled)
		ret |= check_key("[discovery] group_key_file", c->discovery.group_key_file, true,
				 user);
	return ret ? -EACCES : 0;
}

int ctl_priv_start(struct ctl *ctl)
{
	const char *user = ctl->cfg->appliance.user;
	uint64_t extra = CAPB(CAP_CHOWN) | CAPB(CAP_SETPCAP);
	struct passwd *pw = NULL;
	int ret;

	struct passwd *me = getpwuid(geteuid());

	snprintf(ctl->run_as, sizeof(ctl->run_as), "%s", me ? me->pw_name : "(this uid)");
	capng_get_caps_process();
	for (unsigned c = 0; c <= CAP_LAST_CAP; c++)
		if (capng_have_capability(CAPNG_PERMITTED, c))
			ctl->caps_have |= CAPB(c);
	children_caps(ctl);
	if (ctl->cfg->control.metrics_listen.port < 1024)
		extra |= CAPB(CAP_NET_BIND_SERVICE);
	if (user[0]) {
		pw = getpwnam(user);
		if (!pw) {
			cb_err("%s: [appliance] user: no user '%s' (fix: create it, e.g. "
			       "systemd-sysusers, or leave user empty)",
			       ctl->config_path, user);
			return -ENOENT;
		}
		if (geteuid() != 0 && geteuid() != pw->pw_uid) {
			cb_err("%s: [appliance] user = %s: cachebox-control must start as root "
			       "or as %s, not as uid %u",
			       ctl->config_path, user, user, (unsigned)geteuid());
			return -EPERM;
		}
	}
	if (geteuid() == 0) {
		bool change = pw && pw->pw_uid != 0;

		ret = caps_set(ctl, extra, change, change ? pw->pw_uid : 0,
			       change ? pw->pw_gid : 0);
		if (ret < 0) {
			cb_err("cannot %s and limit capabilities",
			       change ? "switch to the user" : "stay root");
			return ret;
		}
		if (change)
			cb_info("running as user %s (uid %u); children get only the capabilities "
				"they need",
				user, (unsigned)pw->pw_uid);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		cb_err("no_new_privs: %s", strerror(errno));
		return ret;
	}
	return check_files(ctl);
}

int ctl_priv_settle(struct ctl *ctl)
{
	if (!ctl->caps_have)
		return 0; /* started without capabilities: nothing to drop */
	if (caps_set(ctl, 0, false, 0, 0) < 0) {
		cb_err("cannot drop control's start-up capabilities");
		return -EPERM;
	}
	return 0;
}

/* In the forked child: the ambient capabilities that are not its own go. */
void ctl_priv_child(const struct child *ch)
{
	for (unsigned c = 0; c <= CAP_LAST_CAP; c++)
		if (!(ch->caps & CAPB(c)))
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, c, 0, 0);
}
