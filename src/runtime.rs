//! Runtime helpers that compiled C and C++ objects expect from a static
//! link, provided by rtdyld itself so that clients need not write them.
//!
//! - `__dso_handle`: each object that refers to it gets its own, an 8-byte
//!   section of its own (code refers to it PC-relatively), so that what it registers with `__cxa_atexit` can be run when that
//!   object is removed, as `dlclose` does for a shared library.
//! - runtime-library names (`__stack_chk_fail`, `__gxx_personality_v0`,
//!   `_Unwind_Resume`, ...) resolve from the host process even when the
//!   client did not turn process symbols on.
//! - `__cxa_atexit`: registrations whose handle belongs to a loaded object
//!   are kept here and run when the object is removed or its linker
//!   dropped; others are forwarded to the C library.
//! - `atexit`, which the C library does not export (a static link takes it
//!   from `libc_nonshared.a`, where it passes the caller's `__dso_handle`):
//!   a function in JIT'd code runs with the destructors of the object that
//!   holds it (when the object is removed or its linker dropped, newest
//!   first with its `__cxa_atexit` registrations); a host function is
//!   handed to the C library.
//! - `at_quick_exit`, also from `libc_nonshared.a`: a host function goes
//!   to the C library; functions in JIT'd code are run, newest first, by
//!   one handler rtdyld registers with the C library at the first of them,
//!   and forgotten when their object is removed (a `quick_exit` after that
//!   would otherwise call released code).
//! - `pthread_atfork`, exported by the C library only as a compatibility
//!   symbol (programs link it from `libc_nonshared.a` too): handlers in
//!   JIT'd code are run from one set of handlers rtdyld registers, and
//!   forgotten when their object is removed, as `dlclose` forgets a
//!   library's.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Mutex, OnceLock};

type AtExitFn = unsafe extern "C" fn(*mut c_void);

/// A pending `__cxa_atexit` registration: sequence number, function, argument.
type Registration = (u64, usize, usize);

/// A loaded object's pending `__cxa_atexit` registrations. `generation`
/// tells this object from one loaded later at the same address (the memory
/// of a removed object, or of a freed linker, is used again).
#[derive(Default)]
struct Dso {
    generation: u64,
    list: Vec<Registration>,
}

/// Pending `__cxa_atexit` registrations, by DSO handle address; and how
/// many `thread_local` destructors of each generation are running now.
#[derive(Default)]
struct Registry {
    dsos: HashMap<usize, Dso>,
    running: HashMap<u64, usize>,
}

impl Registry {
    fn get(&self, dso: &usize) -> Option<&Vec<Registration>> {
        self.dsos.get(dso).map(|d| &d.list)
    }
    fn get_mut(&mut self, dso: &usize) -> Option<&mut Vec<Registration>> {
        self.dsos.get_mut(dso).map(|d| &mut d.list)
    }
    fn generation(&self, dso: usize) -> Option<u64> {
        self.dsos.get(&dso).map(|d| d.generation)
    }
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Default::default)
}

thread_local! {
    /// The generation whose `thread_local` destructor this thread runs (0:
    /// none).
    static RUNNING_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Numbers the objects registered, never twice.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Orders registrations across objects, as the C library's single list does.
static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `atexit` registrations of functions in JIT'd code not run yet:
/// sequence number, function.
static PLAIN: Mutex<Vec<(u64, usize)>> = Mutex::new(Vec::new());

/// rtdyld's `atexit`. A function of the host (one the dynamic loader knows)
/// is the C library's business; one in JIT'd code runs with the
/// destructors of the object it lies in, as a shared library's would at
/// `dlclose`.
extern "C" fn atexit(f: Option<extern "C" fn()>) -> c_int {
    let Some(f) = f else { return -1 };
    if in_host(f as usize) {
        return match cxa_atexit_of_libc() {
            // SAFETY: a `void (void)` function called with one ignored
            // argument, as the C library's own `atexit` arranges.
            Some(libc_fn) => unsafe {
                libc_fn(Some(std::mem::transmute::<extern "C" fn(), AtExitFn>(f)), std::ptr::null_mut(), std::ptr::null_mut())
            },
            None => -1,
        };
    }
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    PLAIN.lock().unwrap_or_else(|e| e.into_inner()).push((seq, f as usize));
    0
}

/// `at_quick_exit` functions in JIT'd code not forgotten, oldest first.
static QUICK: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Runs the `at_quick_exit` functions of loaded objects, newest first (the
/// one handler rtdyld registers with the C library for all of them).
extern "C" fn run_quick_exit() {
    loop {
        // One at a time, without the lock held while it runs.
        let Some(f) = QUICK.lock().unwrap_or_else(|e| e.into_inner()).pop() else { break };
        // SAFETY: registered by JIT'd code with `at_quick_exit` as a
        // `void (void)` function, and its object is still loaded (removal
        // forgets it).
        unsafe { std::mem::transmute::<usize, extern "C" fn()>(f)() };
    }
}

type CxaAtQuickExit = unsafe extern "C" fn(Option<extern "C" fn()>, *mut c_void) -> c_int;

/// rtdyld's `at_quick_exit`. Host functions go to the C library.
extern "C" fn at_quick_exit(f: Option<extern "C" fn()>) -> c_int {
    let Some(f) = f else { return -1 };
    static LIBC: OnceLock<usize> = OnceLock::new();
    // SAFETY: dlsym for the C library's own registration function.
    let register = *LIBC.get_or_init(|| unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__cxa_at_quick_exit".as_ptr()) } as usize);
    if register == 0 {
        return -1;
    }
    // SAFETY: glibc's __cxa_at_quick_exit takes the function and a DSO
    // handle (null: the program's own).
    let register = unsafe { std::mem::transmute::<usize, CxaAtQuickExit>(register) };
    if in_host(f as usize) {
        // SAFETY: the caller's function, registered for the process.
        return unsafe { register(Some(f), std::ptr::null_mut()) };
    }
    static OURS: OnceLock<c_int> = OnceLock::new();
    // SAFETY: registering rtdyld's own handler once, for the process.
    let rc = *OURS.get_or_init(|| unsafe { register(Some(run_quick_exit), std::ptr::null_mut()) });
    if rc != 0 {
        return rc;
    }
    QUICK.lock().unwrap_or_else(|e| e.into_inner()).push(f as usize);
    0
}

/// Forgets the `at_quick_exit` functions that lie in `code`.
pub fn forget_quick_exit(code: &[std::ops::Range<u64>]) {
    QUICK.lock().unwrap_or_else(|e| e.into_inner()).retain(|&f| !code.iter().any(|c| c.contains(&(f as u64))));
}

/// `pthread_atfork` handlers in JIT'd code (prepare, parent, child; 0 for
/// none), behind a lock that a fork holds from the prepare handlers to the
/// parent and child ones, so that no removal runs in between.
struct ForkHandlers {
    gate: std::cell::UnsafeCell<libc::pthread_mutex_t>,
    list: std::cell::UnsafeCell<Vec<[usize; 3]>>,
}

// SAFETY: `list` is only touched with `gate` locked.
unsafe impl Sync for ForkHandlers {}

static FORK: ForkHandlers =
    ForkHandlers { gate: std::cell::UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER), list: std::cell::UnsafeCell::new(Vec::new()) };

impl ForkHandlers {
    fn lock(&self) {
        // SAFETY: a statically initialized normal mutex.
        unsafe { libc::pthread_mutex_lock(self.gate.get()) };
    }
    fn unlock(&self) {
        // SAFETY: locked by this thread (or, in a fork's child, by the
        // thread that forked, which the child's only thread continues).
        unsafe { libc::pthread_mutex_unlock(self.gate.get()) };
    }
    /// Calls handler `which` of every entry, newest first for prepare.
    /// The caller holds the lock.
    fn run(&self, which: usize) {
        // SAFETY: the lock is held.
        let list = unsafe { &*self.list.get() };
        let call = |e: &[usize; 3]| {
            if e[which] != 0 {
                // SAFETY: registered by JIT'd code as a `void (void)` handler.
                unsafe { std::mem::transmute::<usize, extern "C" fn()>(e[which])() };
            }
        };
        if which == 0 {
            list.iter().rev().for_each(call);
        } else {
            list.iter().for_each(call);
        }
    }
}

extern "C" fn fork_prepare() {
    FORK.lock();
    FORK.run(0);
}

extern "C" fn fork_parent() {
    FORK.run(1);
    FORK.unlock();
}

extern "C" fn fork_child() {
    FORK.run(2);
    FORK.unlock();
}

type AtForkFn = Option<extern "C" fn()>;
type RegisterAtFork = unsafe extern "C" fn(AtForkFn, AtForkFn, AtForkFn, *mut c_void) -> c_int;

/// rtdyld's `pthread_atfork`. Handlers of the host go to the C library.
extern "C" fn pthread_atfork(prepare: AtForkFn, parent: AtForkFn, child: AtForkFn) -> c_int {
    static REGISTER: OnceLock<usize> = OnceLock::new();
    // SAFETY: dlsym for the C library's own registration function.
    let register = *REGISTER.get_or_init(|| unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__register_atfork".as_ptr()) } as usize);
    if register == 0 {
        return libc::ENOMEM;
    }
    // SAFETY: glibc's __register_atfork has this signature.
    let register = unsafe { std::mem::transmute::<usize, RegisterAtFork>(register) };
    let handlers = [prepare.map_or(0, |f| f as usize), parent.map_or(0, |f| f as usize), child.map_or(0, |f| f as usize)];
    if handlers.iter().all(|&f| f == 0 || in_host(f)) {
        // SAFETY: the caller's handlers, registered for the process.
        return unsafe { register(prepare, parent, child, std::ptr::null_mut()) };
    }
    static OURS: OnceLock<c_int> = OnceLock::new();
    // SAFETY: registering rtdyld's own handlers once, for the process.
    let rc = *OURS.get_or_init(|| unsafe { register(Some(fork_prepare), Some(fork_parent), Some(fork_child), std::ptr::null_mut()) });
    if rc != 0 {
        return rc;
    }
    FORK.lock();
    // SAFETY: the lock is held.
    unsafe { (*FORK.list.get()).push(handlers) };
    FORK.unlock();
    0
}

/// Forgets the `pthread_atfork` handlers that lie in `code`.
pub fn forget_atfork(code: &[std::ops::Range<u64>]) {
    FORK.lock();
    // SAFETY: the lock is held.
    unsafe { (*FORK.list.get()).retain(|e| !e.iter().any(|&f| code.iter().any(|c| c.contains(&(f as u64))))) };
    FORK.unlock();
}

/// Whether the dynamic loader knows `addr` (it lies in the executable or a
/// loaded library, not in JIT'd code).
fn in_host(addr: usize) -> bool {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::uninit();
    // SAFETY: dladdr only reads its first argument's value and fills `info`.
    unsafe { libc::dladdr(addr as *const c_void, info.as_mut_ptr()) != 0 }
}

type CxaAtExit = unsafe extern "C" fn(Option<AtExitFn>, *mut c_void, *mut c_void) -> c_int;

/// The C library's own `__cxa_atexit`.
fn cxa_atexit_of_libc() -> Option<CxaAtExit> {
    static LIBC: OnceLock<usize> = OnceLock::new();
    // SAFETY: dlsym for the C library's own __cxa_atexit.
    let f = *LIBC.get_or_init(|| unsafe { libc::dlsym(libc::RTLD_NEXT, c"__cxa_atexit".as_ptr()) } as usize);
    // SAFETY: the C library's __cxa_atexit has this signature.
    (f != 0).then(|| unsafe { std::mem::transmute::<usize, CxaAtExit>(f) })
}

/// Marks `dso` as a handle of a loaded object.
pub fn register_dso(dso: usize) {
    let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    registry().lock().unwrap_or_else(|e| e.into_inner()).dsos.insert(dso, Dso { generation, list: Vec::new() });
}

/// Keeps what was registered under `old` under `new` (the object's
/// `__dso_handle` moved with a remap).
pub fn rekey_dso(old: usize, new: usize) {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    let entry = r.dsos.remove(&old).unwrap_or_default();
    r.dsos.insert(new, entry);
}

/// Runs the functions registered for any of `dsos`, and those registered
/// with `atexit` that lie in one of `code` (address ranges), newest first
/// across all of them (as `exit` does for a program), and forgets the
/// handles.
pub fn run_atexit(dsos: &[usize], code: &[std::ops::Range<u64>]) {
    loop {
        // Take one at a time: a destructor may register another.
        let newest_cxa = {
            let r = registry().lock().unwrap_or_else(|e| e.into_inner());
            dsos.iter().filter_map(|d| r.get(d).and_then(|l| l.last()).map(|e| (e.0, *d))).max()
        };
        let newest_plain = {
            let plain = PLAIN.lock().unwrap_or_else(|e| e.into_inner());
            plain.iter().rev().find(|e| code.iter().any(|c| c.contains(&(e.1 as u64)))).map(|e| e.0)
        };
        match (newest_cxa, newest_plain) {
            (_, Some(seq)) if newest_cxa.is_none_or(|c| c.0 < seq) => {
                let f = {
                    // (By sequence number: another thread may have changed the list.)
                    let mut plain = PLAIN.lock().unwrap_or_else(|e| e.into_inner());
                    plain.iter().position(|e| e.0 == seq).map(|k| plain.remove(k).1)
                };
                if let Some(f) = f {
                    // SAFETY: registered by JIT'd code with `atexit`.
                    unsafe { std::mem::transmute::<usize, extern "C" fn()>(f)() };
                }
            }
            (Some((_, d)), _) => {
                let next = registry().lock().unwrap_or_else(|e| e.into_inner()).get_mut(&d).and_then(|l| l.pop());
                let Some((_, f, arg)) = next else { break };
                // SAFETY: `f` was registered by JIT'd code as a destructor taking `arg`.
                unsafe { std::mem::transmute::<usize, AtExitFn>(f)(arg as *mut c_void) };
            }
            _ => break,
        }
    }
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    let generations: Vec<u64> = dsos.iter().filter_map(|d| r.dsos.remove(d)).map(|d| d.generation).collect();
    // A thread that is running one of their `thread_local` destructors
    // (it began before they were forgotten) finishes before their code can
    // be released. (None starts now: the objects are forgotten.)
    // (Not for one this thread is running: its destructor removes it.)
    let own = RUNNING_HERE.with(std::cell::Cell::get);
    let others = |r: &Registry, g: &u64| r.running.get(g).map_or(0, |&n| n - usize::from(own == *g));
    while generations.iter().any(|g| others(&r, g) > 0) {
        drop(r);
        std::thread::sleep(std::time::Duration::from_micros(200));
        r = registry().lock().unwrap_or_else(|e| e.into_inner());
    }
}

/// rtdyld's `__cxa_atexit`.
extern "C" fn cxa_atexit(f: Option<AtExitFn>, arg: *mut c_void, dso: *mut c_void) -> c_int {
    {
        let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = r.get_mut(&(dso as usize)) {
            let Some(f) = f else { return -1 };
            list.push((SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed), f as usize, arg as usize));
            return 0;
        }
    }
    match cxa_atexit_of_libc() {
        // SAFETY: forwarding the caller's own arguments.
        Some(libc_fn) => unsafe { libc_fn(f, arg, dso) },
        None => -1,
    }
}

/// A `thread_local` destructor registered by JIT'd code, run at thread
/// exit only if its object is still loaded.
struct ThreadDtor {
    f: usize,
    obj: usize,
    dso: usize,
    /// Of the object that registered it (see [`Dso`]).
    generation: u64,
}

extern "C" fn run_thread_dtor(p: *mut c_void) {
    // SAFETY: `p` is the record boxed by `cxa_thread_atexit_impl`, handed
    // back once by the C library at thread exit.
    let rec = unsafe { Box::from_raw(p as *mut ThreadDtor) };
    {
        let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
        if r.generation(rec.dso) != Some(rec.generation) {
            // Removed, maybe with another object at its address now.
            return;
        }
        *r.running.entry(rec.generation).or_default() += 1;
    }
    let outer = RUNNING_HERE.with(|c| c.replace(rec.generation));
    // SAFETY: a destructor of a still-loaded object, with its argument; a
    // removal waits for it to return before releasing the code.
    unsafe { std::mem::transmute::<usize, AtExitFn>(rec.f)(rec.obj as *mut c_void) };
    RUNNING_HERE.with(|c| c.set(outer));
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = r.running.get_mut(&rec.generation) {
        *n -= 1;
        if *n == 0 {
            r.running.remove(&rec.generation);
        }
    }
}

/// rtdyld's `__cxa_thread_atexit_impl`: `thread_local` destructors of a
/// loaded object run at thread exit while the object is loaded, and are
/// skipped (their objects leak) once it was removed, instead of calling
/// freed code.
extern "C" fn cxa_thread_atexit_impl(f: Option<AtExitFn>, obj: *mut c_void, dso: *mut c_void) -> c_int {
    type Impl = unsafe extern "C" fn(Option<AtExitFn>, *mut c_void, *mut c_void) -> c_int;
    static LIBC: OnceLock<usize> = OnceLock::new();
    // SAFETY: dlsym for the C library's own implementation.
    let libc_fn = *LIBC.get_or_init(|| unsafe { libc::dlsym(libc::RTLD_NEXT, c"__cxa_thread_atexit_impl".as_ptr()) } as usize);
    if libc_fn == 0 {
        return -1;
    }
    // SAFETY: the C library's function has this signature.
    let libc_impl = unsafe { std::mem::transmute::<usize, Impl>(libc_fn) };
    let ours = registry().lock().unwrap_or_else(|e| e.into_inner()).generation(dso as usize);
    let Some(generation) = ours else {
        // SAFETY: forwarding the caller's own arguments.
        return unsafe { libc_impl(f, obj, dso) };
    };
    let Some(f) = f else { return -1 };
    let rec = Box::into_raw(Box::new(ThreadDtor { f: f as usize, obj: obj as usize, dso: dso as usize, generation }));
    static ANCHOR: u8 = 0;
    // SAFETY: registering our trampoline; the handle is one of rtdyld's
    // own addresses, so the C library keeps rtdyld loaded until it ran.
    unsafe { libc_impl(Some(run_thread_dtor), rec.cast(), &ANCHOR as *const u8 as *mut c_void) }
}

/// The address of a helper rtdyld provides under `name`, if any. Names in
/// the implementation's namespace (`__stack_chk_fail`,
/// `__gxx_personality_v0`, `_Unwind_Resume`, ...) are taken from the host
/// process even when process symbols are off, as a static link takes them
/// from the runtime libraries.
/// The process's arguments and environment, as the C library hands them to
/// the initialization functions of the executable and of every library
/// (this one's, below, included): the constructors of loaded objects get
/// them too, as a `dlopen`ed library's do, unless the client gives others.
static PROCESS_ARGS: [std::sync::atomic::AtomicUsize; 3] = [const { std::sync::atomic::AtomicUsize::new(0) }; 3];

extern "C" fn capture_process_args(argc: c_int, argv: *mut *mut std::ffi::c_char, envp: *mut *mut std::ffi::c_char) {
    use std::sync::atomic::Ordering::Relaxed;
    PROCESS_ARGS[0].store(argc as usize, Relaxed);
    PROCESS_ARGS[1].store(argv as usize, Relaxed);
    PROCESS_ARGS[2].store(envp as usize, Relaxed);
}

#[used]
#[link_section = ".init_array"]
static CAPTURE_PROCESS_ARGS: extern "C" fn(c_int, *mut *mut std::ffi::c_char, *mut *mut std::ffi::c_char) = capture_process_args;

/// The process's `(argc, argv, envp)` (see [`PROCESS_ARGS`]); `(0, NULL,
/// environ)` when the C library passed none.
pub fn process_args() -> ProgramArgs {
    use std::sync::atomic::Ordering::Relaxed;
    let argv = PROCESS_ARGS[1].load(Relaxed);
    if argv == 0 {
        extern "C" {
            static environ: *mut *mut std::ffi::c_char;
        }
        // SAFETY: reading the C library's `environ` pointer.
        return ProgramArgs { argc: 0, argv: 0, envp: unsafe { environ } as usize };
    }
    ProgramArgs { argc: PROCESS_ARGS[0].load(Relaxed) as c_int, argv, envp: PROCESS_ARGS[2].load(Relaxed) }
}

/// What a program's `.preinit_array` and `.init_array` functions receive:
/// `argc`, and the addresses of `argv` and `envp`.
#[derive(Debug, Clone, Copy)]
pub struct ProgramArgs {
    pub argc: c_int,
    pub argv: usize,
    pub envp: usize,
}

pub fn lookup(name: &std::ffi::CStr) -> Option<u64> {
    let bytes = name.to_bytes();
    match bytes {
        b"__cxa_atexit" => Some(cxa_atexit as *const () as u64),
        b"atexit" => Some(atexit as *const () as u64),
        b"at_quick_exit" => Some(at_quick_exit as *const () as u64),
        b"pthread_atfork" => Some(pthread_atfork as *const () as u64),
        // libstdc++'s entry point and glibc's implementation behind it.
        b"__cxa_thread_atexit" | b"__cxa_thread_atexit_impl" => Some(cxa_thread_atexit_impl as *const () as u64),
        // What `__builtin_cpu_supports` and `target_clones` resolvers read:
        // libgcc.a in a static link; libgcc_s has them only under a
        // version that is not the default, which dlsym does not find.
        b"__cpu_model" | b"__cpu_indicator_init" => crate::host::lookup(name).or_else(|| {
            // SAFETY: dlvsym only reads the two C strings.
            let p = unsafe { libc::dlvsym(libc::RTLD_DEFAULT, name.as_ptr(), c"GCC_4.8.0".as_ptr()) };
            (!p.is_null()).then_some(p as u64)
        }),
        _ if bytes.starts_with(b"__") || bytes.starts_with(b"_Unwind_") => crate::host::lookup(name),
        _ => None,
    }
}
