/* swap_sdk.c - fhirpam_swap_* (module.h): swap.h for modules. */
#include <fhirpam/module.h>
#include <stdlib.h>

#include "swap.h"
#include "watcher.h"

struct fhirpam_swap {
    swap_cell cell;
    void (*free_fn)(void *);
};

FHIRPAM_API fhirpam_swap *fhirpam_swap_new(void *value, void (*free_fn)(void *))
{
    fhirpam_swap *s = aligned_alloc(64, (sizeof *s + 63) / 64 * 64);
    if (s == NULL)
        return NULL;
    swap_init(&s->cell, value);
    s->free_fn = free_fn;
    return s;
}

FHIRPAM_API void *fhirpam_swap_enter(fhirpam_swap *swap, fhirpam_swap_ticket *ticket)
{
    /* A module's data is read here; in a forked child, its watchers first. */
    watchers_resume();
    swap_ticket t;
    void *value = swap_enter(&swap->cell, &t);
    ticket->slot = t.slot;
    ticket->parity = t.parity;
    return value;
}

FHIRPAM_API void fhirpam_swap_leave(fhirpam_swap_ticket ticket)
{
    swap_leave((swap_ticket){ticket.slot, ticket.parity});
}

FHIRPAM_API void fhirpam_swap_publish(fhirpam_swap *swap, void *value)
{
    void *old = swap_publish(&swap->cell, value);
    if (old != NULL && swap->free_fn != NULL)
        swap->free_fn(old);
}

FHIRPAM_API void fhirpam_swap_free(fhirpam_swap *swap)
{
    if (swap == NULL)
        return;
    void *value = atomic_load(&swap->cell.current);
    if (value != NULL && swap->free_fn != NULL)
        swap->free_fn(value);
    free(swap);
}
