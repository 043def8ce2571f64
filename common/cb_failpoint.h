/*
 * Named failpoints: the instants of committing a piece or replacing an
 * object at which a crash must leave the cache serving no wrong byte.
 * They exist only in the test build of the daemons (tests/failpoint/, built
 * with -DCB_FAILPOINTS from the same sources); in the shipped binaries
 * CB_FAILPOINT expands to nothing, so production code carries no check.
 *
 * CB_FAILPOINT_LIST is the one list of names: the test build refuses a
 * name that is not on it, docs/storage.md describes it, and
 * tests/integration/test_failpoints.py reads it from this file and runs
 * every entry. In a test build, the environment arms one of them:
 *
 *   CACHEBOX_FAILPOINT=name[:N]   crash at the Nth time name is reached (1)
 *   CACHEBOX_FAILPOINT_ONCE=path  fire only if path can be created (O_EXCL),
 *                                 so the restarted process runs on; the file
 *                                 records who fired which failpoint
 *
 * Firing writes "failpoint NAME: crashing (PROCESS pid N)" to stderr and
 * raises SIGKILL: no handler, no flush, no exit hook, as a power cut or a
 * kill -9 at that instant. Only open, write, close and tgkill are used,
 * which the file server's seccomp filter allows.
 */
#ifndef CB_FAILPOINT_H
#define CB_FAILPOINT_H

/* X(name, where): where the crash happens, for the documentation. */
#define CB_FAILPOINT_LIST(X)                                                                       \
	X("fill-first-written", "a new version's piece 0 is written, nothing published yet")       \
	X("fill-piece-written", "a piece's bytes are written, its hash and bits not recorded")     \
	X("meta-written", "the metadata's temporary file is written, not fsynced")                 \
	X("meta-synced", "the temporary metadata is fsynced, not renamed over the old")            \
	X("meta-renamed", "the new metadata is in place, the index not updated")                   \
	X("meta-torn", "half of the new metadata overwrote the file in place (a torn write)")      \
	X("import-copied", "an import's data file is written, not fsynced")                        \
	X("publish-indexed", "a replacing version is indexed, the old one's files not unlinked")   \
	X("index-put-torn", "an index entry is half rewritten (its seqlock odd)")

#ifdef CB_FAILPOINTS
#include <stdbool.h>

/* True when name is armed and this is the hit it fires on (and, with
 * CACHEBOX_FAILPOINT_ONCE, its first firing). Aborts on a name not listed. */
bool cb_failpoint_armed(const char *name);
/* Logs the firing of name and dies of SIGKILL. */
__attribute__((noreturn)) void cb_failpoint_crash(const char *name);

/* Crash here when name is armed. */
#define CB_FAILPOINT(name)                                                                         \
	do {                                                                                       \
		if (cb_failpoint_armed(name))                                                      \
			cb_failpoint_crash(name);                                                  \
	} while (0)
/* When name is armed: do stmt (half a write, say), then crash. */
#define CB_FAILPOINT_DO(name, stmt)                                                                \
	do {                                                                                       \
		if (cb_failpoint_armed(name)) {                                                    \
			stmt;                                                                      \
			cb_failpoint_crash(name);                                                  \
		}                                                                                  \
	} while (0)
#else
#define CB_FAILPOINT(name)                                                                         \
	do {                                                                                       \
	} while (0)
#define CB_FAILPOINT_DO(name, stmt)                                                                \
	do {                                                                                       \
	} while (0)
#endif

#endif
