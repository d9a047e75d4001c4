//! The thread-safety contract of the C API (see `rtdyld_linker` in the
//! header): many linkers in many threads; concurrent queries on one linker;
//! overlapping a changing call is refused with RTDYLD_RESULT_BUSY.

mod common;

use rtdyld::ffi::*;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SRC: &str = "long ext(long); long counter = 7; long entry(long x) { return ext(x) + counter; }";

extern "C" fn triple(x: i64) -> i64 {
    3 * x
}

unsafe extern "C" fn resolve_triple(_ctx: *mut c_void, name: *const c_char, out: *mut u64) -> c_int {
    // SAFETY: rtdyld passes a NUL-terminated name and a writable out pointer.
    unsafe {
        if CStr::from_ptr(name).to_bytes() == b"ext" {
            *out = triple as *const () as u64;
            return 1;
        }
    }
    0
}

struct Handle(*mut rtdyld_linker);
// SAFETY: the C API allows a linker to be used from any thread; the tests
// below exercise exactly the overlaps its contract allows or refuses.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn new_linker(obj: &[u8], resolver: rtdyld_resolve_fn, ctx: *mut c_void) -> *mut rtdyld_linker {
    let mut l = ptr::null_mut();
    assert_eq!(rtdyld_linker_new(&mut l), rtdyld_result::Ok);
    assert_eq!(rtdyld_linker_set_resolver(l, resolver, ctx), rtdyld_result::Ok);
    assert_eq!(rtdyld_linker_load_object(l, obj.as_ptr(), obj.len(), c"t.o".as_ptr(), ptr::null_mut()), rtdyld_result::Ok);
    l
}

fn call_entry(l: *mut rtdyld_linker, x: i64) -> i64 {
    let mut addr = 0u64;
    assert_eq!(rtdyld_linker_lookup(l, c"entry".as_ptr(), &mut addr), rtdyld_result::Ok);
    // SAFETY: `entry` is `long entry(long)`.
    let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr as usize) };
    f(x)
}

#[test]
fn many_linkers_in_many_threads() {
    let obj = Arc::new(common::compile_c(SRC, &["-O2", "-fPIC"]));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let obj = obj.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let l = new_linker(&obj, Some(resolve_triple), ptr::null_mut());
                    assert_eq!(rtdyld_linker_finalize(l), rtdyld_result::Ok);
                    assert_eq!(call_entry(l, t * 100 + i), 3 * (t * 100 + i) + 7);
                    rtdyld_linker_free(l);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn concurrent_lookups_on_one_linker() {
    let obj = common::compile_c(SRC, &["-O2", "-fPIC"]);
    let l = Handle(new_linker(&obj, Some(resolve_triple), ptr::null_mut()));
    assert_eq!(rtdyld_linker_finalize(l.0), rtdyld_result::Ok);
    let l = Arc::new(l);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let mut a = 0u64;
                    let r = rtdyld_linker_lookup(l.0, c"entry".as_ptr(), &mut a);
                    assert_eq!(r, rtdyld_result::Ok);
                    let r = rtdyld_linker_lookup(l.0, c"no_such_symbol".as_ptr(), &mut a);
                    assert_eq!(r, rtdyld_result::NotFound);
                    // SAFETY: NUL-terminated message owned by this thread's slot.
                    let msg = unsafe { CStr::from_ptr(rtdyld_linker_last_error(l.0)) };
                    assert!(msg.to_bytes().windows(14).any(|w| w == b"no_such_symbol"), "{i}: {msg:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(call_entry(l.0, 2), 13);
    rtdyld_linker_free(l.0);
}

static ENTERED: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn resolve_slowly(ctx: *mut c_void, name: *const c_char, out: *mut u64) -> c_int {
    ENTERED.store(true, Ordering::SeqCst);
    while !RELEASE.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // SAFETY: forwarding rtdyld's own arguments.
    unsafe { resolve_triple(ctx, name, out) }
}

#[test]
fn overlapping_a_changing_call_is_refused() {
    let obj = common::compile_c(SRC, &["-O2", "-fPIC"]);
    let l = Arc::new(Handle(new_linker(&obj, Some(resolve_slowly), ptr::null_mut())));
    let l2 = l.clone();
    let finalizer = std::thread::spawn(move || rtdyld_linker_finalize(l2.0));
    while !ENTERED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // The finalize is running on the other thread.
    let mut a = 0u64;
    assert_eq!(rtdyld_linker_lookup(l.0, c"entry".as_ptr(), &mut a), rtdyld_result::Busy);
    assert_eq!(rtdyld_linker_finalize(l.0), rtdyld_result::Busy);
    assert_eq!(rtdyld_linker_load_object(l.0, obj.as_ptr(), obj.len(), ptr::null(), ptr::null_mut()), rtdyld_result::Busy);
    // SAFETY: NUL-terminated message owned by this thread's slot.
    let msg = unsafe { CStr::from_ptr(rtdyld_linker_last_error(l.0)) }.to_string_lossy().into_owned();
    assert!(msg.contains("in use by another thread"), "{msg}");
    RELEASE.store(true, Ordering::SeqCst);
    assert_eq!(finalizer.join().unwrap(), rtdyld_result::Ok);
    // The refused calls changed nothing; the linker works.
    assert_eq!(call_entry(l.0, 5), 22);
    // SAFETY: NUL-terminated; this thread's last failure was about `l`.
    assert!(!unsafe { CStr::from_ptr(rtdyld_linker_last_error(l.0)) }.to_bytes().is_empty());
    rtdyld_linker_free(l.0);
}

#[test]
fn a_linker_moves_between_threads() {
    let obj = common::compile_c(SRC, &["-O2", "-fPIC"]);
    let mut linker = rtdyld::Linker::new();
    linker.set_resolver(Some(Box::new(|n: &str| (n == "ext").then_some(triple as *const () as u64))));
    linker.load_object(&obj, "t.o").unwrap();
    let linker = std::thread::spawn(move || {
        linker.finalize().unwrap();
        linker
    })
    .join()
    .unwrap();
    let addr = linker.lookup("entry").unwrap();
    // SAFETY: `entry` is `long entry(long)`.
    let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr as usize) };
    assert_eq!(f(1), 10);
}
