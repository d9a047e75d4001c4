/* Helpers shared by the C tests that do not depend on linking librtdyld
 * (the dlopen test uses them too): checks that exit on failure, reading a
 * file, and a resolver over a small table of names. */
#ifndef RTDYLD_TEST_UTIL_H
#define RTDYLD_TEST_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print "file:line: FAIL: <message>" and exit with status 1. */
#define FAIL(...)                                                   \
  do {                                                              \
    fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);           \
    fprintf(stderr, __VA_ARGS__);                                   \
    fputc('\n', stderr);                                            \
    exit(1);                                                        \
  } while (0)

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond))                                                    \
      FAIL("check failed: %s", #cond);                              \
  } while (0)

/* Compare two integer values (of any integer type) and print both. */
#define CHECK_EQ(actual, expected)                                  \
  do {                                                              \
    long long check_a_ = (long long)(actual);                       \
    long long check_e_ = (long long)(expected);                     \
    if (check_a_ != check_e_)                                       \
      FAIL("%s = %lld (0x%llx), expected %s = %lld (0x%llx)",       \
           #actual, check_a_, (unsigned long long)check_a_,         \
           #expected, check_e_, (unsigned long long)check_e_);      \
  } while (0)

/* Read a whole file into a malloc'd buffer; exits on error. */
static inline uint8_t *test_read_file(const char *path, size_t *len_out)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    FAIL("cannot open %s: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0)
    FAIL("cannot seek %s", path);
  long len = ftell(f);
  if (len <= 0)
    FAIL("%s is empty or unreadable", path);
  rewind(f);
  uint8_t *buf = malloc((size_t)len);
  if (!buf)
    FAIL("out of memory reading %s", path);
  if (fread(buf, 1, (size_t)len, f) != (size_t)len)
    FAIL("short read on %s", path);
  fclose(f);
  *len_out = (size_t)len;
  return buf;
}

/* A resolver answering from a table of (name, address) pairs that the test
 * may change between finalizes. Pass test_resolve with a test_resolver as
 * its ctx. */
#define TEST_RESOLVER_MAX 16
typedef struct test_resolver {
  struct {
    const char *name;
    uint64_t address;
  } entries[TEST_RESOLVER_MAX];
  size_t count;
  unsigned calls;       /* how many times rtdyld asked */
  unsigned misses;      /* how many of those asked for an unknown name */
} test_resolver;

/* Add name or change its address. */
static inline void test_resolver_set(test_resolver *r, const char *name, uint64_t address)
{
  for (size_t i = 0; i < r->count; i++) {
    if (strcmp(r->entries[i].name, name) == 0) {
      r->entries[i].address = address;
      return;
    }
  }
  if (r->count == TEST_RESOLVER_MAX)
    FAIL("test_resolver full");
  r->entries[r->count].name = name;
  r->entries[r->count].address = address;
  r->count++;
}

static inline int test_resolve(void *ctx, const char *name, uint64_t *address_out)
{
  test_resolver *r = ctx;
  r->calls++;
  for (size_t i = 0; i < r->count; i++) {
    if (strcmp(r->entries[i].name, name) == 0) {
      *address_out = r->entries[i].address;
      return 1;
    }
  }
  r->misses++;
  return 0;
}

/* Address of a function as the resolver reports it. */
#define FN_ADDR(fn) ((uint64_t)(uintptr_t)&(fn))

/* Function-pointer types for calling JIT code at a target address. */
typedef int (*fn_int_void)(void);
typedef int (*fn_int_int)(int);
typedef int (*fn_int_int2)(int, int);
typedef int (*fn_int_int3)(int, int, int);
typedef int *(*fn_intptr_void)(void);
typedef long (*fn_long_void)(void);
typedef long (*fn_long_long)(long);
typedef unsigned long (*fn_ulong_void)(void);

/* Convert a target address to a callable pointer of type T. */
#define AS_FN(T, address) ((T)(uintptr_t)(address))

#endif /* RTDYLD_TEST_UTIL_H */
