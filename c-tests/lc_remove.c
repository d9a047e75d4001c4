/* lc_remove: removing objects through the C API (issue 3, point 6).
 *
 * A memory manager of this file's own maps every section separately
 * (mmap, page-rounded), records it with its section id, and has a
 * `release` callback that unmaps it and counts the bytes released per
 * section; destroy unmaps whatever is left. Objects: strong.o (pick() = 2,
 * strong_only, strong_table[64]), weak.o (weak pick() = 1), user.o
 * (use_pick() = pick() * 10). Checked:
 *   - use_pick() = 20 after the first finalize;
 *   - remove_object(strong) calls release once for each of strong.o's
 *     sections with its local address and size, and for nothing else
 *     (released bytes = the sum of its section sizes); its symbols are
 *     withdrawn: lookup of strong_only fails with RTDYLD_RESULT_NOT_FOUND,
 *     its section list too, and removing it again is NOT_FOUND; lookup of
 *     pick now gives weak.o's definition;
 *   - the next finalize relinks user.o to weak.o's pick: use_pick() = 10;
 *   - remove_object(weak): the next finalize fails with
 *     RTDYLD_RESULT_UNRESOLVED_SYMBOL naming pick (and user.o); after the
 *     resolver learns pick (a host function returning 7) it succeeds and
 *     use_pick() = 70;
 *   - strong.o loaded again gets a new id, and use_pick() = 20 again;
 *   - removing an id never given out is NOT_FOUND;
 *   - rtdyld_linker_free calls destroy once, which unmaps the rest: every
 *     allocation is released exactly once, by release or by destroy.
 *
 * usage: lc_remove <strong.o> <weak.o> <user.o> */
#include <sys/mman.h>
#include <unistd.h>

#include "lc_util.h"

/* ---- a memory manager with one mapping per section ---- */

#define MAX_ALLOCS 64
typedef struct alloc {
  uint8_t *address;
  size_t size;       /* as requested */
  size_t mapped;     /* page-rounded */
  uint32_t section_id;
  bool is_code, is_read_only;
  bool released;     /* by the release callback */
} alloc;

typedef struct section_mm {
  alloc allocs[MAX_ALLOCS];
  size_t count;
  bool violation;
  unsigned release_calls, make_writable_calls, finalize_calls, destroy_calls;
  size_t released_bytes;
  size_t destroyed_allocs; /* unmapped by destroy */
} section_mm;

static uint8_t *mm_alloc(section_mm *mm, size_t size, uint32_t alignment, uint32_t section_id,
                         bool is_code, bool is_read_only)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (mm->count == MAX_ALLOCS || alignment > page) {
    fprintf(stderr, "section_mm: cannot allocate section %u\n", (unsigned)section_id);
    mm->violation = true;
    return NULL;
  }
  size_t mapped = size ? (size + page - 1) / page * page : page;
  void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  alloc *a = &mm->allocs[mm->count++];
  memset(a, 0, sizeof *a);
  a->address = p;
  a->size = size;
  a->mapped = mapped;
  a->section_id = section_id;
  a->is_code = is_code;
  a->is_read_only = is_read_only;
  return p;
}

static uint8_t *mm_allocate_code(void *ctx, size_t size, uint32_t alignment, uint32_t section_id,
                                 const char *name)
{
  (void)name;
  return mm_alloc(ctx, size, alignment, section_id, true, false);
}

static uint8_t *mm_allocate_data(void *ctx, size_t size, uint32_t alignment, uint32_t section_id,
                                 const char *name, bool is_read_only)
{
  (void)name;
  return mm_alloc(ctx, size, alignment, section_id, false, is_read_only);
}

static int mm_finalize(void *ctx, char *error_buf, size_t error_buf_len)
{
  section_mm *mm = ctx;
  mm->finalize_calls++;
  for (size_t i = 0; i < mm->count; i++) {
    alloc *a = &mm->allocs[i];
    if (a->released)
      continue;
    int prot = a->is_code ? PROT_READ | PROT_EXEC
             : a->is_read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    if (mprotect(a->address, a->mapped, prot) != 0) {
      snprintf(error_buf, error_buf_len, "mprotect: %s", strerror(errno));
      return 1;
    }
  }
  return 0;
}

static alloc *find_alloc(section_mm *mm, const uint8_t *address, uint32_t section_id)
{
  for (size_t i = 0; i < mm->count; i++) {
    if (mm->allocs[i].address == address && mm->allocs[i].section_id == section_id)
      return &mm->allocs[i];
  }
  return NULL;
}

static int mm_make_writable(void *ctx, uint8_t *address, size_t size, uint32_t section_id)
{
  section_mm *mm = ctx;
  mm->make_writable_calls++;
  alloc *a = find_alloc(mm, address, section_id);
  if (!a || a->released || size != a->size) {
    fprintf(stderr, "section_mm: make_writable of an unknown section %u\n", (unsigned)section_id);
    mm->violation = true;
    return 1;
  }
  return mprotect(a->address, a->mapped, PROT_READ | PROT_WRITE) == 0 ? 0 : 1;
}

static int mm_release(void *ctx, uint8_t *address, size_t size, uint32_t section_id)
{
  section_mm *mm = ctx;
  mm->release_calls++;
  alloc *a = find_alloc(mm, address, section_id);
  if (!a || a->released || size != a->size) {
    fprintf(stderr, "section_mm: bad release of section %u at %p (%zu bytes)\n",
            (unsigned)section_id, (void *)address, size);
    mm->violation = true;
    return 1;
  }
  a->released = true;
  mm->released_bytes += size;
  return munmap(a->address, a->mapped) == 0 ? 0 : 1;
}

static void mm_destroy(void *ctx)
{
  section_mm *mm = ctx;
  mm->destroy_calls++;
  for (size_t i = 0; i < mm->count; i++) {
    if (!mm->allocs[i].released) {
      munmap(mm->allocs[i].address, mm->allocs[i].mapped);
      mm->destroyed_allocs++;
    }
  }
}

/* ---- the test ---- */

static long host_pick(void) { return 7; }

typedef struct object_sections {
  uint32_t count;
  uint32_t ids[32];
  uint8_t *local[32];
  uint64_t size[32];
  uint64_t total; /* bytes of the sections that have memory */
} object_sections;

static object_sections sections_of(rtdyld_linker *l, uint32_t id)
{
  object_sections s;
  memset(&s, 0, sizeof s);
  CHECK_OK(l, rtdyld_linker_object_section_count(l, id, &s.count));
  CHECK(s.count <= 32);
  for (uint32_t i = 0; i < s.count; i++) {
    rtdyld_section_info info;
    CHECK_OK(l, rtdyld_linker_object_section(l, id, i, &info));
    s.ids[i] = info.section_id;
    s.local[i] = info.local_address;
    s.size[i] = info.size;
    s.total += info.size;
  }
  return s;
}

/* Remove `id` and check that exactly its sections were released. */
static void remove_and_check_release(rtdyld_linker *l, section_mm *mm, uint32_t id, const char *name)
{
  object_sections s = sections_of(l, id);
  unsigned calls_before = mm->release_calls;
  size_t bytes_before = mm->released_bytes;
  CHECK_OK(l, rtdyld_linker_remove_object(l, id));
  CHECK(!mm->violation);
  printf("removed %s (object %u): %u sections, %zu bytes released\n", name, (unsigned)id,
         mm->release_calls - calls_before, mm->released_bytes - bytes_before);
  CHECK_EQ(mm->release_calls - calls_before, s.count);
  CHECK_EQ(mm->released_bytes - bytes_before, s.total);
  CHECK(s.total > 0);
  for (uint32_t i = 0; i < s.count; i++) {
    alloc *a = find_alloc(mm, s.local[i], s.ids[i]);
    CHECK(a != NULL);
    CHECK(a->released);
    CHECK_EQ(a->size, s.size[i]);
  }
  uint32_t count = 0;
  CHECK_FAILS(l, rtdyld_linker_object_section_count(l, id, &count), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(l, rtdyld_linker_remove_object(l, id), RTDYLD_RESULT_NOT_FOUND);
}

int main(int argc, char **argv)
{
  if (argc != 4)
    FAIL("usage: lc_remove <strong.o> <weak.o> <user.o>");
  static section_mm mm;
  rtdyld_memory_manager callbacks = {
    .struct_size = sizeof(rtdyld_memory_manager),
    .ctx = &mm,
    .allocate_code = mm_allocate_code,
    .allocate_data = mm_allocate_data,
    .finalize = mm_finalize,
    .make_writable = mm_make_writable,
    .destroy = mm_destroy,
    .release = mm_release,
  };
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new_with_memory_manager(&callbacks, &l));
  test_resolver resolver = { 0 };
  CHECK_OK(l, rtdyld_linker_set_resolver(l, test_resolve, &resolver));

  uint32_t strong = test_load_file(l, argv[1]);
  uint32_t weak = test_load_file(l, argv[2]);
  uint32_t user = test_load_file(l, argv[3]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  fn_long_void use_pick = AS_FN(fn_long_void, test_lookup(l, "use_pick"));
  CHECK_EQ(use_pick(), 20);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "strong_only"))(), 3);
  CHECK_EQ(mm.release_calls, 0);

  /* Remove the strong definition: the weak one takes over. */
  remove_and_check_release(l, &mm, strong, "strong.o");
  uint64_t addr = 0;
  CHECK_FAILS(l, rtdyld_linker_lookup(l, "strong_only", &addr), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(l, rtdyld_linker_lookup(l, "strong_table", &addr), RTDYLD_RESULT_NOT_FOUND);
  uint32_t nsyms = 0;
  CHECK_OK(l, rtdyld_linker_object_symbol_count(l, weak, &nsyms));
  CHECK_EQ(nsyms, 1);
  rtdyld_symbol_info weak_pick;
  CHECK_OK(l, rtdyld_linker_object_symbol(l, weak, 0, &weak_pick));
  CHECK(strcmp(weak_pick.name, "pick") == 0);
  CHECK(weak_pick.is_weak && weak_pick.is_active);
  CHECK_EQ(test_lookup(l, "pick"), weak_pick.target_address);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(use_pick(), 10);

  /* Remove the weak one too: user.o's reference is unresolved. */
  remove_and_check_release(l, &mm, weak, "weak.o");
  CHECK_FAILS(l, rtdyld_linker_lookup(l, "pick", &addr), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(l, rtdyld_linker_finalize(l), RTDYLD_RESULT_UNRESOLVED_SYMBOL);
  const char *msg = rtdyld_linker_last_error(l);
  printf("finalize without pick: %s\n", msg);
  CHECK(strstr(msg, "pick") != NULL);
  CHECK(strstr(msg, "lc_remove_user") != NULL);
  CHECK_FAILS(l, rtdyld_linker_finalize(l), RTDYLD_RESULT_UNRESOLVED_SYMBOL);
  test_resolver_set(&resolver, "pick", FN_ADDR(host_pick));
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(use_pick(), 70);

  /* A new strong definition: a new id, and user.o follows it again. */
  uint32_t strong2 = test_load_file(l, argv[1]);
  CHECK(strong2 != strong && strong2 != weak && strong2 != user);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(use_pick(), 20);

  CHECK_FAILS(l, rtdyld_linker_remove_object(l, 1000), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(l, rtdyld_linker_remove_object(l, UINT32_MAX), RTDYLD_RESULT_NOT_FOUND);
  CHECK(!mm.violation);

  unsigned released = mm.release_calls;
  rtdyld_linker_free(l);
  CHECK_EQ(mm.destroy_calls, 1);
  CHECK_EQ(mm.release_calls, released); /* freeing the linker goes through destroy */
  CHECK_EQ(mm.release_calls + mm.destroyed_allocs, mm.count);
  CHECK(!mm.violation);
  printf("allocations: %zu, released by release %u, by destroy %zu\n", mm.count,
         mm.release_calls, mm.destroyed_allocs);
  printf("lc_remove: OK\n");
  return 0;
}
