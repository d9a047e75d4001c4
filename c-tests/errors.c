/* errors: every failure returns the documented result code with a message,
 * and leaves the linker usable: after each failure the SAME linker loads,
 * finalizes and runs a fresh good object (good_<n>.o, each with its own
 * symbol names).
 *
 * Failures exercised: NULL arguments to every function, a truncated object,
 * garbage bytes, a corrupt ELF header, objects for another architecture,
 * unresolved symbols (both names reported), a duplicate strong definition,
 * and an unsupported relocation type.
 *
 * usage: errors <aarch64.o or -> <unresolved.o> <dup_a.o> <dup_b.o> <bad_reloc.o>
 *               <good_1.o> ... <good_8.o>
 * (good_<n>.o defines good_answer_<n>() = 4200 + n and
 *  good_call_<n>(x) = host_add(x, n)) */
#include <elf.h>

#include "test_rtdyld.h"

#define GOOD_COUNT 8

static int host_add(int a, int b) { return a + b; }
static int host_missing_one(int x) { return x * 10; }
static int host_missing_two(int x) { return x * 100; }

/* Load good_<n>.o into the linker, finalize, and call both functions. */
static uint32_t check_recovery(rtdyld_linker *linker, char **good_paths, int n, const char *after)
{
  uint32_t id = UINT32_MAX;
  size_t len = 0;
  uint8_t *data = test_read_file(good_paths[n - 1], &len);
  CHECK_OK(linker, rtdyld_linker_load_object(linker, data, len, good_paths[n - 1], &id));
  free(data);
  CHECK_OK(linker, rtdyld_linker_finalize(linker));
  char name[64];
  snprintf(name, sizeof name, "good_answer_%d", n);
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, name))(), 4200 + n);
  snprintf(name, sizeof name, "good_call_%d", n);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, name))(1000), 1000 + n);
  printf("  recovered after %s with good_%d.o\n", after, n);
  return id;
}

/* Load bytes that must fail with `expected`; print the message. */
static void expect_load_failure(rtdyld_linker *linker, const uint8_t *data, size_t len,
                                const char *name, rtdyld_result expected)
{
  uint32_t id = 12345;
  CHECK_FAILS(linker, rtdyld_linker_load_object(linker, data, len, name, &id), expected);
  CHECK_EQ(id, 12345); /* outputs are written only on success */
  printf("  %s: %s: %s\n", name, rtdyld_result_name(expected), rtdyld_linker_last_error(linker));
}

static void check_result_names(void)
{
  const char *names[10];
  for (rtdyld_result r = 0; r < 10; r++) {
    names[r] = rtdyld_result_name(r);
    if (names[r] == NULL || names[r][0] == '\0')
      FAIL("rtdyld_result_name(%u) is NULL or empty", (unsigned)r);
    for (rtdyld_result q = 0; q < r; q++)
      if (strcmp(names[q], names[r]) == 0)
        FAIL("results %u and %u share the name %s", (unsigned)q, (unsigned)r, names[r]);
  }
  CHECK(rtdyld_result_name(1000) != NULL); /* unknown values get a name too */
  printf("  result names: %s, %s, ..., %s; unknown: %s\n", names[0], names[1], names[9],
         rtdyld_result_name(1000));
}

/* Memory-manager callbacks that are never called (for argument checks). */
static uint8_t *never_code(void *ctx, uintptr_t size, uint32_t alignment, uint32_t id,
                           const char *name)
{
  (void)ctx; (void)size; (void)alignment; (void)id; (void)name;
  FAIL("allocate_code called unexpectedly");
}
static uint8_t *never_data(void *ctx, uintptr_t size, uint32_t alignment, uint32_t id,
                           const char *name, bool ro)
{
  (void)ctx; (void)size; (void)alignment; (void)id; (void)name; (void)ro;
  FAIL("allocate_data called unexpectedly");
}

/* good_object: the id of a loaded object (for calls that must fail only
 * because of a NULL output). */
static void check_null_arguments(rtdyld_linker *linker, uint32_t good_object)
{
  const rtdyld_result INVALID = RTDYLD_RESULT_INVALID_ARGUMENT;
  uint8_t byte = 0;
  uint64_t address = 0;
  uint8_t *local = NULL;
  uint32_t count = 0;
  rtdyld_section_info section;
  rtdyld_symbol_info symbol;

  /* Constructors: NULL out pointer or NULL / bad memory manager. */
  rtdyld_linker *sentinel = (rtdyld_linker *)&byte;
  rtdyld_linker *out = sentinel;
  CHECK_FAILS(NULL, rtdyld_linker_new(NULL), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(NULL, &out), INVALID);
  CHECK(out == sentinel);
  rtdyld_memory_manager mm;
  memset(&mm, 0, sizeof mm);
  mm.struct_size = (uint32_t)sizeof mm;
  mm.allocate_code = never_code;
  mm.allocate_data = never_data;
  CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(&mm, NULL), INVALID);
  mm.allocate_code = NULL; /* required callback missing */
  CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(&mm, &out), INVALID);
  CHECK(out == sentinel);
  mm.allocate_code = never_code;
  mm.allocate_data = NULL;
  CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(&mm, &out), INVALID);
  CHECK(strstr(rtdyld_last_error(), "allocate_code and allocate_data are required") != NULL);
  mm.allocate_data = never_data;
  mm.struct_size = 0; /* wrong size */
  CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(&mm, &out), INVALID);
  CHECK(out == sentinel);
  CHECK(strstr(rtdyld_last_error(), "struct_size is 0") != NULL);
  printf("  without a linker: %s\n", rtdyld_last_error());
  /* A newer client's struct: members this library does not know must be
   * zero (NULL callbacks), or it would silently not call them. */
  {
    struct {
      rtdyld_memory_manager known;
      void (*newer_callback)(void);
    } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.known = mm;
    bigger.known.struct_size = (uint32_t)sizeof bigger;
    rtdyld_linker *l2 = NULL;
    CHECK_OK(NULL, rtdyld_linker_new_with_memory_manager(&bigger.known, &l2));
    rtdyld_linker_free(l2);
    bigger.newer_callback = (void (*)(void))never_code;
    CHECK_FAILS(NULL, rtdyld_linker_new_with_memory_manager(&bigger.known, &out), RTDYLD_RESULT_UNSUPPORTED);
    CHECK(out == sentinel);
    CHECK(strstr(rtdyld_last_error(), "would not call them") != NULL);
  }
  CHECK_FAILS(NULL, rtdyld_linker_new(NULL), INVALID);
  CHECK(strcmp(rtdyld_last_error(), "linker_out is NULL") == 0);

  /* NULL linker. */
  rtdyld_linker_free(NULL);
  CHECK_FAILS(NULL, rtdyld_linker_set_resolver(NULL, test_resolve, NULL), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_set_process_symbols(NULL, true), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_set_runtime_helpers(NULL, true), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_set_retain_relocations(NULL, true), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_load_object(NULL, &byte, 1, "x", &count), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_finalize(NULL), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_map_section_address(NULL, &byte, 0x1000), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_map_section_id(NULL, 0, 0x1000), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_lookup(NULL, "x", &address), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_lookup_local(NULL, "x", &local), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_section_info(NULL, 0, &section), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_object_section_count(NULL, 0, &count), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_object_section(NULL, 0, 0, &section), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_object_symbol_count(NULL, 0, &count), INVALID);
  CHECK_FAILS(NULL, rtdyld_linker_object_symbol(NULL, 0, 0, &symbol), INVALID);
  CHECK(strstr(rtdyld_last_error(), "NULL") != NULL);
  const char *null_linker_error = rtdyld_linker_last_error(NULL); /* must not crash */
  printf("  rtdyld_linker_last_error(NULL) = %s\n",
         null_linker_error ? null_linker_error : "(NULL)");

  /* Program arguments: argv must hold argc of them. */
  CHECK_FAILS(linker, rtdyld_linker_set_program_arguments(linker, 3, NULL, NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_set_program_arguments(linker, -1, NULL, NULL), INVALID);

  /* A real linker with NULL inputs or outputs; the object and section exist,
   * so these fail only because of the NULL. */
  CHECK_OK(linker, rtdyld_linker_object_section(linker, good_object, 0, &section));
  uint32_t good_section = section.section_id;
  CHECK_FAILS(linker, rtdyld_linker_load_object(linker, NULL, 16, "x", &count), INVALID);
  /* A NULL local address is an input, not an output: it is just an address
   * where no section starts, so NOT_FOUND is as good as INVALID_ARGUMENT. */
  rtdyld_result r = rtdyld_linker_map_section_address(linker, NULL, 0x1000);
  if (r != INVALID && r != RTDYLD_RESULT_NOT_FOUND)
    FAIL("rtdyld_linker_map_section_address(linker, NULL, ...) returned %s", rtdyld_result_name(r));
  CHECK(rtdyld_linker_last_error(linker)[0] != '\0');
  CHECK_FAILS(linker, rtdyld_linker_lookup(linker, NULL, &address), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_lookup(linker, "good_answer_1", NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_lookup_local(linker, NULL, &local), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_lookup_local(linker, "good_answer_1", NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_section_info(linker, good_section, NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_object_section_count(linker, good_object, NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_object_section(linker, good_object, 0, NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_object_symbol_count(linker, good_object, NULL), INVALID);
  CHECK_FAILS(linker, rtdyld_linker_object_symbol(linker, good_object, 0, NULL), INVALID);

  /* Unknown names and ids. */
  CHECK_FAILS(linker, rtdyld_linker_lookup(linker, "no_such_symbol", &address), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_lookup_local(linker, "no_such_symbol", &local),
              RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_section_info(linker, 1000000, &section), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_object_section_count(linker, 1000000, &count),
              RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_object_section(linker, good_object, 1000000, &section),
              RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_object_symbol(linker, good_object, 1000000, &symbol),
              RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_map_section_id(linker, 1000000, 0x1000), RTDYLD_RESULT_NOT_FOUND);
  CHECK_FAILS(linker, rtdyld_linker_map_section_address(linker, &byte, 0x1000), RTDYLD_RESULT_NOT_FOUND);
  /* A later failure with a NULL linker is about no linker: the earlier
   * message of this one is gone. */
  CHECK(rtdyld_linker_last_error(linker)[0] != '\0');
  CHECK_FAILS(NULL, rtdyld_linker_lookup(NULL, "x", &address), INVALID);
  if (rtdyld_linker_last_error(linker)[0] != '\0')
    FAIL("after a failure with a NULL linker, last_error(linker) = \"%s\"", rtdyld_linker_last_error(linker));
  printf("  NULL arguments and unknown ids: OK\n");
}

/* A resolver that calls back into its own linker (which is busy
 * finalizing on this thread): the call is refused with BUSY, and the message
 * says it re-entered, not that another thread holds the linker. */
struct reentry {
  rtdyld_linker *linker;
  rtdyld_result result;
  char message[512];
};

static int reenter_resolve(void *ctx, const char *name, uint64_t *address_out)
{
  struct reentry *r = ctx;
  uint64_t address = 0;
  r->result = rtdyld_linker_lookup(r->linker, "anything", &address);
  snprintf(r->message, sizeof r->message, "%s", rtdyld_linker_last_error(r->linker));
  if (strcmp(name, "missing_one") == 0)
    *address_out = FN_ADDR(host_missing_one);
  else if (strcmp(name, "missing_two") == 0)
    *address_out = FN_ADDR(host_missing_two);
  else
    return 0;
  return 1;
}

static void check_reentry(const char *unresolved_path)
{
  struct reentry r = { 0 };
  CHECK_OK(NULL, rtdyld_linker_new(&r.linker));
  CHECK_OK(r.linker, rtdyld_linker_set_resolver(r.linker, reenter_resolve, &r));
  test_load_file(r.linker, unresolved_path);
  CHECK_OK(r.linker, rtdyld_linker_finalize(r.linker));
  if (r.result != RTDYLD_RESULT_BUSY || strstr(r.message, "called again from inside") == NULL)
    FAIL("a call from the resolver on its own linker gave %s: %s", rtdyld_result_name(r.result), r.message);
  printf("  re-entry from the resolver: %s: %s\n", rtdyld_result_name(r.result), r.message);
  rtdyld_linker_free(r.linker);
}

/* Small deterministic generator for the garbage bytes. */
static uint32_t lcg(uint32_t *state)
{
  *state = *state * 1103515245u + 12345u;
  return *state >> 16;
}

int main(int argc, char **argv)
{
  if (argc != 6 + GOOD_COUNT) {
    fprintf(stderr, "usage: %s <aarch64.o|-> <unresolved.o> <dup_a.o> <dup_b.o> <bad_reloc.o> "
                    "<good_1.o> ... <good_%d.o>\n", argv[0], GOOD_COUNT);
    return 2;
  }
  const char *aarch64_path = argv[1];
  const char *unresolved_path = argv[2];
  const char *dup_a_path = argv[3];
  const char *dup_b_path = argv[4];
  const char *bad_reloc_path = argv[5];
  char **good = argv + 6;

  printf("result names\n");
  check_result_names();

  rtdyld_linker *linker = NULL;
  CHECK_OK(linker, rtdyld_linker_new(&linker));
  CHECK_EQ(strlen(rtdyld_linker_last_error(linker)), 0); /* "" before any failure */
  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  CHECK_OK(linker, rtdyld_linker_set_resolver(linker, test_resolve, &resolver));

  printf("good object\n");
  uint32_t good_object = check_recovery(linker, good, 1, "nothing");

  printf("NULL arguments\n");
  check_null_arguments(linker, good_object);
  check_reentry(unresolved_path);
  check_recovery(linker, good, 2, "NULL arguments");

  /* Truncated: the first 100 bytes of good_3.o (a valid ELF identification,
   * section headers beyond the end). good_3.o itself then loads: the failed
   * load defined nothing. */
  printf("truncated object\n");
  size_t len = 0;
  uint8_t *data = test_read_file(good[2], &len);
  CHECK(len > 100);
  expect_load_failure(linker, data, 100, "truncated good_3.o", RTDYLD_RESULT_MALFORMED_OBJECT);
  expect_load_failure(linker, data, 10, "10-byte good_3.o", RTDYLD_RESULT_MALFORMED_OBJECT);
  free(data);
  check_recovery(linker, good, 3, "truncated object");

  /* Garbage: random bytes; then an ELF header whose section header table
   * points far outside the file. */
  printf("garbage\n");
  uint8_t garbage[4096];
  uint32_t seed = 12345;
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (uint8_t)lcg(&seed);
  expect_load_failure(linker, garbage, sizeof garbage, "random bytes", RTDYLD_RESULT_MALFORMED_OBJECT);
  data = test_read_file(good[3], &len);
  CHECK(len > sizeof(Elf64_Ehdr));
  Elf64_Ehdr header;
  memcpy(&header, data, sizeof header);
  header.e_shoff = (Elf64_Off)1 << 40;
  memcpy(data, &header, sizeof header);
  expect_load_failure(linker, data, len, "good_4.o with e_shoff = 2^40", RTDYLD_RESULT_MALFORMED_OBJECT);
  free(data);
  check_recovery(linker, good, 4, "garbage");

  /* Another architecture: a real AArch64 object if llvm-mc built one, and a
   * copy of good_5.o relabelled EM_AARCH64. */
  printf("wrong architecture\n");
  if (strcmp(aarch64_path, "-") != 0) {
    data = test_read_file(aarch64_path, &len);
    expect_load_failure(linker, data, len, "aarch64.o", RTDYLD_RESULT_UNSUPPORTED);
    free(data);
  } else {
    printf("  (no llvm-mc: only the patched e_machine case)\n");
  }
  data = test_read_file(good[4], &len);
  memcpy(&header, data, sizeof header);
  CHECK_EQ(header.e_machine, EM_X86_64);
  header.e_machine = EM_AARCH64;
  memcpy(data, &header, sizeof header);
  expect_load_failure(linker, data, len, "good_5.o with e_machine = EM_AARCH64", RTDYLD_RESULT_UNSUPPORTED);
  free(data);
  check_recovery(linker, good, 5, "wrong architecture");

  /* Unresolved: the load succeeds, finalize fails naming both symbols. Once
   * the resolver knows them the same linker finalizes and runs everything. */
  printf("unresolved symbols\n");
  test_load_file(linker, unresolved_path);
  CHECK_FAILS(linker, rtdyld_linker_finalize(linker), RTDYLD_RESULT_UNRESOLVED_SYMBOL);
  const char *message = rtdyld_linker_last_error(linker);
  printf("  %s\n", message);
  if (!strstr(message, "missing_one") || !strstr(message, "missing_two"))
    FAIL("the unresolved-symbol message must name missing_one and missing_two: %s", message);
  test_resolver_set(&resolver, "missing_one", FN_ADDR(host_missing_one));
  test_resolver_set(&resolver, "missing_two", FN_ADDR(host_missing_two));
  check_recovery(linker, good, 6, "unresolved symbols");
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(linker, "calls_missing"))(3), 330);

  /* Duplicate: the second definition of dup_symbol is refused; the first
   * stays. */
  printf("duplicate definition\n");
  test_load_file(linker, dup_a_path);
  data = test_read_file(dup_b_path, &len);
  expect_load_failure(linker, data, len, dup_b_path, RTDYLD_RESULT_DUPLICATE_SYMBOL);
  free(data);
  message = rtdyld_linker_last_error(linker);
  if (!strstr(message, "dup_symbol"))
    FAIL("the duplicate-symbol message must name dup_symbol: %s", message);
  check_recovery(linker, good, 7, "duplicate definition");
  CHECK_EQ(AS_FN(fn_int_void, test_lookup(linker, "dup_symbol"))(), 1);

  /* Unsupported relocation: a dynamic relocation type in a .o. Refused at
   * load (or, if the load accepts it, at finalize). */
  printf("unsupported relocation\n");
  data = test_read_file(bad_reloc_path, &len);
  uint32_t bad_id = UINT32_MAX;
  rtdyld_result r = rtdyld_linker_load_object(linker, data, len, bad_reloc_path, &bad_id);
  free(data);
  if (r == RTDYLD_RESULT_OK) {
    printf("  load accepted bad_reloc.o; finalize must refuse it\n");
    CHECK_FAILS(linker, rtdyld_linker_finalize(linker), RTDYLD_RESULT_UNSUPPORTED);
  } else if (r != RTDYLD_RESULT_UNSUPPORTED) {
    FAIL("loading bad_reloc.o returned %s (%u), expected %s: %s", rtdyld_result_name(r), (unsigned)r,
         rtdyld_result_name(RTDYLD_RESULT_UNSUPPORTED), rtdyld_linker_last_error(linker));
  }
  message = rtdyld_linker_last_error(linker);
  if (!strstr(message, "R_X86_64_IRELATIVE"))
    FAIL("the unsupported-relocation message must name R_X86_64_IRELATIVE: %s", message);
  printf("  %s\n", message);
  check_recovery(linker, good, 8, "unsupported relocation");

  /* A message outlives its linker (until the thread's next failure), and a
   * new linker, perhaps at the same address, does not inherit it. */
  printf("message after free\n");
  uint64_t address = 0;
  CHECK_FAILS(linker, rtdyld_linker_lookup(linker, "no_such_symbol", &address), RTDYLD_RESULT_NOT_FOUND);
  message = rtdyld_linker_last_error(linker);
  rtdyld_linker_free(linker);
  CHECK(strstr(message, "no_such_symbol") != NULL);
  CHECK(rtdyld_last_error() == message);
  CHECK_OK(NULL, rtdyld_linker_new(&linker));
  CHECK_EQ(strlen(rtdyld_linker_last_error(linker)), 0);
  CHECK(strstr(message, "no_such_symbol") != NULL);
  rtdyld_linker_free(linker);
  printf("errors: OK\n");
  return 0;
}
