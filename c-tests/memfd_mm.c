/* Dual-mapping memfd memory manager; see memfd_mm.h. */
#include "memfd_mm.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static size_t align_up(size_t value, size_t alignment)
{
  return (value + alignment - 1) / alignment * alignment;
}

void memfd_mm_init(memfd_mm *mm, size_t code_size, size_t data_size)
{
  memset(mm, 0, sizeof *mm);
  mm->code_size = align_up(code_size, page_size());
  mm->data_size = align_up(data_size, page_size());
  mm->fd = memfd_create("rtdyld-test-jit", MFD_CLOEXEC);
  if (mm->fd < 0)
    FAIL("memfd_create: %s", strerror(errno));
  if (ftruncate(mm->fd, (off_t)(mm->code_size + mm->data_size)) != 0)
    FAIL("ftruncate: %s", strerror(errno));
  void *local = mmap(NULL, mm->code_size + mm->data_size, PROT_READ | PROT_WRITE,
                     MAP_SHARED, mm->fd, 0);
  if (local == MAP_FAILED)
    FAIL("mmap local view: %s", strerror(errno));
  mm->local = local;
  memfd_mm_add_view(mm);
}

size_t memfd_mm_add_view(memfd_mm *mm)
{
  if (mm->view_count == MEMFD_MM_MAX_VIEWS)
    FAIL("too many memfd views");
  size_t total = mm->code_size + mm->data_size;
  void *view = mmap(NULL, total, PROT_READ, MAP_SHARED, mm->fd, 0);
  if (view == MAP_FAILED)
    FAIL("mmap target view: %s", strerror(errno));
  /* Data stays writable in the target view: JIT code writes its globals. */
  if (mprotect((uint8_t *)view + mm->code_size, mm->data_size, PROT_READ | PROT_WRITE) != 0)
    FAIL("mprotect target data part: %s", strerror(errno));
  mm->views[mm->view_count] = view;
  return mm->view_count++;
}

uint64_t memfd_mm_target(const memfd_mm *mm, size_t view, const void *local)
{
  if (view >= mm->view_count)
    FAIL("no memfd view %zu", view);
  if (!memfd_mm_is_local(mm, local))
    FAIL("%p is not in the local view", local);
  size_t offset = (size_t)((const uint8_t *)local - mm->local);
  return (uint64_t)(uintptr_t)(mm->views[view] + offset);
}

int memfd_mm_view_of(const memfd_mm *mm, uint64_t target, bool *in_code)
{
  for (size_t v = 0; v < mm->view_count; v++) {
    uint64_t base = (uint64_t)(uintptr_t)mm->views[v];
    if (target >= base && target < base + mm->code_size + mm->data_size) {
      if (in_code)
        *in_code = target < base + mm->code_size;
      return (int)v;
    }
  }
  return -1;
}

bool memfd_mm_is_local(const memfd_mm *mm, const void *p)
{
  const uint8_t *b = p;
  return b >= mm->local && b < mm->local + mm->code_size + mm->data_size;
}

/* Bump-allocate `size` bytes aligned to `alignment` from one part; returns
 * the local address, or NULL (with a message) when the part is full. */
static uint8_t *bump(memfd_mm *mm, size_t part_offset, size_t part_size, size_t *used,
                     uintptr_t size, uint32_t alignment, const char *section_name)
{
  if (alignment == 0)
    alignment = 1;
  if (alignment > page_size() || (alignment & (alignment - 1)) != 0) {
    fprintf(stderr, "memfd_mm: unsupported alignment %u for %s\n", (unsigned)alignment,
            section_name ? section_name : "(null)");
    return NULL;
  }
  size_t offset = align_up(*used, alignment);
  if (offset + size > part_size) {
    fprintf(stderr, "memfd_mm: out of space for %s (%zu bytes)\n",
            section_name ? section_name : "(null)", (size_t)size);
    return NULL;
  }
  *used = offset + size;
  return mm->local + part_offset + offset;
}

static uint8_t *mm_allocate_code(void *ctx, uintptr_t size, uint32_t alignment,
                                 uint32_t section_id, const char *section_name)
{
  memfd_mm *mm = ctx;
  (void)section_id;
  mm->allocate_code_calls++;
  return bump(mm, 0, mm->code_size, &mm->code_used, size, alignment, section_name);
}

static uint8_t *mm_allocate_data(void *ctx, uintptr_t size, uint32_t alignment,
                                 uint32_t section_id, const char *section_name, bool is_read_only)
{
  memfd_mm *mm = ctx;
  (void)section_id;
  (void)is_read_only; /* the data part is RW in every view */
  mm->allocate_data_calls++;
  return bump(mm, mm->code_size, mm->data_size, &mm->data_used, size, alignment, section_name);
}

/* Make the code part executable (read-only) in every target view, including
 * views added since the last finalize. */
static int mm_finalize(void *ctx, char *error_buf, uintptr_t error_buf_len)
{
  memfd_mm *mm = ctx;
  mm->finalize_calls++;
  for (size_t v = 0; v < mm->view_count; v++) {
    if (mprotect(mm->views[v], mm->code_size, PROT_READ | PROT_EXEC) != 0) {
      snprintf(error_buf, error_buf_len, "memfd_mm: mprotect view %zu RX: %s", v, strerror(errno));
      return 1;
    }
  }
  return 0;
}

static void mm_destroy(void *ctx)
{
  memfd_mm *mm = ctx;
  mm->destroy_calls++;
  size_t total = mm->code_size + mm->data_size;
  for (size_t v = 0; v < mm->view_count; v++)
    munmap(mm->views[v], total);
  munmap(mm->local, total);
  close(mm->fd);
  mm->view_count = 0;
  mm->local = NULL;
  mm->fd = -1;
}

rtdyld_memory_manager memfd_mm_callbacks(memfd_mm *mm)
{
  rtdyld_memory_manager cb;
  memset(&cb, 0, sizeof cb);
  cb.struct_size = (uint32_t)sizeof cb;
  cb.ctx = mm;
  cb.allocate_code = mm_allocate_code;
  cb.allocate_data = mm_allocate_data;
  cb.reserve = NULL;
  cb.finalize = mm_finalize;
  cb.make_writable = NULL; /* rtdyld writes through the always-writable local view */
  cb.destroy = mm_destroy;
  return cb;
}
