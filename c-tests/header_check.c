/* header_c / header_cxx: rtdyld.h compiles on its own, included twice, as
 * C11 and as C++17 (the same file is compiled as C++ by header_check.cpp).
 * Nothing is included before it. The test compiles this file with
 * -Wall -Wextra -Wpedantic -Werror. */
#include "rtdyld.h"
#include "rtdyld.h"

/* Use a few names so that a broken declaration is noticed. */
int rtdyld_header_check(void);
int rtdyld_header_check(void)
{
  rtdyld_memory_manager mm;
  rtdyld_result result = RTDYLD_RESULT_OK;
  rtdyld_section_kind kind = RTDYLD_SECTION_KIND_CODE;
  rtdyld_resolve_fn resolve = 0;
  rtdyld_linker *linker = 0;
  const char *(*version)(void) = rtdyld_version;
  (void)linker;
  (void)resolve;
  (void)version;
  mm.struct_size = (uint32_t)sizeof mm;
  return (int)(mm.struct_size + sizeof(rtdyld_section_info) + sizeof(rtdyld_symbol_info) + result + kind +
               RTDYLD_RESULT_PANIC + RTDYLD_SECTION_KIND_ZERO_FILL + RTDYLD_VERSION_MAJOR);
}
