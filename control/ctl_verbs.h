/*
 * The CLI verbs: one table (ctl_verbs.c) drives cacheboxctl's usage text,
 * its argument checks and cachebox-control's dispatch, so they cannot
 * disagree (wireguard-tools' wg.c is the model). Each row carries its
 * handler; in cacheboxctl's build that column is NULL, so the CLI links
 * none of control's code (see ctl_verbs.c for why this shape).
 */
#ifndef CTL_VERBS_H
#define CTL_VERBS_H

#include <stddef.h>
#include <stdio.h>

struct ctl;
struct ctl_request;

/*
 * A verb's handler: writes its answer to out and returns 0, or -errno with
 * a one-line reason in err (the caller then writes "ERR reason").
 */
typedef int (*ctl_verb_fn)(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
			   size_t errlen);

/* What a verb accepts after its name besides positional arguments. */
enum ctl_verb_opts {
	CTL_VOPT_NONE,	 /* no options of its own */
	CTL_VOPT_EVICT,	 /* --older-than DUR, --to-size SIZE */
	CTL_VOPT_LIMITS, /* the rows of ctl_limits.h, each with a value */
};

/*
 * How a verb holds cachebox-control's lock while it runs (ctl_serve.c):
 * the long verbs and those that need only the index take none, so they
 * delay nobody.
 */
enum ctl_lock_mode {
	CTL_LOCK_NONE,	/* long verbs: they read only what does not change */
	CTL_LOCK_READ,	/* reads the eviction state or the mutable config */
	CTL_LOCK_WRITE, /* changes limits, quotas, the policy or the eviction state */
};

struct ctl_verb {
	const char *name;
	const char *args;	/* usage of the arguments */
	int min_args, max_args; /* after the verb */
	enum ctl_verb_opts opts;
	const char *help;
	enum ctl_lock_mode lock;
	ctl_verb_fn fn; /* NULL in cacheboxctl */
};

extern const struct ctl_verb ctl_verbs[];
extern const int ctl_nverbs;

/* The verb called name, or NULL. */
const struct ctl_verb *ctl_verb_find(const char *name);

#endif
