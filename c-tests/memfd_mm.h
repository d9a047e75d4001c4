/* A dual-mapping memory manager over a memfd, for the map_section_address
 * and repeated_finalize tests.
 *
 * The memfd holds two page-aligned parts: code at offset 0 and data (read-only
 * and read-write alike) after it. It is mapped several times:
 *   - the local view: PROT_READ|PROT_WRITE, whole file. Allocations return
 *     local addresses and rtdyld writes only here, so make_writable is NULL.
 *   - target views (up to MEMFD_MM_MAX_VIEWS): code part PROT_READ until the
 *     finalize callback makes it PROT_READ|PROT_EXEC; data part
 *     PROT_READ|PROT_WRITE so that JIT code can write its globals.
 * No view is ever writable and executable. All views share the same pages,
 * so a write through one is visible through the others. */
#ifndef RTDYLD_TEST_MEMFD_MM_H
#define RTDYLD_TEST_MEMFD_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtdyld.h"

#define MEMFD_MM_MAX_VIEWS 4

typedef struct memfd_mm {
  int fd;
  size_t code_size;  /* size of the code part (page multiple), at offset 0 */
  size_t data_size;  /* size of the data part (page multiple), at code_size */
  uint8_t *local;    /* RW view of the whole file */
  uint8_t *views[MEMFD_MM_MAX_VIEWS];
  size_t view_count;
  size_t code_used;  /* bump pointers, offsets within each part */
  size_t data_used;
  /* call counters, checked by the tests */
  unsigned allocate_code_calls;
  unsigned allocate_data_calls;
  unsigned finalize_calls;
  unsigned destroy_calls;
} memfd_mm;

/* Create the memfd, the local view and target view 0. Exits on failure. */
void memfd_mm_init(memfd_mm *mm, size_t code_size, size_t data_size);

/* Map another target view (code part PROT_READ until the next finalize);
 * returns its index. */
size_t memfd_mm_add_view(memfd_mm *mm);

/* The target address in view `view` that corresponds to a local address. */
uint64_t memfd_mm_target(const memfd_mm *mm, size_t view, const void *local);

/* Which view a target address lies in and whether it is in the code part:
 * returns the view index, or -1 if the address is in no target view. */
int memfd_mm_view_of(const memfd_mm *mm, uint64_t target, bool *in_code);

/* True if `p` lies inside the local view. */
bool memfd_mm_is_local(const memfd_mm *mm, const void *p);

/* Callbacks for rtdyld_linker_new_with_memory_manager; ctx is mm, which must
 * outlive the linker. destroy unmaps everything and closes the memfd. */
rtdyld_memory_manager memfd_mm_callbacks(memfd_mm *mm);

#endif /* RTDYLD_TEST_MEMFD_MM_H */
