// lc_host_catch: C++ exceptions between JIT'd code and a C++ host (issue 3,
// point 1): one thrown in JIT'd code is caught in the host; one thrown in a
// host callback passes through a JIT'd frame and is caught in the host.
//
// usage: lc_host_catch <lc_throw.o>
#include <rtdyld.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const char *what, rtdyld_linker *l)
{
  std::fprintf(stderr, "FAIL: %s: %s\n", what, l ? rtdyld_linker_last_error(l) : "");
  std::exit(1);
}

long host_thrower(long x)
{
  if (x > 0)
    throw std::logic_error("host " + std::to_string(x));
  return 100;
}

} // namespace

int main(int argc, char **argv)
{
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <lc_throw.o>\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<unsigned char> obj((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (obj.empty())
    fail("cannot read the object", nullptr);

  rtdyld_linker *l = nullptr;
  if (rtdyld_linker_new(&l) != RTDYLD_RESULT_OK)
    fail("rtdyld_linker_new", nullptr);
  // libstdc++ is linked into this program: the process has it.
  if (rtdyld_linker_set_process_symbols(l, true) != RTDYLD_RESULT_OK ||
      rtdyld_linker_load_object(l, obj.data(), obj.size(), argv[1], nullptr) != RTDYLD_RESULT_OK ||
      rtdyld_linker_finalize(l) != RTDYLD_RESULT_OK)
    fail("link", l);

  uint64_t a = 0, b = 0;
  if (rtdyld_linker_lookup(l, "jit_throws", &a) != RTDYLD_RESULT_OK ||
      rtdyld_linker_lookup(l, "jit_calls_host", &b) != RTDYLD_RESULT_OK)
    fail("lookup", l);
  auto jit_throws = reinterpret_cast<long (*)(long)>(static_cast<uintptr_t>(a));
  auto jit_calls_host = reinterpret_cast<long (*)(long (*)(long), long)>(static_cast<uintptr_t>(b));

  if (jit_throws(-7) != 7)
    fail("jit_throws(-7) != 7", nullptr);
  bool caught = false;
  try {
    jit_throws(5);
  } catch (const std::runtime_error &e) {
    caught = std::strcmp(e.what(), "jit 5") == 0;
  }
  if (!caught)
    fail("the host did not catch std::runtime_error(\"jit 5\") thrown in JIT'd code", nullptr);

  if (jit_calls_host(host_thrower, 0) != 100 + 23)
    fail("jit_calls_host(host_thrower, 0) != 123", nullptr);
  caught = false;
  try {
    jit_calls_host(host_thrower, 3);
  } catch (const std::logic_error &e) {
    caught = std::strcmp(e.what(), "host 3") == 0;
  }
  if (!caught)
    fail("the host did not catch std::logic_error(\"host 3\") through a JIT'd frame", nullptr);

  rtdyld_linker_free(l);
  std::printf("lc_host_catch: OK\n");
  return 0;
}
