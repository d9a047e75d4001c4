// tls.h - thread-local variables defined in tlsdata.cpp, used in tls.cpp.
#pragma once

#include <string>

struct TlsTracker {
    std::string label;
    int uses = 0;
    TlsTracker();  // tlsdata.cpp: counts constructions
    ~TlsTracker(); // tlsdata.cpp: logs label and uses
};

// Non-trivial constructor: every use from another object goes through the
// TLS wrapper function (_ZTW...) and init function (_ZTH...).
extern thread_local TlsTracker tracker;
extern thread_local int tl_counter; // .tdata, initial value 100
extern thread_local long tl_zero;   // .tbss

int bump(int by);        // tl_counter += by; counts calls in a static __thread
int bump_calls();        // this thread's number of bump() calls
int trackers_constructed();
std::string tracker_log(); // destroyed trackers of finished threads, sorted
