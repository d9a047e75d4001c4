/* Helpers shared by the lifecycle C tests (lc_*.c): a log of values that
 * JIT'd code reports through a host function `note(long)`, and loading the
 * C++ runtime into the process so that rtdyld can find it with process
 * symbols on. */
#ifndef RTDYLD_TEST_LC_UTIL_H
#define RTDYLD_TEST_LC_UTIL_H

#include <dlfcn.h>

#include "test_rtdyld.h"

/* ---- note(long): what JIT'd constructors and destructors report ---- */

#define LC_LOG_MAX 64
static long lc_log[LC_LOG_MAX];
static size_t lc_log_len;

/* Handed to JIT'd code by a resolver as `note`. */
static inline void lc_note(long value)
{
  if (lc_log_len == LC_LOG_MAX)
    FAIL("note log full");
  lc_log[lc_log_len++] = value;
}

static inline void lc_log_print(const char *label)
{
  printf("  %s: [", label);
  for (size_t i = 0; i < lc_log_len; i++)
    printf("%s%ld", i ? ", " : "", lc_log[i]);
  printf("]\n");
}

/* Check that the log holds exactly `expected[0..count)`, then empty it. */
#define LC_EXPECT_LOG(label, ...)                                             \
  do {                                                                        \
    const long lc_e_[] = { __VA_ARGS__ };                                     \
    lc_expect_log_(__FILE__, __LINE__, label, lc_e_, sizeof lc_e_ / sizeof lc_e_[0]); \
  } while (0)

/* Check that nothing was logged since the last check. */
#define LC_EXPECT_EMPTY_LOG(label) lc_expect_log_(__FILE__, __LINE__, label, NULL, 0)

static inline void lc_expect_log_(const char *file, int line, const char *label,
                           const long *expected, size_t count)
{
  lc_log_print(label);
  bool same = lc_log_len == count;
  for (size_t i = 0; same && i < count; i++)
    same = lc_log[i] == expected[i];
  if (!same) {
    fprintf(stderr, "%s:%d: FAIL: %s: log differs; expected [", file, line, label);
    for (size_t i = 0; i < count; i++)
      fprintf(stderr, "%s%ld", i ? ", " : "", expected[i]);
    fprintf(stderr, "]\n");
    exit(1);
  }
  lc_log_len = 0;
}

/* ---- the C++ runtime ---- */

/* Load libstdc++ with RTLD_GLOBAL so that process-symbol lookups (dlsym)
 * find it; the handle stays open for the life of the process (JIT'd code
 * may have registered exception tables or thread-exit work with it). */
static inline void lc_load_libstdcxx(void)
{
  if (!dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL))
    FAIL("dlopen(libstdc++.so.6): %s", dlerror());
}

/* ---- symbols ---- */

/* The size of global symbol `name` as defined by object `object_id`. */
static inline uint64_t lc_symbol_size(rtdyld_linker *linker, uint32_t object_id, const char *name)
{
  uint32_t count = 0;
  CHECK_OK(linker, rtdyld_linker_object_symbol_count(linker, object_id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_symbol_info info;
    CHECK_OK(linker, rtdyld_linker_object_symbol(linker, object_id, i, &info));
    if (strcmp(info.name, name) == 0)
      return info.size;
  }
  FAIL("object %u defines no symbol %s", (unsigned)object_id, name);
}

#endif /* RTDYLD_TEST_LC_UTIL_H */
