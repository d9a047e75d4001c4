/* lc_ifunc: IFUNC symbols through the C API (issue 3, point 5).
 *
 * lc_ifunc_def.c (-O2 -fPIC) defines the IFUNCs f (global, resolved to
 * impl_b: x + 2) and g (local, resolved to impl_a: x + 1), whose resolvers
 * count their calls; lc_ifunc_use.c (-O2 -fno-pic) calls f and takes its
 * address. Checked:
 *   - rtdyld_linker_lookup("f") is the resolver's answer (impl_b's address);
 *   - call_fg(5) = 7 * 100 + 6, other(5) = 7 (the other object binds to
 *     the answer), and &f taken in either object is the same answer;
 *   - each resolver ran once (2 calls), also after another finalize and
 *     after loading a third object that refers to f (lc_ifunc_use.c again,
 *     -fPIC, its functions renamed other_pic and other_f_ptr_pic).
 *
 * usage: lc_ifunc <def.o> <use.o> <use_pic.o> */
#include "lc_util.h"

typedef void *(*fn_ptr_void)(void);

int main(int argc, char **argv)
{
  if (argc != 4)
    FAIL("usage: lc_ifunc <def.o> <use.o> <use_pic.o>");
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  test_load_file(l, argv[1]);
  test_load_file(l, argv[2]);
  CHECK_OK(l, rtdyld_linker_finalize(l));

  fn_long_void get_calls = AS_FN(fn_long_void, test_lookup(l, "get_calls"));
  CHECK_EQ(get_calls(), 2);
  uint64_t f = test_lookup(l, "f");
  uint64_t impl_b = (uintptr_t)AS_FN(fn_ptr_void, test_lookup(l, "impl_b_addr"))();
  printf("f -> 0x%llx, impl_b 0x%llx\n", (unsigned long long)f, (unsigned long long)impl_b);
  CHECK_EQ(f, impl_b);
  CHECK_EQ(AS_FN(fn_long_long, f)(5), 7);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "call_fg"))(5), 7 * 100 + 6);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "other"))(5), 7);
  CHECK_EQ((uintptr_t)AS_FN(fn_ptr_void, test_lookup(l, "f_ptr"))(), f);
  CHECK_EQ((uintptr_t)AS_FN(fn_ptr_void, test_lookup(l, "other_f_ptr"))(), f);
  CHECK_EQ(get_calls(), 2);

  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(get_calls(), 2);

  /* A later object (-fPIC this time, through the GOT) binds to the same answer. */
  test_load_file(l, argv[3]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(test_lookup(l, "f"), f);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "other_pic"))(5), 7);
  CHECK_EQ((uintptr_t)AS_FN(fn_ptr_void, test_lookup(l, "other_f_ptr_pic"))(), f);
  CHECK_EQ(get_calls(), 2);
  rtdyld_linker_free(l);
  printf("lc_ifunc: OK\n");
  return 0;
}
