/*
 * fuzz_elf.c - libFuzzer target for the loader's ELF descriptor reader
 * (core/stack/elf_desc.c), which reads a module file before any of its code
 * may run, so it must answer any bytes at all.
 *
 * What it checks: every input gets an answer (0 or -1) with no read outside
 * the buffer (ASan sees one: the input is copied into an allocation of
 * exactly its size); a refusal always carries a sentence; an accepted
 * descriptor has a symbol at least as large as the 8 bytes read from it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf_desc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    elf_descriptor d;
    char why[256] = "";
    int rc = elf_read_descriptor(copy, size, "fhirpam_module_descriptor", &d, why, sizeof why);
    if (rc != 0 && why[0] == '\0') {
        fprintf(stderr, "fuzz_elf: refused without a reason\n");
        abort();
    }
    if (rc == 0 && d.symbol_size < 8) {
        fprintf(stderr, "fuzz_elf: accepted a descriptor smaller than its ABI words\n");
        abort();
    }
    free(copy);
    return 0;
}
