/* dlopen: use librtdyld the way a plugin host or an FFI would, without
 * linking against it: dlopen the shared library by path, find every
 * function with dlsym, then link and run an object with the default memory
 * manager and a resolver supplying the host functions. Also checks that
 * rtdyld_version() agrees with RTDYLD_VERSION_STRING in the header.
 *
 * This program is NOT linked with librtdyld; it only uses the header's types
 * and macros.
 *
 * usage: dlopen </abs/path/librtdyld.so> <jit_module.o> */
#include <dlfcn.h>

#include "rtdyld.h"
#include "test_util.h"

/* The functions used, as pointers filled in by dlsym. */
typedef struct rtdyld_api {
  const char *(*version)(void);
  const char *(*result_name)(rtdyld_result);
  rtdyld_result (*linker_new)(rtdyld_linker **);
  void (*linker_free)(rtdyld_linker *);
  const char *(*linker_last_error)(const rtdyld_linker *);
  rtdyld_result (*linker_set_resolver)(rtdyld_linker *, rtdyld_resolve_fn, void *);
  rtdyld_result (*linker_load_object)(rtdyld_linker *, const uint8_t *, uintptr_t, const char *, uint32_t *);
  rtdyld_result (*linker_finalize)(rtdyld_linker *);
  rtdyld_result (*linker_lookup)(rtdyld_linker *, const char *, uint64_t *);
} rtdyld_api;

static rtdyld_api api;
static rtdyld_linker *linker;

/* dlsym into a function pointer without the object-to-function pointer
 * conversion ISO C does not define: copy the bits. */
static void load_symbol(void *handle, const char *name, void *fn_ptr, size_t fn_ptr_size)
{
  dlerror();
  void *sym = dlsym(handle, name);
  const char *err = dlerror();
  if (err != NULL || sym == NULL)
    FAIL("dlsym(%s): %s", name, err ? err : "NULL");
  if (fn_ptr_size != sizeof sym)
    FAIL("function pointer size mismatch for %s", name);
  memcpy(fn_ptr, &sym, sizeof sym);
}
#define LOAD(handle, field, name) load_symbol(handle, name, &api.field, sizeof api.field)

#define API_OK(call)                                                          \
  do {                                                                        \
    rtdyld_result api_r_ = (call);                                            \
    if (api_r_ != RTDYLD_RESULT_OK)                                           \
      FAIL("%s returned %s (%u): %s", #call, api.result_name(api_r_),         \
           (unsigned)api_r_, linker ? api.linker_last_error(linker) : "");    \
  } while (0)

static int host_add(int a, int b) { return a + b; }
static int host_mul(int a, int b) { return a * b; }

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: %s </abs/path/librtdyld.so> <jit_module.o>\n", argv[0]);
    return 2;
  }
  void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    FAIL("dlopen(%s): %s", argv[1], dlerror());

  LOAD(handle, version, "rtdyld_version");
  LOAD(handle, result_name, "rtdyld_result_name");
  LOAD(handle, linker_new, "rtdyld_linker_new");
  LOAD(handle, linker_free, "rtdyld_linker_free");
  LOAD(handle, linker_last_error, "rtdyld_linker_last_error");
  LOAD(handle, linker_set_resolver, "rtdyld_linker_set_resolver");
  LOAD(handle, linker_load_object, "rtdyld_linker_load_object");
  LOAD(handle, linker_finalize, "rtdyld_linker_finalize");
  LOAD(handle, linker_lookup, "rtdyld_linker_lookup");

  const char *version = api.version();
  CHECK(version != NULL);
  if (strcmp(version, RTDYLD_VERSION_STRING) != 0)
    FAIL("rtdyld_version() = \"%s\", header says \"%s\"", version, RTDYLD_VERSION_STRING);
  printf("rtdyld_version() = %s\n", version);

  API_OK(api.linker_new(&linker));
  CHECK(linker != NULL);

  test_resolver resolver;
  memset(&resolver, 0, sizeof resolver);
  test_resolver_set(&resolver, "host_add", FN_ADDR(host_add));
  test_resolver_set(&resolver, "host_op", FN_ADDR(host_mul));
  API_OK(api.linker_set_resolver(linker, test_resolve, &resolver));

  size_t len = 0;
  uint8_t *data = test_read_file(argv[2], &len);
  uint32_t object_id = UINT32_MAX;
  API_OK(api.linker_load_object(linker, data, len, argv[2], &object_id));
  free(data);
  API_OK(api.linker_finalize(linker));

  uint64_t address = 0;
  API_OK(api.linker_lookup(linker, "fx_add", &address));
  CHECK_EQ(AS_FN(fn_int_int2, address)(20, 22), 1042);
  API_OK(api.linker_lookup(linker, "fx_op", &address));
  CHECK_EQ(AS_FN(fn_int_int2, address)(6, 7), 42);
  API_OK(api.linker_lookup(linker, "fx_twice", &address));
  CHECK_EQ(AS_FN(fn_int_int, address)(1), 2004);
  API_OK(api.linker_lookup(linker, "fx_counter", &address));
  CHECK_EQ(AS_FN(fn_int_void, address)(), 42);

  api.linker_free(linker);
  linker = NULL;
  /* Not dlclose'd: a Rust cdylib may keep thread-local destructors
   * registered, and unloading it buys the test nothing. */
  printf("dlopen: OK\n");
  return 0;
}
