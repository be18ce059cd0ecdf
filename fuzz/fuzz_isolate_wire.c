/*
 * fuzz_isolate_wire.c - libFuzzer target for the frames an isolation
 * worker sends back (core/stack/isolate_wire.c), which the host reads as
 * untrusted input: the module inside the worker can write anything.
 *
 * What it checks: reading any bytes as a frame's fields never reads past
 * them (the input is copied into an allocation of exactly its size); the
 * fields of a frame that reads whole, written again with wire_put, give
 * back the same bytes (one spelling per frame); wire_string and wire_int
 * accept any field without fault.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    wire_in in = {copy, copy + size, false};
    wire_field f;
    wire_out again;
    wire_begin(&again);
    while (wire_next(&in, &f)) {
        free(wire_string(&f));
        long long v;
        (void)wire_int(&f, &v);
        wire_put(&again, f.tag, f.data, f.len);
    }
    if (!in.bad && !again.failed &&
        (again.len != size + 4 || memcmp(again.buf + 4, copy, size) != 0)) {
        fprintf(stderr, "fuzz_isolate_wire: a frame read whole does not write back the same\n");
        abort();
    }
    wire_free(&again);
    free(copy);
    return 0;
}
