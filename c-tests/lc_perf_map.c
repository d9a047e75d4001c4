/* lc_perf_map: the perf map through the C API (issue 3, point 7).
 *
 * With rtdyld_linker_set_perf_map(l, true), finalize appends to
 * /tmp/perf-<pid>.map one "START SIZE name" line (hex) per JIT'd function
 * of fixtures/lc_debug_jit.c: jit_fn and jit_caller (global; START equals
 * rtdyld_linker_lookup's answer and SIZE the symbol's size) and the static
 * jit_helper (inside the object's code). A finalize that moved nothing
 * writes nothing more. A second linker without the perf map writes
 * nothing. The file is deleted at the end (and before, if a stale one with
 * this pid exists).
 *
 * usage: lc_perf_map <lc_debug_jit.o> */
#include <unistd.h>

#include "lc_util.h"

typedef struct map_line {
  unsigned long long start, size;
  char name[256];
} map_line;

#define MAX_LINES 64

/* Reads the map; returns the number of lines (0 if there is no file). */
static size_t read_map(const char *path, map_line *lines)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = 0;
  char buf[512];
  while (fgets(buf, sizeof buf, f)) {
    if (n == MAX_LINES)
      FAIL("%s has more than %d lines", path, MAX_LINES);
    map_line *m = &lines[n];
    if (sscanf(buf, "%llx %llx %255s", &m->start, &m->size, m->name) != 3)
      FAIL("%s: malformed line: %s", path, buf);
    n++;
  }
  fclose(f);
  return n;
}

static const map_line *find_line(const map_line *lines, size_t n, const char *name)
{
  const map_line *found = NULL;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(lines[i].name, name) == 0) {
      if (found)
        FAIL("%s appears twice in the perf map", name);
      found = &lines[i];
    }
  }
  if (!found)
    FAIL("%s is not in the perf map", name);
  return found;
}

int main(int argc, char **argv)
{
  if (argc != 2)
    FAIL("usage: lc_perf_map <lc_debug_jit.o>");
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%ld.map", (long)getpid());
  unlink(path);

  /* Without the perf map: no file. */
  rtdyld_linker *l = NULL;
  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true));
  test_load_file(l, argv[1]);
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK(access(path, F_OK) != 0);
  rtdyld_linker_free(l);

  CHECK_OK(NULL, rtdyld_linker_new(&l));
  CHECK_OK(l, rtdyld_linker_set_process_symbols(l, true));
  CHECK_OK(l, rtdyld_linker_set_perf_map(l, true));
  uint32_t id = test_load_file(l, argv[1]);
  CHECK_OK(l, rtdyld_linker_finalize(l));

  static map_line lines[MAX_LINES];
  size_t n = read_map(path, lines);
  printf("%s: %zu lines\n", path, n);
  for (size_t i = 0; i < n; i++)
    printf("  %llx %llx %s\n", lines[i].start, lines[i].size, lines[i].name);
  CHECK(n >= 3);
  const char *globals[] = { "jit_fn", "jit_caller" };
  for (size_t i = 0; i < 2; i++) {
    const map_line *m = find_line(lines, n, globals[i]);
    CHECK_EQ(m->start, test_lookup(l, globals[i]));
    CHECK_EQ(m->size, lc_symbol_size(l, id, globals[i]));
    CHECK(m->size > 0);
  }
  /* The static helper lies in the object's code section. */
  const map_line *helper = find_line(lines, n, "jit_helper");
  CHECK(helper->size > 0);
  bool in_code = false;
  uint32_t count = 0;
  CHECK_OK(l, rtdyld_linker_object_section_count(l, id, &count));
  for (uint32_t i = 0; i < count; i++) {
    rtdyld_section_info info;
    CHECK_OK(l, rtdyld_linker_object_section(l, id, i, &info));
    if (info.kind == RTDYLD_SECTION_KIND_CODE && helper->start >= info.target_address &&
        helper->start + helper->size <= info.target_address + info.size)
      in_code = true;
  }
  CHECK(in_code);
  CHECK_EQ(AS_FN(fn_int_int, test_lookup(l, "jit_caller"))(1), 13);

  /* Nothing moved: nothing new. */
  CHECK_OK(l, rtdyld_linker_finalize(l));
  CHECK_EQ(read_map(path, lines), n);
  rtdyld_linker_free(l);

  CHECK(unlink(path) == 0);
  printf("lc_perf_map: OK\n");
  return 0;
}
