// tls.cpp - thread_local variables (own and from tlsdata.o) in the main
// thread and in std::threads created before and after the main thread used
// them; std::call_once (libstdc++ keeps the callable in its own TLS) with a
// first attempt that throws.
#include "common.h"
#include "tls.h"

#include <condition_variable>
#include <mutex>
#include <thread>

static thread_local std::vector<int> tl_history; // non-trivial, local to this object
thread_local Stats<int> tl_stats;                // template type, defined here

static std::string snapshot(const std::string &who, int k) {
    tracker.label = who;
    tracker.uses += 1;
    bump(k);
    tl_history.push_back(k);
    tl_stats.add(k);
    std::ostringstream os;
    os << who << ": counter=" << tl_counter << " zero=" << tl_zero << " uses=" << tracker.uses
       << " bumps=" << bump_calls() << " history=[";
    for (size_t i = 0; i < tl_history.size(); ++i) os << (i ? "," : "") << tl_history[i];
    os << "] stats{" << tl_stats.str() << "}";
    return os.str();
}

void run_tls_tests() {
    std::printf("== tls\n");
    std::mutex m;
    std::condition_variable cv;
    bool go = false;
    std::string early_result;
    // Created before the main thread touched any thread-local variable.
    std::thread early([&] {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return go; });
        early_result = snapshot("early", 1);
    });

    tl_zero = 42;
    snapshot("main", 5);
    std::cout << "  " << snapshot("main", 6) << "\n";
    {
        std::lock_guard<std::mutex> lk(m);
        go = true;
    }
    cv.notify_all();
    early.join();
    std::cout << "  " << early_result << "\n";

    // Four threads at once; each sets its copies, waits until all four have
    // done so, then reads them back.
    const int N = 4;
    std::vector<std::string> results(N);
    int arrived = 0;
    std::vector<std::thread> workers;
    for (int i = 0; i < N; ++i) {
        workers.emplace_back([&, i] {
            tl_zero = i;
            bump(i * 10);
            {
                std::unique_lock<std::mutex> lk(m);
                ++arrived;
                cv.notify_all();
                cv.wait(lk, [&] { return arrived == N; });
            }
            results[i] = snapshot("worker" + std::to_string(i), i);
        });
    }
    for (auto &t : workers) t.join();
    for (const auto &r : results) std::cout << "  " << r << "\n";

    // std::call_once: the first attempt throws through libstdc++ and libc
    // (pthread_once), the second runs.
    static std::once_flag once;
    int attempts = 0;
    for (int i = 0; i < 3; ++i) {
        try {
            std::call_once(once, [&] {
                ++attempts;
                if (attempts == 1) throw std::runtime_error("first attempt fails");
                std::printf("  call_once ran on attempt %d\n", attempts);
            });
        } catch (const std::exception &e) {
            std::printf("  call_once threw: %s\n", e.what());
        }
    }

    // A thread created after all that work sees fresh copies.
    std::string late_result;
    std::thread late([&] { late_result = snapshot("late", 3); });
    late.join();
    std::cout << "  " << late_result << "\n";

    std::cout << "  " << snapshot("main", 7) << "\n";
    std::printf("  trackers constructed: %d\n", trackers_constructed());
    std::printf("  destroyed trackers:\n%s", tracker_log().c_str());
}
