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
        // TLS descriptors.
        &["-O2", "-fPIC", "-mtls-dialect=gnu2"],
        &["-O0", "-fPIC", "-mtls-dialect=gnu2"],
        &["-O1", "-fPIC", "-mcmodel=large", "-mtls-dialect=gnu2"],
    ] {
        let threads_before = std::thread::spawn(|| ()); // a thread from before the load
        let jit = Arc::new(Jit::new(flags));
        exercise(&jit, 3);
        threads_before.join().unwrap();
    }
}

#[test]
fn initial_exec_code_reaches_a_variable_of_a_pic_object_loaded_after_it() {
    // -fno-pic code reads `counter` with R_X86_64_GOTTPOFF; its definer is
    // -fPIC (its own code uses general dynamic). Loaded after the user, the
    // definer's block goes to static TLS; loaded before, the error says
    // why and what to do.
    let user = common::compile_c("extern __thread long counter; long read_counter(void) { return counter; }", &["-O2", "-fno-pic"]);
    let definer = common::compile_c("__thread long counter = 42; long bump(long by) { return counter += by; }", &["-O2", "-fPIC"]);
    let mut l = Linker::new();
    l.load_object(&user, "user.o").unwrap();
    l.load_object(&definer, "definer.o").unwrap();
    l.finalize().unwrap();
    // SAFETY: `long read_counter(void)` and `long bump(long)`.
    let read: extern "C" fn() -> i64 = unsafe { std::mem::transmute(l.lookup("read_counter").unwrap() as usize) };
    let bump: F = unsafe { std::mem::transmute(l.lookup("bump").unwrap() as usize) };
    assert_eq!(read(), 42);
    assert_eq!(bump(8), 50);
    assert_eq!(read(), 50);
    assert_eq!(std::thread::spawn(move || (read(), bump(1), read())).join().unwrap(), (42, 43, 43), "another thread's copy");

    let mut l = Linker::new();
    l.load_object(&definer, "definer.o").unwrap();
    l.load_object(&user, "user.o").unwrap();
    let e = l.finalize().unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("obj 1 (user.o): an initial-exec reference to thread-local `counter`, which obj 0 (definer.o) defines in dynamic TLS"),
        "{m}"
    );
    assert!(m.contains("load obj 1 (user.o) first"), "{m}");
}

#[test]
fn local_dynamic_access_in_both_dialects() {
    // Several static thread-locals: gcc starts from the module's block
    // (`__tls_get_addr` of TLSLD, or the `_TLS_MODULE_BASE_` descriptor)
    // and adds each variable's DTPOFF.
    let src = "static __thread long a = 3, b = 4;\nstatic __thread char c[100];\n\
        long locals(long i) { a += i; b += a; c[i] += 1; return a * 10000 + b * 100 + c[i]; }";
    for dialect in ["-mtls-dialect=gnu", "-mtls-dialect=gnu2"] {
        for opt in ["-O2", "-O0"] {
            let mut linker = Linker::new();
            linker.load_object(&common::compile_c(src, &[opt, "-fPIC", dialect]), "locals.o").unwrap();
            linker.finalize().unwrap();
            // SAFETY: `long locals(long)`.
            let locals: F = unsafe { std::mem::transmute(linker.lookup("locals").unwrap() as usize) };
            assert_eq!(locals(1), 4 * 10000 + 8 * 100 + 1, "{dialect} {opt}");
            let other = std::thread::spawn(move || (locals(2), locals(2))).join().unwrap();
            assert_eq!(other, (5 * 10000 + 9 * 100 + 1, 7 * 10000 + 16 * 100 + 2), "{dialect} {opt}: a fresh thread's own copy");
            assert_eq!(locals(1), 5 * 10000 + 13 * 100 + 2, "{dialect} {opt}");
        }
    }
}

#[test]
fn local_dynamic_access_to_another_objects_variable_is_refused() {
    // -ftls-model=local-dynamic makes gcc use it for extern variables too,
    // which only works when a static link puts both objects in one module.
    for dialect in ["-mtls-dialect=gnu", "-mtls-dialect=gnu2"] {
        let flags = ["-O2", "-fPIC", "-ftls-model=local-dynamic", dialect];
        let mut linker = Linker::new();
        linker.load_object(&common::compile_c(DEFINER, &flags), "definer.o").unwrap();
        linker.load_object(&common::compile_c(USER, &flags), "user.o").unwrap();
        let e = linker.finalize().unwrap_err();
        assert_eq!(e.kind(), rtdyld::ErrorKind::Unsupported, "{dialect}: {e}");
        assert!(e.message().contains("user.o") && e.message().contains("local-dynamic"), "{dialect}: {e}");
        assert!(e.message().contains("counter") || e.message().contains("zeroed"), "{dialect}: {e}");
    }
}

#[test]
fn local_dynamic_code_mixing_its_own_and_another_objects_variable_is_refused() {
    // One function's TLSLD names the other object's `x`, another's the
    // object's own `y`; `y`'s DTPOFF cannot tell which block it goes with.
    // (Linked, main read x's block at y's offset: a wrong value, silently.)
    let other = "__thread int x = 1;";
    let user = "extern __thread int x; static __thread int y = 2; void sety(int v) { y = v; }\n\
                int mixed(void) { sety(5); return x + y; }";
    for dialect in ["-mtls-dialect=gnu", "-mtls-dialect=gnu2"] {
        let flags = ["-O2", "-fPIC", "-ftls-model=local-dynamic", dialect];
        let mut linker = Linker::new();
        linker.load_object(&common::compile_c(other, &flags), "other.o").unwrap();
        linker.load_object(&common::compile_c(user, &flags), "user.o").unwrap();
        match linker.finalize() {
            Err(e) => {
                assert_eq!(e.kind(), rtdyld::ErrorKind::Unsupported, "{dialect}: {e}");
                assert!(e.message().contains("user.o") && e.message().contains("two objects"), "{dialect}: {e}");
                // Named as they are: the object's own `y`, and `x` of obj 0.
                assert!(
                    e.message().contains("`y` (defined in this object)") && e.message().contains("`x` (defined in obj 0)"),
                    "{dialect}: {e}"
                );
            }
            Ok(()) => {
                // Allowed only if the result is right.
                // SAFETY: `int mixed(void)`, linked and finalized; the linker lives.
                let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(linker.lookup("mixed").unwrap() as usize) };
                assert_eq!(f(), 6, "{dialect}");
            }
        }
    }
}

/// Thread-local data too large for the C library's static TLS reserve
/// (64 KiB) goes to dynamic TLS, where a descriptor calls `__tls_get_addr`.
const LARGE: &str = "__thread char big[65536] = \"hello\";\n\
    __thread long count = 40;\n\
    static __thread long calls;\n\
    long touch(long i) { calls++; big[60000] += (char)i; count += i; return big[60000] * 1000000 + count * 1000 + calls; }\n\
    long first(long i) { return big[i]; }";

#[test]
fn tls_descriptors_of_a_module_in_dynamic_tls() {
    for flags in [&["-O2", "-fPIC", "-mtls-dialect=gnu2"][..], &["-O0", "-fPIC", "-mtls-dialect=gnu2"], &["-O2", "-fPIC"]] {
        // A thread that exists before the load, and gets the functions after it.
        let (send, receive) = std::sync::mpsc::channel::<(F, F)>();
        let early = std::thread::spawn(move || {
            let (touch, first) = receive.recv().unwrap();
            assert_eq!(first(2), b'l' as i64, "an older thread sees the initial values");
            (0..10).fold(0, |_, _| touch(1))
        });
        let mut linker = Linker::new();
        linker.load_object(&common::compile_c(LARGE, flags), "large.o").unwrap();
        linker.finalize().unwrap();
        // SAFETY: both take and return a long.
        let f = |n: &str| -> F { unsafe { std::mem::transmute(linker.lookup(n).unwrap() as usize) } };
        let (touch, first) = (f("touch"), f("first"));
        assert_eq!(first(0), b'h' as i64, "{flags:?}");
        assert_eq!(first(4), b'o' as i64);
        send.send((touch, first)).unwrap();
        let handles: Vec<_> = std::iter::once(early)
            .chain((2..=4i64).map(|t| {
                std::thread::spawn(move || {
                    assert_eq!(first(1), b'e' as i64, "a fresh thread sees the initial values");
                    (0..10).fold(0, |_, _| touch(t))
                })
            }))
            .collect();
        for (t, h) in (1..=4i64).zip(handles) {
            assert_eq!(h.join().unwrap(), 10 * t * 1000000 + (40 + 10 * t) * 1000 + 10, "{flags:?}");
        }
        assert_eq!(touch(2), 2 * 1000000 + 42 * 1000 + 1, "the main thread's copy is its own");
    }
}

/// Calls a descriptor with every general and vector register set to a
/// pattern and stores what the registers hold afterwards, with the
/// variable's address from the descriptor (`%rax` + thread pointer).
const DESCRIPTOR_PROBE: &str = "
    .section .tbss,\"awT\",@nobits
    .globl big
    .p2align 6
big: .zero 65536
    .section .rodata
    .p2align 4
patterns:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .quad 0x1111111111111111 * (\\n + 1), 0x0123456789abcdef + \\n
    .endr
    .bss
    .globl saved
    .p2align 4
saved: .zero 512
    .text
    .globl probe
probe:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqa patterns+16*\\n(%rip), %xmm\\n
    .endr
    movabsq $0xb0b0b0b0b0b0b0b0, %rbx
    movabsq $0xb1b1b1b1b1b1b1b1, %rcx
    movabsq $0xb2b2b2b2b2b2b2b2, %rdx
    movabsq $0xb3b3b3b3b3b3b3b3, %rsi
    movabsq $0xb4b4b4b4b4b4b4b4, %rdi
    movabsq $0xb5b5b5b5b5b5b5b5, %r8
    movabsq $0xb6b6b6b6b6b6b6b6, %r9
    movabsq $0xb7b7b7b7b7b7b7b7, %r10
    movabsq $0xb8b8b8b8b8b8b8b8, %r11
    movabsq $0xb9b9b9b9b9b9b9b9, %r12
    movabsq $0xbabababababababa, %r13
    movabsq $0xbbbbbbbbbbbbbbbb, %r14
    movabsq $0xbcbcbcbcbcbcbcbc, %r15
    movabsq $0xbdbdbdbdbdbdbdbd, %rbp
    leaq big@TLSDESC(%rip), %rax
    call *big@TLSCALL(%rax)
    addq %fs:0, %rax
    movq %rax, saved(%rip)
    movq %rbx, saved+8(%rip)
    movq %rcx, saved+16(%rip)
    movq %rdx, saved+24(%rip)
    movq %rsi, saved+32(%rip)
    movq %rdi, saved+40(%rip)
    movq %r8, saved+48(%rip)
    movq %r9, saved+56(%rip)
    movq %r10, saved+64(%rip)
    movq %r11, saved+72(%rip)
    movq %r12, saved+80(%rip)
    movq %r13, saved+88(%rip)
    movq %r14, saved+96(%rip)
    movq %r15, saved+104(%rip)
    movq %rbp, saved+112(%rip)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqa %xmm\\n, saved+128+16*\\n(%rip)
    .endr
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret
";

#[test]
fn tls_descriptor_calls_keep_every_register() {
    // The variable's address, the ordinary way, to compare with.
    let addr = common::compile_c("extern __thread char big[];\nlong address(void) { return (long)big; }", &["-O2", "-fPIC"]);
    let mut linker = Linker::new();
    linker.load_object(&common::assemble(DESCRIPTOR_PROBE, &[]), "probe.o").unwrap();
    linker.load_object(&addr, "address.o").unwrap();
    linker.finalize().unwrap();
    // SAFETY: `probe` keeps the callee-saved registers and returns nothing;
    // `address` returns a long; `saved` is 512 bytes that only `probe` writes.
    let probe: extern "C" fn() = unsafe { std::mem::transmute(linker.lookup("probe").unwrap() as usize) };
    let address: extern "C" fn() -> i64 = unsafe { std::mem::transmute(linker.lookup("address").unwrap() as usize) };
    let saved = linker.lookup("saved").unwrap() as usize;
    let check = move || {
        probe();
        // SAFETY: see above; read right after the call, in the same thread.
        let words: Vec<u64> = (0..64).map(|k| unsafe { ((saved + 8 * k) as *const u64).read() }).collect();
        assert_eq!(words[0], address() as u64, "the descriptor gives the variable's offset");
        for (k, &w) in words[1..15].iter().enumerate() {
            assert_eq!(w, 0xb0b0_b0b0_b0b0_b0b0 + 0x0101_0101_0101_0101 * k as u64, "general register {k} after the call");
        }
        for n in 0..16u64 {
            let (lo, hi) = (words[16 + 2 * n as usize], words[17 + 2 * n as usize]);
            assert_eq!((lo, hi), (0x1111_1111_1111_1111 * (n + 1), 0x0123_4567_89ab_cdef + n), "%xmm{n} after the call");
        }
    };
    // A new thread's first access allocates its block inside the call.
    for _ in 0..3 {
        std::thread::spawn(check).join().unwrap();
    }
    check();
    check();
}

#[test]
fn tls_is_freed_with_its_object_and_can_be_loaded_again() {
    for _ in 0..50 {
        let jit = Arc::new(Jit::new(&["-O2", "-fPIC"]));
        assert_eq!(jit.f("bump")(1), 101 * 1000 + 1);
    }
    // Descriptors take static TLS while the C library has some to give
    // (it is not given back at unload), then dynamic TLS.
    for _ in 0..40 {
        let jit = Arc::new(Jit::new(&["-O2", "-fPIC", "-mtls-dialect=gnu2"]));
        exercise(&jit, 1);
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
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fPIC"], &["-O2", "-fPIC", "-mtls-dialect=gnu2"]] {
        let mut linker = Linker::new();
        linker.set_process_symbols(true);
        linker.load_object(&common::compile("g++", "c++", src, flags), "once.o").unwrap();
        linker.finalize().unwrap();
        // SAFETY: `long once_twice(void)`.
        let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(linker.lookup("once_twice").unwrap() as usize) };
        assert_eq!(f(), 1);
    }
}

#[test]
fn initial_values_that_are_addresses_are_relocated_in_the_threads_that_read_them() {
    // `__thread int *p = &x;`: the template needs relocating, and the C
    // library copies a static TLS module's template into every thread that
    // exists when the module is opened, at load (before finalize). The
    // object's own addresses are written into the template then; the
    // thread that finalizes gets the rest (another object's variable, a
    // host function) and follows a remap; threads created later copy the
    // relocated template.
    const A: &str = "#include <stdlib.h>\n\
        static int x = 42; extern int ext_var;\n\
        __thread int *p = &x; __thread int *q = &ext_var; __thread void (*fp)(void *) = free;\n\
        long check(void) { return (p == &x) + 2 * (q == &ext_var) + 4 * (fp == free) + 8 * (*p == 42); }";
    type Check = extern "C" fn() -> i64;
    for flags in [
        &["-O2", "-fno-pic"][..],
        &["-O2"],
        &["-O2", "-fPIC", "-ftls-model=initial-exec"],
        &["-O2", "-fPIC"],
        &["-O2", "-fPIC", "-mtls-dialect=gnu2"],
    ] {
        let a = common::compile_c(A, flags);
        let b = common::compile_c("int ext_var = 3;", flags);
        // A thread from before the load, which checks once it is linked.
        let (go, wait) = std::sync::mpsc::channel::<usize>();
        let early = std::thread::spawn(move || {
            let f = wait.recv().unwrap();
            // SAFETY: `check` takes nothing and returns long.
            unsafe { std::mem::transmute::<usize, Check>(f)() }
        });
        let mut l = Linker::with_memory_manager(Box::new(rtdyld::DefaultMemoryManager::with_dual_mapping()));
        l.set_process_symbols(true);
        l.load_object(&a, "a.o").unwrap();
        l.load_object(&b, "b.o").unwrap();
        l.finalize().unwrap();
        let check = |l: &Linker| -> Check {
            // SAFETY: as above.
            unsafe { std::mem::transmute(l.lookup("check").unwrap() as usize) }
        };
        let f = check(&l);
        assert_eq!(f(), 15, "{flags:?}: the finalizing thread");
        assert_eq!(std::thread::spawn(move || f()).join().unwrap(), 15, "{flags:?}: a new thread");
        go.send(f as usize).unwrap();
        let r = early.join().unwrap();
        assert_eq!(r & 9, 9, "{flags:?}: a thread from before the load has the object's own addresses");
        if flags.contains(&"-fPIC") && !flags.contains(&"-ftls-model=initial-exec") {
            // Dynamic TLS (descriptors too, with addresses in the template):
            // the block is copied from the relocated template at first use.
            assert_eq!(r, 15, "{flags:?}: a thread from before the load");
        }
        common::remap_everything(&mut l);
        l.finalize().unwrap();
        let f = check(&l);
        assert_eq!(f(), 15, "{flags:?}: the finalizing thread, after a remap");
        assert_eq!(std::thread::spawn(move || f()).join().unwrap(), 15, "{flags:?}: a new thread, after a remap");
    }
}

#[test]
fn static_tls_aligned_beyond_the_c_librarys_block_says_why_it_fails() {
    // glibc places a dlopen'ed module in static TLS only up to the static
    // block's alignment (64 bytes here): raising the reserve does not help.
    let obj = common::compile_c("__thread _Alignas(128) long wide[2] = {5, 6};\nlong get(void) { return wide[1]; }", &["-O2", "-fno-pic"]);
    let mut l = Linker::new();
    l.load_object(&obj, "wide.o").unwrap();
    let e = l.finalize().unwrap_err();
    let m = e.to_string();
    assert!(m.contains("wide.o") && m.contains("`wide`") && m.contains("aligned to 128 bytes"), "{m}");
    assert!(!m.contains("optional_static_tls"), "{m}");
}

#[test]
fn thread_local_storage_leaves_every_stack_non_executable() {
    // The C library keeps thread-local storage for rtdyld in a small
    // library it opens; one that does not say its stack is RW (PT_GNU_STACK)
    // made glibc turn every thread's stack writable and executable.
    let writable_and_executable = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|p| p.contains('w') && p.contains('x')))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(writable_and_executable().is_empty(), "{:?}", writable_and_executable());
    for flags in [&["-O2", "-fPIC"][..], &["-O2", "-fno-pic"]] {
        let mut l = Linker::new();
        l.load_object(&common::compile_c(DEFINER, flags), "definer.o").unwrap();
        l.finalize().unwrap();
        let spawned = std::thread::spawn(writable_and_executable).join().unwrap();
        assert!(spawned.is_empty(), "{flags:?}: {spawned:?}");
        assert!(writable_and_executable().is_empty(), "{flags:?}: {:?}", writable_and_executable());
    }
}

#[test]
fn an_ordinary_reference_to_a_thread_local_definition_is_refused() {
    // `extern int tv;` in one object, `__thread int tv` in another: a
    // static link refuses the mix; the value would have been tv's offset in
    // its TLS block, read as an address.
    let def = common::compile_c("__thread int tv = 5;\nint *own(void) { return &tv; }", &["-O2", "-fPIC"]);
    for flags in [&["-O2", "-fPIC"][..], &["-O2", "-fpie"], &["-O2", "-fno-pic"]] {
        let user = common::compile_c("extern int tv;\nint get(void) { return tv; }", flags);
        for user_first in [false, true] {
            let mut l = Linker::new();
            if user_first {
                l.load_object(&user, "use.o").unwrap();
                l.load_object(&def, "def.o").unwrap();
            } else {
                l.load_object(&def, "def.o").unwrap();
                l.load_object(&user, "use.o").unwrap();
            }
            let e = l.finalize().unwrap_err();
            let m = e.to_string();
            assert!(m.contains("use.o") && m.contains("`tv`") && m.contains("thread-local"), "{flags:?}: {m}");
        }
    }
}

#[test]
fn initial_exec_code_and_a_dlopened_librarys_variable_says_what_works() {
    // A library the process opened with dlopen has its TLS in dynamic
    // TLS for good: no tunable helps, -fPIC or loading it at start-up does.
    let dir = common::TempDir::new("tls-dylib");
    let src = dir.join("tl.c");
    std::fs::write(&src, "__thread int tl_in_lib = 5;\n").unwrap();
    let lib = dir.join("libtl_probe.so");
    let st = std::process::Command::new("gcc").args(["-shared", "-fPIC", "-O2", "-o"]).arg(&lib).arg(&src).status().unwrap();
    assert!(st.success());
    rtdyld::host::open_path(&lib).unwrap();
    let user = common::compile_c("extern __thread int tl_in_lib;\nint get(void) { return tl_in_lib; }", &["-O2", "-fno-pic"]);
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.load_object(&user, "use.o").unwrap();
    let m = l.finalize().unwrap_err().to_string();
    assert!(m.contains("use.o") && m.contains("`tl_in_lib`") && m.contains("dlopen") && m.contains("-fPIC"), "{m}");
    assert!(!m.contains("optional_static_tls"), "{m}");
    // General-dynamic access works.
    let user = common::compile_c("extern __thread int tl_in_lib;\nint get(void) { return tl_in_lib; }", &["-O2", "-fPIC"]);
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.load_object(&user, "use.o").unwrap();
    l.finalize().unwrap();
    // SAFETY: `int get(void)`.
    let get: extern "C" fn() -> i32 = unsafe { std::mem::transmute(l.lookup("get").unwrap() as usize) };
    assert_eq!(get(), 5);
}

#[test]
fn a_resolvers_answer_for_a_thread_local_name_is_refused_and_said_why() {
    static PLAIN: i32 = 5;
    let obj = common::compile_c("extern __thread int rt;\nint get(void) { return rt; }", &["-O2", "-fPIC"]);
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(|n: &str| (n == "rt").then_some(&PLAIN as *const i32 as u64))));
    l.load_object(&obj, "rt.o").unwrap();
    let m = l.finalize().unwrap_err().to_string();
    assert!(m.contains("`rt`") && m.contains("cannot stand for a thread-local variable"), "{m}");
}
