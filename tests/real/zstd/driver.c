/* tests/real/zstd/driver.c: main() for the zstd real-program test (ours).
 *
 * Drives the zstd library through its public API and prints sizes,
 * checksums and round-trip results, which must be the same whether the
 * library was linked by the system linker or by rtdyld.
 *
 *     driver levels   one-shot compression at every level
 *     driver stream   streaming compression and decompression, small buffers
 *     driver dict     a dictionary trained from samples, then used
 *     driver mt       multithreaded compression (two workers)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdict.h"
#include "zstd.h"

static unsigned long long fnv(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Text-like input: words from a small vocabulary, in runs that repeat. */
static char *make_input(size_t n, unsigned seed) {
    static const char *words[] = {"linker", "section", "symbol", "relocation", "object", "address",
                                  "finalize", "memory", "table", "stub", "\n", ", ", "the ", "of "};
    char *s = malloc(n);
    size_t i = 0;
    unsigned x = seed;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % (sizeof words / sizeof *words)];
        size_t len = strlen(w);
        for (size_t k = 0; k < len && i < n; k++) s[i++] = w[k];
        if (i < n && (x >> 8) % 5 == 0) s[i++] = (char)('0' + (x >> 20) % 10);
    }
    return s;
}

static int check(size_t r, const char *what) {
    if (ZSTD_isError(r)) {
        printf("%s: error %s\n", what, ZSTD_getErrorName(r));
        return 1;
    }
    return 0;
}

static int levels(void) {
    size_t n = 256 << 10;
    char *src = make_input(n, 1), *back = malloc(n);
    size_t cap = ZSTD_compressBound(n);
    char *dst = malloc(cap);
    for (int lvl = ZSTD_minCLevel() > -7 ? ZSTD_minCLevel() : -7; lvl <= 19; lvl += (lvl < 1 ? 3 : 2)) {
        size_t c = ZSTD_compress(dst, cap, src, n, lvl);
        if (check(c, "compress")) return 1;
        size_t d = ZSTD_decompress(back, n, dst, c);
        if (check(d, "decompress")) return 1;
        printf("level %d: %zu -> %zu (%016llx) round trip %s\n", lvl, n, c, fnv(dst, c), d == n && !memcmp(src, back, n) ? "ok" : "BAD");
    }
    printf("frame content size %llu, max level %d\n", (unsigned long long)ZSTD_getFrameContentSize(dst, cap), ZSTD_maxCLevel());
    free(src), free(back), free(dst);
    return 0;
}

static int stream(void) {
    size_t n = 300000;
    char *src = make_input(n, 2);
    size_t cap = ZSTD_compressBound(n) + 1024, csize = 0;
    char *comp = malloc(cap), *back = malloc(n + 1);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 7);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    char out[4096];
    for (size_t pos = 0; pos < n;) {
        size_t chunk = n - pos < 3000 ? n - pos : 3000;
        ZSTD_inBuffer in = {src + pos, chunk, 0};
        ZSTD_EndDirective mode = pos + chunk == n ? ZSTD_e_end : ZSTD_e_continue;
        size_t left;
        do {
            ZSTD_outBuffer o = {out, sizeof out, 0};
            left = ZSTD_compressStream2(cc, &o, &in, mode);
            if (check(left, "compressStream2")) return 1;
            memcpy(comp + csize, out, o.pos);
            csize += o.pos;
        } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
        pos += chunk;
    }
    ZSTD_freeCCtx(cc);
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t dsize = 0;
    ZSTD_inBuffer in = {comp, csize, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer o = {back + dsize, (n + 1 - dsize) < 1000 ? n + 1 - dsize : 1000, 0};
        size_t r = ZSTD_decompressStream(dc, &o, &in);
        if (check(r, "decompressStream")) return 1;
        dsize += o.pos;
    }
    ZSTD_freeDCtx(dc);
    printf("stream: %zu -> %zu (%016llx), back %zu, round trip %s\n", n, csize, fnv(comp, csize), dsize, dsize == n && !memcmp(src, back, n) ? "ok" : "BAD");
    free(src), free(comp), free(back);
    return 0;
}

static int dict(void) {
    enum { SAMPLES = 300 };
    size_t sizes[SAMPLES], total = 0;
    char *samples[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        sizes[i] = 600 + (size_t)(i * 37 % 900);
        samples[i] = make_input(sizes[i], 100 + (unsigned)i % 23);
        total += sizes[i];
    }
    char *all = malloc(total);
    for (size_t i = 0, at = 0; i < SAMPLES; at += sizes[i], i++) memcpy(all + at, samples[i], sizes[i]);
    char dictbuf[16384];
    size_t dsize = ZDICT_trainFromBuffer(dictbuf, sizeof dictbuf, all, sizes, SAMPLES);
    if (ZDICT_isError(dsize)) {
        printf("train: %s\n", ZDICT_getErrorName(dsize));
        return 1;
    }
    printf("dictionary: %zu bytes, id %u (%016llx)\n", dsize, ZDICT_getDictID(dictbuf, dsize), fnv(dictbuf, dsize));
    ZSTD_CDict *cd = ZSTD_createCDict(dictbuf, dsize, 9);
    ZSTD_DDict *dd = ZSTD_createDDict(dictbuf, dsize);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t with = 0, without = 0, ok = 0;
    char comp[4096], back[2048];
    for (int i = 0; i < SAMPLES; i++) {
        size_t c = ZSTD_compress_usingCDict(cc, comp, sizeof comp, samples[i], sizes[i], cd);
        if (check(c, "compress_usingCDict")) return 1;
        with += c;
        size_t d = ZSTD_decompress_usingDDict(dc, back, sizeof back, comp, c, dd);
        ok += !ZSTD_isError(d) && d == sizes[i] && !memcmp(back, samples[i], d);
        without += ZSTD_compress(comp, sizeof comp, samples[i], sizes[i], 9);
    }
    printf("samples %d, %zu bytes: %zu with the dictionary, %zu without; %zu round trips ok\n", SAMPLES, total, with, without, ok);
    ZSTD_freeCDict(cd), ZSTD_freeDDict(dd), ZSTD_freeCCtx(cc), ZSTD_freeDCtx(dc);
    for (int i = 0; i < SAMPLES; i++) free(samples[i]);
    free(all);
    return 0;
}

static int mt(void) {
    size_t n = 3 << 20;
    char *src = make_input(n, 3), *back = malloc(n);
    size_t cap = ZSTD_compressBound(n);
    char *dst = malloc(cap);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t r = ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, 2);
    if (check(r, "nbWorkers (built without ZSTD_MULTITHREAD?)")) return 1;
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 5);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_jobSize, 1 << 20);
    size_t c = ZSTD_compress2(cc, dst, cap, src, n);
    if (check(c, "compress2")) return 1;
    ZSTD_freeCCtx(cc);
    size_t d = ZSTD_decompress(back, n, dst, c);
    if (check(d, "decompress")) return 1;
    printf("two workers: %zu -> %zu (%016llx), round trip %s\n", n, c, fnv(dst, c), d == n && !memcmp(src, back, n) ? "ok" : "BAD");
    free(src), free(back), free(dst);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    printf("zstd %s: %s\n", ZSTD_versionString(), what);
    if (!strcmp(what, "levels")) return levels();
    if (!strcmp(what, "stream")) return stream();
    if (!strcmp(what, "dict")) return dict();
    if (!strcmp(what, "mt")) return mt();
    fprintf(stderr, "usage: driver levels|stream|dict|mt\n");
    return 2;
}
