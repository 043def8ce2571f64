/*
 * Client slots, the BITS limit: at most max_clients client addresses are
 * served at once, however many connections each opens; the others wait in
 * arrival order. One table per file server process, shared by its worker
 * threads under a mutex (taken twice per request, never on the send path).
 * It lives in the process on purpose: when the file server dies its slots
 * die with it, so no slot can outlive its holder.
 *
 * A client holds its slot while any of its requests is being answered, and
 * for ST_SLOT_LINGER_NS after the last one ends, so a client fetching
 * range after range keeps its place; then the slot goes to the client that
 * has waited longest.
 */
#ifndef ST_SLOTS_H
#define ST_SLOTS_H

#include <stdint.h>

#define ST_SLOT_LINGER_NS 400000000ull

enum { ST_SLOT_FULL = -1, ST_SLOT_QUEUED = 0, ST_SLOT_GRANTED = 1 };

struct st_slots;

/* A table of at most capacity clients (served and waiting). NULL with errno (ENOMEM, EAGAIN). */
struct st_slots *st_slots_new(unsigned capacity);
void st_slots_free(struct st_slots *s);

/*
 * A request of client addr (16 bytes: IPv6 or v4-mapped) asks to be
 * served. GRANTED: it holds a reference on the slot (st_slots_leave when
 * done). QUEUED: it holds a wait (st_slots_poll until GRANTED, or
 * st_slots_cancel). FULL: the table is full; nothing is held. *h is the
 * handle for the calls below.
 */
int st_slots_enter(struct st_slots *s, const uint8_t addr[16], unsigned max_clients, uint64_t now,
		   int *h);
/* A waiting request looks again: GRANTED turns its wait into a reference. */
int st_slots_poll(struct st_slots *s, int h);
/* Drops a reference; the slot lingers, then is freed by st_slots_expire. */
void st_slots_leave(struct st_slots *s, int h, uint64_t now);
/* Drops a wait (timed out, or the connection closed). */
void st_slots_cancel(struct st_slots *s, int h, uint64_t now);
/*
 * Frees slots idle past the linger and gives free slots to waiting clients
 * in arrival order. Returns how many clients were given one (their waiting
 * requests should poll now).
 */
unsigned st_slots_expire(struct st_slots *s, unsigned max_clients, uint64_t now);
void st_slots_counts(struct st_slots *s, unsigned *active, unsigned *queued);
/* The client's bandwidth bucket (GCRA state), valid while a reference is held. */
uint64_t *st_slots_bucket(struct st_slots *s, int h);

#endif
