/*
 * swap.h - one pointer that a writer replaces while readers use it, without
 * a lock readers contend on (the scheme of context.c's configuration swap,
 * shared with modules through fhirpam_swap_* in module.h).
 *
 * Readers count themselves in one of two counters (the parity of `epoch`)
 * of a slot chosen by thread. The writer publishes the new value, then waits
 * for each parity in turn to drain, flipping the epoch first so that new
 * readers go to the other one. A reader that saw the old value incremented
 * its counter before it loaded the pointer, hence before the swap; once
 * both parities have been seen at zero after the swap, every such reader
 * has left. (The two-phase scheme of sleepable RCU, reduced to one pointer.)
 */
#ifndef FHIRPAM_CORE_SWAP_H
#define FHIRPAM_CORE_SWAP_H

#include <stdatomic.h>
#include <stdbool.h>

#define SWAP_READER_SLOTS 32

/* One cache line per slot, so that threads hashed to different slots do not
 * bounce a shared counter between cores. */
typedef struct swap_slot {
    _Alignas(64) atomic_long count[2];
} swap_slot;

typedef struct swap_cell {
    _Atomic(void *) current;
    atomic_uint epoch;
    swap_slot slots[SWAP_READER_SLOTS];
} swap_cell;

typedef struct swap_ticket {
    swap_slot *slot;
    unsigned parity;
} swap_ticket;

void swap_init(swap_cell *cell, void *value);

/* Pin the current value until swap_leave(). Lock-free. */
void *swap_enter(swap_cell *cell, swap_ticket *ticket);
void swap_leave(swap_ticket ticket);

/* Publish value and return the old one once no reader can still hold it.
 * One writer at a time (the caller serialises writers). */
void *swap_publish(swap_cell *cell, void *value);

/* The two halves of swap_publish, for a writer that must not wait for
 * ever (fhirpam_reload): swap_exchange() installs value and returns the old
 * one at once; swap_quiesce() waits until every reader that entered before
 * it was called has left, and returns true, or false after timeout_ms (< 0:
 * no bound) with readers still inside. A value exchanged out may be freed
 * once a later swap_quiesce() returned true. The same one-writer rule. */
void *swap_exchange(swap_cell *cell, void *value);
bool swap_quiesce(swap_cell *cell, long timeout_ms);

#endif
