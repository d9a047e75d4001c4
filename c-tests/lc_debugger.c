/* lc_debugger: the program lc_debugger.sh runs under gdb (issue 3, point 7).
 *
 * Turns on rtdyld_linker_set_debugger_registration before loading the
 * object (fixtures/lc_debug_jit.c, built with -g), links it and calls the
 * JIT'd jit_caller(20), which calls jit_fn(21) = 21 * 3 * 2, so 127 comes
 * back; gdb breaks in jit_fn and prints the backtrace. Also run on its own
 * (and under valgrind) as lc_debugger_program: registering and
 * deregistering with the GDB JIT interface leaks nothing.
 *
 * usage: lc_debugger <lc_debug_jit.o> */
#include "lc_util.h"

/* A host frame between main and the JIT'd code, for the backtrace. */
__attribute__((noinline)) static int call_jit(rtdyld_linker *l, int x)
{
  int r = AS_FN(fn_int_int, test_lookup(l, "jit_caller"))(x);
  __asm__ volatile("" ::: "memory"); /* keep this frame (no tail call) */
  return r;
}

int main(int argc, char **argv)
{
  if (argc != 2)
    FAIL("usage: lc_debugger <lc_debug_jit.o>");
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true)); /* printf, stdout */
  CHECK_OK(l, rtdyld_linker_set_debugger_registration(l, true));
  uint32_t id = test_load_file(l, argv[1]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(call_jit(l, 20), 127);
  /* Removal deregisters it; a second object registers again. */
  CHECK_OK(l, rtdyld_linker_remove_object(l, id));
  test_load_file(l, argv[1]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(call_jit(l, 1), 13);
  rtdyld_linker_free(l);
  printf("lc_debugger: OK\n");
  return 0;
}
