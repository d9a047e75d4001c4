/* lc_unwind: C++ exceptions and backtraces through JIT'd code, through the
 * C API (issue 3, point 1).
 *
 * The object (fixtures/lc_unwind.cpp, g++ -fPIC) is linked with process
 * symbols on against the libstdc++ this program loads, and a resolver that
 * supplies host_call. Checked, in each of several rounds (load, finalize,
 * run, remove: the unwind tables are deregistered and registered again):
 *   - catch_inside(1): thrown and caught inside the object -> 'b' + 100;
 *   - jit_a(1): JIT'd jit_a calls the host's C function host_call, which
 *     calls JIT'd jit_b, which throws; jit_a catches it (1000 + 'b'). The
 *     exception crosses host_call's frame: its cleanup (this file is built
 *     with -fexceptions) runs and it never returns. jit_a(-4) returns 4
 *     through the same frames without an exception;
 *   - jit_bt_outer: _Unwind_Backtrace from JIT'd code walks at least the
 *     JIT'd jit_bt_inner and jit_bt_outer frames (their return addresses
 *     lie inside those functions) and on into this program (>= 3 frames).
 * After the last removal the symbols are gone (NOT_FOUND).
 * Then once more with a dual-mapping memory manager (memfd_mm.c): run from
 * target view 0, move every section to view 1, finalize again, make view 0
 * inaccessible, and exceptions and backtraces still work: the tables were
 * registered again at the new addresses and the old ones forgotten.
 *
 * usage: lc_unwind <lc_unwind.o> */
#include <sys/mman.h>

#include "lc_util.h"
#include "memfd_mm.h"

static int host_call_entered;
static int host_call_returned;
static int host_cleanups;

static void host_cleanup(int *unused)
{
  (void)unused;
  host_cleanups++;
}

/* Called by JIT'd jit_a with JIT'd jit_b. Not a tail call: the frame stays
 * on the stack while jit_b runs. */
__attribute__((noinline)) static long host_call(long (*fn)(long), long x)
{
  __attribute__((cleanup(host_cleanup))) int guard = 0;
  host_call_entered++;
  long r = fn(x);
  host_call_returned++;
  return r + guard;
}

typedef long (*fn_long_long_t)(long);
typedef long (*fn_bt_t)(uintptr_t *, long);

#define MAX_FRAMES 64

/* True if `ip` (a return address) lies in [start, start + size]. */
static bool ip_in(uintptr_t ip, uint64_t start, uint64_t size)
{
  return ip > start && ip <= start + size;
}

/* Run the three checks against the linked object `id`. */
static void exercise(rtdyld_linker *l, uint32_t id, const char *label)
{
  printf("%s\n", label);
  fn_long_long_t catch_inside = AS_FN(fn_long_long_t, test_lookup(l, "catch_inside"));
  fn_long_long_t jit_a = AS_FN(fn_long_long_t, test_lookup(l, "jit_a"));
  CHECK_EQ(catch_inside(1), 100 + 'b');
  CHECK_EQ(catch_inside(-3), -3);

  host_call_entered = host_call_returned = host_cleanups = 0;
  CHECK_EQ(jit_a(1), 1000 + 'b');
  CHECK_EQ(host_call_entered, 1);
  CHECK_EQ(host_call_returned, 0); /* the exception left host_call's frame */
  CHECK_EQ(host_cleanups, 1);      /* ... running its cleanup on the way */
  CHECK_EQ(jit_a(-4), 4);
  CHECK_EQ(host_call_entered, 2);
  CHECK_EQ(host_call_returned, 1);
  CHECK_EQ(host_cleanups, 2);

  uint64_t inner = test_lookup(l, "jit_bt_inner");
  uint64_t outer = test_lookup(l, "jit_bt_outer");
  uint64_t inner_size = lc_symbol_size(l, id, "jit_bt_inner");
  uint64_t outer_size = lc_symbol_size(l, id, "jit_bt_outer");
  CHECK(inner_size > 0 && outer_size > 0);
  uintptr_t ips[MAX_FRAMES] = { 0 };
  long frames = AS_FN(fn_bt_t, outer)(ips, MAX_FRAMES);
  printf("  _Unwind_Backtrace: %ld frames:", frames);
  for (long i = 0; i < frames && i < MAX_FRAMES; i++)
    printf(" %#lx", (unsigned long)ips[i]);
  printf("\n");
  CHECK(frames >= 3);
  if (!ip_in(ips[0], inner, inner_size))
    FAIL("frame 0 (%#lx) is not in jit_bt_inner [%#llx, +%llu]", (unsigned long)ips[0],
         (unsigned long long)inner, (unsigned long long)inner_size);
  if (!ip_in(ips[1], outer, outer_size))
    FAIL("frame 1 (%#lx) is not in jit_bt_outer [%#llx, +%llu]", (unsigned long)ips[1],
         (unsigned long long)outer, (unsigned long long)outer_size);
  /* Frame 2 is this program's code (exercise, or whatever called it). */
  Dl_info here, there;
  CHECK(dladdr((void *)(uintptr_t)&exercise, &here) != 0);
  CHECK(dladdr((void *)ips[2], &there) != 0);
  CHECK(here.dli_fbase == there.dli_fbase);
}

static rtdyld_linker *make_linker(test_resolver *resolver, const rtdyld_memory_manager *mm)
{
  rtdyld_linker *l = NULL;
  if (mm)
    CHECK_OK(NULL, rtdyld_linker_new_with_memory_manager(mm, &l));
  else
    CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true));
  CHECK_OK(l, rtdyld_linker_set_resolver(l, test_resolve, resolver));
  return l;
}

int main(int argc, char **argv)
{
  if (argc != 2)
    FAIL("usage: lc_unwind <lc_unwind.o>");
  lc_load_libstdcxx();
  test_resolver resolver = { 0 };
  test_resolver_set(&resolver, "host_call", FN_ADDR(host_call));

  /* Default memory manager: load, run, remove, several times. */
  rtdyld_linker *l = make_linker(&resolver, NULL);
  for (int round = 0; round < 3; round++) {
    uint32_t id = test_load_file(l, argv[1]);
    CHECK_OK(l, rtdyld_linker_finalize(l));
    char label[64];
    snprintf(label, sizeof label, "round %d (object %u)", round, (unsigned)id);
    exercise(l, id, label);
    CHECK_OK(l, rtdyld_linker_remove_object(l, id));
    uint64_t addr = 0;
    CHECK_FAILS(l, rtdyld_linker_lookup(l, "jit_a", &addr), RTDYLD_RESULT_NOT_FOUND);
  }
  rtdyld_linker_free(l);

  /* A remap: the tables follow the code. */
  memfd_mm mm;
  memfd_mm_init(&mm, 1 << 20, 1 << 20);
  size_t view1 = memfd_mm_add_view(&mm);
  CHECK_EQ(view1, 1);
  rtdyld_memory_manager callbacks = memfd_mm_callbacks(&mm);
  l = make_linker(&resolver, &callbacks);
  uint32_t id = test_load_file(l, argv[1]);
  for (size_t view = 0; view < 2; view++) {
    uint32_t count = 0;
    CHECK_OK(l, rtdyld_linker_object_section_count(l, id, &count));
    for (uint32_t i = 0; i < count; i++) {
      rtdyld_section_info info;
      CHECK_OK(l, rtdyld_linker_object_section(l, id, i, &info));
      if (info.local_address == NULL)
        continue;
      CHECK_OK(l, rtdyld_linker_map_section_address(l, info.local_address,
                                                    memfd_mm_target(&mm, view, info.local_address)));
    }
    CHECK_OK(l, rtdyld_linker_finalize(l));
    bool in_code = false;
    CHECK_EQ(memfd_mm_view_of(&mm, test_lookup(l, "jit_a"), &in_code), (int)view);
    CHECK(in_code);
    if (view == 1) {
      /* Nothing may use the first mapping any more: not the code, not the
       * unwinder (stale registrations would make it read here). */
      CHECK(mprotect(mm.views[0], mm.code_size + mm.data_size, PROT_NONE) == 0);
    }
    exercise(l, id, view == 0 ? "memfd_mm, view 0" : "memfd_mm, remapped to view 1");
  }
  rtdyld_linker_free(l);
  CHECK_EQ(mm.destroy_calls, 1);

  printf("lc_unwind: OK\n");
  return 0;
}
