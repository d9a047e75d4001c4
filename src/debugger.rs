//! Debugger and profiler visibility: the GDB JIT interface and perf maps.
//!
//! GDB JIT interface: gdb puts a breakpoint on `__jit_debug_register_code`
//! and reads `__jit_debug_descriptor`, a list of in-memory object files.
//! For each linked object rtdyld keeps a copy of its bytes whose section
//! headers carry the sections' target addresses (as MCJIT does), so gdb
//! sees function names and line tables where the code runs. The two
//! symbols are defined hidden, so that the shared library still exports
//! only `rtdyld_*`; gdb finds them in the symbol table.
//!
//! perf: `/tmp/perf-PID.map` lines `START SIZE name` (hex) name the JIT'd
//! functions for `perf report`.

use std::io::Write;
use std::ptr;
use std::sync::Mutex;

#[repr(C)]
#[derive(Debug)]
struct JitCodeEntry {
    next: *mut JitCodeEntry,
    prev: *mut JitCodeEntry,
    symfile_addr: *const u8,
    symfile_size: u64,
}

#[repr(C)]
struct JitDescriptor {
    version: u32,
    action_flag: u32,
    relevant_entry: *mut JitCodeEntry,
    first_entry: *mut JitCodeEntry,
}

const JIT_REGISTER_FN: u32 = 1;
const JIT_UNREGISTER_FN: u32 = 2;

std::arch::global_asm!(
    ".pushsection .text.rtdyld_jit_debug,\"ax\",@progbits",
    ".globl __jit_debug_register_code",
    ".hidden __jit_debug_register_code",
    ".type __jit_debug_register_code,@function",
    "__jit_debug_register_code:",
    "ret",
    ".size __jit_debug_register_code, .-__jit_debug_register_code",
    ".popsection",
    ".pushsection .data.rtdyld_jit_debug,\"aw\",@progbits",
    ".globl __jit_debug_descriptor",
    ".hidden __jit_debug_descriptor",
    ".type __jit_debug_descriptor,@object",
    ".p2align 3",
    "__jit_debug_descriptor:",
    ".long 1",
    ".long 0",
    ".quad 0",
    ".quad 0",
    ".size __jit_debug_descriptor, 24",
    ".popsection",
);

extern "C" {
    fn __jit_debug_register_code();
    static mut __jit_debug_descriptor: JitDescriptor;
}

/// The descriptor is process-wide; every change to it happens under this lock.
static LOCK: Mutex<()> = Mutex::new(());

/// One object registered with the debugger; unregistered when dropped.
#[derive(Debug)]
pub struct DebugImage {
    entry: *mut JitCodeEntry,
    _bytes: Box<[u8]>,
}

// SAFETY: the entry is only touched under LOCK.
unsafe impl Send for DebugImage {}

impl DebugImage {
    /// Registers `bytes` (an object file whose section addresses are set).
    pub fn register(bytes: Box<[u8]>) -> DebugImage {
        let entry = Box::into_raw(Box::new(JitCodeEntry {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            symfile_addr: bytes.as_ptr(),
            symfile_size: bytes.len() as u64,
        }));
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the descriptor and entries are only changed under LOCK;
        // the protocol is gdb's: link, set the action, call the hook.
        unsafe {
            let d = ptr::addr_of_mut!(__jit_debug_descriptor);
            (*entry).next = (*d).first_entry;
            if !(*d).first_entry.is_null() {
                (*(*d).first_entry).prev = entry;
            }
            (*d).first_entry = entry;
            (*d).relevant_entry = entry;
            (*d).action_flag = JIT_REGISTER_FN;
            __jit_debug_register_code();
        }
        DebugImage { entry, _bytes: bytes }
    }
}

impl Drop for DebugImage {
    fn drop(&mut self) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: as in `register`; the entry is ours and still linked.
        unsafe {
            let d = ptr::addr_of_mut!(__jit_debug_descriptor);
            let e = self.entry;
            if !(*e).prev.is_null() {
                (*(*e).prev).next = (*e).next;
            } else {
                (*d).first_entry = (*e).next;
            }
            if !(*e).next.is_null() {
                (*(*e).next).prev = (*e).prev;
            }
            (*d).relevant_entry = e;
            (*d).action_flag = JIT_UNREGISTER_FN;
            __jit_debug_register_code();
            drop(Box::from_raw(e));
        }
    }
}

/// Appends `START SIZE name` lines to `/tmp/perf-PID.map`.
pub fn append_perf_map(entries: &[(u64, u64, String)]) -> std::io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let mut out = String::new();
    for (start, size, name) in entries {
        out.push_str(&format!("{start:x} {size:x} {name}\n"));
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(out.as_bytes())
}
