/* Helpers for the C tests that link against librtdyld. */
#ifndef RTDYLD_TEST_RTDYLD_H
#define RTDYLD_TEST_RTDYLD_H

#include "rtdyld.h"
#include "test_util.h"

/* The linker's last error, or a placeholder when there is no linker. */
static inline const char *test_last_error(const rtdyld_linker *linker)
{
  if (!linker)
    return "(no linker)";
  const char *msg = rtdyld_linker_last_error(linker);
  return msg ? msg : "(NULL message)";
}

/* Evaluate an rtdyld call; on anything but RTDYLD_RESULT_OK print the result
 * name and the linker's last error, and exit. */
#define CHECK_OK(linker, call)                                          \
  do {                                                                  \
    rtdyld_result check_r_ = (call);                                    \
    if (check_r_ != RTDYLD_RESULT_OK)                                   \
      FAIL("%s returned %s (%u): %s", #call,                            \
           rtdyld_result_name(check_r_), (unsigned)check_r_,            \
           test_last_error(linker));                                    \
  } while (0)

/* Evaluate an rtdyld call that must fail with `expected`, and check that the
 * linker then has a non-empty message (when there is a linker). */
#define CHECK_FAILS(linker, call, expected)                             \
  do {                                                                  \
    rtdyld_result check_r_ = (call);                                    \
    if (check_r_ != (rtdyld_result)(expected))                          \
      FAIL("%s returned %s (%u), expected %s (%u); last error: %s",     \
           #call, rtdyld_result_name(check_r_), (unsigned)check_r_,     \
           rtdyld_result_name(expected), (unsigned)(expected),          \
           test_last_error(linker));                                    \
    if ((linker) != NULL) {                                             \
      const char *check_m_ = rtdyld_linker_last_error(linker);          \
      if (check_m_ == NULL || check_m_[0] == '\0')                      \
        FAIL("%s failed as expected but left no error message", #call); \
    }                                                                   \
  } while (0)

/* Load an object file; returns its object id. */
static inline uint32_t test_load_file(rtdyld_linker *linker, const char *path)
{
  size_t len = 0;
  uint8_t *data = test_read_file(path, &len);
  uint32_t object_id = UINT32_MAX;
  CHECK_OK(linker, rtdyld_linker_load_object(linker, data, len, path, &object_id));
  free(data); /* rtdyld borrows the bytes only for the call */
  return object_id;
}

/* Target address of a symbol that must exist. */
static inline uint64_t test_lookup(rtdyld_linker *linker, const char *name)
{
  uint64_t address = 0;
  CHECK_OK(linker, rtdyld_linker_lookup(linker, name, &address));
  if (address == 0)
    FAIL("rtdyld_linker_lookup(%s) returned address 0", name);
  return address;
}

/* Local address of a symbol that must exist. */
static inline uint8_t *test_lookup_local(rtdyld_linker *linker, const char *name)
{
  uint8_t *address = NULL;
  CHECK_OK(linker, rtdyld_linker_lookup_local(linker, name, &address));
  if (address == NULL)
    FAIL("rtdyld_linker_lookup_local(%s) returned NULL", name);
  return address;
}

static inline const char *test_kind_name(rtdyld_section_kind kind)
{
  switch (kind) {
  case RTDYLD_SECTION_KIND_CODE: return "code";
  case RTDYLD_SECTION_KIND_RO_DATA: return "ro-data";
  case RTDYLD_SECTION_KIND_RW_DATA: return "rw-data";
  case RTDYLD_SECTION_KIND_ZERO_FILL: return "zero-fill";
  default: return "?";
  }
}

/* Print an object's sections (useful context when a later check fails). */
static inline void test_print_sections(rtdyld_linker *linker, uint32_t object_id)
{
  uint32_t count = 0;
  CHECK_OK(linker, rtdyld_linker_object_section_count(linker, object_id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(linker, rtdyld_linker_object_section(linker, object_id, i, &info));
    printf("  object %u section %u: id %u %-24s %-9s size %-6llu local %p target 0x%llx\n",
           (unsigned)object_id, (unsigned)i, (unsigned)info.section_id,
           info.name ? info.name : "(null)", test_kind_name(info.kind),
           (unsigned long long)info.size, (void *)info.local_address,
           (unsigned long long)info.target_address);
  }
}

#endif /* RTDYLD_TEST_RTDYLD_H */
