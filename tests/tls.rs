//! Thread-local storage in all four models, across objects, in many
//! threads, including threads that existed before the objects were loaded.

mod common;

use rtdyld::Linker;
use std::sync::{Arc, Barrier};

const DEFINER: &str = "__thread long counter = 100;\n\
    __thread char tag[16] = \"init\";\n\
    __thread long zeroed[4];\n\
    long bump(long by) { counter += by; zeroed[1] += 1; return counter * 1000 + zeroed[1]; }\n\
    long tag0(void) { return tag[0]; }";
const USER: &str = "extern __thread long counter;\n\
    extern __thread long zeroed[4];\n\
    static __thread long private_state = 5;\n\
    long read_both(void) { private_state += 1; return counter * 1000 + zeroed[1] * 10 + private_state; }";

type F = extern "C" fn(i64) -> i64;

/// The linked objects and their functions (which any thread may call).
struct Jit {
    _linker: Linker,
    bump: F,
    read_both: F,
    tag0: F,
}

// SAFETY: the other threads only call the JIT'd functions; the linker is
// used (and dropped) by the thread that owns the `Jit`.
unsafe impl Sync for Jit {}
unsafe impl Send for Jit {}

impl Jit {
    fn new(flags: &[&str]) -> Jit {
        let mut linker = Linker::new();
        linker.load_object(&common::compile_c(DEFINER, flags), "definer.o").unwrap();
        linker.load_object(&common::compile_c(USER, flags), "user.o").unwrap();
        linker.finalize().unwrap();
        // SAFETY: the functions above take at most one long and return long.
        let f = |name: &str| -> F { unsafe { std::mem::transmute(linker.lookup(name).unwrap() as usize) } };
        let (bump, read_both, tag0) = (f("bump"), f("read_both"), f("tag0"));
        Jit { _linker: linker, bump, read_both, tag0 }
    }
    fn f(&self, name: &str) -> F {
        match name {
            "bump" => self.bump,
            "read_both" => self.read_both,
            _ => self.tag0,
        }
    }
}

fn exercise(jit: &Arc<Jit>, threads_before: usize) {
    // Threads that exist before the first access and wait for it.
    let barrier = Arc::new(Barrier::new(threads_before + 1));
    let mut handles = Vec::new();
    for t in 0..threads_before + 4 {
        let jit = jit.clone();
        let barrier = barrier.clone();
        let early = t < threads_before;
        let h = std::thread::spawn(move || {
            if early {
                barrier.wait();
            }
            let bump = jit.f("bump");
            let read = jit.f("read_both");
            assert_eq!(jit.f("tag0")(0), b'i' as i64, "initial value from .tdata");
            assert_eq!(read(0), 100 * 1000 + 6, "fresh copy: .tdata value, .tbss zero");
            for k in 1..=50 {
                assert_eq!(bump(t as i64), (100 + k * t as i64) * 1000 + k);
            }
            read(0)
        });
        handles.push((t, h));
    }
    barrier.wait();
    for (t, h) in handles {
        let t = t as i64;
        assert_eq!(h.join().unwrap(), (100 + 50 * t) * 1000 + 50 * 10 + 7);
    }
    // The main thread's copy is untouched by the others.
    assert_eq!(jit.f("read_both")(0) / 1000, 100);
}

#[test]
fn all_tls_models_in_many_threads() {
    for flags in [
        &["-O2", "-fPIC"][..],
        &["-O0", "-fPIC"],
        &["-O2", "-fPIC", "-ftls-model=initial-exec"],
        &["-O2", "-fno-pic"],
        &["-O2"],
        &["-O1", "-fPIC", "-mcmodel=large"],
    ] {
        let threads_before = std::thread::spawn(|| ()); // a thread from before the load
        let jit = Arc::new(Jit::new(flags));
        exercise(&jit, 3);
        threads_before.join().unwrap();
    }
}

#[test]
fn tls_is_freed_with_its_object_and_can_be_loaded_again() {
    for _ in 0..50 {
        let jit = Arc::new(Jit::new(&["-O2", "-fPIC"]));
        assert_eq!(jit.f("bump")(1), 101 * 1000 + 1);
    }
}

#[test]
fn cxx_thread_local_with_constructors() {
    let src = "#include <string>\n#include <thread>\n#include <vector>\n\
        struct Tracker { std::string name; long uses = 0; Tracker() : name(\"tracker\") {} };\n\
        thread_local Tracker tracker;\n\
        extern \"C\" long use_tracker() { return ++tracker.uses * 100 + (long)tracker.name.size(); }\n\
        extern \"C\" long in_threads() { std::vector<std::thread> ts; long sum = 0; std::vector<long> r(4);\n\
          for (int i = 0; i < 4; i++) ts.emplace_back([&r, i] { for (int k = 0; k <= i; k++) r[i] = use_tracker(); });\n\
          for (auto &t : ts) t.join(); for (long v : r) sum += v; return sum; }";
    rtdyld::host::open_library("stdc++").unwrap();
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fPIC"], &["-O2"]] {
        let mut linker = Linker::new();
        linker.set_process_symbols(true);
        linker.load_object(&common::compile("g++", "c++", src, flags), "tl.o").unwrap();
        linker.finalize().unwrap();
        // SAFETY: `long f(void)`.
        let call =
            |n: &str| -> i64 { unsafe { std::mem::transmute::<usize, extern "C" fn() -> i64>(linker.lookup(n).unwrap() as usize)() } };
        assert_eq!(call("use_tracker"), 107);
        assert_eq!(call("use_tracker"), 207);
        // Thread i ends with uses = i + 1.
        assert_eq!(call("in_threads"), (100 + 7) + (200 + 7) + (300 + 7) + (400 + 7));
        assert_eq!(call("use_tracker"), 307, "the main thread's copy is its own");
    }
}

#[test]
fn thread_local_variables_of_the_host() {
    // libstdc++'s std::call_once keeps its callable in libstdc++'s own TLS.
    let src = "#include <mutex>\nextern \"C\" long once_twice() { static std::once_flag f; long n = 0; for (int i = 0; i < 2; i++) std::call_once(f, [&] { n++; }); return n; }";
    rtdyld::host::open_library("stdc++").unwrap();
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fPIC"]] {
        let mut linker = Linker::new();
        linker.set_process_symbols(true);
        linker.load_object(&common::compile("g++", "c++", src, flags), "once.o").unwrap();
        linker.finalize().unwrap();
        // SAFETY: `long once_twice(void)`.
        let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(linker.lookup("once_twice").unwrap() as usize) };
        assert_eq!(f(), 1);
    }
}
