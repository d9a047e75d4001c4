//! Thread-local variables of an object that is removed and loaded again:
//! the objects that refer to them follow to the new copy. (A test binary
//! of its own: the C library's static TLS reserve, which the -fno-pic
//! objects here use and glibc never gives back, is not shared with the
//! other TLS tests.)

mod common;

use rtdyld::Linker;

const DEF: &str = "__thread int v = 42;\nint *addr_v(void) { return &v; }";
const USE: &str = "extern __thread int v;\n__thread int w = 7;\nint *use_v(void) { return &v; }\nint *use_w(void) { return &w; }";
/// Takes the TLS module id (and static TLS room) the removed object had.
const OTHER: &str = "__thread long other_tls[4] = {1, 2, 3, 4};\nlong *addr_other(void) { return other_tls; }";

type P = extern "C" fn() -> *mut i32;

fn f(l: &Linker, name: &str) -> P {
    // SAFETY: every function here is `T *name(void)`.
    unsafe { std::mem::transmute(l.lookup(name).unwrap() as usize) }
}

#[test]
fn references_to_a_reloaded_objects_thread_local_variables_follow_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // (definer's flags, user's flags): static TLS reached with initial-exec
    // GOT slots and local-exec offsets, general dynamic (module ids),
    // descriptors.
    let flavours: [(&[&str], &[&str]); 5] = [
        (&["-O2", "-fno-pic"], &["-O2", "-fno-pic"]),
        (&["-O2", "-fno-pic"], &["-O2", "-fPIC", "-ftls-model=initial-exec"]),
        (&["-O2", "-fPIC"], &["-O2", "-fPIC"]),
        (&["-O2", "-fPIC", "-mtls-dialect=gnu2"], &["-O2", "-fPIC", "-mtls-dialect=gnu2"]),
        (&["-O2", "-fno-pic"], &["-O2", "-fPIC", "-mtls-dialect=gnu2"]),
    ];
    for (def_flags, use_flags) in flavours {
        let def = common::compile_c(DEF, def_flags);
        let user = common::compile_c(USE, use_flags);
        let other = common::compile_c(OTHER, def_flags);
        let mut l = Linker::new();
        let d = l.load_object(&def, "def.o").unwrap();
        l.load_object(&user, "use.o").unwrap();
        l.finalize().unwrap();
        assert_eq!(f(&l, "use_v")(), f(&l, "addr_v")(), "{def_flags:?} {use_flags:?}");
        l.remove_object(d).unwrap();
        l.load_object(&other, "other.o").unwrap();
        l.load_object(&def, "def.o").unwrap();
        l.finalize().unwrap();
        let (v, used) = (f(&l, "addr_v")(), f(&l, "use_v")());
        assert_eq!(used, v, "{def_flags:?} {use_flags:?}: use.o still refers to the removed copy of `v`");
        // SAFETY: both point to this thread's `v` (checked above) and
        // `other_tls`, live while the objects are loaded.
        unsafe {
            assert_eq!(*v, 42);
            *used = 99;
            assert_eq!(*f(&l, "addr_v")(), 99);
            assert_eq!(*(f(&l, "addr_other")() as *mut i64), 1, "{def_flags:?} {use_flags:?}: other_tls was written");
            assert_eq!(*f(&l, "use_w")(), 7);
        }
    }
}

/// Serializes the tests here: the first needs the recycled memory of the
/// linker it frees for the next one.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

static NOTES: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());
static IN_DTOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static DTOR_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn host_note(v: i64) {
    NOTES.lock().unwrap().push(v);
}

extern "C" fn slow_note(v: i64) {
    IN_DTOR.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(300));
    NOTES.lock().unwrap().push(v);
    DTOR_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn cxx_thread_local(val: i64, note: &str) -> Vec<u8> {
    let src = format!(
        "extern \"C\" void {note}(long);\n\
         struct D {{ long v; D() : v({val}) {{}} ~D() {{ {note}(2000 + v); }} }};\n\
         thread_local D d;\nextern \"C\" long tld_touch(long) {{ return d.v; }}"
    );
    common::compile("g++", "c++", &src, &["-O2", "-fPIC"])
}

fn linker_with(obj: &[u8]) -> Linker {
    let mut l = Linker::new();
    // (operator new and delete.)
    l.set_process_symbols(true);
    l.set_resolver(Some(Box::new(|n: &str| match n {
        "host_note" => Some(host_note as *const () as usize as u64),
        "slow_note" => Some(slow_note as *const () as usize as u64),
        _ => None,
    })));
    l.load_object(obj, "tld.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    l
}

#[test]
fn a_thread_local_destructor_of_a_freed_object_does_not_run_code_loaded_in_its_place() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rtdyld::host::open_library("stdc++").unwrap();
    let (a, b) = (cxx_thread_local(1, "host_note"), cxx_thread_local(2, "host_note"));
    let l1 = linker_with(&a);
    let touch_a = l1.lookup("tld_touch").unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (touched, was_touched) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        // SAFETY: `long tld_touch(long)`, loaded until the main thread frees it.
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(touch_a as usize) };
        assert_eq!(f(0), 1);
        touched.send(()).unwrap();
        wait.recv().unwrap();
        // Exits: A's destructor is due, and A is gone.
    });
    was_touched.recv().unwrap();
    drop(l1);
    // The next linker reuses the freed one's memory: B lands where A was.
    let l2 = linker_with(&b);
    assert_eq!(l2.lookup("tld_touch").unwrap(), touch_a, "B is not where A was: the test shows nothing");
    NOTES.lock().unwrap().clear();
    go.send(()).unwrap();
    worker.join().unwrap();
    assert!(NOTES.lock().unwrap().is_empty(), "a destructor ran for the freed object: {:?}", NOTES.lock().unwrap());
    drop(l2);
}

#[test]
fn a_removal_waits_for_a_thread_local_destructor_that_is_running() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rtdyld::host::open_library("stdc++").unwrap();
    let obj = cxx_thread_local(3, "slow_note");
    let mut l = linker_with(&obj);
    let touch = l.lookup("tld_touch").unwrap();
    IN_DTOR.store(false, std::sync::atomic::Ordering::SeqCst);
    DTOR_DONE.store(false, std::sync::atomic::Ordering::SeqCst);
    let worker = std::thread::spawn(move || {
        // SAFETY: `long tld_touch(long)`, loaded until the removal below,
        // which waits for this thread's destructor.
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(touch as usize) };
        assert_eq!(f(0), 3);
    });
    while !IN_DTOR.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::yield_now();
    }
    l.remove_object(0).unwrap();
    assert!(DTOR_DONE.load(std::sync::atomic::Ordering::SeqCst), "the removal returned while the destructor ran");
    worker.join().unwrap();
}

#[test]
fn an_inline_thread_local_of_a_replaced_module_is_destroyed_once_per_copy() {
    // `inline TL &tl() { thread_local TL t; ... }` in a header: b uses a's
    // copy (its own was dropped). A thread makes a's variable, a is removed
    // and loaded again, the thread makes the new copy's, then exits: each
    // variable is destroyed once (the removed module's TLS, kept for b,
    // is not handed to the new copy).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    rtdyld::host::open_library("stdc++").unwrap();
    let hdr = "extern \"C\" void host_note(long);\n\
               struct TL { long *p; TL() : p(new long(7)) {} ~TL() { host_note(*p); *p = -1; delete p; } };\n\
               inline long &tl() { thread_local TL t; return *t.p; }\n";
    let a = common::compile("g++", "c++", &format!("{hdr}extern \"C\" long lend_tl(long) {{ return tl(); }}"), &["-O2", "-fPIC"]);
    let b = common::compile("g++", "c++", &format!("{hdr}extern \"C\" long borrow_tl(long) {{ return tl(); }}"), &["-O2", "-fPIC"]);
    let mut l = linker_with(&a);
    l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    let a_id = 0;
    let borrow = l.lookup("borrow_tl").unwrap();
    let (step, next) = std::sync::mpsc::channel::<()>();
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        // SAFETY: `long borrow_tl(long)`, loaded until the end of the test.
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(borrow as usize) };
        assert_eq!(f(0), 7);
        done.send(()).unwrap();
        next.recv().unwrap();
        assert_eq!(f(0), 7, "the new copy's variable");
    });
    wait_done.recv().unwrap();
    l.remove_object(a_id).unwrap();
    l.load_object(&a, "a2.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    NOTES.lock().unwrap().clear();
    step.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(*NOTES.lock().unwrap(), [7, 7], "each copy's variable destroyed once");
    drop(l);
}
