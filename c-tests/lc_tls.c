/* lc_tls: thread-local storage through the C API (issue 3, point 3).
 *
 * For each flavour of the two C objects (lc_tls_def.c defines __thread
 * counter = 100, tag = "init" (.tdata) and zeroed[4] (.tbss); lc_tls_use.c
 * reads counter and zeroed from the other object and has a static
 * private_state = 5), in a linker of its own:
 *   gd: -fPIC (general dynamic, __tls_get_addr; local dynamic for
 *       private_state), ie: -fPIC -ftls-model=initial-exec, le: -fno-pic
 *       (local exec, initial exec for the extern variables).
 * Threads created before the load (blocked on a barrier until the objects
 * are linked) and threads created after it each check that they see the
 * .tdata initial values and .tbss zeroes, bump their own copy 50 times by
 * their index t and end at (100 + 50 t) * 1000 + 50 * 10 + 7; the main
 * thread's counter stays 100 throughout. The sections of kind TLS_DATA and
 * TLS_ZERO_FILL are listed for the definer.
 *
 * A thread that used a first linker's variables, which is then freed,
 * sees fresh copies when the same objects are linked again (each flavour).
 *
 * Then a C++ thread_local with a constructor and destructor
 * (lc_tls_cxx.cpp, -fPIC and -fno-pic): each of 4 threads calls use_tracker
 * i + 1 times and sees its own object (uses * 100 + 7); each was
 * constructed in its thread and destroyed when it exited.
 *
 * usage: lc_tls <gd_def.o> <gd_use.o> <ie_def.o> <ie_use.o> <le_def.o> <le_use.o>
 *               <cxx_pic.o> <cxx_nopic.o> */
#include <pthread.h>

#include "lc_util.h"

#define EARLY_THREADS 3
#define LATE_THREADS 4
#define ROUNDS 50

typedef long (*fn_t)(long);

/* The JIT'd functions of the current flavour; written by the main thread
 * before it releases the threads through the barrier or creates them. */
static fn_t jit_bump, jit_read_both, jit_tag0;
static pthread_barrier_t start_barrier;

typedef struct worker {
  pthread_t thread;
  long index;
  bool early;
  /* results, checked by the main thread */
  long tag0, first_read, last_read;
  int bump_mismatches;
} worker;

static void *worker_main(void *arg)
{
  worker *w = arg;
  if (w->early) {
    int r = pthread_barrier_wait(&start_barrier);
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
      return NULL;
  }
  w->tag0 = jit_tag0(0);
  w->first_read = jit_read_both(0);
  for (long k = 1; k <= ROUNDS; k++) {
    if (jit_bump(w->index) != (100 + k * w->index) * 1000 + k)
      w->bump_mismatches++;
  }
  w->last_read = jit_read_both(0);
  return NULL;
}

static void check_worker(const worker *w)
{
  long t = w->index;
  printf("  thread %ld (%s): tag0 %ld, first %ld, last %ld\n", t,
         w->early ? "before the load" : "after the load", w->tag0, w->first_read, w->last_read);
  CHECK_EQ(w->tag0, 'i');                      /* .tdata initial value */
  CHECK_EQ(w->first_read, 100 * 1000 + 6);     /* fresh copy: .tdata values, .tbss zeroes */
  CHECK_EQ(w->bump_mismatches, 0);
  CHECK_EQ(w->last_read, (100 + ROUNDS * t) * 1000 + ROUNDS * 10 + 7);
}

static void check_tls_sections(rtdyld_linker *l, uint32_t id)
{
  uint32_t count = 0;
  bool tdata = false, tbss = false;
  CHECK_OK(l, rtdyld_linker_object_section_count(l, id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(l, rtdyld_linker_object_section(l, id, i, &info));
    if (info.kind == RTDYLD_SECTION_KIND_TLS_DATA) {
      tdata = true;
      CHECK(info.size >= 16 + 8);              /* tag[16] and counter */
    } else if (info.kind == RTDYLD_SECTION_KIND_TLS_ZERO_FILL) {
      tbss = true;
      CHECK(info.local_address == NULL);
      CHECK(info.size >= 4 * 8);               /* zeroed[4] */
    }
  }
  CHECK(tdata && tbss);
}

static void c_flavour(const char *label, const char *def_path, const char *use_path)
{
  printf("%s\n", label);
  worker workers[EARLY_THREADS + LATE_THREADS];
  memset(workers, 0, sizeof workers);
  CHECK(pthread_barrier_init(&start_barrier, NULL, EARLY_THREADS + 1) == 0);
  for (long t = 0; t < EARLY_THREADS; t++) {
    workers[t].index = t + 1;
    workers[t].early = true;
    CHECK(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) == 0);
  }

  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  uint32_t def = test_load_file(l, def_path);
  test_load_file(l, use_path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  check_tls_sections(l, def);
  jit_bump = AS_FN(fn_t, test_lookup(l, "bump"));
  jit_read_both = AS_FN(fn_t, test_lookup(l, "read_both"));
  jit_tag0 = AS_FN(fn_t, test_lookup(l, "tag0"));

  CHECK_EQ(jit_read_both(0), 100 * 1000 + 6);  /* the main thread's copy */
  int r = pthread_barrier_wait(&start_barrier);
  CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
  for (long t = EARLY_THREADS; t < EARLY_THREADS + LATE_THREADS; t++) {
    workers[t].index = t + 1;
    CHECK(pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) == 0);
  }
  for (long t = 0; t < EARLY_THREADS + LATE_THREADS; t++) {
    CHECK(pthread_join(workers[t].thread, NULL) == 0);
    check_worker(&workers[t]);
  }
  /* The others did not touch the main thread's copy. */
  CHECK_EQ(jit_read_both(0), 100 * 1000 + 7);
  CHECK_EQ(jit_bump(1), 101 * 1000 + 1);
  CHECK(pthread_barrier_destroy(&start_barrier) == 0);
  rtdyld_linker_free(l);
}

/* ---- a thread that lives through an unload and a new load ---- */

static pthread_barrier_t step_barrier;

typedef struct resident {
  pthread_t thread;
  long first_bump, second_read, second_tag0, second_bump;
} resident;

static void step(void)
{
  int r = pthread_barrier_wait(&step_barrier);
  if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
    abort();
}

static void *resident_main(void *arg)
{
  resident *r = arg;
  step();                       /* the first linker is ready */
  r->first_bump = jit_bump(5);
  step();                       /* done with it */
  step();                       /* a new linker with the same objects */
  r->second_read = jit_read_both(0);
  r->second_tag0 = jit_tag0(0);
  r->second_bump = jit_bump(1);
  step();
  return NULL;
}

static rtdyld_linker *link_pair(const char *def_path, const char *use_path)
{
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  test_load_file(l, def_path);
  test_load_file(l, use_path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  jit_bump = AS_FN(fn_t, test_lookup(l, "bump"));
  jit_read_both = AS_FN(fn_t, test_lookup(l, "read_both"));
  jit_tag0 = AS_FN(fn_t, test_lookup(l, "tag0"));
  return l;
}

/* One thread uses the variables of a first linker, which is then freed;
 * with the same objects linked again it sees fresh copies (.tdata values,
 * .tbss zeroes), not what it left in the old ones. */
static void reload_in_living_thread(const char *label, const char *def_path, const char *use_path)
{
  printf("%s: a thread across an unload and a new load\n", label);
  resident r;
  memset(&r, 0, sizeof r);
  CHECK(pthread_barrier_init(&step_barrier, NULL, 2) == 0);
  CHECK(pthread_create(&r.thread, NULL, resident_main, &r) == 0);
  rtdyld_linker *l = link_pair(def_path, use_path);
  step();
  step();
  rtdyld_linker_free(l);
  l = link_pair(def_path, use_path);
  step();
  step();
  CHECK(pthread_join(r.thread, NULL) == 0);
  rtdyld_linker_free(l);
  CHECK(pthread_barrier_destroy(&step_barrier) == 0);
  printf("  first bump %ld; after the reload: read %ld, tag0 %ld, bump %ld\n", r.first_bump,
         r.second_read, r.second_tag0, r.second_bump);
  CHECK_EQ(r.first_bump, 105 * 1000 + 1);
  CHECK_EQ(r.second_read, 100 * 1000 + 6);
  CHECK_EQ(r.second_tag0, 'i');
  CHECK_EQ(r.second_bump, 101 * 1000 + 1);
}

/* ---- C++ thread_local ---- */

static fn_long_void jit_use_tracker;

typedef struct cxx_worker {
  pthread_t thread;
  long calls;
  long result;
} cxx_worker;

static void *cxx_worker_main(void *arg)
{
  cxx_worker *w = arg;
  for (long k = 0; k < w->calls; k++)
    w->result = jit_use_tracker();
  return NULL;
}

static void cxx_flavour(const char *label, const char *path)
{
  printf("%s\n", label);
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  test_load_file(l, path);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_OK(l, rtdyld_linker_run_constructors(l));
  jit_use_tracker = AS_FN(fn_long_void, test_lookup(l, "use_tracker"));
  fn_long_void constructed = AS_FN(fn_long_void, test_lookup(l, "tracker_constructed"));
  fn_long_void destroyed = AS_FN(fn_long_void, test_lookup(l, "tracker_destroyed"));
  CHECK_EQ(constructed(), 0); /* thread_local objects are built on first use */

  cxx_worker workers[4];
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < 4; i++) {
    workers[i].calls = i + 1;
    CHECK(pthread_create(&workers[i].thread, NULL, cxx_worker_main, &workers[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    CHECK(pthread_join(workers[i].thread, NULL) == 0);
    printf("  thread %d: %ld\n", i, workers[i].result);
    CHECK_EQ(workers[i].result, (i + 1) * 100 + 7);
  }
  CHECK_EQ(constructed(), 4);
  CHECK_EQ(destroyed(), 4); /* each at its thread's exit */
  /* The main thread's own copy (destroyed at process exit only while the
   * object is loaded; rtdyld skips it once the linker is freed). */
  CHECK_EQ(jit_use_tracker(), 107);
  CHECK_EQ(jit_use_tracker(), 207);
  CHECK_EQ(constructed(), 5);
  rtdyld_linker_free(l);
}

int main(int argc, char **argv)
{
  if (argc != 9)
    FAIL("usage: lc_tls <gd_def.o> <gd_use.o> <ie_def.o> <ie_use.o> <le_def.o> <le_use.o> "
         "<cxx_pic.o> <cxx_nopic.o>");
  c_flavour("general dynamic (-fPIC)", argv[1], argv[2]);
  c_flavour("initial exec (-fPIC -ftls-model=initial-exec)", argv[3], argv[4]);
  c_flavour("local exec (-fno-pic)", argv[5], argv[6]);
  reload_in_living_thread("general dynamic", argv[1], argv[2]);
  reload_in_living_thread("initial exec", argv[3], argv[4]);
  reload_in_living_thread("local exec", argv[5], argv[6]);
  cxx_flavour("C++ thread_local (-fPIC)", argv[7]);
  cxx_flavour("C++ thread_local (-fno-pic)", argv[8]);
  printf("lc_tls: OK\n");
  return 0;
}
