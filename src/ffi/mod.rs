//! The C API. This module only converts: C pointers to Rust references,
//! C callbacks to [`MemoryManager`] and [`Resolver`](crate::Resolver), Rust errors to result
//! codes. No panic crosses it: every entry point catches unwinding and
//! returns `RTDYLD_RESULT_PANIC`.
//!
//! The header `include/rtdyld.h` is generated from this file by cbindgen
//! (see build.rs), so the doc comments here are written for C readers.
#![allow(non_camel_case_types)]
// The entry points take raw pointers from C callers, who cannot see Rust's
// `unsafe`; the validity each pointer needs is documented per function in
// the header, and NULL is checked everywhere.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::{Error, ErrorKind};
use crate::linker::{Linker, SectionInfo};
use crate::memory::{AllocationRequest, MemoryManager, ReserveRequest, SectionKind};
use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Result of every rtdyld call. The values are fixed and never renumbered.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtdyld_result {
    /// Success.
    Ok = 0,
    /// A NULL pointer or an argument out of range.
    InvalidArgument = 1,
    /// The object is truncated, garbage or internally inconsistent.
    MalformedObject = 2,
    /// Well-formed input rtdyld does not handle: another architecture or
    /// file type, an unsupported relocation or symbol type.
    Unsupported = 3,
    /// Two strong definitions of one symbol.
    DuplicateSymbol = 4,
    /// Symbols nothing could resolve at finalize; the message names each.
    UnresolvedSymbol = 5,
    /// A relocation value does not fit its field.
    RelocationOverflow = 6,
    /// The memory manager failed to reserve, allocate, make writable or finalize.
    MemoryManager = 7,
    /// An unknown symbol name, section id or object id.
    NotFound = 8,
    /// An internal error was caught at the API boundary (a bug in rtdyld).
    Panic = 9,
    /// The call is not possible in the linker's current state.
    InvalidState = 10,
    /// The linker is in use by another thread in a way this call must not
    /// overlap with (see `rtdyld_linker`); nothing was done.
    Busy = 11,
}

/// What a section holds, which decides its protection after finalize.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtdyld_section_kind {
    /// Executable code (read + execute after finalize).
    Code = 0,
    /// Read-only data, including the GOT (read-only after finalize).
    RoData = 1,
    /// Writable data.
    RwData = 2,
    /// Zero-initialised writable data.
    ZeroFill = 3,
    /// `.tdata`: the initial values of thread-local variables, inside the
    /// TLS module rtdyld registered with the C library; cannot be moved.
    TlsData = 4,
    /// `.tbss`: zero-initialised thread-local variables; no memory (local
    /// address NULL).
    TlsZeroFill = 5,
}

/// A linker: loaded objects, their memory and symbols. Create with
/// `rtdyld_linker_new` or `rtdyld_linker_new_with_memory_manager`, free with
/// `rtdyld_linker_free`.
///
/// Threads: different linkers may be used from different threads at the
/// same time. On one linker, the query calls (`rtdyld_linker_lookup*`,
/// `rtdyld_linker_section_info`, `rtdyld_linker_object_*`) may run
/// concurrently with each other from any number of threads; every other
/// call needs the linker to itself. A call that would overlap with a call
/// it must not overlap with is refused with `RTDYLD_RESULT_BUSY` (nothing
/// is changed). `rtdyld_linker_free` must not overlap with any call.
/// Memory-manager and resolver callbacks run on the thread that made the
/// call. Error messages are kept per thread.
pub struct rtdyld_linker {
    linker: UnsafeCell<Linker>,
    /// Unique in the process (unlike the handle's address, which a later
    /// linker may get): what a thread's last error is about.
    serial: u64,
    /// 0: idle; n > 0: n shared calls running; -1: an exclusive call running.
    state: AtomicIsize,
}

/// Memory-manager callbacks, in MCJIT's argument order. The struct is copied
/// by `rtdyld_linker_new_with_memory_manager`; set `struct_size` to
/// `sizeof(rtdyld_memory_manager)` so that later versions can add members.
///
/// For each object rtdyld calls `reserve` (if set) once, then `allocate_code`
/// or `allocate_data` once per section (including its own GOT and stub
/// sections). Every `rtdyld_linker_finalize` ends with `finalize` (if set);
/// before writing again into a section that an earlier finalize finalized,
/// it calls `make_writable` (if set).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rtdyld_memory_manager {
    /// `sizeof(rtdyld_memory_manager)` as the client compiled it.
    pub struct_size: u32,
    /// Passed first to every callback.
    pub ctx: *mut c_void,
    /// Required. Returns `size` writable (and readable) bytes aligned to
    /// `alignment` for a code section, or NULL on failure. The memory must
    /// stay valid until `destroy`.
    pub allocate_code: Option<
        unsafe extern "C" fn(ctx: *mut c_void, size: usize, alignment: u32, section_id: u32, section_name: *const c_char) -> *mut u8,
    >,
    /// Required. As `allocate_code`, for data; `is_read_only` is true for
    /// data that should be read-only after finalize (and for the GOT).
    pub allocate_data: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            size: usize,
            alignment: u32,
            section_id: u32,
            section_name: *const c_char,
            is_read_only: bool,
        ) -> *mut u8,
    >,
    /// Optional. Called once per object before its allocations with the
    /// bytes a bump allocator needs for each class (sections placed one
    /// after another in request order, each at its alignment, from a start
    /// aligned to the class alignment; stubs and GOT included). Return 0 to
    /// accept, nonzero to refuse (the load then fails).
    pub reserve: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            code_size: usize,
            code_alignment: u32,
            ro_data_size: usize,
            ro_data_alignment: u32,
            rw_data_size: usize,
            rw_data_alignment: u32,
        ) -> c_int,
    >,
    /// Optional. Called at the end of every finalize to apply the final
    /// protections. Return 0 on success; on failure write a NUL-terminated
    /// message of at most `error_buf_len` bytes to `error_buf` and return
    /// nonzero.
    pub finalize: Option<unsafe extern "C" fn(ctx: *mut c_void, error_buf: *mut c_char, error_buf_len: usize) -> c_int>,
    /// Optional. Called during a later finalize before rtdyld writes again
    /// into a section that an earlier finalize finalized: make
    /// `[local_address, local_address + size)` writable (never writable and
    /// executable at once); `finalize` follows. NULL means the local
    /// addresses stay writable (for example the client writes through a
    /// writable alias and runs the code at the target address). Return 0 on
    /// success.
    pub make_writable: Option<unsafe extern "C" fn(ctx: *mut c_void, local_address: *mut u8, size: usize, section_id: u32) -> c_int>,
    /// Optional. Called once when the linker is freed, after which no
    /// memory it handed out is used.
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Optional. Called for each section of an object removed with
    /// `rtdyld_linker_remove_object`, and of an object whose load failed
    /// after some of its sections were allocated: rtdyld no longer uses
    /// that memory. Return 0 on success.
    pub release: Option<unsafe extern "C" fn(ctx: *mut c_void, local_address: *mut u8, size: usize, section_id: u32) -> c_int>,
}

/// Resolves a symbol that no loaded object defines: return nonzero and
/// store its address in `*address_out` when `name` is known, 0 otherwise.
/// `name` is valid only during the call.
pub type rtdyld_resolve_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, name: *const c_char, address_out: *mut u64) -> c_int>;

/// A loaded section. `name` stays valid while the linker lives.
#[repr(C)]
pub struct rtdyld_section_info {
    pub name: *const c_char,
    /// Unique within the linker.
    pub section_id: u32,
    pub object_id: u32,
    /// Where rtdyld writes the section.
    pub local_address: *mut u8,
    /// Where the section runs (the local address until remapped).
    pub target_address: u64,
    pub size: u64,
    /// An `RTDYLD_SECTION_KIND_*` value.
    pub kind: u32,
}

/// A global symbol defined by a loaded object. `name` stays valid while the
/// linker lives.
#[repr(C)]
pub struct rtdyld_symbol_info {
    pub name: *const c_char,
    /// Where the symbol runs: the definition in its object. For an IFUNC
    /// symbol that is its resolver (`rtdyld_linker_lookup` gives the
    /// implementation the resolver chose); for a thread-local variable,
    /// its offset in its object's TLS block.
    pub target_address: u64,
    /// Where rtdyld wrote it (NULL for absolute and thread-local symbols).
    pub local_address: *mut u8,
    pub size: u64,
    /// `UINT32_MAX` for absolute and thread-local symbols.
    pub section_id: u32,
    pub is_function: bool,
    /// Weak or common.
    pub is_weak: bool,
    /// False when a strong definition in another object overrides this one.
    pub is_active: bool,
}

fn code_of(kind: ErrorKind) -> rtdyld_result {
    match kind {
        ErrorKind::InvalidArgument => rtdyld_result::InvalidArgument,
        ErrorKind::MalformedObject => rtdyld_result::MalformedObject,
        ErrorKind::Unsupported => rtdyld_result::Unsupported,
        ErrorKind::DuplicateSymbol => rtdyld_result::DuplicateSymbol,
        ErrorKind::UnresolvedSymbol => rtdyld_result::UnresolvedSymbol,
        ErrorKind::RelocationOverflow => rtdyld_result::RelocationOverflow,
        ErrorKind::MemoryManager => rtdyld_result::MemoryManager,
        ErrorKind::NotFound => rtdyld_result::NotFound,
        ErrorKind::InvalidState => rtdyld_result::InvalidState,
    }
}

fn invalid(what: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{what} must not be NULL"))
}

/// Runs `f` with no unwinding across the boundary.
pub(crate) fn boundary(f: impl FnOnce() -> rtdyld_result) -> rtdyld_result {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(rtdyld_result::Panic)
}

thread_local! {
    /// The calling thread's last error: the serial of the linker it was
    /// about (0: none), and its message. The message stays until the
    /// thread's next failure, even if its linker is freed.
    static LAST_ERROR: RefCell<(u64, CString)> = RefCell::new((0, CString::default()));
}

/// Records the message of a failed call on `handle` (NULL: on no linker).
fn record_error(handle: *const rtdyld_linker, message: String) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: NULL or a live handle: failures are recorded before the call
    // that failed returns.
    let serial = unsafe { handle.as_ref() }.map_or(0, |h| h.serial);
    LAST_ERROR.with(|e| *e.borrow_mut() = (serial, message));
}

/// Records `message` and returns `code`, for failures before any linker.
fn fail_without_linker(code: rtdyld_result, message: &str) -> rtdyld_result {
    record_error(ptr::null(), message.to_owned());
    code
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
    format!("internal error in rtdyld (please report): {what}")
}

/// Turns the outcome of `f` into a result code, recording the message.
fn conclude(handle: *const rtdyld_linker, outcome: std::thread::Result<Result<(), Error>>) -> rtdyld_result {
    let (code, message) = match outcome {
        Ok(Ok(())) => return rtdyld_result::Ok,
        Ok(Err(e)) => (code_of(e.kind()), e.message().to_owned()),
        Err(p) => (rtdyld_result::Panic, panic_message(p)),
    };
    record_error(handle, message);
    code
}

const BUSY_MESSAGE: &str =
    "the linker is in use by another thread: calls that change a linker must not overlap with any other call on it (see rtdyld_linker)";
const REENTERED_MESSAGE: &str = "the linker was called again from inside a call on it on this thread (from its resolver, a memory-manager \
     callback or a constructor): calls that change a linker must not overlap with any other call on it (see rtdyld_linker)";
const NULL_LINKER_MESSAGE: &str = "the linker argument is NULL";

thread_local! {
    /// The linkers this thread is inside a call on (innermost last).
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The message for a call refused because the linker is in use.
fn busy(handle: *const rtdyld_linker) -> rtdyld_result {
    let reentered = INSIDE.with(|v| v.borrow().contains(&(handle as usize)));
    record_error(handle, if reentered { REENTERED_MESSAGE } else { BUSY_MESSAGE }.into());
    rtdyld_result::Busy
}

/// Runs `f` noting that this thread is inside a call on `handle`.
fn inside<T>(handle: *const rtdyld_linker, f: impl FnOnce() -> T) -> T {
    INSIDE.with(|v| v.borrow_mut().push(handle as usize));
    let r = f();
    INSIDE.with(|v| v.borrow_mut().pop());
    r
}

/// Runs `f` with exclusive access to the linker behind `handle`. A call
/// that overlaps with any other call on the same linker is refused with
/// `RTDYLD_RESULT_BUSY`.
fn with_linker(handle: *mut rtdyld_linker, f: impl FnOnce(&mut Linker) -> Result<(), Error>) -> rtdyld_result {
    // SAFETY: the caller passes NULL or a live pointer from rtdyld_linker_new.
    let Some(h) = (unsafe { handle.as_ref() }) else {
        record_error(handle, NULL_LINKER_MESSAGE.into());
        return rtdyld_result::InvalidArgument;
    };
    if h.state.compare_exchange(0, -1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return busy(handle);
    }
    // SAFETY: the state word guarantees no other reference to the linker
    // exists until it is reset below.
    let linker = unsafe { &mut *h.linker.get() };
    let outcome = inside(handle, || catch_unwind(AssertUnwindSafe(|| f(linker))));
    h.state.store(0, Ordering::Release);
    conclude(handle, outcome)
}

/// Runs `f` with shared access: any number of such calls may overlap, but
/// not with a call that changes the linker.
fn with_linker_shared(handle: *mut rtdyld_linker, f: impl FnOnce(&Linker) -> Result<(), Error>) -> rtdyld_result {
    // SAFETY: the caller passes NULL or a live pointer from rtdyld_linker_new.
    let Some(h) = (unsafe { handle.as_ref() }) else {
        record_error(handle, NULL_LINKER_MESSAGE.into());
        return rtdyld_result::InvalidArgument;
    };
    let mut current = h.state.load(Ordering::Relaxed);
    loop {
        if current < 0 {
            return busy(handle);
        }
        match h.state.compare_exchange_weak(current, current + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(seen) => current = seen,
        }
    }
    // SAFETY: while the reader count is positive no exclusive reference
    // exists; the shared methods used here only read the linker.
    let linker = unsafe { &*h.linker.get() };
    let outcome = inside(handle, || catch_unwind(AssertUnwindSafe(|| f(linker))));
    h.state.fetch_sub(1, Ordering::Release);
    conclude(handle, outcome)
}

/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(invalid(what));
    }
    // SAFETY: per the function contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{what} is not valid UTF-8")))
}

fn out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller passes NULL or a pointer to writable storage for T.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(what))
}

/// The library version as "MAJOR.MINOR.PATCH", equal to
/// `RTDYLD_VERSION_STRING` of the header it was built with. Static storage.
#[no_mangle]
pub extern "C" fn rtdyld_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a result code, e.g. "RTDYLD_RESULT_OK"; "RTDYLD_RESULT_UNKNOWN"
/// for values rtdyld does not define. Static storage.
#[no_mangle]
pub extern "C" fn rtdyld_result_name(result: u32) -> *const c_char {
    let s: &'static CStr = match result {
        0 => c"RTDYLD_RESULT_OK",
        1 => c"RTDYLD_RESULT_INVALID_ARGUMENT",
        2 => c"RTDYLD_RESULT_MALFORMED_OBJECT",
        3 => c"RTDYLD_RESULT_UNSUPPORTED",
        4 => c"RTDYLD_RESULT_DUPLICATE_SYMBOL",
        5 => c"RTDYLD_RESULT_UNRESOLVED_SYMBOL",
        6 => c"RTDYLD_RESULT_RELOCATION_OVERFLOW",
        7 => c"RTDYLD_RESULT_MEMORY_MANAGER",
        8 => c"RTDYLD_RESULT_NOT_FOUND",
        9 => c"RTDYLD_RESULT_PANIC",
        10 => c"RTDYLD_RESULT_INVALID_STATE",
        11 => c"RTDYLD_RESULT_BUSY",
        _ => c"RTDYLD_RESULT_UNKNOWN",
    };
    s.as_ptr()
}

fn new_handle(linker: Linker, linker_out: *mut *mut rtdyld_linker) {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let h = Box::new(rtdyld_linker { linker: UnsafeCell::new(linker), serial, state: AtomicIsize::new(0) });
    // SAFETY: checked non-NULL by the caller.
    unsafe { *linker_out = Box::into_raw(h) };
}

/// Creates a linker with the default memory manager (each object's sections
/// within one region, objects packed one after another, W^X). On success
/// `*linker_out` owns a new linker; free it with `rtdyld_linker_free`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_new(linker_out: *mut *mut rtdyld_linker) -> rtdyld_result {
    boundary(|| {
        if linker_out.is_null() {
            return fail_without_linker(rtdyld_result::InvalidArgument, "linker_out is NULL");
        }
        new_handle(Linker::new(), linker_out);
        rtdyld_result::Ok
    })
}

/// Creates a linker whose memory comes from the callbacks in `*memory_manager`
/// (copied; `allocate_code` and `allocate_data` are required). On success
/// `*linker_out` owns a new linker and `destroy(ctx)` will be called once
/// when it is freed; on failure `destroy` is not called.
#[no_mangle]
pub extern "C" fn rtdyld_linker_new_with_memory_manager(
    memory_manager: *const rtdyld_memory_manager,
    linker_out: *mut *mut rtdyld_linker,
) -> rtdyld_result {
    boundary(|| {
        if memory_manager.is_null() || linker_out.is_null() {
            let what = if linker_out.is_null() { "linker_out" } else { "memory_manager" };
            return fail_without_linker(rtdyld_result::InvalidArgument, &format!("{what} is NULL"));
        }
        // SAFETY: non-NULL; the client promises `struct_size` readable bytes.
        let size = unsafe { ptr::addr_of!((*memory_manager).struct_size).read_unaligned() } as usize;
        let required = std::mem::offset_of!(rtdyld_memory_manager, reserve);
        if size < required {
            return fail_without_linker(
                rtdyld_result::InvalidArgument,
                &format!(
                    "memory_manager->struct_size is {size}: set it to sizeof(rtdyld_memory_manager) (at least {required} bytes, up to allocate_data)"
                ),
            );
        }
        let known = std::mem::size_of::<rtdyld_memory_manager>();
        if size > known {
            // A newer header's members: refused unless all zero (NULL
            // callbacks), as this library would not call them.
            // SAFETY: the client promises `struct_size` readable bytes.
            let extra = unsafe { std::slice::from_raw_parts(memory_manager.cast::<u8>().add(known), size - known) };
            if extra.iter().any(|&b| b != 0) {
                return fail_without_linker(
                    rtdyld_result::Unsupported,
                    &format!(
                        "memory_manager->struct_size is {size}, and members past the {known} bytes this library (rtdyld {}) knows are set: it would not call them; link with a newer rtdyld",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
            }
        }
        let mut mm = rtdyld_memory_manager {
            struct_size: 0,
            ctx: ptr::null_mut(),
            allocate_code: None,
            allocate_data: None,
            reserve: None,
            finalize: None,
            make_writable: None,
            destroy: None,
            release: None,
        };
        let n = size.min(std::mem::size_of::<rtdyld_memory_manager>());
        // SAFETY: copies the first `n` bytes the client declared; members it
        // did not declare stay NULL.
        unsafe { ptr::copy_nonoverlapping(memory_manager.cast::<u8>(), ptr::addr_of_mut!(mm).cast::<u8>(), n) };
        if mm.allocate_code.is_none() || mm.allocate_data.is_none() {
            return fail_without_linker(rtdyld_result::InvalidArgument, "memory_manager: allocate_code and allocate_data are required");
        }
        new_handle(Linker::with_memory_manager(Box::new(CallbackMemoryManager { cb: mm })), linker_out);
        rtdyld_result::Ok
    })
}

/// Frees a linker: its memory manager is destroyed and all code and data it
/// loaded become invalid. NULL is a no-op. The default memory manager keeps
/// its memory mapped but inaccessible, up to 16 MiB process-wide, for the
/// next linker to reuse (see `rtdyld_release_recycled_memory` and
/// `rtdyld_set_recycled_memory_limit`).
#[no_mangle]
pub extern "C" fn rtdyld_linker_free(linker: *mut rtdyld_linker) {
    let _ = boundary(|| {
        if !linker.is_null() {
            // SAFETY: a pointer from rtdyld_linker_new*, freed once.
            // (A message about it stays valid until the thread's next
            // failure; the serial keeps it from a later linker.)
            drop(unsafe { Box::from_raw(linker) });
        }
        rtdyld_result::Ok
    });
}

/// Unmaps the memory that freed linkers' default memory managers left for
/// reuse by later linkers (at most 16 MiB, kept inaccessible), and returns
/// how many bytes that was; also frees the section list a freed linker kept
/// for the next one (at most 1 MiB of heap). Safe to call at any time, from
/// any thread.
#[no_mangle]
pub extern "C" fn rtdyld_release_recycled_memory() -> usize {
    catch_unwind(crate::memory::release_recycled_memory).unwrap_or(0)
}

/// Sets how many bytes of address range freed linkers' default memory
/// managers may leave for reuse by later linkers, process-wide (16 MiB by
/// default; 0 turns that off), and unmaps what is kept beyond the new
/// limit. Returns the bytes unmapped.
#[no_mangle]
pub extern "C" fn rtdyld_set_recycled_memory_limit(bytes: usize) -> usize {
    catch_unwind(|| crate::memory::set_recycled_memory_limit(bytes)).unwrap_or(0)
}

/// The message of the calling thread's last failed call on `linker` (""
/// if its last failure was about another linker, or if `linker` is NULL).
/// Valid until the calling thread's next failing rtdyld call.
#[no_mangle]
pub extern "C" fn rtdyld_linker_last_error(linker: *const rtdyld_linker) -> *const c_char {
    // SAFETY: NULL or a live handle, per the contract.
    let Some(h) = (unsafe { linker.as_ref() }) else { return c"".as_ptr() };
    LAST_ERROR.with(|e| {
        let e = e.borrow();
        if e.0 == h.serial {
            e.1.as_ptr()
        } else {
            c"".as_ptr()
        }
    })
}

/// The message of the calling thread's last failed rtdyld call, whatever it
/// was about: a linker (even one freed since), or none (a failed
/// `rtdyld_linker_new_with_memory_manager`, a NULL linker); "" if none
/// failed yet. Valid until the calling thread's next failing rtdyld call.
#[no_mangle]
pub extern "C" fn rtdyld_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().1.as_ptr())
}

/// Sets the function asked, at finalize, for symbols that no loaded object
/// defines (and, while loading, for placement hints); each name once, until
/// `rtdyld_linker_refresh_external` says its address changed (names it did
/// not find are asked again at each finalize). `ctx` is passed through and
/// must stay valid while the linker uses it. NULL `resolve` removes the
/// resolver. Every name is asked about again at the next finalize. The
/// callback must not throw a C++ exception or `longjmp` out (an exception
/// reaching rtdyld ends the process); the same holds for memory-manager
/// callbacks and for constructors run by `rtdyld_linker_run_constructors`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_resolver(linker: *mut rtdyld_linker, resolve: rtdyld_resolve_fn, ctx: *mut c_void) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_resolver(resolve.map(|f| {
            let ctx = ResolverCtx(ctx);
            Box::new(move |name: &str| {
                let cname = CString::new(name).ok()?;
                let mut addr = 0u64;
                let ctx = &ctx;
                // SAFETY: the client's callback, with its own ctx and a
                // name valid for the call.
                let found = unsafe { f(ctx.0, cname.as_ptr(), &mut addr) };
                (found != 0).then_some(addr)
            }) as crate::Resolver
        }));
        Ok(())
    })
}

/// Says that the address the resolver (or the process) gives for the
/// external symbol `name` may have changed; NULL `name`: any of them. The
/// next finalize asks again and re-applies what refers to the symbol if
/// the answer differs. Without this, a name is asked about once, when an
/// object first refers to it without a definition anywhere (again after
/// its definition is removed), and a name not found is asked about at
/// each finalize; `rtdyld_linker_set_resolver` and
/// `rtdyld_linker_set_process_symbols` ask about every name again. Names
/// nothing refers to are ignored.
#[no_mangle]
pub extern "C" fn rtdyld_linker_refresh_external(linker: *mut rtdyld_linker, name: *const c_char) -> rtdyld_result {
    with_linker(linker, |l| {
        // SAFETY: NULL, or NUL-terminated per the contract.
        let name = (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) });
        l.refresh_external(name.map(CStr::to_bytes));
        Ok(())
    })
}

/// Whether symbols the resolver does not know are looked up in the host
/// process (its executable and the libraries it loaded). Off by default.
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_process_symbols(linker: *mut rtdyld_linker, enable: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_process_symbols(enable);
        Ok(())
    })
}

/// Whether names of the implementation's namespace (`__*`, `_Unwind_*`:
/// `__stack_chk_fail`, `__cxa_atexit`, `__gxx_personality_v0`, ...) and
/// `atexit`, `at_quick_exit`, `pthread_atfork` that the resolver does not
/// know are taken from this process (rtdyld's own helpers or the host's
/// libraries), even with process symbols off. On by default; turn it off
/// when the code runs in another process, where this one's addresses mean
/// nothing: such names then come from the resolver only (or from the
/// process, if process symbols are on).
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_runtime_helpers(linker: *mut rtdyld_linker, enable: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_runtime_helpers(enable);
        Ok(())
    })
}

/// Whether relocations are kept after finalize so that later finalizes can
/// re-apply them after a remap or a changed symbol address (on by default,
/// 16 bytes per relocation). When off, relocations are dropped after each
/// successful finalize and the sections loaded so far can no longer be
/// remapped.
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_retain_relocations(linker: *mut rtdyld_linker, retain: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_retain_relocations(retain);
        Ok(())
    })
}

/// Whether each object's `.eh_frame` is registered with this process's
/// unwinder at its target address after every finalize (on by default), so
/// that C++ exceptions and backtraces pass through JIT'd code. Turn it off
/// when the code runs outside this process (remote targets).
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_eh_frame_registration(linker: *mut rtdyld_linker, enable: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_register_eh_frames(enable);
        Ok(())
    })
}

/// Whether objects loaded from now on are registered with debuggers
/// through the GDB JIT interface (`__jit_debug_register_code`) after each
/// finalize, at their target addresses, so that gdb shows their functions
/// in backtraces and can break on them. Off by default (it keeps a copy of
/// each object's bytes until the object is removed).
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_debugger_registration(linker: *mut rtdyld_linker, enable: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_debugger_registration(enable);
        Ok(())
    })
}

/// Whether each finalize appends the loaded functions (target address,
/// size, name) to `/tmp/perf-PID.map`, where `perf report` finds them. Off
/// by default. Turn it on before loading: the names of static functions are
/// kept only for objects loaded while it is on.
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_perf_map(linker: *mut rtdyld_linker, enable: bool) -> rtdyld_result {
    with_linker(linker, |l| {
        l.set_perf_map(enable);
        Ok(())
    })
}

/// Loads an ELF x86-64 relocatable object from `data[0..len)`, which is
/// only borrowed for the call. `name` (may be NULL) appears in messages.
/// On success stores the object's id in `*object_id_out` (may be NULL). On
/// failure nothing of the object is added: sections already allocated are
/// released (the memory manager's `release`), and their ids may be given
/// to the sections of a later load.
#[no_mangle]
pub extern "C" fn rtdyld_linker_load_object(
    linker: *mut rtdyld_linker,
    data: *const u8,
    len: usize,
    name: *const c_char,
    object_id_out: *mut u32,
) -> rtdyld_result {
    with_linker(linker, |l| {
        if data.is_null() {
            return Err(invalid("data"));
        }
        // SAFETY: the client passes `len` readable bytes at `data`.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        let name = if name.is_null() {
            "<memory>".to_string()
        } else {
            // SAFETY: NUL-terminated per the contract.
            unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
        };
        let id = l.load_object(bytes, &name)?;
        if !object_id_out.is_null() {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { *object_id_out = id };
        }
        Ok(())
    })
}

/// Resolves symbols, applies every relocation whose value changed since the
/// last finalize (all of them the first time), and calls the memory
/// manager's finalize. May be called any number of times; after a failure
/// the linker stays usable and a later finalize may succeed. It costs in
/// proportion to what changed since the last finalize (the objects loaded,
/// the sections moved, the symbols whose address changed and what refers to
/// them), not to everything loaded.
#[no_mangle]
pub extern "C" fn rtdyld_linker_finalize(linker: *mut rtdyld_linker) -> rtdyld_result {
    with_linker(linker, |l| l.finalize())
}

/// Runs the constructors (`.preinit_array` first, then the legacy `.init`
/// code fragments in load order, as `_init` would, then `.init_array` and
/// `.ctors`, by priority, then in load order) of every object whose
/// constructors have not run yet, each with `(argc, argv, envp)` (see
/// `rtdyld_linker_set_program_arguments`). Call
/// after a successful finalize; the code runs on the calling thread.
/// Destructors (`.fini_array`, `.dtors`, then `.fini` fragments, and what
/// the code registered with `__cxa_atexit`) run when the object is removed
/// or the linker freed.
#[no_mangle]
pub extern "C" fn rtdyld_linker_run_constructors(linker: *mut rtdyld_linker) -> rtdyld_result {
    with_linker(linker, |l| l.run_constructors())
}

/// Sets the `(argc, argv, envp)` that the objects' `.preinit_array` and
/// `.init_array` functions receive, as the C library passes a program's
/// (constructors may read them). By default they get the process's own, as
/// the constructors of a `dlopen`ed library do. The arrays must stay valid
/// while constructors run; argv must hold `argc` arguments (envp is passed
/// on as given, NULL included).
#[no_mangle]
pub extern "C" fn rtdyld_linker_set_program_arguments(
    linker: *mut rtdyld_linker,
    argc: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> rtdyld_result {
    with_linker(linker, |l| {
        if argc < 0 || (argc > 0 && argv.is_null()) {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("argc is {argc} and argv {argv:p}: argv must hold argc arguments")));
        }
        l.set_program_arguments(argc, argv, envp);
        Ok(())
    })
}

/// Runs the destructors of every object whose constructors ran (and what
/// their code registered with `__cxa_atexit` and `atexit`), as `exit` would
/// for a program statically linked from them, and leaves the objects
/// loaded: their code stays mapped and their unwind tables registered, for
/// threads that still run it. For a host that exits with the JIT'd code in
/// place (from an `atexit` handler, say) instead of freeing the linker.
/// Each destructor runs once: removing an object or freeing the linker
/// later runs none again.
#[no_mangle]
pub extern "C" fn rtdyld_linker_run_destructors(linker: *mut rtdyld_linker) -> rtdyld_result {
    with_linker(linker, |l| {
        l.run_destructors();
        Ok(())
    })
}

/// Removes object `object_id`: runs its destructors if its constructors
/// ran, deregisters its unwind tables, releases its sections (the
/// memory manager's `release` callback) and withdraws its symbols; a weak
/// or common definition elsewhere takes over. Objects that referred to it
/// are relinked at the next `rtdyld_linker_finalize` (to another
/// definition, the resolver or the process; else that finalize fails
/// naming the symbols) and must not run before it. Ids are not reused.
/// `RTDYLD_RESULT_INVALID_STATE`, changing nothing, when an object whose
/// relocations were dropped (`rtdyld_linker_set_retain_relocations`) uses
/// one of its definitions: that object could not be relinked.
#[no_mangle]
pub extern "C" fn rtdyld_linker_remove_object(linker: *mut rtdyld_linker, object_id: u32) -> rtdyld_result {
    with_linker(linker, |l| l.remove_object(object_id))
}

/// Sets the address at which the section whose local address (where rtdyld
/// wrote it) is `local_address` will run. Takes effect at the next finalize.
/// (A `.tbss` section has no local address: NULL is an invalid argument.)
/// The target must keep the section's alignment (`RTDYLD_RESULT_INVALID_ARGUMENT`
/// otherwise).
#[no_mangle]
pub extern "C" fn rtdyld_linker_map_section_address(
    linker: *mut rtdyld_linker,
    local_address: *const c_void,
    target_address: u64,
) -> rtdyld_result {
    // SAFETY: the C API's contract (the header's remote-target notes): a
    // target elsewhere than this process needs the in-process steps off.
    with_linker(linker, |l| unsafe { l.map_section_address(local_address.cast(), target_address) })
}

/// Sets the address at which section `section_id` will run. Takes effect at
/// the next finalize.
#[no_mangle]
pub extern "C" fn rtdyld_linker_map_section_id(linker: *mut rtdyld_linker, section_id: u32, target_address: u64) -> rtdyld_result {
    // SAFETY: as for rtdyld_linker_map_section_address.
    with_linker(linker, |l| unsafe { l.map_section(section_id, target_address) })
}

/// Stores in `*target_address_out` the address at which the symbol `name`,
/// defined by a loaded object, runs. Code and data there are ready only
/// after a successful finalize (before one, or after a failed one, their
/// relocations are not all applied). An IFUNC symbol gives the
/// implementation its resolver chose (after finalize); a thread-local
/// variable gives its offset in its object's TLS block, not an address
/// (each thread has its own copy: take its address in loaded code).
#[no_mangle]
pub extern "C" fn rtdyld_linker_lookup(linker: *mut rtdyld_linker, name: *const c_char, target_address_out: *mut u64) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        // SAFETY: NUL-terminated per the contract.
        let name = unsafe { str_arg(name, "name") }?;
        let out = out(target_address_out, "target_address_out")?;
        *out = l.lookup(name)?;
        Ok(())
    })
}

/// Stores in `*local_address_out` the address at which rtdyld wrote the
/// symbol `name`. Valid while the linker lives.
#[no_mangle]
pub extern "C" fn rtdyld_linker_lookup_local(
    linker: *mut rtdyld_linker,
    name: *const c_char,
    local_address_out: *mut *mut u8,
) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        // SAFETY: NUL-terminated per the contract.
        let name = unsafe { str_arg(name, "name") }?;
        let out = out(local_address_out, "local_address_out")?;
        *out = l.lookup_local(name)?;
        Ok(())
    })
}

fn fill_section(s: SectionInfo<'_>, info: &mut rtdyld_section_info) {
    *info = rtdyld_section_info {
        name: s.name.as_ptr(),
        section_id: s.id,
        object_id: s.object,
        local_address: s.local,
        target_address: s.target,
        size: s.size,
        kind: s.kind as u32,
    };
}

/// Describes section `section_id` in `*info_out`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_section_info(
    linker: *mut rtdyld_linker,
    section_id: u32,
    info_out: *mut rtdyld_section_info,
) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        let info = out(info_out, "info_out")?;
        fill_section(l.section(section_id)?, info);
        Ok(())
    })
}

/// Stores in `*count_out` the number of sections of object `object_id`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_object_section_count(linker: *mut rtdyld_linker, object_id: u32, count_out: *mut u32) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        let count = out(count_out, "count_out")?;
        *count = l.object_sections(object_id)?.len() as u32;
        Ok(())
    })
}

/// Describes the `index`th section of object `object_id` in `*info_out`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_object_section(
    linker: *mut rtdyld_linker,
    object_id: u32,
    index: u32,
    info_out: *mut rtdyld_section_info,
) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        let info = out(info_out, "info_out")?;
        let ids = l.object_sections(object_id)?;
        let id = *ids
            .get(index as usize)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("object {object_id} has {} sections, no section {index}", ids.len())))?;
        fill_section(l.section(id)?, info);
        Ok(())
    })
}

/// Stores in `*count_out` the number of global symbols object `object_id` defines.
#[no_mangle]
pub extern "C" fn rtdyld_linker_object_symbol_count(linker: *mut rtdyld_linker, object_id: u32, count_out: *mut u32) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        let count = out(count_out, "count_out")?;
        *count = l.object_symbol_count(object_id)?;
        Ok(())
    })
}

/// Describes the `index`th global symbol defined by object `object_id`.
#[no_mangle]
pub extern "C" fn rtdyld_linker_object_symbol(
    linker: *mut rtdyld_linker,
    object_id: u32,
    index: u32,
    info_out: *mut rtdyld_symbol_info,
) -> rtdyld_result {
    with_linker_shared(linker, |l| {
        let info = out(info_out, "info_out")?;
        let s = l.object_symbol(object_id, index)?;
        *info = rtdyld_symbol_info {
            name: s.name.as_ptr(),
            target_address: s.target,
            local_address: if s.section.is_some() { s.local } else { ptr::null_mut() },
            size: s.size,
            section_id: s.section.unwrap_or(u32::MAX),
            is_function: s.is_function,
            is_weak: s.is_weak,
            is_active: s.is_active,
        };
        Ok(())
    })
}

/// A [`MemoryManager`] over C callbacks.
struct CallbackMemoryManager {
    cb: rtdyld_memory_manager,
}

// SAFETY: the C contract lets the callbacks run on whichever thread is
// using the linker; `ctx` is the client's, passed back untouched.
unsafe impl Send for CallbackMemoryManager {}

/// The client's resolver context, passed back untouched on whichever thread
/// uses the linker (as the C contract says).
struct ResolverCtx(*mut c_void);
// SAFETY: see above.
unsafe impl Send for ResolverCtx {}

fn c_align(align: usize) -> Result<u32, String> {
    u32::try_from(align).map_err(|_| format!("alignment {align} does not fit the callback's 32-bit argument"))
}

// SAFETY: the C callbacks promise the trait's contract; the header's
// rtdyld_memory_manager documents it for C callers, who pass the callbacks
// through an unsafe boundary.
unsafe impl MemoryManager for CallbackMemoryManager {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        let Some(f) = self.cb.reserve else { return Ok(()) };
        // SAFETY: the client's callback with its own ctx.
        let rc = unsafe {
            f(self.cb.ctx, r.code_size, c_align(r.code_align)?, r.ro_size, c_align(r.ro_align)?, r.rw_size, c_align(r.rw_align)?)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("reserve callback returned {rc}"))
        }
    }

    fn allocate(&mut self, req: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        let name = CString::new(req.name.replace('\0', "")).unwrap_or_default();
        let align = c_align(req.align)?;
        // SAFETY: the client's callbacks (checked non-NULL at creation).
        let p = unsafe {
            match req.kind {
                SectionKind::Code => (self.cb.allocate_code.unwrap())(self.cb.ctx, req.size, align, req.section_id, name.as_ptr()),
                k => (self.cb.allocate_data.unwrap())(self.cb.ctx, req.size, align, req.section_id, name.as_ptr(), k.is_read_only()),
            }
        };
        Ok(p)
    }

    fn make_writable(&mut self, local: *mut u8, size: usize, section_id: u32) -> Result<(), String> {
        let Some(f) = self.cb.make_writable else { return Ok(()) };
        // SAFETY: the client's callback with its own ctx.
        match unsafe { f(self.cb.ctx, local, size, section_id) } {
            0 => Ok(()),
            rc => Err(format!("make_writable callback returned {rc}")),
        }
    }

    fn release(&mut self, local: *mut u8, size: usize, section_id: u32) -> Result<(), String> {
        let Some(f) = self.cb.release else { return Ok(()) };
        // SAFETY: the client's callback with its own ctx.
        match unsafe { f(self.cb.ctx, local, size, section_id) } {
            0 => Ok(()),
            rc => Err(format!("release callback returned {rc}")),
        }
    }

    fn finalize(&mut self) -> Result<(), String> {
        let Some(f) = self.cb.finalize else { return Ok(()) };
        let mut buf = [0u8; 1024];
        // SAFETY: the client's callback; it writes at most `buf.len()` bytes.
        let rc = unsafe { f(self.cb.ctx, buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            return Ok(());
        }
        buf[buf.len() - 1] = 0;
        let msg = CStr::from_bytes_until_nul(&buf).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
        Err(if msg.is_empty() { format!("finalize callback returned {rc}") } else { msg })
    }
}

impl Drop for CallbackMemoryManager {
    fn drop(&mut self) {
        if let Some(d) = self.cb.destroy {
            // SAFETY: called exactly once, when the linker is freed.
            unsafe { d(self.cb.ctx) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_a_result_code() {
        assert_eq!(boundary(|| panic!("boom")), rtdyld_result::Panic);
        let mut l: *mut rtdyld_linker = ptr::null_mut();
        assert_eq!(rtdyld_linker_new(&mut l), rtdyld_result::Ok);
        let code = with_linker(l, |_| panic!("deliberate"));
        assert_eq!(code, rtdyld_result::Panic);
        // SAFETY: the message is a NUL-terminated string owned by the linker.
        let msg = unsafe { CStr::from_ptr(rtdyld_linker_last_error(l)) }.to_string_lossy().into_owned();
        assert!(msg.contains("deliberate"), "{msg}");
        rtdyld_linker_free(l);
    }

    #[test]
    fn null_arguments_are_errors() {
        assert_eq!(rtdyld_linker_new(ptr::null_mut()), rtdyld_result::InvalidArgument);
        assert_eq!(rtdyld_linker_finalize(ptr::null_mut()), rtdyld_result::InvalidArgument);
        let mut l: *mut rtdyld_linker = ptr::null_mut();
        assert_eq!(rtdyld_linker_new(&mut l), rtdyld_result::Ok);
        assert_eq!(rtdyld_linker_load_object(l, ptr::null(), 0, ptr::null(), ptr::null_mut()), rtdyld_result::InvalidArgument);
        assert_eq!(rtdyld_linker_lookup(l, c"x".as_ptr(), ptr::null_mut()), rtdyld_result::InvalidArgument);
        assert_eq!(rtdyld_linker_lookup(l, ptr::null(), ptr::null_mut()), rtdyld_result::InvalidArgument);
        rtdyld_linker_free(l);
        rtdyld_linker_free(ptr::null_mut());
    }

    #[test]
    fn checked_in_header_is_current() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/rtdyld.h"));
        let checked_in = include_str!("../../include/rtdyld.h");
        assert!(
            generated == checked_in,
            "include/rtdyld.h is stale: regenerate it with `RTDYLD_UPDATE_HEADER=1 cargo build` and commit it"
        );
    }

    #[test]
    fn version_matches_the_crate() {
        // SAFETY: static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(rtdyld_version()) };
        assert_eq!(v.to_str().unwrap(), crate::VERSION);
    }
}
