// runtimedyld_driver: links relocatable objects with LLVM's RuntimeDyld (the
// linker inside MCJIT), for rtdyld's benchmark (benches/run.sh).
//
//   runtimedyld_driver [-l NAME]... [--repeat N] [--lookup] [--incremental]
//                      [--check SYM] FILE.o...
//       links the objects N times, a fresh RuntimeDyld and memory manager
//       each time, and prints the medians in microseconds:
//         load_us=      parse + loadObject of every object (allocate, copy,
//                       record relocations)
//         finalize_us=  resolveRelocations + finalizeMemory (mprotect)
//         total_us=     the two together
//       then lookup_ns= (with --lookup: mean getSymbol time over every
//       global symbol the objects define, last link) and maxrss_kb= (peak
//       resident set of the process, getrusage).
//       With --incremental, each object is loaded and finalized on its own,
//       as a JIT adding one module at a time; total_us= is the sum, and
//       first_us= / last_us= the median time of one object over the first
//       and the last tenth of them. With --check, `int SYM(void)` is called
//       after the last link and must return 0.
//   runtimedyld_driver [-l NAME]... --run [--entry SYM] FILE.o... [-- ARGS...]
//       links once and calls SYM (default main) as
//       int main(int, char **, char **); exits with its status.
//
// The memory manager mirrors rtdyld's default one: it asks RuntimeDyld for
// the per-object totals (reserveAllocationSpace), maps one contiguous block
// per object (in the low 2 GiB when the kernel allows, so -fno-pic code
// reaches the host's data the way a statically linked program does, see
// the note on copy relocations below), bump-allocates sections from it, and
// at finalize makes the code read+execute and the read-only data read-only
// of the objects loaded since the last finalize (as LLVM's own
// SectionMemoryManager does with its pending memory).
// External symbols are resolved with dlsym(RTLD_DEFAULT), after the
// libraries named with -l are opened RTLD_GLOBAL. Each finalize registers
// the new objects' EH frames with the unwinder, as MCJIT's does (with
// RTDyldMemoryManager's own registration) and as rtdyld's does by default;
// they are deregistered when the memory manager goes, untimed.
//
// Copy relocations: this program is linked as a non-PIE executable and
// refers to stdin/stdout/stderr/environ below, so the dynamic loader copies
// them into the executable, in low memory, where 32-bit PC-relative
// references from -fno-pic JIT code can reach them.

#include "llvm/ExecutionEngine/RTDyldMemoryManager.h"
#include "llvm/ExecutionEngine/RuntimeDyld.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <memory>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace llvm;

extern "C" char **environ;
// Code (not data) references: only these make the static linker emit copy
// relocations; a pointer in .data would get a dynamic relocation instead.
__attribute__((noinline)) static uintptr_t host_data_anchor() {
  return (uintptr_t)stdin ^ (uintptr_t)stdout ^ (uintptr_t)stderr ^
         (uintptr_t)environ;
}

namespace {

size_t page_size() { return (size_t)sysconf(_SC_PAGESIZE); }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct Region {
  uint8_t *base = nullptr;
  size_t size = 0; // page multiple
  size_t used = 0;
};

class BenchMemoryManager : public RTDyldMemoryManager {
public:
  ~BenchMemoryManager() override {
    // Before the memory goes: the unwinder must not keep tables in it.
    RTDyldMemoryManager::deregisterEHFrames();
    for (auto &m : mappings_)
      munmap(m.first, m.second);
  }

  bool needsToReserveAllocationSpace() override { return true; }

  void reserveAllocationSpace(uintptr_t CodeSize, uint32_t CodeAlign,
                              uintptr_t RODataSize, uint32_t RODataAlign,
                              uintptr_t RWDataSize,
                              uint32_t RWDataAlign) override {
    size_t ps = page_size();
    // Alignment slack: sections are aligned inside each region.
    size_t code = align_up(CodeSize + CodeAlign, ps);
    size_t ro = align_up(RODataSize + RODataAlign, ps);
    size_t rw = align_up(RWDataSize + RWDataAlign, ps);
    uint8_t *b = map(code + ro + rw);
    code_ = {b, code, 0};
    ro_ = {b + code, ro, 0};
    rw_ = {b + code + ro, rw, 0};
    code_regions_.push_back(code_);
    ro_regions_.push_back(ro_);
  }

  uint8_t *allocateCodeSection(uintptr_t Size, unsigned Alignment, unsigned,
                               StringRef) override {
    return bump(code_, Size, Alignment, true);
  }

  uint8_t *allocateDataSection(uintptr_t Size, unsigned Alignment, unsigned,
                               StringRef, bool IsReadOnly) override {
    return bump(IsReadOnly ? ro_ : rw_, Size, Alignment, false);
  }

  bool finalizeMemory(std::string *ErrMsg) override {
    for (auto &r : code_regions_)
      if (r.size && mprotect(r.base, r.size, PROT_READ | PROT_EXEC) != 0)
        return fail(ErrMsg);
    for (auto &r : ro_regions_)
      if (r.size && mprotect(r.base, r.size, PROT_READ) != 0)
        return fail(ErrMsg);
    // Protected now: later finalizes leave them alone.
    code_regions_.clear();
    ro_regions_.clear();
    return false;
  }

  uint64_t getSymbolAddress(const std::string &Name) override {
    return (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, Name.c_str());
  }


private:
  static bool fail(std::string *ErrMsg) {
    if (ErrMsg)
      *ErrMsg = strerror(errno);
    return true;
  }

  uint8_t *map(size_t size) {
    if (size == 0)
      return nullptr;
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED)
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      exit(70);
    }
    mappings_.push_back({p, size});
    return (uint8_t *)p;
  }

  uint8_t *bump(Region &r, uintptr_t size, unsigned align, bool code) {
    if (align == 0)
      align = 1;
    uintptr_t start = align_up((uintptr_t)r.base + r.used, align);
    if (r.base && start + size <= (uintptr_t)r.base + r.size) {
      r.used = start + size - (uintptr_t)r.base;
      return (uint8_t *)start;
    }
    // Did not fit the reservation (should not happen): a block of its own.
    size_t len = align_up(size + align, page_size());
    uint8_t *b = map(len);
    Region own{b, len, 0};
    (code ? code_regions_ : ro_regions_).push_back(own);
    return (uint8_t *)align_up((uintptr_t)b, align);
  }

  Region code_, ro_, rw_;
  std::vector<Region> code_regions_, ro_regions_;
  std::vector<std::pair<void *, size_t>> mappings_;
};

struct Input {
  std::string path;
  std::unique_ptr<MemoryBuffer> buffer;
};

[[noreturn]] void die(const std::string &msg) {
  fprintf(stderr, "runtimedyld_driver: %s\n", msg.c_str());
  exit(1);
}

using clk = std::chrono::steady_clock;
long long us(clk::time_point a, clk::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}
long long median(std::vector<long long> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Linked {
  std::unique_ptr<BenchMemoryManager> mm;
  std::unique_ptr<RuntimeDyld> dyld;
  std::vector<std::unique_ptr<object::ObjectFile>> objects;
  std::vector<std::unique_ptr<RuntimeDyld::LoadedObjectInfo>> infos;
};

} // namespace

int main(int argc, char **argv) {
  volatile uintptr_t anchor = host_data_anchor();
  (void)anchor;
  std::vector<std::string> libs, paths, args;
  int repeat = 1;
  bool run = false, lookup = false, incremental = false;
  std::string check;
  std::string entry = "main";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--") {
      for (i++; i < argc; i++)
        args.push_back(argv[i]);
    } else if (a == "-l")
      libs.push_back(value());
    else if (a.rfind("-l", 0) == 0 && a.size() > 2)
      libs.push_back(a.substr(2));
    else if (a == "--repeat")
      repeat = std::max(1, atoi(value().c_str()));
    else if (a == "--run")
      run = true;
    else if (a == "--entry")
      entry = value();
    else if (a == "--lookup")
      lookup = true;
    else if (a == "--incremental")
      incremental = true;
    else if (a == "--check")
      check = value();
    else if (a[0] == '-')
      die("unknown option " + a);
    else
      paths.push_back(a);
  }
  if (paths.empty())
    die("no object files given");
  for (auto &l : libs) {
    // libNAME.so is often only in -dev packages; try the usual sonames.
    std::string so = "lib" + l + ".so";
    bool opened = false;
    for (const char *suffix : {"", ".6", ".2", ".1", ".0"})
      if (dlopen((so + suffix).c_str(), RTLD_NOW | RTLD_GLOBAL)) {
        opened = true;
        break;
      }
    if (!opened)
      die("cannot open library " + l + ": " + dlerror());
  }
  std::vector<Input> inputs;
  for (auto &p : paths) {
    auto b = MemoryBuffer::getFile(p, /*IsText=*/false,
                                   /*RequiresNullTerminator=*/false);
    if (!b)
      die("cannot read " + p + ": " + b.getError().message());
    // Touch the bytes now so that reading the file is not timed.
    volatile uint8_t sink = 0;
    for (size_t k = 0; k < (*b)->getBufferSize(); k += 4096)
      sink ^= (*b)->getBufferStart()[k];
    inputs.push_back({p, std::move(*b)});
  }

  // A RuntimeDyld with a memory manager of its own.
  auto fresh = [] {
    Linked L;
    L.mm = std::make_unique<BenchMemoryManager>();
    L.dyld = std::make_unique<RuntimeDyld>(*L.mm, *L.mm);
    L.dyld->setProcessAllSections(false);
    return L;
  };
  auto load_one = [](Linked &L, Input &in) {
    auto obj = object::ObjectFile::createObjectFile(in.buffer->getMemBufferRef());
    if (!obj)
      die(in.path + ": " + toString(obj.takeError()));
    L.infos.push_back(L.dyld->loadObject(**obj));
    if (L.dyld->hasError())
      die(in.path + ": " + L.dyld->getErrorString().str());
    L.objects.push_back(std::move(*obj));
  };
  auto finalize = [](Linked &L) {
    // MCJIT's order: relocations, unwind tables, protections.
    L.dyld->resolveRelocations();
    if (L.dyld->hasError())
      die("resolveRelocations: " + L.dyld->getErrorString().str());
    L.dyld->registerEHFrames();
    std::string err;
    if (L.mm->finalizeMemory(&err))
      die("finalizeMemory: " + err);
  };

  std::vector<long long> per_object_ns;
  // Loads and finalizes each object on its own; per_object_ns gets the time
  // of each.
  auto link_incrementally = [&](long long &load_us, long long &fin_us) {
    Linked L = fresh();
    per_object_ns.clear();
    long long load_ns = 0, fin_ns = 0;
    for (auto &in : inputs) {
      auto t0 = clk::now();
      load_one(L, in);
      auto t1 = clk::now();
      finalize(L);
      auto t2 = clk::now();
      using ns = std::chrono::nanoseconds;
      load_ns += std::chrono::duration_cast<ns>(t1 - t0).count();
      fin_ns += std::chrono::duration_cast<ns>(t2 - t1).count();
      per_object_ns.push_back(std::chrono::duration_cast<ns>(t2 - t0).count());
    }
    load_us = load_ns / 1000;
    fin_us = fin_ns / 1000;
    return L;
  };

  auto link = [&](long long &load_us, long long &fin_us) {
    if (incremental)
      return link_incrementally(load_us, fin_us);
    auto t0 = clk::now();
    Linked L = fresh();
    for (auto &in : inputs)
      load_one(L, in);
    auto t1 = clk::now();
    finalize(L);
    auto t2 = clk::now();
    load_us = us(t0, t1);
    fin_us = us(t1, t2);
    return L;
  };

  if (run) {
    long long a, b;
    Linked L = link(a, b);
    auto sym = L.dyld->getSymbol(entry);
    if (!sym.getAddress())
      die("entry symbol " + entry + " not found");
    std::vector<char *> av;
    av.push_back((char *)paths[0].c_str());
    for (auto &s : args)
      av.push_back((char *)s.c_str());
    av.push_back(nullptr);
    auto f = (int (*)(int, char **, char **))(uintptr_t)sym.getAddress();
    int status = f((int)av.size() - 1, av.data(), environ);
    exit(status);
  }

  std::vector<long long> load, fin, total, first, last_tenth;
  std::unique_ptr<Linked> last;
  for (int r = 0; r < repeat; r++) {
    long long a, b;
    last.reset(); // free the previous link outside the timed region
    last = std::make_unique<Linked>(link(a, b));
    load.push_back(a);
    fin.push_back(b);
    total.push_back(a + b);
    if (incremental) {
      size_t n = per_object_ns.size(), tenth = std::max<size_t>(1, n / 10);
      first.push_back(median({per_object_ns.begin(), per_object_ns.begin() + tenth}));
      last_tenth.push_back(median({per_object_ns.end() - tenth, per_object_ns.end()}));
    }
  }
  if (!check.empty()) {
    auto sym = last->dyld->getSymbol(check);
    if (!sym.getAddress())
      die("symbol " + check + " not found");
    int status = ((int (*)())(uintptr_t)sym.getAddress())();
    if (status != 0)
      die(check + "() returned " + std::to_string(status) + ", not 0: the link is wrong");
  }
  printf("load_us=%lld\nfinalize_us=%lld\ntotal_us=%lld\n", median(load),
         median(fin), median(total));
  if (incremental)
    printf("first_us=%.1f\nlast_us=%.1f\n", median(first) / 1000.0,
           median(last_tenth) / 1000.0);
  if (lookup) {
    std::vector<std::string> names;
    for (auto &o : last->objects)
      for (auto &s : o->symbols()) {
        auto flags = s.getFlags();
        if (!flags || !(*flags & object::SymbolRef::SF_Global) ||
            (*flags & object::SymbolRef::SF_Undefined))
          continue;
        auto n = s.getName();
        if (n)
          names.push_back(n->str());
      }
    size_t missing = 0;
    auto t0 = clk::now();
    for (auto &n : names)
      missing += last->dyld->getSymbol(n).getAddress() == 0;
    auto t1 = clk::now();
    if (missing)
      die(std::to_string(missing) + " defined symbols not found by lookup");
    double ns = names.empty() ? 0.0
                              : std::chrono::duration<double, std::nano>(t1 - t0).count() /
                                    names.size();
    printf("lookup_ns=%.1f\nlookup_symbols=%zu\n", ns, names.size());
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("maxrss_kb=%ld\n", ru.ru_maxrss);
  return 0;
}
