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

#include "cb_index.h"
#include "cb_policy.h"
#include "cfg.h"
#include "ctl_ipc.h"
#include "st_policy_cfg.h"
#include "st_rebuild.h"
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
	struct cb_index *ix;
	struct cb_policy *pol;
	struct ctl_evict *ev;
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

int verb_pin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_unpin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);

int verb_verify(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_quota(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);

/* An argument that is a URL of a configured origin or a 64-hex content ID. */
int ctl_resolve_id(struct ctl *ctl, const char *arg, uint8_t id[ST_ID_LEN], char *err,
		   size_t errlen);

/* Eviction (ctl_evict.c). */
int ctl_evict_init(struct ctl *ctl);
void ctl_evict_fini(struct ctl *ctl);
/* One pass of the limits, quotas and max_cache_age; *evicted = objects removed. */
int ctl_evict_pass(struct ctl *ctl, uint64_t *evicted);
int ctl_evict_operator(struct ctl *ctl, bool to_size, uint64_t arg, uint64_t *n, uint64_t *bytes);
/* A fill waits for room. */
bool ctl_evict_wanted(struct ctl *ctl);
void ctl_evict_counts(struct ctl *ctl, uint64_t *n, uint64_t *bytes);
/*
 * Removes an object (index entry, then its files); gen != 0: only that
 * version. 0 (and *out), -ENOENT, or -ESTALE when another version is there.
 */
int ctl_object_remove(struct ctl *ctl, const uint8_t id[ST_ID_LEN], uint64_t gen,
		      struct cb_index_rec *out);

/* The Prometheus text exposition of the same figures as stats. */
void ctl_metrics_write(struct ctl *ctl, FILE *out);

#endif
