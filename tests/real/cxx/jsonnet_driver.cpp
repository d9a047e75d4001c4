// jsonnet_driver.cpp - main() for the second third-party part of
// tests/real/cxx.sh: evaluates Jsonnet programs with Google's C++ Jsonnet
// implementation (fetched at test time from the crates.io package
// jsonnet-sys; not part of this repository) through its C API, with an
// import callback and a native function of ours, and prints the results.
// Jsonnet reports static and runtime errors with C++ exceptions thrown deep
// in its evaluator (vm.o, parser.o, ...) and caught in libjsonnet.o.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
#include "libjsonnet.h"
#include "libjsonnet_fmt.h"
}

static JsonnetVm *vm;

static char *copy_out(const std::string &s) {
    char *buf = jsonnet_realloc(vm, nullptr, s.size() + 1);
    std::memcpy(buf, s.c_str(), s.size() + 1);
    return buf;
}

// import "lib/NAME.libsonnet" is served from here.
static char *import_cb(void *, const char *base, const char *rel, char **found_here, int *success) {
    std::string r = rel;
    *found_here = copy_out(std::string("virtual/") + rel);
    if (r == "lib/util.libsonnet") {
        *success = 1;
        return copy_out("{ square(x):: x * x, greet(n):: 'hello, ' + n, version:: std.extVar('version') }");
    }
    if (r == "lib/broken.libsonnet") {
        *success = 1;
        return copy_out("{ a: 1, b: }");
    }
    *success = 0;
    return copy_out(std::string("no such virtual file: ") + rel + " (from " + base + ")");
}

// std.native('join3')(a, b, c): joins three strings with '-'; fails on non-strings.
static JsonnetJsonValue *join3(void *, const JsonnetJsonValue *const *argv, int *success) {
    std::string out;
    for (int i = 0; i < 3; ++i) {
        const char *s = jsonnet_json_extract_string(vm, argv[i]);
        if (s == nullptr) {
            *success = 0;
            return jsonnet_json_make_string(vm, "join3: argument is not a string");
        }
        if (i) out += '-';
        out += s;
    }
    *success = 1;
    return jsonnet_json_make_string(vm, out.c_str());
}

static int errors = 0;

static void eval(const char *name, const char *code) {
    int error = 0;
    char *out = jsonnet_evaluate_snippet(vm, name, code, &error);
    std::printf("--- %s: %s\n%s", name, error ? "ERROR" : "ok", out);
    if (error) errors++;
    jsonnet_realloc(vm, out, 0);
}

int main() {
    std::printf("jsonnet %s\n", jsonnet_version());
    vm = jsonnet_make();
    jsonnet_max_trace(vm, 8);
    jsonnet_ext_var(vm, "version", "1.2.3");
    jsonnet_ext_code(vm, "limits", "{ max: 10, names: ['a', 'b'] }");
    jsonnet_import_callback(vm, import_cb, nullptr);
    const char *params[] = {"a", "b", "c", nullptr};
    jsonnet_native_callback(vm, "join3", join3, nullptr, params);

    eval("basics.jsonnet", R"(
local fib(n) = if n < 2 then n else fib(n - 1) + fib(n - 2);
{
  numbers: [fib(i) for i in std.range(0, 20)],
  squares: std.map(function(x) x * x, std.range(1, 10)),
  sum: std.foldl(function(a, b) a + b, std.range(1, 100), 0),
  sorted: std.sort(['pear', 'apple', 'fig', 'banana'], function(s) std.length(s)),
  text: std.format('%s has %d items, pi ~ %.5f', ['list', 3, 3.14159265358979]),
  md5: std.md5('rtdyld'),
  obj: { [k]: std.asciiUpper(k) for k in ['x', 'y', 'z'] },
  set: std.setUnion([1, 3, 5], [2, 3, 4]),
  split: std.split('a,b,,c', ','),
  json: std.manifestJsonEx({ b: [1, 2], a: { c: true, d: null } }, '  '),
  ext: std.extVar('limits'),
  floats: [1 / 3, 1e300 * 10 > 1e300, std.floor(-2.5), std.pow(2, 0.5)],
}
)");
    eval("inheritance.jsonnet", R"(
local Base = { name: 'base', greeting: 'hi ' + self.name, hidden:: 42 };
local Derived = Base { name: 'derived', hidden2: super.hidden + 1, greeting+: '!' };
{ base: Base, derived: Derived, fields: std.objectFieldsAll(Derived) }
)");
    eval("imports.jsonnet", R"(
local util = import 'lib/util.libsonnet';
{ sq: util.square(12), greet: util.greet('jit'), v: util.version,
  joined: std.native('join3')('x', 'y', 'z') }
)");
    // Errors: each is a C++ exception inside the library.
    eval("runtime_error.jsonnet", R"(
local check(x) = if x > 3 then error 'too big: ' + x else x;
[check(i) for i in std.range(1, 5)]
)");
    eval("static_error.jsonnet", "{ a: 1, b: }");
    eval("type_error.jsonnet", "{ a: 1 } - 1");
    eval("missing_import.jsonnet", "import 'lib/missing.libsonnet'");
    eval("broken_import.jsonnet", "(import 'lib/broken.libsonnet').a");
    eval("native_error.jsonnet", "std.native('join3')('x', 1, 'z')");
    eval("assert.jsonnet", "local o = { x: 5, assert self.x < 3 : 'x must be < 3' }; o.x");
    eval("deep.jsonnet", "local f(n) = if n == 0 then 0 else 1 + f(n - 1); f(100000)");
    eval("after_errors.jsonnet", "{ still: 'working', n: std.length(std.range(1, 1000)) }");

    int error = 0;
    char *fmt = jsonnet_fmt_snippet(vm, "fmt.jsonnet", "{b:1,\n  a:[1,2,   3], // c\n 'q': \"s\"}", &error);
    std::printf("--- formatted (%s):\n%s", error ? "ERROR" : "ok", fmt);
    jsonnet_realloc(vm, fmt, 0);

    jsonnet_destroy(vm);
    std::printf("%d evaluation(s) failed\n", errors);
    return errors; // the number of error cases above, 8
}
