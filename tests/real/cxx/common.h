// common.h - shared declarations of rtdyld's own C++ real-program test
// (tests/real/cxx.sh). The program is split across several objects on
// purpose: every inline function, template instantiation, vtable and typeinfo
// defined here lands in a COMDAT group in each object that uses it, and must
// be linked to one copy.
#pragma once

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

// --- tracing of static construction and destruction ------------------------
// Prints at once (printf, so the order against std::cout is kept: both write
// through stdio because sync_with_stdio is on).
struct Tracer {
    const char *name;
    explicit Tracer(const char *n) : name(n) { std::printf("[ctor] %s\n", name); }
    ~Tracer() { std::printf("[dtor] %s\n", name); }
};

int counter_start(); // statics.cpp; prints when called

// Function-local static shared by every object (one guard variable, one copy).
inline int &shared_counter() {
    static int c = counter_start();
    return c;
}

// Function-local static of class type, destroyed at exit.
struct Registry {
    std::map<std::string, int> entries;
    Registry() { std::printf("[ctor] registry (function-local static)\n"); }
    ~Registry() { std::printf("[dtor] registry with %zu entries\n", entries.size()); }
    void add(const std::string &k, int v) { entries[k] += v; }
};
inline Registry &registry() {
    static Registry r;
    return r;
}

// --- a template used from several objects ----------------------------------
template <typename T> struct Stats {
    std::vector<T> values;
    void add(T v) { values.push_back(v); }
    T sum() const {
        T s{};
        for (const T &v : values) s += v;
        return s;
    }
    T max() const {
        if (values.empty()) throw std::out_of_range("Stats::max of nothing");
        T m = values[0];
        for (const T &v : values) if (m < v) m = v;
        return m;
    }
    std::string str() const {
        std::ostringstream os;
        os << "n=" << values.size() << " sum=" << sum();
        if (!values.empty()) os << " max=" << max();
        return os.str();
    }
};

// --- exceptions ------------------------------------------------------------
// All members inline: vtable and typeinfo are COMDAT in every user.
struct ParseError : std::runtime_error {
    int line;
    ParseError(const std::string &msg, int l) : std::runtime_error(msg), line(l) {}
};
// Key function (the destructor) in shapes.cpp: vtable and typeinfo there only.
struct ShapeError : std::logic_error {
    explicit ShapeError(const std::string &msg);
    ~ShapeError() override;
};

// --- virtual functions -----------------------------------------------------
struct Shape {
    virtual ~Shape();                   // key function: shapes.cpp
    virtual double area() const = 0;
    virtual std::string name() const = 0;
    virtual std::string describe() const; // shapes.cpp
};
// Entirely inline: its vtable is COMDAT in main.o and text.o.
struct Square : Shape {
    double side;
    explicit Square(double s) : side(s) {}
    double area() const override { return side * side; }
    std::string name() const override { return "square"; }
};
std::unique_ptr<Shape> make_shape(const std::string &spec); // throws ShapeError
Stats<double> area_stats(const std::vector<std::unique_ptr<Shape>> &shapes);

// --- text processing (text.cpp) --------------------------------------------
std::vector<std::string> split(const std::string &s, char sep);
std::vector<std::pair<std::string, int>> top_words(const std::string &text, size_t n);
std::map<std::string, std::string> parse_config(const std::string &src); // throws ParseError
std::string rot13(std::string s);
std::unique_ptr<Shape> square_from_text(const std::string &s);

// --- exceptions through library frames (errors.cpp) -------------------------
struct BufferFull : std::exception {
    size_t written;
    explicit BufferFull(size_t w) : written(w) {}
    const char *what() const noexcept override { return "buffer full"; }
};
std::string stream_into_small_buffer(const std::string &text, size_t capacity); // throws BufferFull
std::vector<int> sort_refusing(std::vector<int> v, int poison);                   // throws ParseError
int getline_until_failure(const std::string &text, size_t fail_at, std::vector<std::string> &lines);

// --- thread-local storage (tls.cpp, tlsdata.cpp) ---------------------------
void run_tls_tests();
