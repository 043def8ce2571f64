/*
 * The discovery dataplane as control sees it. cachebox-dataplane is one of
 * control's two children (ctl_main.c starts, reaps and restarts it like the
 * file server); what it is doing and what it counted is in
 * <state_dir>/discovery.shm, which it alone writes (common/cb_disc.h). This
 * file reads that file for `status`, `stats` and /metrics, for the restart
 * policy (did the dead dataplane get as far as answering?), and at start to
 * stop a dataplane an earlier control left behind. The file is mapped
 * afresh for every read: the dataplane makes it, and may make it again, and
 * a read is rare (a verb, a scrape) and cheap, so control holds no map that
 * could go stale and no state that threads would share.
 */
#include "cb_disc.h"
#include "cb_common.h"
#include "cb_log.h"
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define ORPHAN_WAIT_MS 2000

int ctl_disc_read(const struct ctl *ctl, struct cb_disc_info *out)
{
	char path[CB_PATH_TMP];
	struct cb_disc *d;

	memset(out, 0, sizeof(*out));
	cb_fmt(path, sizeof(path), "%s/discovery.shm", ctl->cfg->appliance.state_dir);
	d = cb_disc_attach(path);
	if (!d)
		return -errno;
	cb_disc_read(d, out);
	cb_disc_close(d);
	return 0;
}

bool ctl_disc_was_answering(const struct ctl *ctl, pid_t pid)
{
	struct cb_disc_info in;

	return ctl_disc_read(ctl, &in) == 0 && in.pid == (uint32_t)pid &&
	       in.state == CB_DISC_RUNNING;
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

void ctl_disc_stop_orphan(const struct ctl *ctl)
{
	struct cb_disc_info in;
	pid_t pid;
	int i;

	if (ctl_disc_read(ctl, &in) < 0 || in.state == CB_DISC_STOPPED)
		return;
	pid = (pid_t)in.pid;
	if (pid == getpid() || !ctl_pid_runs(pid, "cachebox-dataplane"))
		return; /* it died (kill -9 leaves "running" behind), or the pid is reused */
	cb_warn("cachebox-dataplane (pid %d), started earlier with this state_dir, still runs: "
		"stopping it, it holds the discovery port",
		(int)pid);
	kill(pid, SIGTERM);
	for (i = 0; i < ORPHAN_WAIT_MS / 20 && pid_alive(pid); i++)
		usleep(20000);
	if (pid_alive(pid)) {
		cb_warn("cachebox-dataplane (pid %d) did not stop within %d ms: killing it",
			(int)pid, ORPHAN_WAIT_MS);
		kill(pid, SIGKILL);
	}
}

/* running, starting, stopped or disabled; have: the file was read into in. */
static const char *state_of(const struct ctl *ctl, pid_t pid, const struct cb_disc_info *in,
			    bool have)
{
	if (!ctl->cfg->discovery.enabled)
		return "disabled";
	if (!ctl->dp_supervised || pid <= 0)
		return "stopped";
	if (have && in->pid == (uint32_t)pid && in->state == CB_DISC_RUNNING)
		return "running";
	return "starting";
}

/* The file's listen and advertise are the running dataplane's; else none is known. */
static bool texts_current(const struct cb_disc_info *in, pid_t pid, bool have)
{
	return have && pid > 0 && in->pid == (uint32_t)pid && in->state == CB_DISC_RUNNING;
}

static const char *backend_of(const struct ctl *ctl)
{
	return ctl->cfg->discovery.backend_dpdk ? "dpdk" : "socket";
}

void ctl_disc_status_text(const struct ctl *ctl, FILE *out)
{
	const struct child *dp = &ctl->dataplane;
	pid_t pid = ctl_child_pid(dp);
	struct cb_disc_info in;
	bool have = ctl_disc_read(ctl, &in) == 0;
	const char *state = state_of(ctl, pid, &in, have);
	char last[64];

	if (!ctl->cfg->discovery.enabled) {
		fprintf(out, "discovery         disabled ([discovery] enabled = false)\n");
		return;
	}
	if (!ctl->dp_supervised) {
		fprintf(out, "discovery         stopped: no cachebox-dataplane executable next to "
			     "cachebox-control\n");
		return;
	}
	ctl_status_text(ctl_child_last_status(dp), last, sizeof(last));
	if (pid > 0)
		fprintf(out, "cachebox-dataplane pid %d, restarts %u\n", (int)pid,
			ctl_child_restarts(dp));
	else
		fprintf(out,
			"cachebox-dataplane not running (%s%srestart scheduled), restarts %u\n",
			last, last[0] ? "; " : "", ctl_child_restarts(dp));
	if (texts_current(&in, pid, have))
		fprintf(out, "discovery         %s, %s backend on UDP %s, OFFERs advertise %s\n",
			state, in.backend, in.listen, in.advertise);
	else
		fprintf(out, "discovery         %s, %s backend, UDP port %u\n", state,
			backend_of(ctl), ctl->cfg->discovery.port);
}

json_t *ctl_disc_status_json(const struct ctl *ctl)
{
	const struct child *dp = &ctl->dataplane;
	pid_t pid = ctl_child_pid(dp);
	struct cb_disc_info in;
	bool have = ctl_disc_read(ctl, &in) == 0, cur = texts_current(&in, pid, have);
	char last[64];

	ctl_status_text(ctl_child_last_status(dp), last, sizeof(last));
	return json_pack("{s:b, s:s, s:s, s:i, s:s?, s:s?, s:i, s:i, s:s?}", "enabled",
			 (int)ctl->cfg->discovery.enabled, "state", state_of(ctl, pid, &in, have),
			 "backend", cur ? in.backend : backend_of(ctl), "port",
			 (int)ctl->cfg->discovery.port, "listen", cur ? in.listen : NULL,
			 "advertise", cur ? in.advertise : NULL, "pid", (int)pid, "restarts",
			 (int)ctl_child_restarts(dp), "last_exit", last[0] ? last : NULL);
}

void ctl_disc_figures(const struct ctl *ctl, struct ctl_figures *f)
{
	pid_t pid = ctl_child_pid(&ctl->dataplane);
	struct cb_disc_info in;
	bool have = ctl_disc_read(ctl, &in) == 0;
	const struct cb_disc_lane *t = &in.total;

	f->disc_restarts = ctl_child_restarts(&ctl->dataplane);
	f->disc_running = strcmp(state_of(ctl, pid, &in, have), "running") == 0;
	if (!have)
		return;
	f->disc_rx = t->rx;
	f->disc_queries = t->queries;
	f->disc_offers = t->offers;
	f->disc_ignored = t->ignored;
	f->disc_announces = t->announces;
	f->disc_byes = t->byes;
	f->disc_tx_failed = t->tx_failed;
	f->disc_arp_replies = t->arp_replies;
	f->disc_not_ours = t->not_ours;
	/* slot 0 (DP_DROP_NONE) is "accepted" and stays 0 */
	for (unsigned i = 1; i < DP_DROP_COUNT; i++)
		f->disc_drops[i] = t->drops[i];
}
