/* custom_memory_manager: a bump allocator that depends on the reserve
 * callback.
 *
 * reserve maps one region per object, big enough for the three announced
 * totals (code, read-only data, read-write data, each part page-aligned);
 * allocations are carved from the parts of that region, and each one must fit
 * within what reserve announced (otherwise the test fails). finalize makes
 * code PROT_READ|PROT_EXEC and read-only data PROT_READ; make_writable undoes
 * that for a later finalize. destroy unmaps everything and must be called
 * exactly once, by rtdyld_linker_free. Every callback is counted.
 *
 * Also: a refused reserve fails the load cleanly (the same object then loads),
 * and a failing finalize callback's message reaches rtdyld_linker_last_error.
 *
 * usage: custom_memory_manager <jit_module.o> <second.o> */
#include <sys/mman.h>
#include <unistd.h>

#include "test_rtdyld.h"

enum { PART_CODE, PART_RO, PART_RW, PART_COUNT };
static const char *const part_names[PART_COUNT] = { "code", "ro-data", "rw-data" };

typedef struct part {
  uint8_t *start;
  size_t size;       /* announced total, rounded up to a page */
  size_t announced;  /* what reserve announced */
  uint32_t alignment;
  size_t used;
} part;

typedef struct region {
  uint8_t *base;
  size_t size;
  part parts[PART_COUNT];
} region;

#define MAX_REGIONS 8
typedef struct bump_mm {
  region regions[MAX_REGIONS];
  size_t region_count;
  /* test controls */
  bool refuse_next_reserve;
  bool fail_next_finalize;
  /* set when a callback saw something wrong (message already printed) */
  bool violation;
  /* call counters */
  unsigned reserve_calls;
  unsigned allocate_code_calls;
  unsigned allocate_data_calls;
  unsigned finalize_calls;
  unsigned make_writable_calls;
  unsigned destroy_calls;
} bump_mm;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static size_t align_up(size_t value, size_t alignment)
{
  return (value + alignment - 1) / alignment * alignment;
}

static void violation(bump_mm *mm, const char *what, const char *section_name)
{
  fprintf(stderr, "bump_mm: %s (section %s)\n", what, section_name ? section_name : "(null)");
  mm->violation = true;
}

static int mm_reserve(void *ctx, uintptr_t code_size, uint32_t code_alignment,
                      uintptr_t ro_data_size, uint32_t ro_data_alignment,
                      uintptr_t rw_data_size, uint32_t rw_data_alignment)
{
  bump_mm *mm = ctx;
  mm->reserve_calls++;
  printf("  reserve(code %zu/%u, ro %zu/%u, rw %zu/%u)\n", (size_t)code_size,
         (unsigned)code_alignment, (size_t)ro_data_size, (unsigned)ro_data_alignment,
         (size_t)rw_data_size, (unsigned)rw_data_alignment);
  if (mm->refuse_next_reserve) {
    mm->refuse_next_reserve = false;
    return 1;
  }
  if (mm->region_count == MAX_REGIONS) {
    violation(mm, "too many reserve calls", NULL);
    return 1;
  }
  const uintptr_t sizes[PART_COUNT] = { code_size, ro_data_size, rw_data_size };
  const uint32_t aligns[PART_COUNT] = { code_alignment, ro_data_alignment, rw_data_alignment };
  region *r = &mm->regions[mm->region_count];
  memset(r, 0, sizeof *r);
  size_t total = 0;
  for (int p = 0; p < PART_COUNT; p++) {
    if (aligns[p] > page_size()) {
      violation(mm, "alignment above the page size is not supported by this manager", NULL);
      return 1;
    }
    r->parts[p].announced = sizes[p];
    r->parts[p].alignment = aligns[p] ? aligns[p] : 1;
    r->parts[p].size = align_up(sizes[p], page_size());
    total += r->parts[p].size;
  }
  r->size = total ? total : page_size();
  void *base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    violation(mm, "mmap failed", NULL);
    return 1;
  }
  r->base = base;
  size_t offset = 0;
  for (int p = 0; p < PART_COUNT; p++) {
    r->parts[p].start = r->base + offset;
    offset += r->parts[p].size;
  }
  mm->region_count++;
  return 0;
}

/* Carve from a part of the region reserved for the current object. */
static uint8_t *carve(bump_mm *mm, int p, uintptr_t size, uint32_t alignment, const char *name)
{
  if (mm->region_count == 0) {
    violation(mm, "allocation before any reserve call", name);
    return NULL;
  }
  part *pt = &mm->regions[mm->region_count - 1].parts[p];
  if (alignment == 0)
    alignment = 1;
  if (alignment > pt->alignment) {
    fprintf(stderr, "bump_mm: %s section %s wants alignment %u, reserve announced %u\n",
            part_names[p], name ? name : "(null)", (unsigned)alignment, (unsigned)pt->alignment);
    violation(mm, "alignment above the announced one", name);
    return NULL;
  }
  size_t offset = align_up(pt->used, alignment);
  if (offset + size > pt->announced) {
    fprintf(stderr, "bump_mm: %s section %s: %zu bytes at offset %zu exceed the %zu announced\n",
            part_names[p], name ? name : "(null)", (size_t)size, offset, pt->announced);
    violation(mm, "allocation does not fit in what reserve announced", name);
    return NULL;
  }
  pt->used = offset + size;
  return pt->start + offset;
}

static uint8_t *mm_allocate_code(void *ctx, uintptr_t size, uint32_t alignment,
                                 uint32_t section_id, const char *section_name)
{
  bump_mm *mm = ctx;
  (void)section_id;
  mm->allocate_code_calls++;
  return carve(mm, PART_CODE, size, alignment, section_name);
}

static uint8_t *mm_allocate_data(void *ctx, uintptr_t size, uint32_t alignment,
                                 uint32_t section_id, const char *section_name, bool is_read_only)
{
  bump_mm *mm = ctx;
  (void)section_id;
  mm->allocate_data_calls++;
  return carve(mm, is_read_only ? PART_RO : PART_RW, size, alignment, section_name);
}

static int mm_finalize(void *ctx, char *error_buf, uintptr_t error_buf_len)
{
  bump_mm *mm = ctx;
  mm->finalize_calls++;
  if (mm->fail_next_finalize) {
    mm->fail_next_finalize = false;
    snprintf(error_buf, error_buf_len, "bump_mm: finalize refused on purpose");
    return 1;
  }
  for (size_t i = 0; i < mm->region_count; i++) {
    region *r = &mm->regions[i];
    if (r->parts[PART_CODE].size &&
        mprotect(r->parts[PART_CODE].start, r->parts[PART_CODE].size, PROT_READ | PROT_EXEC) != 0) {
      snprintf(error_buf, error_buf_len, "bump_mm: mprotect code RX: %s", strerror(errno));
      return 1;
    }
    if (r->parts[PART_RO].size &&
        mprotect(r->parts[PART_RO].start, r->parts[PART_RO].size, PROT_READ) != 0) {
      snprintf(error_buf, error_buf_len, "bump_mm: mprotect ro-data R: %s", strerror(errno));
      return 1;
    }
  }
  return 0;
}

/* Make the pages under [local_address, +size) writable again. The parts are
 * page-aligned, so this never touches another part. */
static int mm_make_writable(void *ctx, uint8_t *local_address, uintptr_t size, uint32_t section_id)
{
  bump_mm *mm = ctx;
  (void)section_id;
  mm->make_writable_calls++;
  uintptr_t start = (uintptr_t)local_address & ~(uintptr_t)(page_size() - 1);
  uintptr_t end = align_up((uintptr_t)local_address + size, page_size());
  if (end == start)
    return 0;
  return mprotect((void *)start, end - start, PROT_READ | PROT_WRITE) == 0 ? 0 : 1;
}

static void mm_destroy(void *ctx)
{
  bump_mm *mm = ctx;
  mm->destroy_calls++;
  for (size_t i = 0; i < mm->region_count; i++)
    munmap(mm->regions[i].base, mm->regions[i].size);
  mm->region_count = 0;
}

/* Which part of which region holds p; returns the part or -1. */
static int find_part(const bump_mm *mm, const void *p, size_t *region_out)
{
  const uint8_t *b = p;
  for (size_t i = 0; i < mm->region_count; i++) {
    for (int k = 0; k < PART_COUNT; k++) {
      const part *pt = &mm->regions[i].parts[k];
      if (b >= pt->start && b < pt->start + pt->size) {
        if (region_out)
          *region_out = i;
        return k;
      }
    }
  }
  return -1;
}

/* Every allocated section of the object lies in the part matching its kind,
 * in region `expected_region`. */
static void check_sections(rtdyld_linker *linker, const bump_mm *mm, uint32_t object_id,
                           size_t expected_region)
{
  uint32_t count = 0;
  CHECK_OK(linker, rtdyld_linker_object_section_count(linker, object_id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(linker, rtdyld_linker_object_section(linker, object_id, i, &info));
    if (info.local_address == NULL || info.size == 0)
      continue;
    /* The default mapping: target address = local address. */
    CHECK_EQ(info.target_address, (uint64_t)(uintptr_t)info.local_address);
    int expected = info.kind == RTDYLD_SECTION_KIND_CODE      ? PART_CODE
                   : info.kind == RTDYLD_SECTION_KIND_RO_DATA ? PART_RO
                                                              : PART_RW;
    size_t r = 0;
    int actual = find_part(mm, info.local_address, &r);
    if (actual != expected || r != expected_region)
      FAIL("section %s (%s) at %p: expected in the %s part of region %zu, found part %d region %zu",
           info.name, test_kind_name(info.kind), (void *)info.local_address,
           part_names[expected], expected_region, actual, r);
  }
}

static int host_add(int a, int b) { return a + b; }

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: %s <jit_module.o> <second.o>\n", argv[0]);
    return 2;
  }
  bump_mm mm;
  memset(&mm, 0, sizeof mm);
  rtdyld_memory_manager callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.struct_size = (uint32_t)sizeof callbacks;
  callbacks.ctx = &mm;
  callbacks.allocate_code = mm_allocate_code;
  callbacks.allocate_data = mm_allocate_data;
  callbacks.reserve = mm_reserve;
  callbacks.finalize = mm_finalize;
  callbacks.make_writable = mm_make_writable;
  callbacks.destroy = mm_destroy;

  rtdyld_linker *linker = NULL;
  CHECK_OK(linker, rtdyld_linker_new_with_memory_manager(&callbacks, &linker));
  /* The struct was copied: changing ours must not matter. */
  memset(&callbacks, 0, sizeof callbacks);

  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_add));
  CHECK_OK(linker, rtdyld_linker_set_resolver(linker, test_resolve, &resolver));

  size_t len = 0;
  uint8_t *data = test_read_file(argv[1], &len);

  /* 1. A refused reserve fails the load, before any allocation. */
  mm.refuse_next_reserve = true;
  CHECK_FAILS(linker, rtdyld_linker_load_object(linker, data, len, argv[1], NULL),
              RTDYLD_RESULT_MEMORY_MANAGER);
  printf("refused reserve: %s\n", rtdyld_linker_last_error(linker));
  CHECK_EQ(mm.reserve_calls, 1);
  CHECK_EQ(mm.allocate_code_calls + mm.allocate_data_calls, 0);

  /* 2. The same object then loads (the failed load left nothing behind). */
  uint32_t first = UINT32_MAX;
  CHECK_OK(linker, rtdyld_linker_load_object(linker, data, len, argv[1], &first));
  free(data);
  CHECK(!mm.violation);
  CHECK_EQ(mm.reserve_calls, 2);
  CHECK_EQ(mm.region_count, 1);
  CHECK(mm.allocate_code_calls >= 2); /* several code sections + stubs */
  check_sections(linker, &mm, first, 0);

  CHECK_EQ(mm.finalize_calls, 0);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 1);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(linker, "fx_add"))(2, 3), 1005);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_twice"))(4), 2016);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_table"))(0), 10);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_bump"))(), 43);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(linker, "fx_op"))(6, 7), 13);
  CHECK_EQ(find_part(&mm, (void *)(uintptr_t)test_lookup(linker, "fx_add"), NULL), PART_CODE);
  CHECK_EQ(find_part(&mm, (void *)(uintptr_t)test_lookup(linker, "table"), NULL), PART_RO);
  CHECK_EQ(find_part(&mm, (void *)(uintptr_t)test_lookup(linker, "counter"), NULL), PART_RW);

  /* 3. A second object: its own reserve and region; it calls into the first. */
  uint32_t second = test_load_file(linker, argv[2]);
  CHECK(!mm.violation);
  CHECK(second != first);
  CHECK_EQ(mm.reserve_calls, 3);
  CHECK_EQ(mm.region_count, 2);
  check_sections(linker, &mm, second, 1);

  /* 4. A failing finalize callback: its message reaches last_error. */
  mm.fail_next_finalize = true;
  CHECK_FAILS(linker, rtdyld_linker_finalize(linker), RTDYLD_RESULT_MEMORY_MANAGER);
  if (!strstr(rtdyld_linker_last_error(linker), "finalize refused on purpose"))
    FAIL("last error does not carry the callback's message: %s", rtdyld_linker_last_error(linker));
  CHECK_EQ(mm.finalize_calls, 2);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 3);

  CHECK_EQ(AS_FN(fn_int_int3, test_lookup(linker, "sx_add3"))(1, 2, 3), 2006);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(linker, "sx_sum_zeros"))(), 0);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(linker, "sx_fill"))(2), 1024);
  CHECK_EQ(find_part(&mm, (void *)(uintptr_t)test_lookup(linker, "sx_zeros"), NULL), PART_RW);
  /* The first object still works. */
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_counter"))(), 43);

  CHECK(!mm.violation);
  printf("calls: reserve %u, allocate_code %u, allocate_data %u, finalize %u, make_writable %u\n",
         mm.reserve_calls, mm.allocate_code_calls, mm.allocate_data_calls, mm.finalize_calls,
         mm.make_writable_calls);
  for (size_t i = 0; i < mm.region_count; i++)
    for (int p = 0; p < PART_COUNT; p++)
      printf("  region %zu %-7s: used %zu of %zu announced\n", i, part_names[p],
             mm.regions[i].parts[p].used, mm.regions[i].parts[p].announced);

  /* 5. destroy runs exactly once, from rtdyld_linker_free. */
  CHECK_EQ(mm.destroy_calls, 0);
  rtdyld_linker_free(linker);
  CHECK_EQ(mm.destroy_calls, 1);
  printf("custom_memory_manager: OK\n");
  return 0;
}
