/*
 * The one verb table (see ctl_verbs.h). This file is compiled twice: into
 * cachebox-control with CTL_VERB_HANDLERS defined, where each row points at
 * its verb_NAME handler, and into cacheboxctl without it, where the handler
 * column is NULL. Why this and not an X-macro list expanded into two
 * tables: there is then one table in one place, with one definition of each
 * row, and both programs look verbs up and print usage through the same
 * code; the CLI's copy references no handler, so the linker pulls in none
 * of control (nor, through it, the storage engine).
 */
#include "ctl_verbs.h"

#include <string.h>

#ifdef CTL_VERB_HANDLERS
#include "ctl.h"
#define HANDLER(fn) fn
#else
#define HANDLER(fn) NULL
#endif

const struct ctl_verb ctl_verbs[] = {
	{"status", "", 0, 0, CTL_VOPT_NONE,
	 "processes, listeners, shards, object count and discovery", CTL_LOCK_NONE,
	 HANDLER(verb_status)},
	{"stats", "", 0, 0, CTL_VOPT_NONE,
	 "bytes from the cache and from origins, hits, clients, rejections, shards, top objects",
	 CTL_LOCK_READ, HANDLER(verb_stats)},
	{"list", "", 0, 0, CTL_VOPT_NONE, "cached objects: content ID, size, pieces, state, key",
	 CTL_LOCK_NONE, HANDLER(verb_list)},
	{"import", "FILE URL", 2, 2, CTL_VOPT_NONE,
	 "store a local file under URL's cache key, hashing every piece (prestage)", CTL_LOCK_NONE,
	 HANDLER(verb_import)},
	{"prestage", "URL", 1, 1, CTL_VOPT_NONE,
	 "fill URL's object from its origin now, every piece verified; waits until done",
	 CTL_LOCK_NONE, HANDLER(verb_prestage)},
	{"evict", "URL|ID | --older-than DUR | --to-size SIZE", 1, 2, CTL_VOPT_EVICT,
	 "remove one object (a URL or a 64-hex content ID), those unused for DUR, or the "
	 "policy's choice down to SIZE (pinned ones stay)",
	 CTL_LOCK_WRITE, HANDLER(verb_evict)},
	{"pin", "URL|ID", 1, 1, CTL_VOPT_NONE, "never evict this object", CTL_LOCK_NONE,
	 HANDLER(verb_pin)},
	{"unpin", "URL|ID", 1, 1, CTL_VOPT_NONE, "let eviction take this object again",
	 CTL_LOCK_NONE, HANDLER(verb_unpin)},
	{"verify", "[URL|ID]", 0, 1, CTL_VOPT_NONE,
	 "read every stored piece again and check its SHA-256; corrupt pieces are dropped and "
	 "fetched again",
	 CTL_LOCK_NONE, HANDLER(verb_verify)},
	{"quota", "ORIGIN SIZE", 2, 2, CTL_VOPT_NONE, "set an origin's cache quota now (0 = none)",
	 CTL_LOCK_WRITE, HANDLER(verb_quota)},
	{"limits", "[OPTION VALUE]...", 0, 14, CTL_VOPT_LIMITS,
	 "show the slot limit and caps, or change them now (the limits options below)",
	 CTL_LOCK_WRITE, HANDLER(verb_limits)},
	{"reload", "", 0, 0, CTL_VOPT_NONE,
	 "read [limits] again, take the TLS certificate and the discovery group keys again, "
	 "without dropping connections",
	 CTL_LOCK_WRITE, HANDLER(verb_reload)},
};

const int ctl_nverbs = (int)(sizeof(ctl_verbs) / sizeof(ctl_verbs[0]));

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (int i = 0; i < ctl_nverbs; i++)
		if (strcmp(ctl_verbs[i].name, name) == 0)
			return &ctl_verbs[i];
	return NULL;
}
