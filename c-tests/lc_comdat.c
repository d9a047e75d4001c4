/* lc_comdat: COMDAT groups through the C API (issue 3, point 4).
 *
 * Two C++ objects (fixtures/lc_comdat.cpp with SIDE=a and SIDE=b, -O0
 * -fPIC) carry the same inline function shared_inline (with a
 * function-local static counter), the template Box<long> and its vtable,
 * each in a section group. Checked:
 *   - both load without a duplicate-definition error;
 *   - one copy: &shared_inline taken in a and in b, and
 *     rtdyld_linker_lookup of its mangled name, are one address; the vtable
 *     pointer of a Box<long> built in a and in b is the same;
 *   - the static counter is shared: from_a(5) = 10 + 1, from_b(5) = 10 + 2;
 *   - a's section list has the groups' sections (inline function, its
 *     static, Box<long>'s members, vtable, type info and name), b's has
 *     none of them (sections of discarded groups are not allocated).
 *
 * usage: lc_comdat <a.o> <b.o> */
#include "lc_util.h"

typedef void *(*fn_ptr_void)(void);

/* Whether object `id` has a section whose name contains `part`. */
static bool has_section(rtdyld_linker *l, uint32_t id, const char *part)
{
  uint32_t count = 0;
  CHECK_OK(l, rtdyld_linker_object_section_count(l, id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(l, rtdyld_linker_object_section(l, id, i, &info));
    if (strstr(info.name, part))
      return true;
  }
  return false;
}

int main(int argc, char **argv)
{
  if (argc != 3)
    FAIL("usage: lc_comdat <a.o> <b.o>");
  lc_load_libstdcxx(); /* the vtable's type info refers to libstdc++ */
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true));
  uint32_t a = test_load_file(l, argv[1]);
  uint32_t b = test_load_file(l, argv[2]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  printf("sections of a:\n");
  test_print_sections(l, a);
  printf("sections of b:\n");
  test_print_sections(l, b);

  void *inline_a = AS_FN(fn_ptr_void, test_lookup(l, "inline_addr_a"))();
  void *inline_b = AS_FN(fn_ptr_void, test_lookup(l, "inline_addr_b"))();
  uint64_t inline_lookup = test_lookup(l, "_Z13shared_inlinel");
  printf("shared_inline: via a %p, via b %p, lookup 0x%llx\n", inline_a, inline_b,
         (unsigned long long)inline_lookup);
  CHECK(inline_a == inline_b);
  CHECK_EQ((uintptr_t)inline_a, inline_lookup);

  void *vtable_a = AS_FN(fn_ptr_void, test_lookup(l, "vtable_of_a"))();
  void *vtable_b = AS_FN(fn_ptr_void, test_lookup(l, "vtable_of_b"))();
  printf("Box<long> vptr: via a %p, via b %p\n", vtable_a, vtable_b);
  CHECK(vtable_a == vtable_b);
  /* The vptr points 16 bytes into _ZTV3BoxIlE (past offset-to-top and typeinfo). */
  CHECK_EQ((uintptr_t)vtable_a, test_lookup(l, "_ZTV3BoxIlE") + 16);

  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "from_a"))(5), 10 + 1);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "from_b"))(5), 10 + 2);

  /* The inline function and its static, Box<long>'s constructor, destructors
   * and get, its vtable, type info and type name. */
  const char *group_sections[] = { "_Z13shared_inlinel", "_ZZ13shared_inlinelE5calls",
                                   "_ZN3BoxIlEC2El", "_ZN3BoxIlED2Ev", "_ZN3BoxIlED0Ev",
                                   "_ZNK3BoxIlE3getEv", "_ZTV3BoxIlE", "_ZTI3BoxIlE",
                                   "_ZTS3BoxIlE" };
  for (size_t i = 0; i < sizeof group_sections / sizeof group_sections[0]; i++) {
    if (!has_section(l, a, group_sections[i]))
      FAIL("a has no section for %s", group_sections[i]);
    if (has_section(l, b, group_sections[i]))
      FAIL("b has a section for %s, whose group was discarded", group_sections[i]);
  }
  rtdyld_linker_free(l);
  printf("lc_comdat: OK\n");
  return 0;
}
