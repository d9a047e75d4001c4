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
