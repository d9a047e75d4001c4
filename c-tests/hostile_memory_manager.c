/* hostile_memory_manager: a memory manager that fails in every way the
 * protocol allows, one way at a time, and a check after each that rtdyld
 * reported it cleanly and stays usable.
 *
 * The manager maps every allocation with its own mmap and tracks the blocks;
 * destroy unmaps them all, so valgrind and ASan see any leak, and the test
 * checks that destroy ran exactly once and left nothing mapped. Failures:
 *   - allocate_code / allocate_data returning NULL at the first, a middle
 *     and the last allocation of an object, and at the first code and the
 *     first data one;
 *   - a misaligned pointer;
 *   - a reserve that refuses;
 *   - a finalize that fails with a message (which must reach
 *     rtdyld_linker_last_error), also after it already protected the pages;
 *   - make_writable failing during a re-finalize after a remap.
 * Each must give RTDYLD_RESULT_MEMORY_MANAGER with a message naming the
 * object or section. Afterwards the same linker, with the manager behaving
 * again, loads, finalizes and runs a good object; one linker is instead
 * freed right after its failure.
 *
 * usage: hostile_memory_manager <jit_module.o> */
#include <sys/mman.h>
#include <unistd.h>

#include "test_rtdyld.h"

enum { KIND_CODE, KIND_RO, KIND_RW };

typedef struct block {
  uint8_t *map;      /* what mmap returned */
  size_t map_len;
  uint8_t *ptr;      /* what rtdyld got */
  size_t size;
  int kind;
  uint32_t section_id;
} block;

#define MAX_BLOCKS 256
typedef struct hostile_mm {
  block blocks[MAX_BLOCKS];
  size_t block_count;
  size_t mapped;               /* blocks currently mapped */
  /* Failure plan. Allocation indices count from the object's reserve. */
  int null_at;                 /* allocation index that returns NULL, or -1 */
  bool null_first_data;        /* the first allocate_data returns NULL */
  bool null_first_code;        /* the first allocate_code returns NULL */
  bool misalign_next;          /* the next allocation with alignment > 1 is off by one */
  bool refuse_reserve;
  bool fail_finalize;
  bool protect_before_failing; /* apply the protections, then fail */
  bool fail_make_writable;
  /* What happened. */
  unsigned alloc_index;
  unsigned data_allocs;
  unsigned code_allocs;
  char failed_section[128];
  unsigned make_writable_calls;
  unsigned destroy_calls;
  bool violation;
} hostile_mm;

static hostile_mm mm_state;

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void disarm(hostile_mm *mm)
{
  mm->null_at = -1;
  mm->null_first_data = false;
  mm->null_first_code = false;
  mm->misalign_next = false;
  mm->refuse_reserve = false;
  mm->fail_finalize = false;
  mm->protect_before_failing = false;
  mm->fail_make_writable = false;
  mm->failed_section[0] = '\0';
}

static int mm_reserve(void *ctx, size_t code_size, uint32_t code_alignment, size_t ro_size,
                      uint32_t ro_alignment, size_t rw_size, uint32_t rw_alignment)
{
  hostile_mm *mm = ctx;
  (void)code_size, (void)code_alignment, (void)ro_size, (void)ro_alignment;
  (void)rw_size, (void)rw_alignment;
  mm->alloc_index = 0;
  mm->data_allocs = 0;
  mm->code_allocs = 0;
  if (mm->refuse_reserve) {
    mm->refuse_reserve = false;
    return 7;
  }
  return 0;
}

static uint8_t *mm_allocate(hostile_mm *mm, size_t size, uint32_t alignment, uint32_t section_id,
                            const char *name, int kind)
{
  unsigned index = mm->alloc_index++;
  bool is_data = kind != KIND_CODE;
  if (is_data)
    mm->data_allocs++;
  else
    mm->code_allocs++;
  if ((mm->null_at >= 0 && index == (unsigned)mm->null_at) ||
      (mm->null_first_data && is_data && mm->data_allocs == 1) ||
      (mm->null_first_code && !is_data && mm->code_allocs == 1)) {
    snprintf(mm->failed_section, sizeof mm->failed_section, "%s", name);
    mm->null_at = -1;
    mm->null_first_data = false;
    mm->null_first_code = false;
    return NULL;
  }
  if (mm->block_count == MAX_BLOCKS) {
    fprintf(stderr, "hostile_mm: out of block slots\n");
    mm->violation = true;
    return NULL;
  }
  size_t page = page_size();
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    fprintf(stderr, "hostile_mm: bad alignment %u for %s\n", (unsigned)alignment, name);
    mm->violation = true;
    return NULL;
  }
  size_t extra = alignment > page ? alignment : 0;
  size_t len = (size + extra + 1 + page - 1) / page * page; /* +1: room to misalign */
  uint8_t *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    fprintf(stderr, "hostile_mm: mmap failed\n");
    mm->violation = true;
    return NULL;
  }
  uint8_t *p = (uint8_t *)(((uintptr_t)map + alignment - 1) / alignment * alignment);
  if (mm->misalign_next && alignment > 1) {
    mm->misalign_next = false;
    snprintf(mm->failed_section, sizeof mm->failed_section, "%s", name);
    p += 1;
  }
  mm->blocks[mm->block_count++] = (block){ map, len, p, size, kind, section_id };
  mm->mapped++;
  return p;
}

static uint8_t *mm_allocate_code(void *ctx, size_t size, uint32_t alignment, uint32_t section_id,
                                 const char *name)
{
  return mm_allocate(ctx, size, alignment, section_id, name, KIND_CODE);
}

static uint8_t *mm_allocate_data(void *ctx, size_t size, uint32_t alignment, uint32_t section_id,
                                 const char *name, bool read_only)
{
  return mm_allocate(ctx, size, alignment, section_id, name, read_only ? KIND_RO : KIND_RW);
}

static void protect_all(hostile_mm *mm)
{
  for (size_t i = 0; i < mm->block_count; i++) {
    block *b = &mm->blocks[i];
    if (!b->map)
      continue;
    int prot = b->kind == KIND_CODE ? PROT_READ | PROT_EXEC
             : b->kind == KIND_RO   ? PROT_READ
                                    : PROT_READ | PROT_WRITE;
    if (mprotect(b->map, b->map_len, prot) != 0) {
      fprintf(stderr, "hostile_mm: mprotect failed\n");
      mm->violation = true;
    }
  }
}

static int mm_finalize(void *ctx, char *error_buf, size_t error_buf_len)
{
  hostile_mm *mm = ctx;
  if (mm->fail_finalize) {
    mm->fail_finalize = false;
    if (mm->protect_before_failing)
      protect_all(mm);
    snprintf(error_buf, error_buf_len, "hostile finalize: the protection change was refused");
    return 3;
  }
  protect_all(mm);
  return 0;
}

static int mm_make_writable(void *ctx, uint8_t *local, size_t size, uint32_t section_id)
{
  hostile_mm *mm = ctx;
  mm->make_writable_calls++;
  block *found = NULL;
  for (size_t i = 0; i < mm->block_count; i++) {
    block *b = &mm->blocks[i];
    if (b->map && local >= b->ptr && local + size <= b->ptr + b->size)
      found = b;
  }
  if (!found || found->section_id != section_id) {
    fprintf(stderr, "hostile_mm: make_writable(%p, %zu, %u) is not a block of ours\n", (void *)local,
            size, (unsigned)section_id);
    mm->violation = true;
    return 1;
  }
  if (mm->fail_make_writable) {
    mm->fail_make_writable = false;
    return 5;
  }
  return mprotect(found->map, found->map_len, PROT_READ | PROT_WRITE) == 0 ? 0 : 1;
}

static void mm_destroy(void *ctx)
{
  hostile_mm *mm = ctx;
  mm->destroy_calls++;
  for (size_t i = 0; i < mm->block_count; i++) {
    block *b = &mm->blocks[i];
    if (b->map) {
      munmap(b->map, b->map_len);
      b->map = NULL;
      mm->mapped--;
    }
  }
  mm->block_count = 0;
}

/* ------------------------------------------------------------------------ */

static int host_add(int a, int b) { return a + b; }
static int host_op(int a, int b) { return a * b; }

static const char *good_path;
static test_resolver resolver;

static rtdyld_linker *new_linker(void)
{
  memset(&mm_state, 0, sizeof mm_state);
  disarm(&mm_state);
  rtdyld_memory_manager cb;
  memset(&cb, 0, sizeof cb);
  cb.struct_size = sizeof cb;
  cb.ctx = &mm_state;
  cb.allocate_code = mm_allocate_code;
  cb.allocate_data = mm_allocate_data;
  cb.reserve = mm_reserve;
  cb.finalize = mm_finalize;
  cb.make_writable = mm_make_writable;
  cb.destroy = mm_destroy;
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new_with_memory_manager(&cb, &l));
  CHECK_OK(l, rtdyld_linker_set_resolver(l, test_resolve, &resolver));
  return l;
}

static void free_linker(rtdyld_linker *l)
{
  rtdyld_linker_free(l);
  CHECK_EQ(mm_state.destroy_calls, 1);
  CHECK_EQ(mm_state.mapped, 0);
  CHECK(!mm_state.violation);
}

static void load_good(rtdyld_linker *l, rtdyld_result expected, const char *name)
{
  size_t len = 0;
  uint8_t *data = test_read_file(good_path, &len);
  rtdyld_result r = rtdyld_linker_load_object(l, data, len, name, NULL);
  free(data);
  if (r != expected)
    FAIL("loading %s: %s, expected %s: %s", name, rtdyld_result_name(r), rtdyld_result_name(expected),
         test_last_error(l));
}

static void expect_message(rtdyld_linker *l, const char *part)
{
  const char *msg = test_last_error(l);
  if (part[0] != '\0' && !strstr(msg, part))
    FAIL("the message \"%s\" does not name \"%s\"", msg, part);
}

/* With the manager behaving: load the good object (under a fresh name),
 * finalize and run it. */
static void check_recovers(rtdyld_linker *l, const char *name)
{
  disarm(&mm_state);
  load_good(l, RTDYLD_RESULT_OK, name);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_add"))(2, 3), 1005);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(l, "fx_twice"))(4), 2016);
  CHECK(!mm_state.violation);
}

/* How many allocations the good object needs. */
static unsigned count_allocations(void)
{
  rtdyld_linker *l = new_linker();
  load_good(l, RTDYLD_RESULT_OK, "count.o");
  unsigned n = mm_state.alloc_index;
  free_linker(l);
  return n;
}

static void null_allocation_at(int index, bool free_after)
{
  printf("allocation %d of the object returns NULL%s\n", index, free_after ? " (then free)" : "");
  rtdyld_linker *l = new_linker();
  mm_state.null_at = index;
  load_good(l, RTDYLD_RESULT_MEMORY_MANAGER, "hostile.o");
  expect_message(l, "hostile.o");
  expect_message(l, mm_state.failed_section);
  expect_message(l, "NULL");
  printf("  %s\n", test_last_error(l));
  if (!free_after)
    check_recovers(l, "good.o");
  free_linker(l);
}

int main(int argc, char **argv)
{
  if (argc != 2)
    FAIL("usage: %s <jit_module.o>", argv[0]);
  good_path = argv[1];
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_op));

  unsigned n = count_allocations();
  printf("the object needs %u allocations\n", n);
  CHECK(n >= 3);

  null_allocation_at(0, false);
  null_allocation_at((int)n / 2, false);
  null_allocation_at((int)n - 1, false);
  null_allocation_at((int)n - 1, true);

  for (int code = 0; code <= 1; code++) {
    printf("the first allocate_%s returns NULL\n", code ? "code" : "data");
    rtdyld_linker *l = new_linker();
    if (code)
      mm_state.null_first_code = true;
    else
      mm_state.null_first_data = true;
    load_good(l, RTDYLD_RESULT_MEMORY_MANAGER, "hostile.o");
    expect_message(l, "hostile.o");
    expect_message(l, mm_state.failed_section);
    printf("  %s\n", test_last_error(l));
    check_recovers(l, "good.o");
    free_linker(l);
  }
  {
    printf("a misaligned pointer\n");
    rtdyld_linker *l = new_linker();
    mm_state.misalign_next = true;
    load_good(l, RTDYLD_RESULT_MEMORY_MANAGER, "hostile.o");
    expect_message(l, "hostile.o");
    expect_message(l, mm_state.failed_section);
    expect_message(l, "misaligned");
    printf("  %s\n", test_last_error(l));
    check_recovers(l, "good.o");
    free_linker(l);
  }
  {
    printf("reserve refuses\n");
    rtdyld_linker *l = new_linker();
    mm_state.refuse_reserve = true;
    load_good(l, RTDYLD_RESULT_MEMORY_MANAGER, "hostile.o");
    expect_message(l, "hostile.o");
    expect_message(l, "reserve");
    printf("  %s\n", test_last_error(l));
    CHECK_EQ(mm_state.block_count, 0); /* nothing allocated after a refusal */
    check_recovers(l, "good.o");
    free_linker(l);
  }
  {
    printf("finalize fails with a message\n");
    rtdyld_linker *l = new_linker();
    load_good(l, RTDYLD_RESULT_OK, "first.o");
    mm_state.fail_finalize = true;
    CHECK_FAILS(l, rtdyld_linker_finalize(l), RTDYLD_RESULT_MEMORY_MANAGER);
    expect_message(l, "hostile finalize: the protection change was refused");
    printf("  %s\n", test_last_error(l));
    /* The same object links once the manager behaves; then a second one. */
    CHECK_OK(l, rtdyld_linker_finalize(l));
    CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_add"))(2, 3), 1005);
    free_linker(l);
  }
  {
    printf("finalize protects the pages, then fails; a remap follows\n");
    rtdyld_linker *l = new_linker();
    uint32_t obj = UINT32_MAX;
    size_t len = 0;
    uint8_t *data = test_read_file(good_path, &len);
    CHECK_OK(l, rtdyld_linker_load_object(l, data, len, "first.o", &obj));
    free(data);
    mm_state.fail_finalize = true;
    mm_state.protect_before_failing = true;
    CHECK_FAILS(l, rtdyld_linker_finalize(l), RTDYLD_RESULT_MEMORY_MANAGER);
    /* A changed resolver answer now forces writes into pages the failed
     * finalize left read-only or executable: rtdyld must ask make_writable
     * first rather than fault. */
    test_resolver_set(&resolver, "host_op", FN_ADDR(host_add));
    CHECK_OK(l, rtdyld_linker_refresh_external(l, "host_op"));
    unsigned before = mm_state.make_writable_calls;
    CHECK_OK(l, rtdyld_linker_finalize(l));
    CHECK(mm_state.make_writable_calls > before);
    CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_op"))(6, 7), 13);
    test_resolver_set(&resolver, "host_op", FN_ADDR(host_op));
    free_linker(l);
  }
  {
    printf("make_writable fails during a re-finalize\n");
    rtdyld_linker *l = new_linker();
    uint32_t obj = UINT32_MAX;
    size_t len = 0;
    uint8_t *data = test_read_file(good_path, &len);
    CHECK_OK(l, rtdyld_linker_load_object(l, data, len, "first.o", &obj));
    free(data);
    CHECK_OK(l, rtdyld_linker_finalize(l));
    /* Move a code section that others call (fx_add's): its callers must be
     * rewritten, which needs make_writable. */
    uint8_t *fx_add_local = test_lookup_local(l, "fx_add");
    uint32_t count = 0;
    CHECK_OK(l, rtdyld_linker_object_section_count(l, obj, &count));
    rtdyld_section_info moved;
    memset(&moved, 0, sizeof moved);
    bool found = false;
    for (uint32_t i = 0; i < count && !found; i++) {
      rtdyld_section_info s;
      CHECK_OK(l, rtdyld_linker_object_section(l, obj, i, &s));
      if (fx_add_local >= s.local_address && fx_add_local < s.local_address + s.size) {
        moved = s;
        found = true;
      }
    }
    CHECK(found);
    CHECK_OK(l, rtdyld_linker_map_section_id(l, moved.section_id, moved.target_address + 0x1000));
    mm_state.fail_make_writable = true;
    unsigned before = mm_state.make_writable_calls;
    CHECK_FAILS(l, rtdyld_linker_finalize(l), RTDYLD_RESULT_MEMORY_MANAGER);
    CHECK(mm_state.make_writable_calls > before);
    expect_message(l, "writable");
    printf("  %s\n", test_last_error(l));
    /* Back where it was, and everything runs again. */
    CHECK_OK(l, rtdyld_linker_map_section_id(l, moved.section_id, moved.target_address));
    CHECK_OK(l, rtdyld_linker_finalize(l));
    CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_add"))(2, 3), 1005);
    CHECK_EQ(AS_FN(fn_int_int, test_lookup(l, "fx_twice"))(4), 2016);
    free_linker(l);
  }
  CHECK(!mm_state.violation);
  printf("ok\n");
  return 0;
}
