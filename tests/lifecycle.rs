//! Constructors and destructors, `__dso_handle` / `__cxa_atexit`, and
//! removing objects.

mod common;

/// A linker whose default memory manager can map its regions twice.
fn dual() -> Linker {
    Linker::with_memory_manager(Box::new(DefaultMemoryManager::with_dual_mapping()))
}

use rtdyld::{DefaultMemoryManager, ErrorKind, Linker};
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<i64>>>;

thread_local! {
    static LOG: std::cell::RefCell<Option<Log>> = const { std::cell::RefCell::new(None) };
}

extern "C" fn note(v: i64) {
    LOG.with(|l| l.borrow().as_ref().unwrap().lock().unwrap().push(v));
}

/// A linker whose resolver supplies `note`, with process symbols on.
fn linker_with_log() -> (Linker, Log) {
    let log: Log = Arc::default();
    LOG.with(|l| *l.borrow_mut() = Some(log.clone()));
    let mut l = dual();
    l.set_process_symbols(true);
    l.set_resolver(Some(Box::new(|n: &str| (n == "note").then_some(note as *const () as u64))));
    (l, log)
}

fn take(log: &Log) -> Vec<i64> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn call0(l: &Linker, name: &str) -> i64 {
    // SAFETY: the tests define `name` as `long name(void)`.
    let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(l.lookup(name).unwrap() as usize) };
    f()
}

#[test]
fn constructors_run_by_priority_then_load_order_and_destructors_in_reverse() {
    let a = common::compile_c(
        "void note(long);\n\
         __attribute__((constructor(200))) static void a200(void) { note(200); }\n\
         __attribute__((constructor)) static void a_default(void) { note(1000); }\n\
         __attribute__((destructor(200))) static void a_d200(void) { note(-200); }\n\
         __attribute__((destructor)) static void a_ddefault(void) { note(-1000); }",
        &["-O2", "-fPIC"],
    );
    let b = common::compile_c(
        "void note(long);\n\
         __attribute__((constructor(101))) static void b101(void) { note(101); }\n\
         __attribute__((constructor)) static void b_default(void) { note(1001); }\n\
         __attribute__((destructor(101))) static void b_d101(void) { note(-101); }",
        &["-O0", "-fno-pic"],
    );
    let (mut l, log) = linker_with_log();
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    assert_eq!(l.run_constructors().unwrap_err().kind(), ErrorKind::InvalidState);
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    assert_eq!(take(&log), vec![101, 200, 1000, 1001]);
    l.run_constructors().unwrap();
    assert!(take(&log).is_empty(), "constructors run once");
    // Removing b runs only b's destructors; dropping the linker runs a's.
    l.remove_object(1).unwrap();
    assert_eq!(take(&log), vec![-101]);
    drop(l);
    assert_eq!(take(&log), vec![-1000, -200]);
}

#[test]
fn constructors_get_argc_argv_envp_and_preinit_array_runs_first() {
    // The C library calls .preinit_array, then .init_array functions with
    // (argc, argv, envp); so does rtdyld: the process's own by default (as
    // for a dlopen'ed library), or what the client sets.
    let obj = common::compile_c(
        "#include <string.h>\nvoid note(long);\n\
         static void pre(void) { note(1); }\n\
         __attribute__((used, section(\".preinit_array\"))) static void (*pre_p)(void) = pre;\n\
         __attribute__((constructor(101))) static void early(int argc, char **argv, char **envp) {\n\
           note(100 + argc); note(argv && argv[argc] == 0); note(envp != 0);\n\
           note(argc > 0 && strcmp(argv[0], \"prog.o\") == 0); }",
        &["-O2", "-fPIC"],
    );
    let process_argc = std::env::args_os().count() as i64;
    let (mut l, log) = linker_with_log();
    l.load_object(&obj, "args.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    assert_eq!(take(&log), vec![1, 100 + process_argc, 1, 1, 0], "the process's arguments, preinit first");
    drop(l);

    let (mut l, log) = linker_with_log();
    l.load_object(&obj, "args.o").unwrap();
    l.finalize().unwrap();
    let args = [c"prog.o".as_ptr(), c"x".as_ptr(), std::ptr::null()];
    let env = [c"A=1".as_ptr(), std::ptr::null()];
    l.set_program_arguments(2, args.as_ptr(), env.as_ptr());
    l.run_constructors().unwrap();
    assert_eq!(take(&log), vec![1, 102, 1, 1, 1], "the arguments set");
}

#[test]
fn init_and_fini_fragments_run_as_init_and_fini_would() {
    // A static link concatenates the objects' `.init` fragments into `_init`
    // (OpenSSL's x86_64cpuid.pl puts `call OPENSSL_cpuid_setup` there) and
    // `.fini` ones into `_fini`: `_init` runs after `.preinit_array` and
    // before `.init_array`; `_fini` after every `.fini_array` function.
    // The fragments' callee checks that the stack is aligned as the ABI
    // promises (its frame address is a multiple of 16).
    let frag = |n: i64| {
        common::assemble(
            &format!(
                ".section .init,\"ax\",@progbits\n\tmovl ${n}, %edi\n\tcall frag_note\n\
                 .section .fini,\"ax\",@progbits\n\tmovl ${}, %edi\n\tcall frag_note\n\
                 .section .note.GNU-stack,\"\",@progbits\n",
                -n
            ),
            &[],
        )
    };
    let c = common::compile_c(
        "#include <stdint.h>\nvoid note(long);\n\
         void frag_note(int v) { note(v); note((uintptr_t)__builtin_frame_address(0) % 16); }\n\
         static void pre(void) { note(100); }\n\
         __attribute__((used, section(\".preinit_array\"))) static void (*pre_p)(void) = pre;\n\
         __attribute__((constructor)) static void ctor(void) { note(200); }\n\
         __attribute__((destructor)) static void dtor(void) { note(-200); }",
        &["-O0", "-fPIC"],
    );
    for remap in [false, true] {
        let (mut l, log) = linker_with_log();
        l.load_object(&frag(1), "one.o").unwrap();
        l.load_object(&c, "c.o").unwrap();
        l.load_object(&frag(2), "two.o").unwrap();
        l.finalize().unwrap();
        if remap {
            common::remap_everything(&mut l);
            l.finalize().unwrap();
        }
        l.run_constructors().unwrap();
        assert_eq!(take(&log), vec![100, 1, 0, 2, 0, 200], "remap {remap}");
        drop(l);
        assert_eq!(take(&log), vec![-200, -1, 0, -2, 0], "remap {remap}");
    }
}

#[test]
fn cxx_globals_are_destroyed_when_their_object_is_removed() {
    let src = "extern \"C\" void note(long);\n\
               struct G { long v; G(long v) : v(v) { note(v); } ~G() { note(-v); } };\n\
               G first(1); G second(2);\n\
               extern \"C\" long sum() { static G local(3); return first.v + second.v + local.v; }";
    let obj = common::compile("g++", "c++", src, &["-O2", "-fPIC"]);
    rtdyld::host::open_library("stdc++").unwrap();
    let (mut l, log) = linker_with_log();
    let id = l.load_object(&obj, "g.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    assert_eq!(take(&log), vec![1, 2]);
    assert_eq!(call0(&l, "sum"), 6);
    assert_eq!(take(&log), vec![3]);
    l.remove_object(id).unwrap();
    // __cxa_atexit order: newest first.
    assert_eq!(take(&log), vec![-3, -2, -1]);
    drop(l);
    assert!(take(&log).is_empty());
}

#[test]
fn atexit_functions_run_when_their_object_goes() {
    // `atexit` comes from libc_nonshared.a in a static link; rtdyld provides
    // it. Newest first, interleaved with what __cxa_atexit registered.
    let cxx = "#include <cstdlib>\nextern \"C\" void note(long);\n\
               static void a1() { note(-10); }\nstatic void a2() { note(-20); }\n\
               struct G { long v; G(long v) : v(v) { note(v); } ~G() { note(-v); } };\n\
               extern \"C\" long reg() { std::atexit(a1); static G local(3); std::atexit(a2); return 0; }";
    let c = "#include <stdlib.h>\nvoid note(long);\nstatic void b1(void) { note(-30); }\nlong reg_b(void) { return atexit(b1); }";
    rtdyld::host::open_library("stdc++").unwrap();
    let (mut l, log) = linker_with_log();
    let g = l.load_object(&common::compile("g++", "c++", cxx, &["-O2", "-fPIC"]), "g.o").unwrap();
    l.load_object(&common::compile_c(c, &["-O0", "-fno-pic"]), "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "reg"), 0);
    assert_eq!(call0(&l, "reg_b"), 0);
    assert_eq!(take(&log), vec![3]);
    l.remove_object(g).unwrap();
    assert_eq!(take(&log), vec![-20, -3, -10]);
    drop(l);
    assert_eq!(take(&log), vec![-30]);
}

#[test]
fn fork_handlers_run_while_their_object_is_loaded() {
    // `pthread_atfork` is, like `atexit`, a libc_nonshared.a function.
    let src = "#include <pthread.h>\n#include <sys/wait.h>\n#include <unistd.h>\n\
        static long prepared, parents, in_child;\n\
        static void p(void) { prepared++; }\nstatic void pa(void) { parents++; }\nstatic void c(void) { in_child = 1; }\n\
        long reg_fork(void) { return pthread_atfork(p, pa, c); }\n\
        long do_fork(void) { pid_t k = fork(); if (k == 0) _exit(in_child ? 42 : 1); int st; waitpid(k, &st, 0);\n\
          return prepared * 100 + parents * 10 + (WIFEXITED(st) && WEXITSTATUS(st) == 42); }";
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fno-pic"]] {
        let mut l = Linker::new();
        l.set_process_symbols(true);
        let id = l.load_object(&common::compile_c(src, flags), "fork.o").unwrap();
        l.finalize().unwrap();
        assert_eq!(call0(&l, "reg_fork"), 0);
        assert_eq!(call0(&l, "do_fork"), 111, "{flags:?}: prepare, parent and child handlers ran once");
        assert_eq!(call0(&l, "do_fork"), 221, "{flags:?}");
        // Removed, the object's handlers are forgotten: a fork now would
        // otherwise call into released memory.
        l.remove_object(id).unwrap();
        drop(l);
        // SAFETY: leaving the child at once.
        assert_eq!(forked_exit_status(|| unsafe { libc::_exit(7) }), 7, "{flags:?}");
    }
}

/// The exit status of a forked child that runs `child` (which must not
/// return); the child must exit, not be killed.
fn forked_exit_status(child: impl FnOnce() -> std::convert::Infallible) -> i32 {
    // SAFETY: the child runs only `child`, which leaves the process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child();
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    libc::WEXITSTATUS(status)
}

#[test]
fn quick_exit_functions_run_while_their_object_is_loaded() {
    // `at_quick_exit` is, like `atexit`, a libc_nonshared.a function.
    extern "C" {
        fn quick_exit(status: libc::c_int) -> !;
    }
    let src = "#include <stdlib.h>\n#include <unistd.h>\nstatic void h(void) { _exit(42); }\n\
               long reg_quick(void) { return at_quick_exit(h); }";
    // The status of a child that calls quick_exit(5).
    // SAFETY: the child only calls quick_exit (and what it runs).
    let quick_exit_status = || forked_exit_status(|| unsafe { quick_exit(5) });
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fno-pic"]] {
        let mut l = Linker::new();
        l.set_process_symbols(true);
        let id = l.load_object(&common::compile_c(src, flags), "quick.o").unwrap();
        l.finalize().unwrap();
        assert_eq!(call0(&l, "reg_quick"), 0);
        assert_eq!(quick_exit_status(), 42, "{flags:?}: the object's function ran at quick_exit");
        // Removed, its function is forgotten: quick_exit would otherwise
        // call into released memory.
        l.remove_object(id).unwrap();
        assert_eq!(quick_exit_status(), 5, "{flags:?}");
    }
}

#[test]
fn removing_an_object_withdraws_its_symbols_and_memory() {
    let strong = common::compile_c("long pick(void) { return 2; }", &["-O2", "-fPIC"]);
    let weak = common::compile_c("__attribute__((weak)) long pick(void) { return 1; }", &["-O2", "-fPIC"]);
    let user = common::compile_c("long pick(void); long use_pick(void) { return pick() * 10; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    // A finalize after each load: the default memory manager places each
    // object on fresh pages of the region the last finalize left open.
    let s = l.load_object(&strong, "strong.o").unwrap();
    l.finalize().unwrap();
    let w = l.load_object(&weak, "weak.o").unwrap();
    l.finalize().unwrap();
    l.load_object(&user, "user.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 20);
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);

    // The removed object's pages return at once; the region stays for the
    // others.
    l.remove_object(s).unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);
    assert_eq!(l.object_sections(s).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(l.remove_object(s).unwrap_err().kind(), ErrorKind::NotFound);
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 10, "the weak definition takes over");

    l.remove_object(w).unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol);
    assert!(e.message().contains("pick") && e.message().contains("user.o"), "{e}");
    extern "C" fn host_pick() -> i64 {
        7
    }
    l.set_resolver(Some(Box::new(|n: &str| (n == "pick").then_some(host_pick as *const () as u64))));
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 70);

    // A new strong definition is picked up again.
    l.load_object(&strong, "strong-again.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 20);
}

#[test]
fn a_displaced_weak_definition_takes_over_when_the_strong_one_goes() {
    let weak = common::compile_c("__attribute__((weak)) long pick(void) { return 1; }", &["-O2", "-fPIC"]);
    let strong = common::compile_c("long pick(void) { return 2; }", &["-O2", "-fPIC"]);
    let other = common::compile_c("long pick(void) { return 3; }", &["-O2", "-fPIC"]);
    let weak4 = common::compile_c("__attribute__((weak)) long pick(void) { return 4; }", &["-O2", "-fPIC"]);
    let user = common::compile_c("long pick(void); long use_pick(void) { return pick() * 10; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    l.load_object(&user, "user.o").unwrap();
    let w = l.load_object(&weak, "weak.o").unwrap();
    l.load_object(&weak4, "weak4.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 10, "of equal weak definitions, the first loaded");
    // A strong definition loaded later displaces the weak one...
    let s = l.load_object(&strong, "strong.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 20);
    // ...which comes back when it goes, again and again.
    l.remove_object(s).unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 10);
    let o = l.load_object(&other, "other.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 30);
    l.remove_object(o).unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 10, "the first loaded of the weak definitions again");
    l.remove_object(w).unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_pick"), 40);
}

#[test]
fn objects_share_a_region_released_with_the_last_of_them() {
    let a = common::compile_c("long a_value = 1; long a_get(void) { return a_value; }", &["-O2", "-fPIC"]);
    let b = common::compile_c("long b_value = 2; long b_get(void) { return b_value; }", &["-O2", "-fPIC"]);
    let c = common::compile_c("long c_value = 3; long c_get(void) { return c_value; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    let ia = l.load_object(&a, "a.o").unwrap();
    let ib = l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);
    // A later batch goes into the region the finalize left open, above
    // the pages it protected.
    let ic = l.load_object(&c, "c.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);
    assert_eq!(call0(&l, "a_get") + call0(&l, "b_get") + call0(&l, "c_get"), 6);

    // a.o's memory returns page-wise; the region stays while b.o lives in it.
    l.remove_object(ia).unwrap();
    l.finalize().unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);
    assert_eq!(call0(&l, "b_get") + call0(&l, "c_get"), 5);
    l.remove_object(ib).unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 1);
    assert_eq!(call0(&l, "c_get"), 3);
    l.remove_object(ic).unwrap();
    assert_eq!(l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count(), 0);
}

#[test]
fn unwind_tables_are_deregistered_on_removal() {
    let src = "#include <stdexcept>\n\
               extern \"C\" long catch_it(long x) { try { if (x) throw std::runtime_error(\"x\"); return 0; } catch (const std::exception &) { return 1; } }";
    let obj = common::compile("g++", "c++", src, &["-O2", "-fPIC"]);
    rtdyld::host::open_library("stdc++").unwrap();
    let mut l = dual();
    l.set_process_symbols(true);
    for round in 0..20 {
        let id = l.load_object(&obj, "eh.o").unwrap();
        l.finalize().unwrap();
        // SAFETY: `catch_it` is `long catch_it(long)`.
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(l.lookup("catch_it").unwrap() as usize) };
        assert_eq!(f(1), 1, "round {round}");
        l.remove_object(id).unwrap();
    }
}

#[test]
fn ifunc_resolvers_run_once_and_references_bind_to_their_answer() {
    let a = common::compile_c(
        "static long impl_a(long x) { return x + 1; }\n\
         static long impl_b(long x) { return x + 2; }\n\
         static long resolver_calls;\n\
         static void *pick_impl(void) { resolver_calls++; return (void *)impl_b; }\n\
         static void *pick_local(void) { resolver_calls++; return (void *)impl_a; }\n\
         long f(long) __attribute__((ifunc(\"pick_impl\")));\n\
         static long g(long) __attribute__((ifunc(\"pick_local\")));\n\
         long call_fg(long x) { return f(x) * 100 + g(x); }\n\
         long get_calls(void) { return resolver_calls; }\n\
         long (*f_ptr(void))(long) { return f; }",
        &["-O2", "-fPIC"],
    );
    let b = common::compile_c("long f(long); long other(long x) { return f(x); }", &["-O2", "-fno-pic"]);
    let mut l = dual();
    l.load_object(&a, "ifunc.o").unwrap();
    l.load_object(&b, "other.o").unwrap();
    l.finalize().unwrap();
    // SAFETY: the functions are `long (long)` / `long (void)`.
    let call = |name: &str, x: i64| -> i64 {
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(l.lookup(name).unwrap() as usize) };
        f(x)
    };
    assert_eq!(call("call_fg", 5), 7 * 100 + 6);
    assert_eq!(call("other", 5), 7);
    assert_eq!(call("f", 5), 7, "lookup gives the resolver's answer");
    assert_eq!(call("f_ptr", 0) as u64, l.lookup("f").unwrap());
    assert_eq!(call0(&l, "get_calls"), 2);
    l.finalize().unwrap();
    assert_eq!(call0(&l, "get_calls"), 2, "each resolver runs once");
}

#[test]
fn runtime_helpers_resolve_without_process_symbols() {
    // Stack protector and C++ runtime names, with process symbols off and no resolver.
    let c = common::compile_c(
        "long guarded(const char *s) { volatile char buf[64]; long n = 0; while (n < 63 && s[n]) { buf[n] = s[n]; n++; } buf[n] = 0; return n; }",
        &["-O2", "-fPIC", "-fstack-protector-all"],
    );
    let mut l = dual();
    l.load_object(&c, "ssp.o").unwrap();
    l.finalize().unwrap();
    // SAFETY: `long guarded(const char *)`.
    let f: extern "C" fn(*const u8) -> i64 = unsafe { std::mem::transmute(l.lookup("guarded").unwrap() as usize) };
    assert_eq!(f(c"hello".as_ptr().cast()), 5);
}
