/*
 * The CLI verbs: one table drives cacheboxctl's usage text, its argument
 * checks and the control process's dispatch, so they cannot disagree.
 */
#ifndef CTL_VERBS_H
#define CTL_VERBS_H

struct ctl_verb {
	const char *name;
	const char *args;	/* usage of the arguments */
	int min_args, max_args; /* after the verb */
	const char *help;
};

static const struct ctl_verb ctl_verbs[] = {
	{"status", "", 0, 0, "processes, listeners, shards and object count"},
	{"stats", "", 0, 0,
	 "bytes from the cache and from origins, hits, clients, rejections, shards, top objects"},
	{"list", "", 0, 0, "cached objects: content ID, size, pieces, state, key"},
	{"import", "FILE URL", 2, 2,
	 "store a local file under URL's cache key, hashing every piece (prestage)"},
	{"prestage", "URL", 1, 1,
	 "fill URL's object from its origin now, every piece verified; waits until done"},
	{"evict", "URL|ID | --older-than DUR | --to-size SIZE", 1, 2,
	 "remove one object (a URL or a 64-hex content ID), those unused for DUR, or the "
	 "policy's choice down to SIZE (pinned ones stay)"},
	{"pin", "URL|ID", 1, 1, "never evict this object"},
	{"unpin", "URL|ID", 1, 1, "let eviction take this object again"},
	{"verify", "[URL|ID]", 0, 1,
	 "read every stored piece again and check its SHA-256; corrupt pieces are dropped and "
	 "fetched again"},
	{"quota", "ORIGIN SIZE", 2, 2, "set an origin's cache quota now (0 = none)"},
	{"limits", "[--max-clients N] [--max-bandwidth-served RATE] ...", 0, 14,
	 "show the slot limit and caps, or change them now (also --queue-timeout DUR, "
	 "--max-bandwidth-per-client "
	 "RATE, --business-hours HH:MM-HH:MM, --business-hours-max-bandwidth RATE, "
	 "--monthly-upload-cap SIZE)"},
	{"reload", "", 0, 0,
	 "read [limits] again and take the TLS certificate again, without dropping connections"},
};

#define CTL_NVERBS ((int)(sizeof(ctl_verbs) / sizeof(ctl_verbs[0])))

static inline const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (int i = 0; i < CTL_NVERBS; i++) {
		const char *a = ctl_verbs[i].name, *b = name;

		while (*a && *a == *b) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return &ctl_verbs[i];
	}
	return 0;
}

#endif
