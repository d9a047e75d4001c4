/* map_section_address: rtdyld writes at local addresses and the code runs at
 * different (target) addresses.
 *
 * A memfd is mapped twice: a writable local view where rtdyld allocates and
 * writes, and a target view that is never writable where code is executable
 * (see memfd_mm.h). Every section of the object, including rtdyld's own GOT
 * and stub sections, is mapped with rtdyld_linker_map_section_address to the
 * same offset in the target view. After finalize, the functions are called
 * at their target addresses and must compute the expected values, reaching
 * their data, read-only data, each other (across sections) and a host
 * function supplied by the resolver.
 *
 * usage: map_section_address <jit_module.o> */
#include "memfd_mm.h"
#include "test_rtdyld.h"

static int host_add(int a, int b) { return a + b; }
static int host_op_unused(int a, int b) { return a - b; }

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s <jit_module.o>\n", argv[0]);
    return 2;
  }

  memfd_mm mm;
  memfd_mm_init(&mm, 1 << 20, 1 << 20);
  rtdyld_memory_manager callbacks = memfd_mm_callbacks(&mm);

  rtdyld_linker *linker = NULL;
  CHECK_OK(linker, rtdyld_linker_new_with_memory_manager(&callbacks, &linker));
  CHECK(linker != NULL);

  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_op_unused));
  CHECK_OK(linker, rtdyld_linker_set_resolver(linker, test_resolve, &resolver));

  uint32_t object_id = test_load_file(linker, argv[1]);
  test_print_sections(linker, object_id);

  /* Map every section to the target view, at the same offset as its local
   * address has in the local view. */
  uint32_t count = 0;
  CHECK_OK(linker, rtdyld_linker_object_section_count(linker, object_id, &count));
  CHECK(count > 0);
  unsigned code_sections = 0, mapped = 0;
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(linker, rtdyld_linker_object_section(linker, object_id, i, &info));
    CHECK_EQ(info.object_id, object_id);
    CHECK(info.name != NULL);
    if (info.local_address == NULL) {
      /* Nothing allocated (empty section): nothing to map. */
      CHECK_EQ(info.size, 0);
      continue;
    }
    if (!memfd_mm_is_local(&mm, info.local_address))
      FAIL("section %s: local address %p is not from our allocator", info.name,
           (void *)info.local_address);
    if (info.kind == RTDYLD_SECTION_KIND_CODE && info.size > 0)
      code_sections++;
    uint64_t target = memfd_mm_target(&mm, 0, info.local_address);
    CHECK_OK(linker, rtdyld_linker_map_section_address(linker, info.local_address, target));

    /* section_info reflects the mapping; the local address is unchanged. */
    rtdyld_section_info after;
    CHECK_OK(linker, rtdyld_linker_section_info(linker, info.section_id, &after));
    CHECK_EQ(after.section_id, info.section_id);
    CHECK_EQ(after.target_address, target);
    CHECK(after.local_address == info.local_address);
    CHECK_EQ(after.size, info.size);
    CHECK_EQ(after.kind, info.kind);
    mapped++;
  }
  /* fx_add, fx_twice, ..., .text.jit_cold: at least two code sections. */
  if (code_sections < 2)
    FAIL("expected code in at least two sections, found %u", code_sections);
  printf("mapped %u sections (%u with code)\n", mapped, code_sections);

  CHECK_EQ(mm.finalize_calls, 0);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  CHECK_EQ(mm.finalize_calls, 1);

  /* Lookups give target addresses in the code part of view 0, distinct from
   * the local addresses rtdyld wrote to. */
  const char *functions[] = { "fx_add", "fx_twice", "fx_table", "fx_counter",
                              "fx_counter_addr", "fx_bump", "fx_call_ptr", "fx_get_fnptr" };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    uint64_t target = test_lookup(linker, functions[i]);
    uint8_t *local = test_lookup_local(linker, functions[i]);
    bool in_code = false;
    if (memfd_mm_view_of(&mm, target, &in_code) != 0 || !in_code)
      FAIL("%s: target 0x%llx is not in the code part of the target view", functions[i],
           (unsigned long long)target);
    CHECK(memfd_mm_is_local(&mm, local));
    CHECK((uint64_t)(uintptr_t)local != target);
    CHECK_EQ(target, memfd_mm_target(&mm, 0, local));
  }

  /* Call everything at the target addresses. */
  uint64_t fx_add = test_lookup(linker, "fx_add");
  CHECK_EQ(AS_FN(fn_int_int2, fx_add)(2, 3), 1005);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_twice"))(4), 2016);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_table"))(2), 30);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "fx_table"))(3), 40);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_counter"))(), 42);
  CHECK_EQ(AS_FN(fn_int_int2, test_lookup(linker, "fx_call_ptr"))(1, 2), 1003);
  /* The function pointer in .data.rel holds fx_add's target address. */
  CHECK_EQ(AS_FN(fn_ulong_void, test_lookup(linker, "fx_get_fnptr"))(), fx_add);

  /* Data: the code sees `counter` at its target address (data part of the
   * target view), and writes through that view show up in the local one. */
  uint64_t counter_target = test_lookup(linker, "counter");
  uint8_t *counter_local = test_lookup_local(linker, "counter");
  bool in_code = true;
  CHECK_EQ(memfd_mm_view_of(&mm, counter_target, &in_code), 0);
  CHECK(!in_code);
  CHECK_EQ(counter_target, memfd_mm_target(&mm, 0, counter_local));
  int *counter_seen = AS_FN(fn_intptr_void, test_lookup(linker, "fx_counter_addr"))();
  CHECK_EQ((uint64_t)(uintptr_t)counter_seen, counter_target);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "fx_bump"))(), 43);
  int local_value;
  memcpy(&local_value, counter_local, sizeof local_value);
  CHECK_EQ(local_value, 43);

  /* Read-only data: `table` is in the data part of the target view too. */
  uint64_t table_target = test_lookup(linker, "table");
  CHECK_EQ(memfd_mm_view_of(&mm, table_target, &in_code), 0);
  CHECK(!in_code);

  /* The symbol table agrees with lookup. */
  uint32_t symbol_count = 0;
  bool saw_fx_add = false;
  CHECK_OK(linker, rtdyld_linker_object_symbol_count(linker, object_id, &symbol_count));
  for (uint32_t i = 0; i < symbol_count; i++) {
    rtdyld_symbol_info sym;
    CHECK_OK(linker, rtdyld_linker_object_symbol(linker, object_id, i, &sym));
    if (sym.name && strcmp(sym.name, "fx_add") == 0) {
      saw_fx_add = true;
      CHECK_EQ(sym.target_address, fx_add);
      CHECK(sym.local_address == test_lookup_local(linker, "fx_add"));
      CHECK(sym.is_function);
      CHECK(!sym.is_weak);
      rtdyld_section_info section;
      CHECK_OK(linker, rtdyld_linker_section_info(linker, sym.section_id, &section));
      CHECK_EQ(section.kind, RTDYLD_SECTION_KIND_CODE);
    }
  }
  CHECK(saw_fx_add);

  /* The resolver was consulted for the host functions; no write ever needed
   * the target view to be writable (make_writable is NULL). */
  CHECK(resolver.calls > 0);
  printf("allocate_code %u, allocate_data %u, finalize %u\n", mm.allocate_code_calls,
         mm.allocate_data_calls, mm.finalize_calls);

  rtdyld_linker_free(linker);
  CHECK_EQ(mm.destroy_calls, 1);
  printf("map_section_address: OK\n");
  return 0;
}
