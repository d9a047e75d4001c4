/* repeated_finalize: rtdyld_linker_finalize can be called again after the
 * code has run, and each call re-applies the relocations whose values changed.
 *
 * (a) Custom memfd memory manager (see memfd_mm.h), make_writable = NULL:
 *     1. map every section to target view 0, finalize, call;
 *     2. map every section to view 1 (rtdyld_linker_map_section_id),
 *        finalize, call at the new addresses;
 *     3. move only the code sections (including rtdyld's stubs) to view 2,
 *        leaving the data in view 1, finalize, call: code must reach its data
 *        in the other view, and the data's function pointer must follow the
 *        code;
 *     4. make the resolver answer host_op with host_mul instead of host_add,
 *        finalize: the answer given before holds (a name is asked about
 *        once); say the address changed (rtdyld_linker_refresh_external),
 *        finalize, and check the new function is called.
 * (b) Default memory manager: finalize, call; change the resolver's answer
 *     and say so; finalize again (the code is already read-only and executable, so rtdyld
 *     has to make it writable and protect it again); check the new function
 *     is called; then turn off relocation retention and finalize once more.
 *
 * usage: repeated_finalize <jit_module.o> */
#include "memfd_mm.h"
#include "test_rtdyld.h"

static int host_add(int a, int b) { return a + b; }
static int host_mul(int a, int b) { return a * b; }

static const char *const module_functions[] = {
  "fx_add", "fx_twice", "fx_table", "fx_counter", "fx_counter_addr",
  "fx_bump", "fx_op", "fx_call_ptr", "fx_get_fnptr",
};

/* Run every function of jit_module.o and check the results.
 * mm == NULL (default manager): no checks of where things are.
 * Otherwise functions must be in the code part of `code_view` and `counter`
 * in the data part of `data_view`.
 * *counter is the expected value of the `counter` global; fx_bump
 * increments it. host_op_result is the expected fx_op(6, 7). */
static void check_module(rtdyld_linker *linker, const memfd_mm *mm, int code_view,
                         int data_view, int *counter, int host_op_result)
{
  if (mm) {
    for (size_t i = 0; i < sizeof module_functions / sizeof module_functions[0]; i++) {
      uint64_t target = test_lookup(linker, module_functions[i]);
      bool in_code = false;
      int view = memfd_mm_view_of(mm, target, &in_code);
      if (view != code_view || !in_code)
        FAIL("%s at 0x%llx: expected in the code part of view %d, found view %d (%s)",
             module_functions[i], (unsigned long long)target, code_view, view,
             in_code ? "code" : "data");
    }
  }

  uint64_t fx_add = test_lookup(linker, "fx_add");
  CHECK_EQ(AS_FN(fn_int_int2, fx_add)(2, 3), 1005);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_twice"))(4), 2016);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_table"))(1), 20);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(linker, "fx_op"))(6, 7), host_op_result);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(linker, "fx_call_ptr"))(1, 2), 1003);
  /* The R_X86_64_64 in .data.rel follows fx_add wherever it moves. */
  CHECK_EQ(AS_FN(fn_ulong_void, test_lookup(linker, "fx_get_fnptr"))(), fx_add);

  /* Data read and written by code, at the address lookup reports. */
  uint64_t counter_target = test_lookup(linker, "counter");
  if (mm) {
    bool in_code = true;
    int view = memfd_mm_view_of(mm, counter_target, &in_code);
    if (view != data_view || in_code)
      FAIL("counter at 0x%llx: expected in the data part of view %d, found view %d",
           (unsigned long long)counter_target, data_view, view);
  }
  int *seen = AS_FN(fn_intptr_void, test_lookup(linker, "fx_counter_addr"))();
  CHECK_EQ((uint64_t)(uintptr_t)seen, counter_target);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_counter"))(), *counter);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_bump"))(), *counter + 1);
  (*counter)++;
  CHECK_EQ(*seen, *counter);
}

/* Map the sections of an object into target view `view`: all of them, or
 * only the code sections. Uses map_section_address or map_section_id. */
static void map_object(rtdyld_linker *linker, memfd_mm *mm, uint32_t object_id, size_t view,
                       bool code_only, bool by_id)
{
  uint32_t count = 0;
  CHECK_OK(linker, rtdyld_linker_object_section_count(linker, object_id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(linker, rtdyld_linker_object_section(linker, object_id, i, &info));
    if (info.local_address == NULL)
      continue; /* empty section: nothing allocated */
    if (code_only && info.kind != RTDYLD_SECTION_KIND_CODE)
      continue;
    uint64_t target = memfd_mm_target(mm, view, info.local_address);
    if (by_id)
      CHECK_OK(linker, rtdyld_linker_map_section_id(linker, info.section_id, target));
    else
      CHECK_OK(linker, rtdyld_linker_map_section_address(linker, info.local_address, target));
    rtdyld_section_info after;
    CHECK_OK(linker, rtdyld_linker_section_info(linker, info.section_id, &after));
    CHECK_EQ(after.target_address, target);
  }
}

static void part_a_custom_manager(const char *object_path)
{
  printf("(a) custom memfd memory manager\n");
  memfd_mm mm;
  memfd_mm_init(&mm, 1 << 20, 1 << 20);
  rtdyld_memory_manager callbacks = memfd_mm_callbacks(&mm);
  rtdyld_linker *linker = NULL;
  CHECK_OK(linker, rtdyld_linker_new_with_memory_manager(&callbacks, &linker));

  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_add));
  CHECK_OK(linker, rtdyld_linker_set_resolver(linker, test_resolve, &resolver));

  uint32_t object_id = test_load_file(linker, object_path);
  int counter = 42;

  /* 1. Everything in view 0. */
  map_object(linker, &mm, object_id, 0, false, false);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 1);
  check_module(linker, &mm, 0, 0, &counter, 6 + 7);
  printf("  step 1 (view 0): OK\n");

  /* 2. Everything in view 1. */
  size_t view1 = memfd_mm_add_view(&mm);
  map_object(linker, &mm, object_id, view1, false, true);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 2);
  check_module(linker, &mm, (int)view1, (int)view1, &counter, 6 + 7);
  printf("  step 2 (view 1): OK\n");

  /* 3. Code (and stubs) in view 2, data (and GOT, if it is data) stays in
   * view 1. */
  size_t view2 = memfd_mm_add_view(&mm);
  map_object(linker, &mm, object_id, view2, true, true);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 3);
  test_print_sections(linker, object_id);
  check_module(linker, &mm, (int)view2, (int)view1, &counter, 6 + 7);
  printf("  step 3 (code in view 2, data in view 1): OK\n");

  /* 4. Same addresses, new answer from the resolver for host_op. */
  uint64_t fx_op_before = test_lookup(linker, "fx_op");
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_mul));
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 4);
  check_module(linker, &mm, (int)view2, (int)view1, &counter, 6 + 7);
  CHECK_OK(linker, rtdyld_linker_refresh_external(linker, "host_op"));
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 5);
  CHECK_EQ(test_lookup(linker, "fx_op"), fx_op_before);
  check_module(linker, &mm, (int)view2, (int)view1, &counter, 6 * 7);
  printf("  step 4 (host_op -> host_mul): OK\n");

  rtdyld_linker_free(linker);
  CHECK_EQ(mm.destroy_calls, 1);
}

static void part_b_default_manager(const char *object_path)
{
  printf("(b) default memory manager\n");
  rtdyld_linker *linker = NULL;
  CHECK_OK(linker, rtdyld_linker_new(&linker));

  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_add));
  CHECK_OK(linker, rtdyld_linker_set_resolver(linker, test_resolve, &resolver));

  uint32_t object_id = test_load_file(linker, object_path);
  int counter = 42;
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  check_module(linker, NULL, 0, 0, &counter, 6 + 7);
  uint64_t fx_op = test_lookup(linker, "fx_op");
  printf("  first finalize: OK\n");

  /* The code is now executable and read-only; rtdyld must make it writable
   * again to patch the call to host_op. */
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_mul));
  CHECK_OK(linker, rtdyld_linker_refresh_external(linker, NULL));
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(test_lookup(linker, "fx_op"), fx_op);
  check_module(linker, NULL, 0, 0, &counter, 6 * 7);
  printf("  second finalize (host_op -> host_mul): OK\n");

  /* Dropping the retained relocations frees memory. The next finalize must
   * still succeed, but afterwards relinking is no longer possible: remapping
   * sections or changing the resolver's answers has no effect on the code
   * (moving a section is refused), so this is only for code that will never
   * move again. */
  CHECK_OK(linker, rtdyld_linker_set_retain_relocations(linker, false));
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  check_module(linker, NULL, 0, 0, &counter, 6 * 7);
  printf("  finalize without retained relocations: OK\n");

  /* Moving a section now would leave its code unrelocated: it is refused
   * (with a message), and the code keeps working where it is. */
  rtdyld_section_info section;
  CHECK_OK(linker, rtdyld_linker_object_section(linker, object_id, 0, &section));
  uint64_t target = section.target_address;
  rtdyld_result r = rtdyld_linker_map_section_id(linker, section.section_id, target + 0x100000);
  if (r == RTDYLD_RESULT_OK)
    FAIL("moving a section after its relocations were dropped was accepted");
  CHECK(rtdyld_linker_last_error(linker)[0] != '\0');
  printf("  remapping refused: %s: %s\n", rtdyld_result_name(r), rtdyld_linker_last_error(linker));
  CHECK_OK(linker, rtdyld_linker_section_info(linker, section.section_id, &section));
  CHECK_EQ(section.target_address, target);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  check_module(linker, NULL, 0, 0, &counter, 6 * 7);

  rtdyld_linker_free(linker);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s <jit_module.o>\n", argv[0]);
    return 2;
  }
  part_a_custom_manager(argv[1]);
  part_b_default_manager(argv[1]);
  printf("repeated_finalize: OK\n");
  return 0;
}
