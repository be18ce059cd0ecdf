/*
 * elf_desc.h - what a module's ELF image says about its descriptor, read
 * from the file's bytes before any of its code can run.
 *
 * dlopen() runs a module's constructors (and its IFUNC resolvers) before it
 * returns, so checks made after it come too late to keep a module built for
 * another ABI from running code in the host. The dynamic symbol table is
 * what the dynamic linker itself reads: the descriptor symbol found there,
 * and the ABI words at its start (plain data, which no relocation touches),
 * are exactly what dlsym() will show once the module is loaded.
 */
#ifndef FHIRPAM_CORE_ELF_DESC_H
#define FHIRPAM_CORE_ELF_DESC_H

#include <stddef.h>
#include <stdint.h>

typedef struct elf_descriptor {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t size;        /* the descriptor's own `size` member */
    uint64_t symbol_size; /* st_size of the symbol */
    uint32_t flags;       /* ABI 1.1's flags; 0 for a descriptor without them */
} elf_descriptor;

/*
 * Find symbol `name` in the dynamic symbol table of the ELF shared object
 * image[0..len) (the host's own class, byte order and machine), require it
 * to be a defined data object whose first 8 bytes lie in the file, and read
 * the descriptor's ABI major, minor and size from them, and its flags when
 * the minor and size say it has them (refused when those bytes are not in
 * the file). Also refuses an
 * image with DT_RPATH or DT_RUNPATH: those would let a directory the
 * loader never checked supply the module's libraries. Every offset is
 * checked against len: any image, however malformed, gets an answer.
 * Returns 0, or -1 with a sentence in why ("exports no ..." when the
 * symbol is missing).
 */
int elf_read_descriptor(const unsigned char *image, size_t len, const char *name,
                        elf_descriptor *out, char *why, size_t whylen);

#endif
