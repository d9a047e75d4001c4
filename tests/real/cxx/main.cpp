// main.cpp - rtdyld's own C++ real-program test (tests/real/cxx.sh).
//
// Objects: main.o statics.o shapes.o text.o errors.o tlsdata.o tls.o; built
// with -DCXX_NO_TLS (and without tls.o, tlsdata.o) for the variant that
// leaves thread-local storage out. Output is deterministic: no addresses, no
// timing, threads' results printed by the main thread in a fixed order.
#include "common.h"

#include <algorithm>
#include <exception>
#include <iomanip>
#include <numeric>
#include <unordered_map>

static Tracer main_global("main.o global");
// Dynamic initialisation of a container.
static std::map<std::string, int> table = {{"one", 1}, {"two", 2}, {"three", 3}};

static const char *const paragraph =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs. "
    "A fox, a dog and the lazy cat: the end of the story is the fox.";

static void section_statics() {
    std::printf("== statics\n");
    shared_counter() += 10;
    registry().add("main", 2);
    std::printf("  shared_counter=%d table.size=%zu table[two]=%d\n", shared_counter(), table.size(), table["two"]);
}

static void section_shapes() {
    std::printf("== shapes\n");
    const char *specs[] = {"circle 1.5", "rect 3 4", "square 2", "triangle 3 4 5", "triangle 1 1 5", "hexagon 2",
                           "rect 10 0.5"};
    std::vector<std::unique_ptr<Shape>> shapes;
    for (const char *spec : specs) {
        try {
            shapes.push_back(make_shape(spec));
        } catch (const ShapeError &e) { // thrown in shapes.o
            std::cout << "  caught ShapeError: " << e.what() << "\n";
        } catch (const std::logic_error &e) {
            std::cout << "  wrong handler: " << e.what() << "\n";
        }
    }
    shapes.push_back(std::make_unique<Square>(1.25));
    std::stable_sort(shapes.begin(), shapes.end(),
                     [](const std::unique_ptr<Shape> &a, const std::unique_ptr<Shape> &b) { return a->area() < b->area(); });
    for (const auto &s : shapes) std::cout << "  " << s->describe() << "\n";
    Stats<double> st = area_stats(shapes);
    std::cout << "  stats: " << st.str() << "\n";
    std::cout << std::fixed << std::setprecision(2) << "  total area " << st.sum() << std::defaultfloat << "\n";
    Stats<double> empty;
    try {
        empty.max();
    } catch (const std::out_of_range &e) {
        std::cout << "  caught out_of_range: " << e.what() << "\n";
    }
}

static void section_text() {
    std::printf("== text\n");
    for (const auto &p : top_words(paragraph, 5)) std::printf("  %-6s %d\n", p.first.c_str(), p.second);
    const char *configs[] = {
        "# settings\nname = rtdyld\n  level= 3\n\nmode =jit\n",
        "a = 1\nb = 2\nthis line is wrong\n",
        "x = 1\n = 2\n",
        "k = v\nk = w\n",
    };
    for (const char *cfg : configs) {
        try {
            auto m = parse_config(cfg);
            std::cout << "  config:";
            for (const auto &kv : m) std::cout << " " << kv.first << "=" << kv.second;
            std::cout << "\n";
        } catch (const ParseError &e) { // thrown in text.o, typeinfo is COMDAT
            std::cout << "  ParseError at line " << e.line << ": " << e.what() << "\n";
        }
    }
    std::cout << "  rot13: " << rot13("Hello, JIT World") << " / " << rot13(rot13("round trip")) << "\n";
    for (const char *s : {"2.5", "abc", "3x"}) {
        try {
            auto sq = square_from_text(s);
            std::cout << "  square_from_text(" << s << "): " << sq->describe() << "\n";
        } catch (const std::invalid_argument &e) { // thrown by libstdc++ (std::stod)
            std::cout << "  square_from_text(" << s << "): invalid_argument " << e.what() << "\n";
        } catch (const std::runtime_error &e) { // ParseError, caught as its base
            std::cout << "  square_from_text(" << s << "): runtime_error " << e.what() << "\n";
        }
    }
    auto parts = split("a,b,,c", ',');
    std::string joined = std::accumulate(parts.begin(), parts.end(), std::string("|"),
                                         [](std::string acc, const std::string &p) { return acc + p + "|"; });
    std::cout << "  split: " << parts.size() << " parts " << joined << "\n";
    std::unordered_map<int, std::string> squares;
    for (int i = 0; i < 20; ++i) squares[i * i] = std::to_string(i);
    std::vector<int> keys;
    for (const auto &kv : squares) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end(), std::greater<int>());
    std::cout << "  largest squares:";
    for (size_t i = 0; i < 4; ++i) std::cout << " " << keys[i] << "=" << squares[keys[i]] << "^2";
    std::cout << "\n";
}

static void section_errors() {
    std::printf("== errors\n");
    try {
        std::cout << "  stream: " << stream_into_small_buffer("0123456789abcdef", 64);
        stream_into_small_buffer("this text does not fit", 10);
        std::cout << "  stream: no exception\n";
    } catch (const BufferFull &e) { // errors.o -> libstdc++ (ostream) -> errors.o -> main.o
        std::cout << "  stream: caught BufferFull after " << e.written << " chars\n";
    }
    std::vector<int> v = {5, 3, 9, 1, 7, 2, 8};
    auto sorted = sort_refusing(v, 100);
    std::cout << "  sorted:";
    for (int x : sorted) std::cout << " " << x;
    std::cout << "\n";
    try {
        sort_refusing(v, 7);
    } catch (const ParseError &e) {
        std::cout << "  sort: caught " << e.what() << " (line " << e.line << ")\n";
    }
    std::vector<std::string> lines;
    int r = getline_until_failure("alpha\nbeta\ngamma\ndelta\n", 13, lines);
    std::printf("  getline returned %d, lines:", r);
    for (const auto &l : lines) std::printf(" %s", l.c_str());
    std::printf("\n");
    lines.clear();
    r = getline_until_failure("one\ntwo\n", 1000, lines);
    std::printf("  getline returned %d\n", r);
    // exception_ptr: captured here, rethrown later, caught as its base.
    std::exception_ptr saved;
    try {
        parse_config("oops");
    } catch (...) {
        saved = std::current_exception();
    }
    try {
        std::rethrow_exception(saved);
    } catch (const std::exception &e) {
        std::printf("  rethrown: %s\n", e.what());
    }
    // Nested exceptions.
    try {
        try {
            make_shape("blob");
        } catch (...) {
            std::throw_with_nested(std::runtime_error("while building the scene"));
        }
    } catch (const std::exception &outer) {
        std::printf("  outer: %s\n", outer.what());
        try {
            std::rethrow_if_nested(outer);
        } catch (const ShapeError &inner) {
            std::printf("  inner: %s\n", inner.what());
        }
    }
}

int main(int argc, char **argv) {
    std::printf("== main, %d argument(s):", argc - 1);
    for (int i = 1; i < argc; ++i) std::printf(" %s", argv[i]);
    std::printf("\n");
    section_statics();
    section_shapes();
    section_text();
    section_errors();
#ifndef CXX_NO_TLS
    run_tls_tests();
#endif
    int status = shared_counter() % 7 + 3;
    std::printf("== main returns %d (registry has %zu entries)\n", status, registry().entries.size());
    return status;
}
