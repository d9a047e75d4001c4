// statics.cpp - static constructors and destructors with priorities, and the
// start value of the shared function-local static.
#include "common.h"

// Runs before every constructor without a priority, in whichever object.
__attribute__((init_priority(200))) static Tracer early("statics.o priority 200");
__attribute__((init_priority(300))) static Tracer later("statics.o priority 300");
static Tracer plain("statics.o default priority");

int counter_start() {
    std::printf("[call] counter_start()\n");
    return 1000;
}

namespace {
struct Registrar {
    Registrar() {
        registry().add("statics", 1);
        shared_counter() += 1;
        std::printf("[ctor] statics.o registrar, counter=%d\n", shared_counter());
    }
    ~Registrar() { std::printf("[dtor] statics.o registrar, counter=%d\n", shared_counter()); }
} registrar;
} // namespace

// A C-style constructor and destructor with priorities too.
__attribute__((constructor(250))) static void c_style_ctor() { std::printf("[ctor] statics.o constructor(250)\n"); }
__attribute__((destructor(250))) static void c_style_dtor() { std::printf("[dtor] statics.o destructor(250)\n"); }
