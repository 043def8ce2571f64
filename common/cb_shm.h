/*
 * The shared-memory contract: the byte layout of the two files that several
 * cachebox processes map MAP_SHARED, <state_dir>/index.shm (the index and the
 * per-worker counters, common/cb_index.h) and <state_dir>/policy.shm (the
 * published policy and the live counters, common/cb_policy.h). Control, the
 * file server and the dataplane compile against this one header, so
 * it must not depend on anything but libc and pthreads. Each file carries a
 * magic and a layout version in its header; an attacher refuses (index) or
 * starts afresh (policy) on any mismatch. The sizes below are pinned with
 * _Static_assert: a change to any struct here breaks the build until its
 * size constant, and with it the layout version, is bumped on purpose.
 *
 * A third file, <state_dir>/discovery.shm (common/cb_disc.h), is written by
 * the dataplane alone: its state and its counters, which control reads for
 * status, stats and /metrics.
 *
 * Only cb_index.c, cb_policy.c and cb_disc.c touch the file structs
 * (cb_index_hdr, cb_index_entry, cb_policy_file, cb_disc_file) directly;
 * everyone else goes through their functions.
 */
#ifndef CB_SHM_H
#define CB_SHM_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define CB_SHM_PAGE    4096
#define CB_SHM_LINE    64 /* cache line: per-worker counters never share one */
#define CB_ID_LEN      32 /* content ID: SHA-256 of the cache key (DESIGN.md) */
#define CB_ETAG_MAX    80 /* with quotes, NUL-terminated */
#define CB_MAX_WORKERS 64 /* file server worker threads with a counter block */
#define CB_MAX_SHARDS  16 /* shards with a space record in policy.shm */

/* ---- index.shm: header page, CB_MAX_WORKERS counter blocks, entry table ---- */

#define CB_INDEX_MAGIC 0x3130584449584243ull /* "CBXIDX01" */
/*
 * 3: entries carry npieces and pieces_present (discovery answers from them)
 * 4: a worker's counters take two cache lines (connections refused, accept
 *    failures, bytes served by source)
 */
#define CB_INDEX_LAYOUT	     4
#define CB_INDEX_HDR_SIZE    CB_SHM_PAGE
#define CB_INDEX_REC_SIZE    176
#define CB_INDEX_ENTRY_SIZE  192
#define CB_WORKER_STATS_SIZE (2 * CB_SHM_LINE)
#define CB_INDEX_STATS_SIZE  (CB_MAX_WORKERS * CB_WORKER_STATS_SIZE)

/* Bits of cb_index_rec.flags; the same values as the metadata's (st_format.h). */
enum cb_index_flags {
	CB_INDEX_COMPLETE = 1u << 0, /* every piece present and hashed */
	CB_INDEX_PINNED = 1u << 1,
};

/*
 * One object, as readers see it. pieces_present counts the pieces of this
 * version that are stored and verified (their SHA-256 is recorded); it is
 * set from the metadata's presence bitmap when an entry is made (import,
 * rebuild, a fill's start, a dropped piece) and raised as a fill commits
 * pieces, so "how many pieces do you have" needs no .meta file.
 *
 * Why a count and not the bitmap: an object may have up to 4 Mi pieces
 * (512 KiB of bitmap), which no fixed-size entry holds, and a bitmap area of
 * variable size would need an allocator in shared memory with its own
 * crash repair. The count answers exactly for the common cases, an object
 * complete (pieces_present == npieces) or not started; for a partial object
 * it bounds the answer for any asked range (at most pieces_present of them).
 * If discovery needs exact ranges of partial objects, a side table of
 * bitmaps keyed by slot can be added under a new layout version.
 */
struct cb_index_rec {
	uint8_t id[CB_ID_LEN];
	uint64_t size;
	uint64_t gen;
	int64_t last_modified;
	int64_t created;
	int64_t last_access;
	uint64_t hits; /* requests answered from this object since it was indexed */
	uint32_t piece_size;
	uint16_t shard;
	uint16_t flags;		 /* enum cb_index_flags */
	uint32_t npieces;	 /* ceil(size / piece_size) */
	uint32_t pieces_present; /* verified pieces stored, 0..npieces */
	char etag[CB_ETAG_MAX];
};

/*
 * Per-worker counters: written only by their worker, read by anyone. The
 * request figures are counted where a response's access-log line is
 * written, from the same fields, so they add up to the log (docs/control.md).
 */
struct cb_worker_stats {
	uint64_t requests;     /* responses, one per access-log line */
	uint64_t hits;	       /* result HIT */
	uint64_t misses;       /* result MISS or PARTIAL */
	uint64_t bytes_served; /* object body bytes: bytes_cache + bytes_fill */
	uint64_t status_4xx;
	uint64_t status_5xx;
	uint64_t conns_open;
	uint64_t conns_total;
	uint64_t conns_refused_max;    /* closed at once: the worker held max_connections */
	uint64_t conns_refused_client; /* closed at once: max_connections_per_client */
	uint64_t accept_failures;      /* accepts failed, mostly for want of descriptors */
	uint64_t bytes_cache;	       /* of bytes_served, of answers whose source is the cache */
	uint64_t bytes_fill;	       /* of bytes_served, of answers whose source is an origin */
} __attribute__((aligned(CB_SHM_LINE)));

enum cb_index_slot { CB_SLOT_EMPTY = 0, CB_SLOT_LIVE = 1, CB_SLOT_TOMB = 2 };

/* A table slot: the record under a seqlock (seq odd while a writer changes it). */
struct cb_index_entry {
	_Atomic uint32_t seq;
	uint32_t state;		 /* enum cb_index_slot */
	struct cb_index_rec rec; /* rec.last_access, rec.hits: written outside the seqlock */
} __attribute__((aligned(CB_SHM_LINE)));

struct cb_index_hdr {
	uint64_t magic; /* CB_INDEX_MAGIC, written last at creation */
	uint32_t layout;
	uint32_t entry_size;
	uint32_t capacity; /* entries, a power of two */
	uint32_t header_size;
	uint64_t file_size;
	_Atomic uint32_t count;
	_Atomic uint32_t tombs;
	pthread_mutex_t wlock; /* robust, process-shared: serialises writers */
};

_Static_assert(sizeof(struct cb_index_rec) == CB_INDEX_REC_SIZE,
	       "index record changed: bump CB_INDEX_LAYOUT and CB_INDEX_REC_SIZE");
_Static_assert(sizeof(struct cb_index_entry) == CB_INDEX_ENTRY_SIZE,
	       "index entry changed: bump CB_INDEX_LAYOUT and CB_INDEX_ENTRY_SIZE");
_Static_assert(CB_INDEX_ENTRY_SIZE % CB_SHM_LINE == 0 && CB_INDEX_ENTRY_SIZE <= CB_SHM_PAGE,
	       "entries are whole cache lines and fit a page");
_Static_assert(sizeof(struct cb_index_hdr) <= CB_INDEX_HDR_SIZE, "index header fits its page");
_Static_assert(sizeof(struct cb_worker_stats) == CB_WORKER_STATS_SIZE &&
		       alignof(struct cb_worker_stats) == CB_SHM_LINE,
	       "worker counters changed: bump CB_INDEX_LAYOUT and CB_WORKER_STATS_SIZE");
_Static_assert(CB_INDEX_STATS_SIZE % CB_SHM_PAGE == 0, "the entry table starts on a page boundary");
_Static_assert(CB_ID_LEN >= 12, "the table hashes id bytes 8..11");

/* ---- policy.shm: one struct, rewritten afresh on a layout change ---- */

#define CB_POLICY_MAGIC	    0x31594c4f50584243ull /* "CBXPOLY1" */
#define CB_POLICY_LAYOUT    4
#define CB_POLICY_VALS_SIZE 56
#define CB_POLICY_FILE_SIZE 896

/* What control decides. Rates in bits per second, 0 = unlimited. */
struct cb_policy_vals {
	uint32_t max_clients;
	uint32_t business_start_min; /* minutes after local midnight */
	uint32_t business_end_min;   /* start == end: no business-hours window */
	uint32_t pad;
	uint64_t queue_timeout_ms;
	uint64_t rate_bps;
	uint64_t rate_client_bps;
	uint64_t business_rate_bps; /* 0: the window has no cap of its own */
	uint64_t monthly_cap;	    /* bytes, 0 = none */
};

/* Live counters: written by the file server (atomics), read by anyone. */
struct cb_policy_live {
	uint64_t tat_ns; /* global bucket */
	uint32_t month;	 /* YYYYMM that month_bytes counts */
	uint32_t pad;
	uint64_t month_bytes; /* body bytes served this month (persisted) */
	uint64_t active_clients;
	uint64_t queued_clients;
	uint64_t rejected_busy; /* 503: queue timeout or queue full */
	uint64_t rejected_cap;	/* 503: monthly upload cap reached */
	uint64_t throttled;	/* sends delayed by a bandwidth cap */
	/* the fill's figures, published by the file server about 5 times a second */
	uint64_t origin_bytes; /* body bytes fetched from origins */
	uint64_t origin_requests;
	uint64_t origin_retries;
	uint64_t fills_started, fills_done, fills_failed;
	uint64_t corrupt_pieces; /* pieces read back that failed their SHA-256, since start */
	/*
	 * Space per shard, for fills to stay under the cache limits: control
	 * publishes the limit and the bytes its last pass counted (object
	 * sizes); fills add what they store meanwhile to `added`, which
	 * control's pass folds in (added_base). A fill that finds no room sets
	 * `want` and waits for control to evict.
	 */
	struct cb_shard_space {
		uint64_t limit; /* bytes, 0 = none published */
		uint64_t used;
		uint64_t added, added_base;
		uint64_t want; /* bytes a waiting fill needs, 0 = none */
	} shard[CB_MAX_SHARDS];
};

struct cb_policy_file {
	uint64_t magic; /* CB_POLICY_MAGIC, written last when made afresh */
	uint32_t layout;
	uint32_t size;
	_Atomic uint32_t seq; /* seqlock over vals: odd while control writes */
	uint32_t pad;
	struct cb_policy_vals vals;
	struct cb_policy_live live __attribute__((aligned(CB_SHM_LINE)));
};

_Static_assert(sizeof(struct cb_policy_vals) == CB_POLICY_VALS_SIZE,
	       "policy values changed: bump CB_POLICY_LAYOUT and CB_POLICY_VALS_SIZE");
_Static_assert(sizeof(struct cb_policy_file) == CB_POLICY_FILE_SIZE,
	       "policy file changed: bump CB_POLICY_LAYOUT and CB_POLICY_FILE_SIZE");
_Static_assert(CB_POLICY_FILE_SIZE <= CB_SHM_PAGE, "policy.shm is one page");

/* ---- discovery.shm: the dataplane's state and per-lane counters ---- */

#define CB_DISC_MAGIC 0x3143534458584243ull /* "CBXXDSC1" */
/* 2: busy_ns, the time a polling loop spent on bursts that held frames */
#define CB_DISC_LAYOUT	  2
#define CB_DISC_LANES	  16 /* packet loops (DPDK lcores, socket threads) with counters */
#define CB_DISC_DROPS	  16 /* room for the drop reasons of dp_codec.h's DP_DROP_TABLE */
#define CB_DISC_LANE_SIZE (4 * CB_SHM_LINE)
#define CB_DISC_FILE_SIZE (2 * CB_SHM_PAGE)
#define CB_DISC_TEXT	  96

enum cb_disc_state {
	CB_DISC_STOPPED = 0, /* never started, or stopped cleanly (BYE sent) */
	CB_DISC_STARTING = 1,
	CB_DISC_RUNNING = 2, /* the backend is up and answering */
};

/*
 * One packet loop's counters: written only by that loop (relaxed stores),
 * read by anyone. drops[] is indexed by enum dp_drop (slot 0, "accepted",
 * stays 0). Every datagram to the discovery port is counted once in rx and
 * then once in exactly one of offers, ignored or drops[].
 */
struct cb_disc_lane {
	uint64_t rx;	    /* datagrams to the discovery port (or frames, for dpdk) */
	uint64_t queries;   /* well-formed QUERYs */
	uint64_t offers;    /* OFFERs sent */
	uint64_t ignored;   /* well-formed but not a QUERY (another box's ANNOUNCE...) */
	uint64_t announces; /* ANNOUNCE datagrams sent */
	uint64_t byes;	    /* BYE datagrams sent */
	uint64_t tx_failed; /* replies built but not sent (queue full, send error) */
	uint64_t arp_replies;
	uint64_t not_ours; /* dpdk: frames that are not for the discovery port, dropped */
	uint64_t drops[CB_DISC_DROPS];
	/*
	 * dpdk: nanoseconds spent receiving, answering and sending bursts that
	 * held at least one frame (empty polls excluded), so that replies /
	 * busy_ns is the responder's own cost per core even while it polls
	 * a core at 100 %. 0 for the socket backend, whose process CPU time
	 * says the same.
	 */
	uint64_t busy_ns;
} __attribute__((aligned(CB_SHM_LINE)));

struct cb_disc_file {
	uint64_t magic; /* CB_DISC_MAGIC, written last when made afresh */
	uint32_t layout;
	uint32_t size;
	_Atomic uint32_t state; /* enum cb_disc_state */
	uint32_t pid;
	int64_t started;	      /* wall seconds of the last start */
	uint64_t starts;	      /* starts since the file was made */
	uint64_t reloads;	      /* group key files re-read */
	char backend[16];	      /* "socket" or "dpdk" */
	char listen[CB_DISC_TEXT];    /* what it answers on, e.g. "0.0.0.0:8004" */
	char advertise[CB_DISC_TEXT]; /* what OFFERs say, e.g. "192.0.2.10:8003", or "interface" */
	struct cb_disc_lane lane[CB_DISC_LANES] __attribute__((aligned(CB_SHM_LINE)));
};

_Static_assert(sizeof(struct cb_disc_lane) == CB_DISC_LANE_SIZE,
	       "discovery counters changed: bump CB_DISC_LAYOUT and CB_DISC_LANE_SIZE");
_Static_assert(sizeof(struct cb_disc_file) <= CB_DISC_FILE_SIZE,
	       "discovery file grew: bump CB_DISC_LAYOUT and CB_DISC_FILE_SIZE");

#endif
