/*
 * floor: the least work any in-process linker must do for a set of ELF
 * x86-64 relocatable objects, for rtdyld's benchmark (benches/run.sh).
 *
 *   floor [--repeat N] FILE.o...
 *
 * The files are read and parsed before timing. Each repetition then maps
 * fresh anonymous memory (one mapping per object, as rtdyld and the
 * RuntimeDyld driver do), copies every allocatable section into it (zeroes
 * SHT_NOBITS ones), and for every relocation of an allocatable section reads
 * the RELA entry and stores one 8-byte value (section address + addend) at
 * its offset. No symbol resolution, no relocation-type dispatch, no
 * protection change. Prints the medians in microseconds:
 *   load_us=      map + copy
 *   finalize_us=  one store per relocation
 *   total_us=     both
 * and relocations=, section_bytes=, object_bytes=, sections=.
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct sec {
    const uint8_t *data; /* NULL for NOBITS */
    uint64_t size, align, offset_in_block;
};
struct rel {
    const Elf64_Rela *r;
    size_t n;
    size_t sec; /* index into obj.secs */
};
struct obj {
    uint8_t *file;
    size_t file_size;
    struct sec *secs;
    size_t nsecs;
    struct rel *rels;
    size_t nrels;
    size_t block;
};

static void die(const char *what, const char *path)
{
    fprintf(stderr, "floor: %s: %s\n", path, what);
    exit(1);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static void parse(struct obj *o, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", path);
    fseek(f, 0, SEEK_END);
    o->file_size = ftell(f);
    fseek(f, 0, SEEK_SET);
    o->file = malloc(o->file_size);
    if (fread(o->file, 1, o->file_size, f) != o->file_size)
        die("cannot read", path);
    fclose(f);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)o->file;
    if (o->file_size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_type != ET_REL)
        die("not an ELF64 relocatable object", path);
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(o->file + eh->e_shoff);
    size_t n = eh->e_shnum;
    size_t *slot = malloc(n * sizeof *slot);
    o->secs = calloc(n, sizeof *o->secs);
    o->rels = calloc(n, sizeof *o->rels);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        slot[i] = (size_t)-1;
        if (!(sh[i].sh_flags & SHF_ALLOC) || sh[i].sh_size == 0)
            continue;
        uint64_t a = sh[i].sh_addralign ? sh[i].sh_addralign : 1;
        off = (off + a - 1) / a * a;
        struct sec *s = &o->secs[o->nsecs];
        s->data = sh[i].sh_type == SHT_NOBITS ? NULL : o->file + sh[i].sh_offset;
        s->size = sh[i].sh_size;
        s->align = a;
        s->offset_in_block = off;
        off += sh[i].sh_size + 8; /* room for an 8-byte store at the end */
        slot[i] = o->nsecs++;
    }
    o->block = (off + 4095) / 4096 * 4096;
    for (size_t i = 0; i < n; i++) {
        if (sh[i].sh_type != SHT_RELA || sh[i].sh_info >= n || slot[sh[i].sh_info] == (size_t)-1)
            continue;
        struct rel *r = &o->rels[o->nrels++];
        r->r = (const Elf64_Rela *)(o->file + sh[i].sh_offset);
        r->n = sh[i].sh_size / sizeof(Elf64_Rela);
        r->sec = slot[sh[i].sh_info];
    }
    free(slot);
}

int main(int argc, char **argv)
{
    int repeat = 1;
    int nobj = 0;
    struct obj *objs = calloc(argc, sizeof *objs);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1)
                repeat = 1;
        } else {
            parse(&objs[nobj++], argv[i]);
        }
    }
    if (!nobj)
        die("no object files given", "usage");
    uint64_t nrel = 0, sbytes = 0, obytes = 0, nsec = 0;
    for (int k = 0; k < nobj; k++) {
        obytes += objs[k].file_size;
        nsec += objs[k].nsecs;
        for (size_t i = 0; i < objs[k].nsecs; i++)
            sbytes += objs[k].secs[i].size;
        for (size_t i = 0; i < objs[k].nrels; i++)
            nrel += objs[k].rels[i].n;
    }
    double *load = malloc(repeat * sizeof *load), *fin = malloc(repeat * sizeof *fin),
           *tot = malloc(repeat * sizeof *tot);
    uint8_t **blocks = malloc(nobj * sizeof *blocks);
    uint64_t check = 0;
    for (int rep = 0; rep < repeat; rep++) {
        double t0 = now_us();
        for (int k = 0; k < nobj; k++) {
            struct obj *o = &objs[k];
            uint8_t *b = mmap(NULL, o->block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (b == MAP_FAILED)
                die("mmap failed", argv[0]);
            blocks[k] = b;
            for (size_t i = 0; i < o->nsecs; i++) {
                struct sec *s = &o->secs[i];
                if (s->data)
                    memcpy(b + s->offset_in_block, s->data, s->size);
                /* NOBITS: fresh anonymous memory is already zero */
            }
        }
        double t1 = now_us();
        for (int k = 0; k < nobj; k++) {
            struct obj *o = &objs[k];
            for (size_t i = 0; i < o->nrels; i++) {
                uint8_t *base = blocks[k] + o->secs[o->rels[i].sec].offset_in_block;
                const Elf64_Rela *r = o->rels[i].r;
                for (size_t j = 0, n = o->rels[i].n; j < n; j++) {
                    uint64_t v = (uint64_t)(uintptr_t)base + (uint64_t)r[j].r_addend;
                    memcpy(base + r[j].r_offset, &v, 8);
                }
            }
        }
        double t2 = now_us();
        for (int k = 0; k < nobj; k++) {
            check += blocks[k][0];
            munmap(blocks[k], objs[k].block);
        }
        load[rep] = t1 - t0;
        fin[rep] = t2 - t1;
        tot[rep] = t2 - t0;
    }
    printf("load_us=%.1f\nfinalize_us=%.1f\ntotal_us=%.1f\n", median(load, repeat), median(fin, repeat),
           median(tot, repeat));
    printf("relocations=%llu\nsection_bytes=%llu\nobject_bytes=%llu\nsections=%llu\ncheck=%llu\n",
           (unsigned long long)nrel, (unsigned long long)sbytes, (unsigned long long)obytes,
           (unsigned long long)nsec, (unsigned long long)check);
    return 0;
}
