/* lc_runtime_helpers: runtime helper symbols resolve without client code
 * (issue 3, point 8): process symbols off, no resolver.
 *
 *   - lc_ssp.c, -fstack-protector-all: guarded("hello") = 5; smash(64)
 *     overruns its buffer, and __stack_chk_fail aborts a child process
 *     with SIGABRT (smash(8) returns normally); with runtime helpers off
 *     it comes from the resolver only (unresolved without it);
 *   - lc_atexit.cpp (-fno-threadsafe-statics: nothing from libstdc++,
 *     which this program has not loaded): globals g1(1), g2(2) and a
 *     function-local static local(3) with destructors, registered through
 *     __cxa_atexit with the object's __dso_handle; the destructors run on
 *     remove_object, newest first (the host sink reads 321), and not again
 *     when the linker is freed;
 *   - lc_tls_def.c (-fPIC, general dynamic): __tls_get_addr;
 *   - after this program loads libstdc++ (still no process symbols, no
 *     resolver): lc_atexit.cpp built with thread-safe statics links, its
 *     __cxa_guard_* coming from libstdc++; destroyed by rtdyld_linker_free.
 *
 * usage: lc_runtime_helpers <lc_ssp.o> <lc_atexit_nts.o> <lc_tls_def.o> <lc_atexit.o> */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc_util.h"

typedef long (*fn_long_str)(const char *);
typedef void (*fn_set_sink)(long *);

/* Links lc_atexit (either build) in `l`, runs it; returns its object id. */
static uint32_t atexit_object(rtdyld_linker *l, const char *path, long *sink)
{
  uint32_t id = test_load_file(l, path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  AS_FN(fn_set_sink, test_lookup(l, "set_sink"))(sink);
  CHECK_EQ(AS_FN(fn_long_void, test_lookup(l, "atexit_sum"))(), 6);
  CHECK_EQ(*sink, 0);
  return id;
}

int main(int argc, char **argv)
{
  if (argc != 5)
    FAIL("usage: lc_runtime_helpers <lc_ssp.o> <lc_atexit_nts.o> <lc_tls_def.o> <lc_atexit.o>");
  if (dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD) != NULL)
    printf("note: libstdc++ is already loaded in this process\n");

  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, false));

  /* Stack protector. */
  test_load_file(l, argv[1]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(AS_FN(fn_long_str, test_lookup(l, "guarded"))("hello"), 5);
  fn_long_long smash = AS_FN(fn_long_long, test_lookup(l, "smash"));
  CHECK_EQ(smash(8), 0);
  fflush(NULL);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    /* __stack_chk_fail prints "*** stack smashing detected ***" and aborts. */
    smash(64);
    _exit(0); /* not reached if the canary check works */
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  printf("smash(64) in a child: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  CHECK(WIFSIGNALED(status));
  CHECK_EQ(WTERMSIG(status), SIGABRT);

  /* Runtime helpers off (code that runs in another process): the
   * stack protector's __stack_chk_fail comes from the resolver only. */
  {
    rtdyld_linker *r = NULL;
    test_resolver names = {0};
    static char elsewhere; /* stands for the other process's function */
    CHECK_OK(NULL, rtdyld_linker_new(&r));
    CHECK_OK(r, rtdyld_linker_set_runtime_helpers(r, false));
    CHECK_OK(r, rtdyld_linker_set_resolver(r, test_resolve, &names));
    test_load_file(r, argv[1]);
    CHECK_FAILS(r, rtdyld_linker_finalize(r), RTDYLD_RESULT_UNRESOLVED_SYMBOL);
    CHECK(strstr(test_last_error(r), "__stack_chk_fail") != NULL);
    test_resolver_set(&names, "__stack_chk_fail", (uint64_t)(uintptr_t)&elsewhere);
    CHECK_OK(r, rtdyld_linker_finalize(r));
    rtdyld_linker_free(r);
  }

  /* C++ globals with destructors: __cxa_atexit and __dso_handle. */
  long sink = 0;
  uint32_t id = atexit_object(l, argv[2], &sink);
  CHECK_OK(l, rtdyld_linker_remove_object(l, id));
  CHECK_EQ(sink, 321); /* local(3), then g2, then g1 */

  /* __tls_get_addr. */
  test_load_file(l, argv[3]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "bump"))(5), 105 * 1000 + 1);
  CHECK_EQ(AS_FN(fn_long_long, test_lookup(l, "tag0"))(0), 'i');
  rtdyld_linker_free(l);
  CHECK_EQ(sink, 321);

  /* With libstdc++ in the process, its __cxa_guard_* resolve as helpers. */
  lc_load_libstdcxx();
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  sink = 0;
  atexit_object(l, argv[4], &sink);
  rtdyld_linker_free(l);
  CHECK_EQ(sink, 321);

  printf("lc_runtime_helpers: OK\n");
  return 0;
}
