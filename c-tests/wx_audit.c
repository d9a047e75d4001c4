/* wx_audit: no page is ever writable and executable at once with the
 * default memory manager.
 *
 * The process's memory map (/proc/self/maps) is read after every phase of
 * linking, from inside the resolver while rtdyld is working (loads ask it
 * for placement hints, finalizes for symbols), and continuously by a
 * sampler thread for the whole run. Any mapping that is writable and
 * executable at once fails the test if it overlaps memory rtdyld handed
 * out, or if it was not there before the test started (valgrind keeps its
 * own W+X code cache; under valgrind only rtdyld's memory is checked).
 * After each finalize, code sections must be r-x, read-only data r-- and
 * writable data rw-, found through rtdyld_linker_object_section.
 *
 * Phases: load two objects, finalize, run; move every section elsewhere
 * and finalize again (make writable + reprotect); move them back, finalize,
 * run; change a resolver answer, finalize, run; remove an object, finalize;
 * free (and then nothing of rtdyld's stays mapped). A new phase is one
 * PHASE(...) line.
 *
 * usage: wx_audit <jit_module.o> <second.o> */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <string.h>

#include "test_rtdyld.h"

/* ------------------------------------------------------------------------ */
/* /proc/self/maps */

typedef struct mapping {
  uintptr_t start, end;
  char perms[5];
} mapping;

#define MAX_MAPPINGS 8192

/* Reads the map into `out` (at most `max` entries); returns the count. */
static size_t read_maps(mapping *out, size_t max)
{
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    FAIL("cannot open /proc/self/maps");
  char line[1024];
  size_t n = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
      continue;
    if (n < max) {
      out[n].start = start;
      out[n].end = end;
      memcpy(out[n].perms, perms, sizeof perms);
      n++;
    }
  }
  fclose(f);
  return n;
}

static bool is_wx(const mapping *m) { return m->perms[1] == 'w' && m->perms[2] == 'x'; }

/* W+X mappings that existed before rtdyld did anything. */
static mapping baseline[64];
static size_t baseline_count;
static bool under_valgrind;

/* Every range rtdyld ever handed out (page-rounded), even after free. */
#define MAX_RANGES 256
static uintptr_t ranges[MAX_RANGES][2];
static atomic_size_t range_count;

static bool in_baseline(const mapping *m)
{
  for (size_t i = 0; i < baseline_count; i++)
    if (baseline[i].start == m->start && baseline[i].end == m->end)
      return true;
  return false;
}

static bool overlaps_rtdyld(const mapping *m)
{
  size_t n = atomic_load(&range_count);
  for (size_t i = 0; i < n; i++)
    if (m->start < ranges[i][1] && ranges[i][0] < m->end)
      return true;
  return false;
}

/* Returns a description of the first offending mapping, or NULL. */
static const char *find_wx(char *buf, size_t len)
{
  static mapping maps[MAX_MAPPINGS];
  size_t n = read_maps(maps, MAX_MAPPINGS);
  for (size_t i = 0; i < n; i++) {
    if (!is_wx(&maps[i]))
      continue;
    bool ours = overlaps_rtdyld(&maps[i]);
    if (ours || (!under_valgrind && !in_baseline(&maps[i]))) {
      snprintf(buf, len, "%lx-%lx %s%s", (unsigned long)maps[i].start, (unsigned long)maps[i].end,
               maps[i].perms, ours ? " (rtdyld's memory)" : " (new since the test started)");
      return buf;
    }
  }
  return NULL;
}

static unsigned audits;

static void audit(const char *when)
{
  char buf[128];
  const char *bad = find_wx(buf, sizeof buf);
  audits++;
  if (bad)
    FAIL("%s: a mapping is writable and executable: %s", when, bad);
}

/* ------------------------------------------------------------------------ */
/* The sampler thread: reads the map over and over while the phases run.
 * It has its own buffer (find_wx's is for the main thread). */

static atomic_bool sampler_stop;
static atomic_ulong samples;
static char sampler_violation[160];

static void *sampler(void *arg)
{
  (void)arg;
  static mapping maps[MAX_MAPPINGS];
  while (!atomic_load(&sampler_stop)) {
    size_t n = read_maps(maps, MAX_MAPPINGS);
    for (size_t i = 0; i < n && sampler_violation[0] == '\0'; i++) {
      if (is_wx(&maps[i]) && (overlaps_rtdyld(&maps[i]) || (!under_valgrind && !in_baseline(&maps[i]))))
        snprintf(sampler_violation, sizeof sampler_violation, "%lx-%lx %s",
                 (unsigned long)maps[i].start, (unsigned long)maps[i].end, maps[i].perms);
    }
    atomic_fetch_add(&samples, 1);
  }
  return NULL;
}

/* Lets the sampler read the whole map twice more (so at least once after
 * this point) before the next phase starts. */
static void wait_for_sampler(void)
{
  unsigned long target = atomic_load(&samples) + 2;
  while (atomic_load(&samples) < target)
    sched_yield();
}

/* ------------------------------------------------------------------------ */
/* rtdyld's sections */

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)4095; }
static uintptr_t page_up(uintptr_t a) { return (a + 4095) & ~(uintptr_t)4095; }

#define MAX_OBJECTS 4
static uint32_t objects[MAX_OBJECTS];
static bool object_live[MAX_OBJECTS];
static size_t object_count;

/* Records every section's pages as rtdyld's. */
static void note_sections(rtdyld_linker *l)
{
  if (!l)
    return;
  for (size_t o = 0; o < object_count; o++) {
    if (!object_live[o])
      continue;
    uint32_t count = 0;
    CHECK_OK(l, rtdyld_linker_object_section_count(l, objects[o], &count));
    for (uint32_t i = 0; i < count; i++) {
      rtdyld_section_info s;
      CHECK_OK(l, rtdyld_linker_object_section(l, objects[o], i, &s));
      if (!s.local_address || s.size == 0)
        continue;
      uintptr_t start = page_down((uintptr_t)s.local_address);
      uintptr_t end = page_up((uintptr_t)s.local_address + s.size);
      bool known = false;
      for (size_t r = 0; r < atomic_load(&range_count); r++)
        known |= ranges[r][0] == start && ranges[r][1] == end;
      if (!known) {
        size_t r = atomic_load(&range_count);
        if (r == MAX_RANGES)
          FAIL("too many sections");
        ranges[r][0] = start;
        ranges[r][1] = end;
        atomic_store(&range_count, r + 1);
      }
    }
  }
}

static const char *expected_perms(uint32_t kind)
{
  switch (kind) {
  case RTDYLD_SECTION_KIND_CODE: return "r-x";
  case RTDYLD_SECTION_KIND_RO_DATA: return "r--";
  default: return "rw-";
  }
}

/* After a finalize: every page of every section has its final protection. */
static void check_protections(rtdyld_linker *l, const char *when)
{
  static mapping maps[MAX_MAPPINGS];
  size_t n = read_maps(maps, MAX_MAPPINGS);
  unsigned checked = 0;
  for (size_t o = 0; o < object_count; o++) {
    if (!object_live[o])
      continue;
    uint32_t count = 0;
    CHECK_OK(l, rtdyld_linker_object_section_count(l, objects[o], &count));
    for (uint32_t i = 0; i < count; i++) {
      rtdyld_section_info s;
      CHECK_OK(l, rtdyld_linker_object_section(l, objects[o], i, &s));
      if (!s.local_address || s.size == 0)
        continue;
      const char *want = expected_perms(s.kind);
      uintptr_t start = (uintptr_t)s.local_address, end = start + s.size;
      uintptr_t covered = start;
      for (size_t m = 0; m < n; m++) {
        if (maps[m].end <= start || maps[m].start >= end)
          continue;
        if (strncmp(maps[m].perms, want, 3) != 0)
          FAIL("%s: section %s (%s, %p+%llu) is mapped %s, expected %s", when, s.name,
               test_kind_name(s.kind), (void *)s.local_address, (unsigned long long)s.size,
               maps[m].perms, want);
        if (maps[m].start <= covered && maps[m].end > covered)
          covered = maps[m].end;
      }
      if (covered < end)
        FAIL("%s: section %s is not entirely mapped", when, s.name);
      checked++;
    }
  }
  CHECK(checked > 0);
}

/* ------------------------------------------------------------------------ */

static int host_add(int a, int b) { return a + b; }
static int host_op_add(int a, int b) { return a + b; }
static int host_op_mul(int a, int b) { return a * b; }

static unsigned audits_during;

/* The resolver audits the map while rtdyld is in the middle of a call. */
static int auditing_resolve(void *ctx, const char *name, uint64_t *address_out)
{
  audit("inside a load or finalize (resolver callback)");
  audits_during++;
  return test_resolve(ctx, name, address_out);
}

static void for_each_section(rtdyld_linker *l, int64_t offset)
{
  for (size_t o = 0; o < object_count; o++) {
    if (!object_live[o])
      continue;
    uint32_t count = 0;
    CHECK_OK(l, rtdyld_linker_object_section_count(l, objects[o], &count));
    for (uint32_t i = 0; i < count; i++) {
      rtdyld_section_info s;
      CHECK_OK(l, rtdyld_linker_object_section(l, objects[o], i, &s));
      if (!s.local_address)
        continue;
      /* Far away, where nothing runs: only numbers change. */
      CHECK_OK(l, rtdyld_linker_map_section_id(l, s.section_id,
                                               (uint64_t)(uintptr_t)s.local_address + (uint64_t)offset));
    }
  }
}

static void run_checks(rtdyld_linker *l, int expected_op)
{
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_add"))(2, 3), 1005);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(l, "fx_twice"))(4), 2016);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(l, "fx_op"))(6, 7), expected_op);
  if (object_live[1])
    CHECK_EQ(AS_FN(fn_int_int3, test_lookup(l, "sx_add3"))(1, 2, 3), 2006);
}

static rtdyld_linker *linker;
static test_resolver resolver;
static const char *paths[2];

static uint32_t load(const char *path)
{
  uint32_t id = test_load_file(linker, path);
  objects[object_count] = id;
  object_live[object_count] = true;
  object_count++;
  return id;
}

/* A phase: do it, then audit; after a finalize also check protections. */
#define PHASE(name, ...)                                   \
  do {                                                     \
    printf("phase: %s\n", name);                           \
    __VA_ARGS__;                                           \
    note_sections(linker);                                 \
    audit(name);                                           \
    wait_for_sampler();                                    \
  } while (0)
#define FINALIZE(name)                                     \
  PHASE(name, CHECK_OK(linker, rtdyld_linker_finalize(linker)); check_protections(linker, name))

int main(int argc, char **argv)
{
  if (argc != 3)
    FAIL("usage: %s <jit_module.o> <second.o>", argv[0]);
  paths[0] = argv[1];
  paths[1] = argv[2];

  static mapping maps[MAX_MAPPINGS];
  size_t n = read_maps(maps, MAX_MAPPINGS);
  for (size_t i = 0; i < n; i++) {
    if (is_wx(&maps[i]) && baseline_count < 64)
      baseline[baseline_count++] = maps[i];
  }
  {
    /* valgrind preloads its vgpreload_*.so into the client. */
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
      under_valgrind |= strstr(line, "vgpreload") != NULL;
    if (f)
      fclose(f);
  }
  printf("%zu W+X mappings before the test%s\n", baseline_count,
         under_valgrind ? " (valgrind: only rtdyld's memory is checked)" : "");

  {
    /* The detector works: a page of "rtdyld's" made W+X is found. */
    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED);
    if (mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0) {
      ranges[0][0] = (uintptr_t)page;
      ranges[0][1] = (uintptr_t)page + 4096;
      atomic_store(&range_count, 1);
      char buf[128];
      CHECK(find_wx(buf, sizeof buf) != NULL);
      atomic_store(&range_count, 0);
    } else {
      printf("(this kernel refuses W+X pages: detector self-check skipped)\n");
    }
    munmap(page, 4096);
  }

  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, sampler, NULL) == 0);

  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_op_add));

  PHASE("new", CHECK_OK(linker, rtdyld_linker_new(&linker));
        CHECK_OK(linker, rtdyld_linker_set_resolver(linker, auditing_resolve, &resolver)));
  PHASE("load jit_module.o", load(paths[0]));
  PHASE("load second.o", load(paths[1]));
  FINALIZE("finalize");
  PHASE("run", run_checks(linker, 13));

  /* Nothing is mapped at the far targets, so their .eh_frame must not be
   * handed to the unwinder meanwhile. */
  PHASE("move every section away",
        CHECK_OK(linker, rtdyld_linker_set_eh_frame_registration(linker, false));
        for_each_section(linker, 0x40000000));
  FINALIZE("re-finalize after the move");
  PHASE("move every section back", for_each_section(linker, 0);
        CHECK_OK(linker, rtdyld_linker_set_eh_frame_registration(linker, true)));
  FINALIZE("re-finalize after moving back");
  PHASE("run again", run_checks(linker, 13));

  PHASE("change a resolver answer", test_resolver_set(&resolver, "host_op", FN_ADDR(host_op_mul));
        CHECK_OK(linker, rtdyld_linker_refresh_external(linker, "host_op")));
  FINALIZE("re-finalize after the new answer");
  PHASE("run with the new answer", run_checks(linker, 42));

  PHASE("remove second.o", CHECK_OK(linker, rtdyld_linker_remove_object(linker, objects[1]));
        object_live[1] = false);
  FINALIZE("finalize after the removal");
  PHASE("run after the removal", run_checks(linker, 42));

  PHASE("free", rtdyld_linker_free(linker); linker = NULL);

  atomic_store(&sampler_stop, true);
  pthread_join(thread, NULL);
  if (sampler_violation[0] != '\0')
    FAIL("the sampler thread saw a writable and executable mapping: %s", sampler_violation);

  /* What rtdyld still maps is kept for the next linker, inaccessible... */
  n = read_maps(maps, MAX_MAPPINGS);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++)
    if (overlaps_rtdyld(&maps[i])) {
      if (strncmp(maps[i].perms, "---", 3) != 0)
        FAIL("after free, %lx-%lx %s is still accessible", (unsigned long)maps[i].start,
             (unsigned long)maps[i].end, maps[i].perms);
      kept += maps[i].end - maps[i].start;
    }
  /* ...and given back on request: then nothing of rtdyld's is mapped. */
  size_t released = rtdyld_release_recycled_memory();
  CHECK(released >= kept);
  n = read_maps(maps, MAX_MAPPINGS);
  for (size_t i = 0; i < n; i++)
    if (overlaps_rtdyld(&maps[i]))
      FAIL("after free and release, %lx-%lx %s is still mapped", (unsigned long)maps[i].start,
           (unsigned long)maps[i].end, maps[i].perms);
  printf("%zu bytes kept inaccessible after free, %zu released\n", kept, released);
  /* Nothing is left to give back under any limit. */
  CHECK(rtdyld_set_recycled_memory_limit(0) == 0);
  CHECK(rtdyld_set_recycled_memory_limit(16u << 20) == 0);

  CHECK(audits_during > 0);
  printf("%u audits (%u inside rtdyld calls), %lu samples by the sampler thread: no W+X mapping\n",
         audits, audits_during, (unsigned long)atomic_load(&samples));
  printf("ok\n");
  return 0;
}
