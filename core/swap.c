/* swap.c - see swap.h. */
#include "swap.h"

#include <sched.h>
#include <stdint.h>
#include <time.h>

static swap_slot *my_slot(swap_cell *cell)
{
    static _Thread_local char anchor;
    uintptr_t h = (uintptr_t)&anchor;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15u;
    return &cell->slots[(h >> 32) % SWAP_READER_SLOTS];
}

void swap_init(swap_cell *cell, void *value)
{
    atomic_init(&cell->current, value);
    atomic_init(&cell->epoch, 0);
    for (int i = 0; i < SWAP_READER_SLOTS; i++) {
        atomic_init(&cell->slots[i].count[0], 0);
        atomic_init(&cell->slots[i].count[1], 0);
    }
}

void *swap_enter(swap_cell *cell, swap_ticket *ticket)
{
    ticket->slot = my_slot(cell);
    ticket->parity = atomic_load(&cell->epoch) & 1u;
    atomic_fetch_add(&ticket->slot->count[ticket->parity], 1);
    return atomic_load(&cell->current);
}

void swap_leave(swap_ticket ticket)
{
    atomic_fetch_sub(&ticket.slot->count[ticket.parity], 1);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until no reader counts itself under `parity`; false when the
 * deadline (monotonic ns; UINT64_MAX: none) passes first. */
static bool wait_for_readers(swap_cell *cell, unsigned parity, uint64_t deadline)
{
    for (int i = 0; i < SWAP_READER_SLOTS; i++) {
        unsigned spins = 0;
        while (atomic_load(&cell->slots[i].count[parity]) != 0) {
            if (deadline != UINT64_MAX && monotonic_ns() >= deadline)
                return false;
            if (++spins < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
    }
    return true;
}

void *swap_exchange(swap_cell *cell, void *value)
{
    return atomic_exchange(&cell->current, value);
}

bool swap_quiesce(swap_cell *cell, long timeout_ms)
{
    uint64_t deadline =
        timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
    for (int phase = 0; phase < 2; phase++) {
        unsigned parity = atomic_fetch_add(&cell->epoch, 1u) & 1u;
        if (!wait_for_readers(cell, parity, deadline))
            return false;
    }
    return true;
}

void *swap_publish(swap_cell *cell, void *value)
{
    void *old = swap_exchange(cell, value);
    swap_quiesce(cell, -1);
    return old;
}
