// tlsdata.cpp - thread-local definitions used from tls.cpp.
#include "tls.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <vector>

thread_local TlsTracker tracker;
thread_local int tl_counter = 100;
thread_local long tl_zero;
static __thread int tl_bump_calls; // local to this object: local-dynamic / local-exec

static std::atomic<int> constructed{0};
static std::mutex log_mutex;
static std::vector<std::string> destroyed;

TlsTracker::TlsTracker() : label("fresh") { constructed.fetch_add(1); }

TlsTracker::~TlsTracker() {
    if (label == "main") {
        // The main thread's copy dies in exit(), before static destructors.
        std::printf("[tls dtor] main tracker, uses=%d\n", uses);
        return;
    }
    std::lock_guard<std::mutex> lock(log_mutex);
    destroyed.push_back(label + " uses=" + std::to_string(uses));
}

int bump(int by) {
    ++tl_bump_calls;
    return tl_counter += by;
}

int bump_calls() { return tl_bump_calls; }

int trackers_constructed() { return constructed.load(); }

std::string tracker_log() {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::vector<std::string> v = destroyed;
    std::sort(v.begin(), v.end());
    std::string out;
    for (const auto &s : v) out += "    " + s + "\n";
    return out;
}
