/* lc_constructors: constructors and destructors through the C API (issue 3,
 * point 2). Every constructor and destructor calls the host's note(long),
 * supplied by the resolver; the log shows the order.
 *
 * Objects, in load order:
 *   a (C, -O2 -fPIC):   constructor(200) 200, constructor 1000,
 *                       destructor(200) -200, destructor -1000
 *   b (C, -O0 -fno-pic): constructor(101) 101, constructor 1001,
 *                       destructor(101) -101
 *   legacy (C):         .ctors { 3001, 3002 } (run last to first),
 *                       .dtors { -3001, -3002 } (run first to last)
 *   cxx (C++):          globals first(1), second(2) and, once cxx_sum ran,
 *                       a function-local static local(3); destroyed with
 *                       -v through __cxa_atexit, newest first
 * Checked:
 *   - run_constructors before finalize: RTDYLD_RESULT_INVALID_STATE, nothing runs;
 *   - after finalize: lower priority first, then load order:
 *     101 200 1000 1001 3002 3001 1 2; a second call runs nothing;
 *   - remove_object(b) runs only b's destructors: -101;
 *   - b loaded again: run_constructors runs only the new copy's: 101 1001;
 *   - rtdyld_linker_free runs the rest as exit would for a static link of
 *     the remaining objects: every __cxa_atexit registration newest first
 *     (cxx: -3 -2 -1), then the destructor tables in reverse of their
 *     static-link order (by priority, then object): legacy .dtors
 *     (-3001 -3002), a's default (-1000), a's 200 (-200), the new b's 101
 *     (-101);
 *   - a second linker with only cxx: remove_object runs -3 -2 -1, and
 *     rtdyld_linker_free nothing more; an object whose constructors never
 *     ran gets no destructors;
 *   - a third linker with a and cxx: rtdyld_linker_run_destructors runs
 *     -3 -2 -1 -1000 -200 and leaves the code in place (cxx_sum still
 *     runs); a second call, removing a and freeing the linker run nothing.
 *
 * usage: lc_constructors <a.o> <b.o> <legacy.o> <cxx.o> */
#include "lc_util.h"

extern char **environ;

static rtdyld_linker *make_linker(test_resolver *resolver)
{
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true));
  CHECK_OK(l, rtdyld_linker_set_resolver(l, test_resolve, resolver));
  return l;
}

int main(int argc, char **argv)
{
  if (argc != 5)
    FAIL("usage: lc_constructors <a.o> <b.o> <legacy.o> <cxx.o>");
  const char *a_path = argv[1], *b_path = argv[2], *legacy_path = argv[3], *cxx_path = argv[4];
  lc_load_libstdcxx(); /* the C++ object's __cxa_guard_*, personality */
  test_resolver resolver = { 0 };
  test_resolver_set(&resolver, "note", FN_ADDR(lc_note));

  rtdyld_linker *l = make_linker(&resolver);
  uint32_t a = test_load_file(l, a_path);
  uint32_t b = test_load_file(l, b_path);
  uint32_t legacy = test_load_file(l, legacy_path);
  uint32_t cxx = test_load_file(l, cxx_path);
  printf("objects: a %u, b %u, legacy %u, cxx %u\n", (unsigned)a, (unsigned)b,
         (unsigned)legacy, (unsigned)cxx);
  CHECK_FAILS(l, rtdyld_linker_run_constructors(l), RTDYLD_RESULT_INVALID_STATE);
  LC_EXPECT_EMPTY_LOG("constructors before finalize");

  CHECK_OK(l, rtdyld_linker_finalize(l));
  LC_EXPECT_EMPTY_LOG("finalize runs no constructors");
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  LC_EXPECT_LOG("constructors", 101, 200, 1000, 1001, 3002, 3001, 1, 2);
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  LC_EXPECT_EMPTY_LOG("constructors again");

  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "cxx_sum"))(), 6);
  LC_EXPECT_LOG("function-local static", 3);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "cxx_sum"))(), 6);
  LC_EXPECT_EMPTY_LOG("function-local static, second call");

  CHECK_OK(l, rtdyld_linker_remove_object(l, b));
  LC_EXPECT_LOG("remove b", -101);

  uint32_t b2 = test_load_file(l, b_path);
  CHECK(b2 != b);
  CHECK_FAILS(l, rtdyld_linker_run_constructors(l), RTDYLD_RESULT_INVALID_STATE);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  LC_EXPECT_LOG("constructors of b loaded again", 101, 1001);

  rtdyld_linker_free(l);
  LC_EXPECT_LOG("rtdyld_linker_free", -3, -2, -1, -3001, -3002, -1000, -200, -101);

  /* Removing a C++ object destroys its globals, once. */
  l = make_linker(&resolver);
  cxx = test_load_file(l, cxx_path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  LC_EXPECT_LOG("cxx constructors", 1, 2);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "cxx_sum"))(), 6);
  LC_EXPECT_LOG("cxx function-local static", 3);
  CHECK_OK(l, rtdyld_linker_remove_object(l, cxx));
  LC_EXPECT_LOG("remove cxx", -3, -2, -1);
  CHECK_FAILS(l, rtdyld_linker_remove_object(l, cxx), RTDYLD_RESULT_NOT_FOUND);
  /* An object whose constructors never ran: no destructors either. */
  a = test_load_file(l, a_path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  rtdyld_linker_free(l);
  LC_EXPECT_EMPTY_LOG("free after remove");

  /* Destructors as exit runs them, with the code left in place. (The
   * constructors get the program's arguments, which these ignore.) */
  l = make_linker(&resolver);
  a = test_load_file(l, a_path);
  cxx = test_load_file(l, cxx_path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  const char *prog_argv[] = { "prog", NULL };
  CHECK_OK(l, rtdyld_linker_set_program_arguments(l, 1, prog_argv, (const char *const *)environ));
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  LC_EXPECT_LOG("constructors of a and cxx", 200, 1000, 1, 2);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "cxx_sum"))(), 6);
  LC_EXPECT_LOG("cxx function-local static, third linker", 3);
  CHECK_OK(l, rtdyld_linker_run_destructors(l));
  LC_EXPECT_LOG("run_destructors", -3, -2, -1, -1000, -200);
  CHECK_OK(l, rtdyld_linker_run_destructors(l));
  LC_EXPECT_EMPTY_LOG("run_destructors again");
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "cxx_sum"))(), 6);
  CHECK_OK(l, rtdyld_linker_remove_object(l, a));
  rtdyld_linker_free(l);
  LC_EXPECT_EMPTY_LOG("remove and free after run_destructors");
  CHECK_FAILS(NULL, rtdyld_linker_run_destructors(NULL), RTDYLD_RESULT_INVALID_ARGUMENT);
  CHECK_FAILS(NULL, rtdyld_linker_set_program_arguments(NULL, 0, NULL, NULL), RTDYLD_RESULT_INVALID_ARGUMENT);

  printf("lc_constructors: OK\n");
  return 0;
}
