//! Registering `.eh_frame` with the process's unwinder (libgcc's
//! `__register_frame`), so that exceptions and backtraces pass through
//! JIT'd frames. Frames are registered at their target address after a
//! finalize, re-registered when a remap moved them, and deregistered when
//! the linker is dropped.
//!
//! rtdyld allocates 4 zero bytes after each `.eh_frame` section: libgcc
//! walks the section until a zero-length entry, which a static link gets
//! from crtend.o. LLVM's libunwind, when it is the process's unwinder
//! (it defines `__unw_add_dynamic_fde`), takes one FDE per call instead:
//! rtdyld then walks the section and registers each FDE.

use std::ffi::c_void;
use std::sync::OnceLock;

type FrameFn = unsafe extern "C" fn(*const c_void);

struct Api {
    register: FrameFn,
    deregister: FrameFn,
    /// The unwinder takes single FDEs (LLVM libunwind), not whole sections.
    per_fde: bool,
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
            let per_fde = !libc::dlsym(libc::RTLD_DEFAULT, c"__unw_add_dynamic_fde".as_ptr()).is_null();
            Some(Api {
                register: std::mem::transmute::<*mut c_void, FrameFn>(r),
                deregister: std::mem::transmute::<*mut c_void, FrameFn>(d),
                per_fde,
            })
        }
    })
    .as_ref()
}

/// The FDEs of the zero-terminated `.eh_frame` of `size` bytes at `addr`;
/// the walk never leaves the section, whatever its length fields say.
///
/// # Safety
/// As for [`register`].
unsafe fn fdes(addr: u64, size: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut p = addr;
    let end = addr + size;
    while p + 16 <= end {
        // SAFETY: `p + 16 <= end`: the length, a 64-bit length and the
        // CIE id all lie inside the section.
        let len = unsafe { (p as *const u32).read_unaligned() };
        if len == 0 {
            break;
        }
        let (header, body) = if len == u32::MAX {
            // SAFETY: as above; a 64-bit length follows.
            (12u64, unsafe { ((p + 4) as *const u64).read_unaligned() })
        } else {
            (4, u64::from(len))
        };
        // SAFETY: as above; the CIE id (0 for a CIE) follows the length.
        let id = unsafe { ((p + header) as *const u32).read_unaligned() };
        if id != 0 {
            out.push(p);
        }
        p = match p.checked_add(header + body) {
            Some(next) => next,
            None => break,
        };
    }
    out
}

/// Registers the zero-terminated `.eh_frame` contents (`size` bytes with
/// the terminator) at `addr`. Returns
/// false when the process has no unwinder to register with.
///
/// # Safety
/// `addr` must point to a complete, relocated, zero-terminated `.eh_frame`
/// that stays mapped and readable until [`deregister`] is called.
pub unsafe fn register(addr: u64, size: u64) -> bool {
    match api() {
        // SAFETY: per the function contract.
        Some(a) => unsafe {
            if a.per_fde {
                for fde in fdes(addr, size) {
                    (a.register)(fde as *const c_void);
                }
            } else {
                (a.register)(addr as *const c_void);
            }
            true
        },
        None => false,
    }
}

/// Undoes [`register`].
///
/// # Safety
/// `addr` must have been registered with [`register`] and still be mapped.
pub unsafe fn deregister(addr: u64, size: u64) {
    if let Some(a) = api() {
        // SAFETY: per the function contract.
        unsafe {
            if a.per_fde {
                for fde in fdes(addr, size) {
                    (a.deregister)(fde as *const c_void);
                }
            } else {
                (a.deregister)(addr as *const c_void);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fde_walk_skips_cies_and_stops_at_the_terminator() {
        // CIE (len 12, id 0), FDE (len 16, id 16), FDE (len 8, id 32), end.
        let mut s: Vec<u8> = Vec::new();
        for (len, id) in [(12u32, 0u32), (16, 16), (8, 32)] {
            s.extend_from_slice(&len.to_le_bytes());
            s.extend_from_slice(&id.to_le_bytes());
            s.resize(s.len() + len as usize - 4, 0xaa);
        }
        s.extend_from_slice(&0u32.to_le_bytes());
        let base = s.as_ptr() as u64;
        // SAFETY: a well-formed, terminated section in `s`.
        let fdes = unsafe { super::fdes(base, s.len() as u64) };
        assert_eq!(fdes, vec![base + 16, base + 36]);
    }
}
