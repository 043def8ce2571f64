/*
 * Connections per client address, the max_connections_per_client limit:
 * one address may hold at most that many connections across all the file
 * server's workers, so one client (or one attacker) cannot take every
 * connection the fd budget allows. One table per file server process,
 * shared by the workers under a mutex taken only when a connection is
 * accepted and when it is freed, never on the data path. The table is
 * allocated once at start: a fixed-size open-addressing table with linear
 * probing, its size a power of two at least twice the connections the
 * server may hold, so probes stay short.
 */
#ifndef ST_PEERS_H
#define ST_PEERS_H

#include <stdbool.h>
#include <stdint.h>

/* Table slots at most (2^18 x 20 bytes): beyond, addresses go uncounted. */
#define ST_PEERS_MAX_SLOTS (1u << 18)

struct st_peers;

/*
 * A table admitting limit connections per address (0: no limit, nothing is
 * allocated), sized for max_conns connections in all. NULL with errno
 * ENOMEM.
 */
struct st_peers *st_peers_new(unsigned limit, uint64_t max_conns);
void st_peers_free(struct st_peers *p);

/*
 * A connection of addr (16 bytes: IPv6 or v4-mapped) asks to be admitted.
 * 1: admitted and counted (st_peers_put when it closes). 0: admitted and
 * not counted (no limit, or the table is full: a full table admits rather
 * than refuses). -EUSERS: addr holds limit connections already; nothing
 * is counted.
 */
int st_peers_take(struct st_peers *p, const uint8_t addr[16]);
/* A counted connection of addr closed. */
void st_peers_put(struct st_peers *p, const uint8_t addr[16]);
/* Connections counted for addr now (for tests and logs). */
unsigned st_peers_count(struct st_peers *p, const uint8_t addr[16]);

#endif
