/*
 * The file server's private header: what its files share and nothing of it
 * leaves storage/st_srv_*.c. It holds the connection and worker structs, the
 * io_uring operation kinds and how they are packed into user_data with the
 * connection pointer, the magic numbers checked where a pointer comes back
 * from a void *, the enums of a response's result, parking and request
 * kind, the sizes and periods the server is built with, and the functions
 * one file of the server calls in another (each named st_srv_*, each
 * defined in the file its comment names). The public API is st_server.h.
 */
#ifndef ST_SRV_H
#define ST_SRV_H

#include "st_server.h"

#include "cb_common.h"
#include "st_fill.h"
#include "st_http.h"
#include "st_peers.h"
#include "st_range.h"
#include "st_url.h"

#include <liburing.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RING_ENTRIES 1024
#define RBUF_COUNT   256 /* provided receive buffers per worker */
#define RBUF_SIZE    4096
#define IN_CAP	     (ST_HTTP_MAX_HEADER_BYTES + 4096)
#define PIPE_SIZE    (1 << 20)
#define FILL_THREADS 8 /* fetch threads towards origins */
#define TLS_RAW	     (16 * 1024 + 512)
#define TLS_CHUNK    (64 * 1024) /* plaintext per SSL_write: four 16 KiB records */
/* One chunk's records (22 bytes of overhead each) plus room for alerts, tickets. */
#define TLS_OUT_CAP (TLS_CHUNK + 16 * 1024)
#define LINGER_MS   2000
#define ZC_BUF_SIZE (256 * 1024)
#define SLOT_TABLE  4096	/* clients served or waiting; more get 503 at once */
#define BW_BATCH_NS 10000000ull /* capped sends go out in bursts this far apart */
#define ZC_BUFS	    64		/* registered buffers per worker (6 bits of user_data) */
#define ZC_PER_CONN 4		/* reads and sends in flight per connection */
#define CONN_ALIGN  512		/* low 9 bits of user_data: op (3) and buffer index (6) */
#define ALOG_CAP    (64 * 1024)
#define MAX_SEGS    (2 * ST_RANGE_MAX + 2)

/*
 * The tick: how often a worker refreshes the policy, frees lingering
 * client slots (so a slot is free within 1 s of its last use), sweeps
 * deadlines and flushes its access log.
 */
#define TICK_NS 200000000ull
/* At most one "monthly upload cap reached" warning a minute per worker. */
#define CAP_LOG_INTERVAL_NS 60000000000ull
/* At most one warning a minute per worker that the access log cannot be written. */
#define ALOG_WARN_INTERVAL_NS 60000000000ull
/* At most one line about busy 503s per 10 s per worker, with their count. */
#define BUSY_LOG_INTERVAL_NS 10000000000ull
/*
 * When an accept fails for want of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM), or for any reason not one connection's own, accepting
 * pauses this long and resumes from the tick,
 * as nginx does: re-arming at once fails at once again, a spin at 100 %
 * CPU that starves the connections the worker has. Connections wait in
 * the listen queue meanwhile.
 */
#define ACCEPT_BACKOFF_NS 500000000ull
/*
 * At most one line per worker this often about failed accepts, and one
 * about refused connections, each with the count since the last line.
 */
#define CONN_LOG_INTERVAL_NS 10000000000ull
/*
 * At stop (SIGTERM), responses in flight get this long to finish while the
 * listener is shut and idle connections are closed; what is still running
 * then is cut short. It fits well inside control's STOP_GRACE_MS (5 s),
 * after which control kills the file server.
 */
#define STOP_DRAIN_MS 3000ull
/*
 * Then completions are reaped this many times at most while closed
 * connections drain their operations: a bound, should one never complete.
 */
#define STOP_DRAIN_ROUNDS 1000

enum op {
	OP_EVENT = 0, /* the tick, or an eventfd of the worker: its own pointers */
	OP_ACCEPT,
	OP_RECV,
	OP_SEND,
	OP_SPLICE_IN,
	OP_SPLICE_OUT,
	OP_ZC_READ,
	OP_ZC_SEND,
	OP_COUNT, /* not an op: how many there are */
};

enum seg_mode { SEG_UNDECIDED, SEG_SPLICE, SEG_ZC };

/* One O_DIRECT read into a registered buffer, then its SEND_ZC. */
struct zchunk {
	int buf;	    /* registered buffer index */
	bool ready;	    /* read completed */
	uint32_t skip, len; /* useful bytes of the buffer: [skip, skip + len) */
};

enum conn_state { CS_READ, CS_SEND, CS_LINGER };

/* What a connection in CS_SEND waits for: a fill (REQ, PIECE), a client slot, a bandwidth cap. */
enum conn_park { PARK_NONE, PARK_REQ, PARK_PIECE, PARK_SLOT, PARK_BW };

/*
 * What a response was, for the access log (its result and source fields,
 * one table in st_srv_alog.c) and for Cache-Status.
 */
enum conn_result {
	RESULT_NONE,	/* no object was looked up: "-", source "-" */
	RESULT_HIT,	/* every byte from the cache */
	RESULT_MISS,	/* the object was not cached */
	RESULT_PARTIAL, /* some pieces came from the origin */
	RESULT_BUSY,	/* 503: no client slot */
	RESULT_CAPPED,	/* 503: the monthly upload cap */
	RESULT_COUNT,
};

/* What a request names (st_srv_route.c). */
enum req_kind {
	REQ_OBJECT, /* an object: by content ID, or by origin URL */
	REQ_HEALTH, /* /_cachebox/health */
	REQ_PIECES, /* /_cachebox/pieces/<id> */
};

struct seg {
	bool file;
	uint64_t off, len; /* mem: offset into c->out; file: object offset */
};

/*
 * Magic numbers of the structs that cross a void * (io_uring user_data,
 * BIO_get_data, thread and callback arguments): set when the struct is
 * made, cleared when it is freed, and checked where a pointer comes back,
 * so a stale or wrong pointer stops at an assert instead of being used.
 */
#define CONN_MAGIC	       0x636f6e6eu /* "conn" */
#define WORKER_MAGIC	       0x776f726bu /* "work" */
#define SERVER_MAGIC	       0x73727672u /* "srvr" */
#define ST_SRV_CHECK_OBJ(p, m) CB_ASSERT((p) != NULL && (p)->magic == (m))

struct conn {
	unsigned magic; /* CONN_MAGIC */
	int fd;
	unsigned pending; /* operations in flight */
	enum conn_state state;
	bool recv_armed, closing, want_close, peer_eof;
	bool head_timer;   /* the header timeout of a begun head is running */
	bool peer_counted; /* counted in the server's st_peers (st_peers_put at free) */
	/* Expect: 100-continue (st_srv_conn.c): the interim answer of this request */
	bool continue_sent, continue_sending;
	unsigned continue_off; /* plaintext: its bytes sent so far */
	uint64_t deadline_ns;
	struct conn *prev, *next;
	char peer[64];

	char in[IN_CAP];
	size_t in_len;

	/* the response being sent */
	char *out;
	size_t out_cap, out_len;
	bool out_oom; /* growing out failed: the response is incomplete, the connection closes */
	struct seg segs[MAX_SEGS];
	unsigned nseg, cur;
	uint64_t seg_done; /* bytes of segs[cur] handed to the kernel and completed */
	struct st_obj *obj;
	enum seg_mode mode; /* of segs[cur] */
	int pipe[2];
	uint64_t pipe_bytes;
	/* SEND_ZC path: chunks in file order, sent one at a time in that order */
	struct zchunk zq[ZC_PER_CONN];
	unsigned zq_head, zq_count;
	uint64_t zc_read_off; /* bytes of segs[cur] handed to reads */
	bool zc_sending;

	/* TLS (first byte 0x16 on a port with tls_cert): ciphertext in and out */
	bool proto_known;
	SSL *ssl;
	uint8_t *tls_raw; /* recv buffer for ciphertext (TLS_RAW bytes) */
	char *tls_out;	  /* ciphertext being sent, written by tls_bio_write */
	size_t tls_out_len, tls_out_off;
	bool tls_sending;

	/* the request being answered: kept parsed until its response is done */
	struct st_http_req req;
	size_t req_consume;    /* head + body bytes of c->in to drop when done */
	enum conn_park park;   /* what it waits for, if anything */
	uint8_t addr[16];      /* client address, IPv4 v4-mapped: the slot key */
	int slot;	       /* handle in the slot table */
	bool slot_held;	       /* this request is being served under the slot */
	bool slot_waiting;     /* this request waits in the queue */
	uint64_t wait_until;   /* queue wait ends (ns) */
	uint64_t bw_credit;    /* bytes the caps allowed that are not issued yet */
	struct conn *bwq_next; /* PARK_BW: the worker's queue, in order */
	bool bw_queued;	       /* in that queue */
	bool bw_turn;	       /* at its head: may take from the buckets */
	struct st_fill *fill;
	struct cb_index_rec orec; /* index entry of the object being sent */
	bool was_miss;		  /* the object was not cached when the request came */
	char *miss_key;		  /* cache key of an object to fill (heap, per request) */
	uint16_t miss_key_len, miss_host_len;

	/* for the access log */
	uint64_t t_start;
	int status;
	uint64_t body_len, body_sent;
	uint64_t counted; /* of body_sent, already in the served and monthly totals */
	char method[8];
	char range_desc[48];
	char id_hex[ST_ID_HEX + 1];
	enum conn_result result;
};

struct worker {
	unsigned magic; /* WORKER_MAGIC */
	unsigned idx;
	struct st_server *srv;
	pthread_t thread;
	struct io_uring ring;
	bool ring_up; /* ring made: io_uring_queue_exit at stop */
	int lfd;
	int efd; /* eventfd: stop request */
	uint64_t efd_val;
	int ffd; /* eventfd: a fill made progress */
	uint64_t ffd_val;
	struct __kernel_timespec tick;
	bool stopping; /* stop requested: accept nothing more */
	bool draining; /* ... and responses in flight run on until drain_until */
	uint64_t drain_until;
	struct io_uring_buf_ring *br;
	uint8_t *rbufs;
	uint8_t *zc_mem;	 /* ZC_BUFS registered buffers of ZC_BUF_SIZE */
	uint8_t zc_ref[ZC_BUFS]; /* holders: its chunk, and each SEND_ZC not yet notified */
	bool zc_ok;
	struct conn *conns;
	unsigned nconns;
	uint8_t *scratch;
	size_t scratch_len;
	uint8_t *tls_plain; /* file bytes on their way into SSL_write */
	char date[30];
	time_t date_sec;
	char alog[ALOG_CAP];
	size_t alog_len;
	uint64_t rng;
	struct cb_worker_stats *stats;
	/* policy as of the last sweep */
	struct cb_policy_vals pv;
	uint64_t rate, rate_client;	  /* bits/s in force now, 0 = no cap */
	uint32_t month;			  /* YYYYMM, local time */
	uint64_t bw_next;		  /* when the head of bwq may try again, 0 = none */
	struct conn *bwq_head, *bwq_tail; /* connections waiting for a cap, FIFO */
	uint64_t last_cap_log;
	/* accepting: armed, or paused for want of descriptors (ACCEPT_BACKOFF_NS) */
	bool accept_armed;	/* a multishot accept is in flight */
	uint64_t accept_resume; /* when the paused accept is re-armed, 0 = not paused */
	int accept_err;		/* errno of the last failed accept */
	uint64_t accept_failed; /* failed accepts not logged yet */
	uint64_t refused_max, refused_client; /* refused connections not logged yet */
	uint64_t last_accept_log, last_refuse_log;
	uint64_t last_busy_log, busy_unlogged; /* busy 503s since that line */
	uint64_t last_alog_warn;	       /* the access log could not be written */
};

struct st_server {
	unsigned magic; /* SERVER_MAGIC */
	struct st_server_conf conf;
	SSL_CTX *tls; /* NULL: TLS off; swapped under tls_lock by st_server_reload_tls */
	pthread_mutex_t tls_lock;
	struct st_fill_mgr *fm;
	struct st_slots *slots;
	struct st_peers *peers; /* connections per client address, all workers */
	unsigned nworkers;	/* initialised: their resources are freed at stop */
	unsigned nstarted;	/* of those, running a thread: stopped and joined */
	struct worker *w;
};

/* ----------------------------------------------------------- user_data */

/*
 * Every operation's user_data is a pointer (a connection, the worker, or
 * one of its eventfd counters) with the op kind in the low 3 bits and, for
 * the zero-copy ops, the registered buffer index in the next 6: hence the
 * CONN_ALIGN alignment of connections.
 */
#define UD_OP_BITS  3
#define UD_BUF_BITS 6
_Static_assert(OP_COUNT <= (1 << UD_OP_BITS), "the ops fit their bits of user_data");
_Static_assert(ZC_BUFS <= (1 << UD_BUF_BITS), "a buffer index fits its bits of user_data");
_Static_assert(CONN_ALIGN == 1 << (UD_OP_BITS + UD_BUF_BITS),
	       "connections are aligned past the op and buffer bits");

static inline uint64_t st_srv_ud_make(void *p, enum op op)
{
	CB_ASSERT(((uintptr_t)p & ((1u << UD_OP_BITS) - 1)) == 0);
	return (uint64_t)(uintptr_t)p | (uint64_t)op;
}

static inline enum op st_srv_ud_op(uint64_t ud)
{
	return (enum op)(ud & ((1u << UD_OP_BITS) - 1));
}

/* The pointer of an OP_EVENT or OP_ACCEPT user_data. */
static inline void *st_srv_ud_ptr(uint64_t ud)
{
	return (void *)(uintptr_t)(ud & ~(uint64_t)((1u << UD_OP_BITS) - 1));
}

/* The connection of a connection's op; checked. */
static inline struct conn *st_srv_ud_conn(uint64_t ud)
{
	struct conn *c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)(CONN_ALIGN - 1));

	ST_SRV_CHECK_OBJ(c, CONN_MAGIC);
	return c;
}

/* The registered buffer of a zero-copy op. */
static inline int st_srv_ud_buf(uint64_t ud)
{
	return (int)((ud >> UD_OP_BITS) & ((1u << UD_BUF_BITS) - 1));
}

/* ---------------------------------------- st_srv_loop.c: the ring, the loop */

/* A submission entry; submits the queue first if it is full. */
struct io_uring_sqe *st_srv_sqe_get(struct worker *w);
/* An operation of c: counted in c->pending until its completion. */
struct io_uring_sqe *st_srv_conn_sqe(struct worker *w, struct conn *c, enum op op);
/* The same, on registered buffer buf. */
struct io_uring_sqe *st_srv_conn_sqe_buf(struct worker *w, struct conn *c, enum op op, int buf);
/* Called by fetch threads (arg: the st_server): wakes every worker. */
void st_srv_notify(void *arg);

/* st_srv_accept.c: the listener, the multishot accept and its pauses. */
int st_srv_listen_socket(const struct cfg_addr *a);
void st_srv_accept_arm(struct worker *w);
void st_srv_on_accept(struct worker *w, struct io_uring_cqe *cqe);
void st_srv_accept_tick(struct worker *w, uint64_t now);

/* ------------------------------------------- st_srv_conn.c: the connection */

/*
 * A connection for accepted socket fd, reading. NULL (fd is the caller's)
 * with errno ENOMEM, EUSERS when its address holds
 * max_connections_per_client connections already, or ENOTCONN when the
 * peer reset it before it was accepted.
 */
struct conn *st_srv_conn_new(struct worker *w, int fd);
/* Starts closing c; freed when its last operation completes. */
void st_srv_conn_close(struct worker *w, struct conn *c);
/* Closes c and frees it at once if nothing of it is in flight. */
void st_srv_conn_close_idle(struct worker *w, struct conn *c);
/* Frees c: no operation of it may be in flight. */
void st_srv_conn_free(struct worker *w, struct conn *c);
void st_srv_deadline_set(struct worker *w, struct conn *c, uint64_t ms);
void st_srv_recv_arm(struct worker *w, struct conn *c);
/* Parses and answers the next buffered request, if any and if idle. */
void st_srv_input_process(struct worker *w, struct conn *c);
void st_srv_response_start(struct worker *w, struct conn *c);
/* The response is done and logged: read the next request, or linger. */
void st_srv_conn_next(struct worker *w, struct conn *c);
void st_srv_on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe);
/* A send of the plaintext "100 Continue" completed with res bytes (> 0). */
void st_srv_continue_on_send(struct worker *w, struct conn *c, int res);

/* ------------------------------------------------------- st_srv_tls.c: TLS */

int st_srv_tls_start(struct worker *w, struct conn *c);
/* Sends the queued ciphertext; 0 if nothing is left to send, 1 if a send runs. */
int st_srv_tls_flush(struct worker *w, struct conn *c);
/* Decrypts what arrived into c->in; -1 on a TLS error (the connection closes). */
int st_srv_tls_read(struct worker *w, struct conn *c);
void st_srv_tls_send_next(struct worker *w, struct conn *c, const struct seg *s);
/* The server's context if tls_cert is set; 0, or -EINVAL (logged). */
int st_srv_tls_init(struct st_server *srv);

/* ------------------------------------------------- st_srv_route.c: routing */

void st_srv_request_handle(struct worker *w, struct conn *c, const struct st_http_req *req);
/* The fill that can bring the missing pieces; NULL if none can. */
struct st_fill *st_srv_fill_for(struct worker *w, struct conn *c, const uint8_t id[ST_ID_LEN],
				const struct cb_index_rec *rec, const struct st_obj *o);
void st_srv_park(struct worker *w, struct conn *c, enum conn_park how);
/*
 * For a GET of o: whether ranges r[0..n) can be answered now (*missing if
 * some pieces come from the fill). false when c got an answer instead
 * (the object is incomplete and cannot be had) or was parked until the
 * first byte is here; o's reference is then given back.
 */
bool st_srv_route_ranges(struct worker *w, struct conn *c, const struct cb_index_rec *orec,
			 struct st_obj *o, const struct st_range *r, unsigned n, bool *missing);

/* ---------------------------------------------- st_srv_resp.c: responses */

void st_srv_date_refresh(struct worker *w);
/* A small text answer (errors, health). */
void st_srv_resp_simple(struct worker *w, struct conn *c, int status, const char *cstatus,
			const char *body, bool head);
void st_srv_resp_error(struct worker *w, struct conn *c, int status, bool close_after);
/* The answer when the fill failed: 502/504 with the reason, one line. */
void st_srv_resp_fill_failed(struct worker *w, struct conn *c, int status, bool head);
/* GET/HEAD of a cached object, with ranges. Takes the reference on o. */
void st_srv_resp_object(struct worker *w, struct conn *c, const struct st_http_req *req,
			const struct cb_index_rec *orec, struct st_obj *o, bool head);
/* /_cachebox/pieces/<id>. Takes the reference on o. */
void st_srv_resp_pieces(struct worker *w, struct conn *c, struct st_obj *o, bool head);
void st_srv_resp_busy(struct worker *w, struct conn *c, bool head, uint64_t retry_s,
		      const char *why);

/* -------------------------------------------------- st_srv_send.c: sending */

void st_srv_send_next(struct worker *w, struct conn *c);
/* Bytes of s that may be issued now; 0 when c was parked. */
uint64_t st_srv_sendable(struct worker *w, struct conn *c, const struct seg *s);
void st_srv_splice_next(struct worker *w, struct conn *c, const struct seg *s, uint64_t ready);
int st_srv_pipe_ensure(struct conn *c);
/* Whether a segment follows the current one. */
bool st_srv_more_after(const struct conn *c);
void st_srv_response_reset(struct worker *w, struct conn *c);
/* The worker's scratch buffer of at least len bytes; its length, 0 if none. */
size_t st_srv_scratch_for(struct worker *w, size_t len);
void st_srv_on_send(struct worker *w, struct conn *c, struct io_uring_cqe *cqe);
void st_srv_on_splice(struct worker *w, struct conn *c, struct io_uring_cqe *cqe, bool in);

/* ------------------------------------------------ st_srv_zc.c: zero copy */

/*
 * Registers the worker's buffers: 0, or -ENOMEM or the registration's
 * -errno, and then (w->zc_ok false) the worker sends by splice only.
 */
int st_srv_zc_setup(struct worker *w);
/* The oldest chunk of c is sent: its buffer reference goes. */
void st_srv_zc_pop(struct worker *w, struct conn *c);
void st_srv_zc_try_send(struct worker *w, struct conn *c, const struct seg *s);
void st_srv_zc_pump(struct worker *w, struct conn *c, const struct seg *s, uint64_t limit);
void st_srv_on_zc_read(struct worker *w, struct conn *c, int buf, int res);
void st_srv_on_zc_send(struct worker *w, struct conn *c, int buf, struct io_uring_cqe *cqe);

/* ---------------------------------------------------- st_srv_limits.c: limits */

void st_srv_policy_refresh(struct worker *w);
void st_srv_slots_tick(struct worker *w);
/* Slot limit and monthly cap: true when the request may go on. */
bool st_srv_admit(struct worker *w, struct conn *c, bool head);
void st_srv_slot_release(struct worker *w, struct conn *c);
/* Object body bytes sent since last counted: into the served totals and the month's. */
void st_srv_count_served(struct worker *w, struct conn *c);
uint64_t st_srv_bw_limit(struct worker *w, struct conn *c, uint64_t ready);
void st_srv_bw_used(struct conn *c, uint64_t n);
void st_srv_bw_resume(struct worker *w);
void st_srv_bwq_remove(struct worker *w, struct conn *c);

/* ------------------------------------------------- st_srv_alog.c: access log */

/*
 * The response is over (sent, or cut short): counts it (request, status
 * class, result, its last object bytes) and writes its access-log line.
 */
void st_srv_response_log(struct worker *w, struct conn *c);
void st_srv_alog_flush(struct worker *w);

#endif
