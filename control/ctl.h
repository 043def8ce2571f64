/*
 * cachebox-control's pieces: the supervisor and control socket
 * (ctl_main.c), the verbs on objects (ctl_objects.c), and the figures:
 * stats, limits and the Prometheus endpoint (ctl_stats.c).
 */
#ifndef CTL_H
#define CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cfg.h"
#include "ctl_ipc.h"
#include "st_index.h"
#include "st_policy.h"
#include "st_shard.h"

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
	int pidfd; /* an adopted process (not our child): its pidfd, else -1 */
	char pidfile[PATH_MAX];
};

struct ctl {
	const char *config_path;
	struct cfg *cfg;
	struct st_shards ss;
	struct st_index *ix;
	struct st_policy *pol;
	struct child storage;
	int lfd, sfd, mfd; /* control socket, signalfd, metrics listener */
	gid_t allowed_gid;
	bool has_allowed_gid;
};

void json_str(FILE *f, const char *s);

typedef int (*verb_fn)(struct ctl *, const struct ctl_request *, FILE *, char *, size_t);

int verb_list(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_import(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_prestage(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		  size_t errlen);
int verb_evict(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_stats(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_limits(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);

/* The Prometheus text exposition of the same figures as stats. */
void ctl_metrics_write(struct ctl *ctl, FILE *out);

#endif
