//! Registering `.eh_frame` with the process's unwinder (libgcc's
//! `__register_frame`), so that exceptions and backtraces pass through
//! JIT'd frames. Frames are registered at their target address after a
//! finalize, re-registered when a remap moved them, and deregistered when
//! the linker is dropped.
//!
//! rtdyld allocates 4 zero bytes after each `.eh_frame` section: libgcc
//! walks the section until a zero-length entry, which a static link gets
//! from crtend.o.

use std::ffi::c_void;
use std::sync::OnceLock;

type FrameFn = unsafe extern "C" fn(*const c_void);

struct Api {
    register: FrameFn,
    deregister: FrameFn,
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: looking up two functions by name; both have the
        // signature `void f(const void *)` in libgcc.
        unsafe {
            let r = libc::dlsym(libc::RTLD_DEFAULT, c"__register_frame".as_ptr());
            let d = libc::dlsym(libc::RTLD_DEFAULT, c"__deregister_frame".as_ptr());
            if r.is_null() || d.is_null() {
                return None;
            }
            Some(Api { register: std::mem::transmute::<*mut c_void, FrameFn>(r), deregister: std::mem::transmute::<*mut c_void, FrameFn>(d) })
        }
    })
    .as_ref()
}

/// Registers the zero-terminated `.eh_frame` contents at `addr`. Returns
/// false when the process has no unwinder to register with.
///
/// # Safety
/// `addr` must point to a complete, relocated, zero-terminated `.eh_frame`
/// that stays mapped and readable until [`deregister`] is called.
pub unsafe fn register(addr: u64) -> bool {
    match api() {
        // SAFETY: per the function contract.
        Some(a) => unsafe {
            (a.register)(addr as *const c_void);
            true
        },
        None => false,
    }
}

/// Undoes [`register`].
///
/// # Safety
/// `addr` must have been registered with [`register`] and still be mapped.
pub unsafe fn deregister(addr: u64) {
    if let Some(a) = api() {
        // SAFETY: per the function contract.
        unsafe { (a.deregister)(addr as *const c_void) };
    }
}
