/*
 * elf_desc.c - see elf_desc.h.
 *
 * The walk the dynamic linker makes (System V gABI, "Dynamic Section" and
 * "Hash Table"; the GNU hash layout as glibc's dl-lookup.c reads it), on
 * the file rather than on a mapping: program headers, PT_DYNAMIC, the
 * symbol and string tables it points at (virtual addresses, turned into
 * file offsets through the PT_LOAD segment holding them), and the symbol
 * count from DT_HASH or DT_GNU_HASH. Every read goes through view_at(),
 * which checks the range against the image, so a malformed file is refused
 * with a sentence and never read past its end (fuzz/fuzz_elf.c).
 */
#include "elf_desc.h"

#include <elf.h>
#include <fhirpam/module.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if __ELF_NATIVE_CLASS == 64
#define HOST_CLASS ELFCLASS64
#else
#define HOST_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#endif

/* More program headers or symbols than this is not a module. */
#define ELF_MAX_PHDRS   256
#define ELF_MAX_SYMBOLS (1u << 22)
#define ELF_MAX_LOADS   16

typedef struct elf_view {
    const unsigned char *data;
    size_t len;
    ElfW(Phdr) loads[ELF_MAX_LOADS];
    size_t nloads;
} elf_view;

/* A pointer to n bytes at file offset off, or NULL when they are not all
 * inside the image. */
static const unsigned char *view_at(const elf_view *v, uint64_t off, uint64_t n)
{
    if (off > v->len || n > v->len - off)
        return NULL;
    return v->data + off;
}

/* The file offset of n bytes at virtual address va, which must lie in the
 * file-backed part of one PT_LOAD segment; false when they do not. */
static bool vaddr_to_offset(const elf_view *v, uint64_t va, uint64_t n, uint64_t *off)
{
    for (size_t i = 0; i < v->nloads; i++) {
        const ElfW(Phdr) *p = &v->loads[i];
        if (va < p->p_vaddr || va - p->p_vaddr >= p->p_filesz)
            continue;
        uint64_t rel = va - p->p_vaddr;
        if (n > p->p_filesz - rel)
            return false;
        *off = p->p_offset + rel;
        return view_at(v, *off, n) != NULL;
    }
    return false;
}

static bool read_u32_at_va(const elf_view *v, uint64_t va, uint32_t *out)
{
    uint64_t off;
    if (!vaddr_to_offset(v, va, sizeof *out, &off))
        return false;
    memcpy(out, v->data + off, sizeof *out);
    return true;
}

/* The number of dynamic symbols, from DT_HASH's nchain or, failing that,
 * the highest index DT_GNU_HASH reaches (its chains end on an odd hash). */
static bool symbol_count(const elf_view *v, uint64_t hash, uint64_t gnu_hash, uint64_t *count)
{
    if (hash != 0) {
        uint32_t nchain;
        if (!read_u32_at_va(v, hash + 4, &nchain))
            return false;
        *count = nchain;
        return true;
    }
    if (gnu_hash == 0)
        return false;
    uint32_t hdr[4]; /* nbuckets, symoffset, bloom_size, bloom_shift */
    uint64_t off;
    if (!vaddr_to_offset(v, gnu_hash, sizeof hdr, &off))
        return false;
    memcpy(hdr, v->data + off, sizeof hdr);
    uint64_t buckets = gnu_hash + sizeof hdr + (uint64_t)hdr[2] * sizeof(ElfW(Addr));
    uint64_t chains = buckets + (uint64_t)hdr[0] * 4;
    uint32_t top = 0;
    for (uint32_t b = 0; b < hdr[0]; b++) {
        uint32_t first;
        if (!read_u32_at_va(v, buckets + (uint64_t)b * 4, &first))
            return false;
        top = first > top ? first : top;
    }
    if (top < hdr[1]) {
        *count = hdr[1];
        return true;
    }
    for (uint64_t i = top; i - top < ELF_MAX_SYMBOLS; i++) {
        uint32_t h;
        if (!read_u32_at_va(v, chains + (i - hdr[1]) * 4, &h))
            return false;
        if (h & 1u) {
            *count = i + 1;
            return true;
        }
    }
    return false;
}

static int refuse(char *why, size_t whylen, const char *text)
{
    snprintf(why, whylen, "%s", text);
    return -1;
}

int elf_read_descriptor(const unsigned char *image, size_t len, const char *name,
                        elf_descriptor *out, char *why, size_t whylen)
{
    elf_view v = {.data = image, .len = len};
    ElfW(Ehdr) eh;
    const unsigned char *p = view_at(&v, 0, sizeof eh);
    if (p == NULL || memcmp(p, ELFMAG, SELFMAG) != 0)
        return refuse(why, whylen, "is not an ELF file");
    memcpy(&eh, p, sizeof eh);
    if (eh.e_ident[EI_CLASS] != HOST_CLASS || eh.e_ident[EI_DATA] != HOST_DATA)
        return refuse(why, whylen, "is an ELF file of another class or byte order");
#ifdef HOST_MACHINE
    if (eh.e_machine != HOST_MACHINE)
        return refuse(why, whylen, "is an ELF file for another machine");
#endif
    if (eh.e_type != ET_DYN)
        return refuse(why, whylen, "is not an ELF shared object");
    if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS)
        return refuse(why, whylen, "has malformed ELF program headers");

    uint64_t dyn_off = 0, dyn_size = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        p = view_at(&v, eh.e_phoff + i * sizeof ph, sizeof ph);
        if (p == NULL)
            return refuse(why, whylen, "has ELF program headers past its end");
        memcpy(&ph, p, sizeof ph);
        if (ph.p_type == PT_LOAD) {
            if (v.nloads == ELF_MAX_LOADS || view_at(&v, ph.p_offset, ph.p_filesz) == NULL)
                return refuse(why, whylen, "has a malformed ELF load segment");
            v.loads[v.nloads++] = ph;
        } else if (ph.p_type == PT_DYNAMIC) {
            dyn_off = ph.p_offset;
            dyn_size = ph.p_filesz;
        }
    }
    if (dyn_size == 0 || view_at(&v, dyn_off, dyn_size) == NULL)
        return refuse(why, whylen, "has no (or a malformed) ELF dynamic section");

    uint64_t symtab = 0, strtab = 0, strsz = 0, syment = sizeof(ElfW(Sym)), hash = 0, gnu_hash = 0;
    for (uint64_t o = 0; o + sizeof(ElfW(Dyn)) <= dyn_size; o += sizeof(ElfW(Dyn))) {
        ElfW(Dyn) d;
        memcpy(&d, v.data + dyn_off + o, sizeof d);
        if (d.d_tag == DT_NULL)
            break;
        switch (d.d_tag) {
        case DT_SYMTAB:
            symtab = d.d_un.d_ptr;
            break;
        case DT_STRTAB:
            strtab = d.d_un.d_ptr;
            break;
        case DT_STRSZ:
            strsz = d.d_un.d_val;
            break;
        case DT_SYMENT:
            syment = d.d_un.d_val;
            break;
        case DT_HASH:
            hash = d.d_un.d_ptr;
            break;
        case DT_GNU_HASH:
            gnu_hash = d.d_un.d_ptr;
            break;
        case DT_RPATH:
        case DT_RUNPATH:
            return refuse(why, whylen,
                          "carries an RPATH or RUNPATH: its libraries must come from the "
                          "system's library path, not from directories fhirpam never checked");
        default:
            break;
        }
    }
    uint64_t count, sym_off, str_off;
    if (symtab == 0 || strtab == 0 || strsz == 0 || syment != sizeof(ElfW(Sym)))
        return refuse(why, whylen, "has no dynamic symbol table");
    if (!symbol_count(&v, hash, gnu_hash, &count) || count > ELF_MAX_SYMBOLS)
        return refuse(why, whylen, "has a malformed ELF symbol hash table");
    if (!vaddr_to_offset(&v, symtab, count * sizeof(ElfW(Sym)), &sym_off) ||
        !vaddr_to_offset(&v, strtab, strsz, &str_off))
        return refuse(why, whylen, "has ELF symbol or string tables outside its file");

    size_t name_len = strlen(name) + 1; /* with the NUL */
    for (uint64_t i = 0; i < count; i++) {
        ElfW(Sym) s;
        memcpy(&s, v.data + sym_off + i * sizeof s, sizeof s);
        if (s.st_name >= strsz || name_len > strsz - s.st_name ||
            memcmp(v.data + str_off + s.st_name, name, name_len) != 0)
            continue;
        if (s.st_shndx == SHN_UNDEF)
            continue; /* a reference to someone else's */
        int type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
        if (type != STT_OBJECT || (bind != STB_GLOBAL && bind != STB_WEAK)) {
            snprintf(why, whylen, "exports %s, but not as a data object", name);
            return -1;
        }
        uint64_t off;
        unsigned char head[8];
        if (s.st_size < sizeof head || !vaddr_to_offset(&v, s.st_value, sizeof head, &off)) {
            snprintf(why, whylen, "has a %s without ABI words in the file", name);
            return -1;
        }
        memcpy(head, v.data + off, sizeof head);
        memcpy(&out->abi_major, head, 2);
        memcpy(&out->abi_minor, head + 2, 2);
        memcpy(&out->size, head + 4, 4);
        out->symbol_size = s.st_size;
        out->flags = 0;
        /* ABI 1.1's flags: plain data like the ABI words, read only from a
         * descriptor whose minor and size say it has them. */
        const uint64_t at = offsetof(fhirpam_module, flags);
        if (out->abi_minor >= 1 && out->size >= at + sizeof out->flags) {
            if (s.st_size < at + sizeof out->flags ||
                !vaddr_to_offset(&v, s.st_value + at, sizeof out->flags, &off)) {
                snprintf(why, whylen, "has a %s whose flags are not in the file", name);
                return -1;
            }
            memcpy(&out->flags, v.data + off, sizeof out->flags);
        }
        return 0;
    }
    snprintf(why, whylen, "exports no %s: not a fhirpam module", name);
    return -1;
}
