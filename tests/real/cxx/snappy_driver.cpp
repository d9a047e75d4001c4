// snappy_driver.cpp - main() for the third-party part of tests/real/cxx.sh:
// drives Google's snappy (C++, fetched at test time from the crates.io
// package snappy_src; not part of this repository) through its C++ string,
// Source/Sink, raw, iovec and C APIs on deterministic inputs, and prints
// sizes and checksums.
#include <sys/uio.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "snappy-c.h"
#include "snappy-sinksource.h"
#include "snappy.h"

static uint64_t fnv1a(const std::string &s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

static std::string make_input(int kind, size_t n) {
    std::string s;
    s.reserve(n);
    uint32_t x = 12345u + uint32_t(kind);
    static const char *const words[] = {"snappy ", "rtdyld ", "relocation ", "section ", "symbol ", "jit ", "\n"};
    while (s.size() < n) {
        x = x * 1103515245u + 12345u;
        switch (kind) {
        case 0: s += words[(x >> 16) % 7]; break;                      // text
        case 1: s += char('a' + (s.size() / 1000) % 3); break;         // long runs
        case 2: s += char(x >> 24); break;                             // noise
        default: s += char((s.size() * s.size() >> 7) & 0xff); break; // structured binary
        }
    }
    s.resize(n);
    return s;
}

static int failures = 0;
#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            std::printf("  CHECK FAILED line %d: %s\n", __LINE__, #cond);                                             \
            ++failures;                                                                                               \
        }                                                                                                             \
    } while (0)

int main() {
    std::printf("snappy %d.%d.%d\n", SNAPPY_MAJOR, SNAPPY_MINOR, SNAPPY_PATCHLEVEL);
    const char *kinds[] = {"text", "runs", "noise", "binary"};
    const size_t sizes[] = {0, 1, 100, 4096, 65536 + 17, 300000};
    for (int kind = 0; kind < 4; ++kind) {
        for (size_t n : sizes) {
            std::string in = make_input(kind, n);
            for (int level = 1; level <= 2; ++level) {
                std::string z;
                size_t zn = snappy::Compress(in.data(), in.size(), &z, snappy::CompressionOptions(level));
                CHECK(zn == z.size());
                CHECK(z.size() <= snappy::MaxCompressedLength(in.size()));
                size_t ulen = 0;
                CHECK(snappy::GetUncompressedLength(z.data(), z.size(), &ulen) && ulen == n);
                CHECK(snappy::IsValidCompressedBuffer(z.data(), z.size()));
                std::string back;
                CHECK(snappy::Uncompress(z.data(), z.size(), &back) && back == in);
                std::printf("%-6s n=%-6zu level=%d compressed=%-6zu fnv=%016llx\n", kinds[kind], n, level, z.size(),
                            (unsigned long long)fnv1a(z));
            }
        }
    }

    // Source/Sink API, with a context reused across calls.
    std::string in = make_input(0, 200000);
    snappy::CompressionContext ctx;
    std::string z1;
    {
        snappy::ByteArraySource src(in.data(), in.size());
        z1.resize(snappy::MaxCompressedLength(in.size()));
        snappy::UncheckedByteArraySink sink(&z1[0]);
        size_t n = snappy::Compress(&src, &sink, snappy::CompressionOptions(), &ctx);
        z1.resize(n);
    }
    std::string z2;
    snappy::Compress(in.data(), in.size(), &z2);
    CHECK(z1 == z2);
    std::printf("source/sink compressed=%zu fnv=%016llx\n", z1.size(), (unsigned long long)fnv1a(z1));

    // Raw API into scattered buffers.
    std::vector<char> a(70000), b(30000), c(in.size() - a.size() - b.size());
    struct iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    CHECK(snappy::RawUncompressToIOVec(z1.data(), z1.size(), iov, 3));
    std::string joined = std::string(a.begin(), a.end()) + std::string(b.begin(), b.end()) + std::string(c.begin(), c.end());
    CHECK(joined == in);
    std::string z3;
    CHECK(snappy::CompressFromIOVec(iov, 3, &z3) == z3.size());
    std::printf("iovec round trip %s, compressed=%zu\n", joined == in ? "equal" : "DIFFERENT", z3.size());

    // Corrupted and truncated input is rejected, not crashed on.
    std::string bad = z1;
    for (size_t i = 5; i < bad.size(); i += 97) bad[i] = char(bad[i] ^ 0x5a);
    std::string out;
    std::printf("corrupted: valid=%d uncompress=%d\n", int(snappy::IsValidCompressedBuffer(bad.data(), bad.size())),
                int(snappy::Uncompress(bad.data(), bad.size(), &out)));
    std::printf("truncated: valid=%d\n", int(snappy::IsValidCompressedBuffer(z1.data(), z1.size() / 2)));

    // The C API.
    size_t max = snappy_max_compressed_length(in.size());
    std::vector<char> cbuf(max);
    size_t clen = max;
    snappy_status st = snappy_compress(in.data(), in.size(), cbuf.data(), &clen);
    size_t ulen = 0;
    snappy_status st2 = snappy_uncompressed_length(cbuf.data(), clen, &ulen);
    std::vector<char> ubuf(ulen);
    size_t ulen2 = ulen;
    snappy_status st3 = snappy_uncompress(cbuf.data(), clen, ubuf.data(), &ulen2);
    CHECK(std::string(ubuf.begin(), ubuf.end()) == in);
    size_t small = 10;
    snappy_status st4 = snappy_compress(in.data(), in.size(), cbuf.data(), &small);
    std::printf("C API: status %d %d %d, compressed=%zu, too-small buffer status %d\n", st, st2, st3, clen, st4);

    std::printf("%d check(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}
