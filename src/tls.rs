//! Thread-local storage for loaded objects, provided by the C library itself.
//!
//! For each object with `.tdata`/`.tbss`, rtdyld writes a minimal shared
//! library into a memfd whose only content is a `PT_TLS` segment holding
//! the object's TLS template, and `dlopen`s it. The C library then does
//! what it does for any library: gives it a TLS module id, allocates each
//! thread's block (also in threads that existed before), and frees it.
//! General- and local-dynamic code (`__tls_get_addr`) therefore works in
//! every thread without limit. Initial- and local-exec code needs the block
//! at a fixed offset from the thread pointer, i.e. static TLS: the library
//! is first opened with a `R_X86_64_TPOFF64` relocation of its own (and
//! `DF_STATIC_TLS`), which makes the C library serve it from its reserve
//! for such libraries (glibc: `glibc.rtld.optional_static_tls`,
//! 512 bytes by default); when that is exhausted rtdyld falls back to
//! dynamic TLS, and initial/local-exec references to such a module are
//! reported as errors naming the symbol. TLS descriptors (`gnu2` dialect)
//! work in both: objects that use them are tried in static TLS first,
//! where a descriptor is one load (see [`descriptor`]).
//!
//! The template lives in the generated library's writable segment, so
//! relocations in `.tdata` are applied there; threads that create their
//! block later see relocated initial values. A static module's blocks in
//! threads that already exist are copied at `dlopen`, at load, before
//! finalize: the linker writes the addresses it knows then into the image
//! first, and at each finalize the calling thread's block follows the
//! relocated fields (`Linker::follow_tls_templates`).

use std::ffi::{c_void, CString};

/// A loaded TLS module; `dlclose`d when dropped.
#[derive(Debug)]
pub struct TlsModule {
    handle: *mut c_void,
    fd: i32,
    /// The C library's module id (`tls_index.ti_module`).
    pub module_id: u64,
    /// Offset of the module's block from the thread pointer, for static TLS.
    pub tp_offset: Option<i64>,
    /// The writable template (the `.tdata` image) in the library's mapping.
    pub template: *mut u8,
    /// Static TLS was asked for (and `tp_offset` is `None` only when the C
    /// library could not provide it).
    pub static_requested: bool,
    /// The block's alignment.
    pub align: usize,
}

// SAFETY: the handle and template belong to this module; the C library's
// dl* functions are thread-safe.
unsafe impl Send for TlsModule {}

extern "C" {
    /// The C library's (the dynamic linker's) lookup of a TLS block.
    fn __tls_get_addr(index: *const u64) -> *mut u8;
}

impl TlsModule {
    /// The calling thread's block of this module (a dynamic one is
    /// allocated, from the template, if the thread had none yet).
    pub fn current_thread_block(&self) -> *mut u8 {
        match self.tp_offset {
            Some(off) => {
                let tp: usize;
                // SAFETY: on x86-64 Linux the thread pointer's first word
                // holds its own address (%fs:0); reading it has no effect.
                unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
                tp.wrapping_add_signed(off as isize) as *mut u8
            }
            None => {
                let index = [self.module_id, 0];
                // SAFETY: a `tls_index` of this module, offset 0.
                unsafe { __tls_get_addr(index.as_ptr()) }
            }
        }
    }
}

const RTLD_DI_LINKMAP: libc::c_int = 2;
const RTLD_DI_TLS_MODID: libc::c_int = 9;
const DF_STATIC_TLS: u64 = 0x10;

/// Builds the bytes of a shared library whose `PT_TLS` segment has `image`
/// as initial data, `memsz` bytes in all, aligned to `align`. With
/// `static_tls` it also carries one `R_X86_64_TPOFF64` relocation, which
/// makes the C library place the module in static TLS (or refuse to load
/// it) and writes the block's offset from the thread pointer into the slot
/// at the returned offset.
fn library_image(image: &[u8], memsz: usize, align: usize, static_tls: bool) -> (Vec<u8>, usize, usize) {
    let align = align.max(16);
    // (After the ELF header and four program headers, which end at 0x120.)
    let (dynsym, dynstr, hash, rela, slot, dynamic) = (0x140usize, 0x158usize, 0x160usize, 0x170usize, 0x188usize, 0x190usize);
    let mut dyn_entries: Vec<(u64, u64)> = vec![(4, hash as u64), (5, dynstr as u64), (6, dynsym as u64), (10, 1), (11, 24)];
    if static_tls {
        // DT_RELA, DT_RELASZ, DT_RELAENT, DT_FLAGS = DF_STATIC_TLS.
        dyn_entries.extend([(7, rela as u64), (8, 24), (9, 24), (30, DF_STATIC_TLS)]);
    }
    dyn_entries.push((0, 0));
    let dyn_size = dyn_entries.len() * 16;
    let tls_off = (dynamic + dyn_size).div_ceil(align) * align;
    let file_size = tls_off + image.len();
    let mut b = vec![0u8; file_size];
    let put = |b: &mut Vec<u8>, at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    // ELF header.
    put(&mut b, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put(&mut b, 16, &3u16.to_le_bytes()); // ET_DYN
    put(&mut b, 18, &62u16.to_le_bytes()); // EM_X86_64
    put(&mut b, 20, &1u32.to_le_bytes());
    put(&mut b, 32, &64u64.to_le_bytes()); // e_phoff
    put(&mut b, 52, &64u16.to_le_bytes()); // e_ehsize
    put(&mut b, 54, &56u16.to_le_bytes()); // e_phentsize
    put(&mut b, 56, &4u16.to_le_bytes()); // e_phnum
    put(&mut b, 58, &64u16.to_le_bytes()); // e_shentsize
                                           // Program headers: PT_LOAD (rw), PT_DYNAMIC, PT_TLS, PT_GNU_STACK (rw:
                                           // without it the C library takes the library to need an executable
                                           // stack, and makes every thread's stack writable and executable).
    let phdr = |b: &mut Vec<u8>, k: usize, p_type: u32, flags: u32, off: usize, filesz: usize, memsz: usize, palign: usize| {
        let at = 64 + k * 56;
        put(b, at, &p_type.to_le_bytes());
        put(b, at + 4, &flags.to_le_bytes());
        put(b, at + 8, &(off as u64).to_le_bytes());
        put(b, at + 16, &(off as u64).to_le_bytes());
        put(b, at + 24, &(off as u64).to_le_bytes());
        put(b, at + 32, &(filesz as u64).to_le_bytes());
        put(b, at + 40, &(memsz as u64).to_le_bytes());
        put(b, at + 48, &(palign as u64).to_le_bytes());
    };
    phdr(&mut b, 0, 1, 6, 0, file_size, file_size, 0x1000);
    phdr(&mut b, 1, 2, 6, dynamic, dyn_size, dyn_size, 8);
    phdr(&mut b, 2, 7, 4, tls_off, image.len(), memsz, align);
    phdr(&mut b, 3, 0x6474_e551, 6, 0, 0, 0, 16);
    // .dynsym (the null symbol), .dynstr (""), .hash (one empty bucket).
    put(&mut b, hash, &[1, 0, 0, 0, 1, 0, 0, 0]);
    if static_tls {
        // R_X86_64_TPOFF64 against symbol 0: the module's own block.
        put(&mut b, rela, &(slot as u64).to_le_bytes());
        put(&mut b, rela + 8, &18u64.to_le_bytes());
    }
    for (k, (tag, val)) in dyn_entries.iter().enumerate() {
        put(&mut b, dynamic + k * 16, &tag.to_le_bytes());
        put(&mut b, dynamic + k * 16 + 8, &val.to_le_bytes());
    }
    put(&mut b, tls_off, image);
    (b, tls_off, slot)
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: see above.
        unsafe { std::ffi::CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// Opens the library built from `bytes`. Returns the handle and the memfd,
/// which stays open while the library is loaded: the C library knows a
/// library by its path, `/proc/PID/fd/N`, which must not be reused.
fn open(bytes: &[u8]) -> Result<(*mut c_void, i32), String> {
    // SAFETY: plain syscalls on a memfd we own; the path names it.
    unsafe {
        let fd = libc::memfd_create(c"rtdyld-tls".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        if written != bytes.len() as isize {
            libc::close(fd);
            return Err("could not write the TLS library".into());
        }
        // (With this process's id, not `self`: a debugger reads the name
        // from the C library's list and opens it in its own process, where
        // `/proc/self/fd/N` is one of its own files, a pipe it then waits on.)
        let path = CString::new(format!("/proc/{}/fd/{fd}", libc::getpid())).unwrap_or_default();
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if h.is_null() {
            let e = dl_error();
            libc::close(fd);
            return Err(e);
        }
        Ok((h, fd))
    }
}

impl TlsModule {
    /// Creates a module with initial data `image` (the `.tdata` bytes),
    /// `memsz` bytes in all (with `.tbss`), aligned to `align`. Tries static
    /// TLS first when `prefer_static`.
    pub fn create(image: &[u8], memsz: usize, align: usize, prefer_static: bool) -> Result<TlsModule, String> {
        let mut attempts = vec![false];
        if prefer_static {
            attempts.insert(0, true);
        }
        let mut last = String::new();
        for static_tls in attempts {
            let (bytes, tls_off, slot) = library_image(image, memsz.max(1), align, static_tls);
            let (handle, fd) = match open(&bytes) {
                Ok(h) => h,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let mut modid: libc::size_t = 0;
            let mut map: *mut c_void = std::ptr::null_mut();
            // SAFETY: dlinfo on a handle we just opened, with out-parameters
            // of the documented types.
            let ok = unsafe {
                libc::dlinfo(handle, RTLD_DI_TLS_MODID, (&mut modid as *mut libc::size_t).cast()) == 0
                    && libc::dlinfo(handle, RTLD_DI_LINKMAP, (&mut map as *mut *mut c_void).cast()) == 0
            };
            if !ok || modid == 0 || map.is_null() {
                // SAFETY: closing what we opened.
                unsafe {
                    libc::dlclose(handle);
                    libc::close(fd);
                }
                last = format!("the C library gave no TLS module: {}", dl_error());
                continue;
            }
            // SAFETY: `struct link_map` starts with `ElfW(Addr) l_addr`.
            let l_addr = unsafe { *(map as *const u64) };
            // SAFETY: the slot lies in the library's writable segment, where
            // the C library wrote the TPOFF64 relocation's value.
            let tp_offset = static_tls.then(|| unsafe { ((l_addr as usize + slot) as *const i64).read_unaligned() });
            return Ok(TlsModule {
                handle,
                fd,
                module_id: modid as u64,
                tp_offset,
                template: (l_addr as usize + tls_off) as *mut u8,
                static_requested: prefer_static,
                align,
            });
        }
        Err(format!("the C library refused the TLS module: {last}"))
    }
}

impl Drop for TlsModule {
    fn drop(&mut self) {
        // SAFETY: closing the library we opened, once nothing uses its TLS.
        unsafe {
            libc::dlclose(self.handle);
            libc::close(self.fd);
        }
    }
}

// TLS descriptors (`-mtls-dialect=gnu2`). Code loads the address of a
// descriptor (two words in the GOT: a function and its argument), calls
// the function with the descriptor's address in %rax, and gets back the
// variable's offset from the thread pointer in %rax. The function must keep
// every other register, vector registers included.
//
// `__rtdyld_tlsdesc_return` serves modules in static TLS: the argument is
// the offset itself. `__rtdyld_tlsdesc_xsave` (and `_fxsave`, for
// processors without XSAVE) serve modules in dynamic TLS: the argument
// points to a `tls_index` {module, offset} followed by the address of
// `__tls_get_addr` and the bytes to save the vector state in; the function
// saves the registers the C calling convention lets `__tls_get_addr`
// change, calls it, and subtracts the thread pointer. (The C library's own
// `_dl_tlsdesc_dynamic` reads its private thread vector first; rtdyld keeps
// to the public interface, so each access pays a call and a state save.)
// The symbols are hidden: not exported from the shared library.
std::arch::global_asm!(
    // The registers the C convention lets a call change, except %rax (the
    // result) and the vector state, and %rbx (ours to use); %rbp keeps the
    // entry %rsp.
    ".macro rtdyld_tlsdesc_save_gprs",
    "    pushq %rbp",
    "    movq %rsp, %rbp",
    "    pushq %rbx",
    "    pushq %rcx",
    "    pushq %rdx",
    "    pushq %rsi",
    "    pushq %rdi",
    "    pushq %r8",
    "    pushq %r9",
    "    pushq %r10",
    "    pushq %r11",
    ".endm",
    ".macro rtdyld_tlsdesc_restore_gprs_and_return",
    "    leaq -72(%rbp), %rsp",
    "    popq %r11",
    "    popq %r10",
    "    popq %r9",
    "    popq %r8",
    "    popq %rdi",
    "    popq %rsi",
    "    popq %rdx",
    "    popq %rcx",
    "    popq %rbx",
    "    popq %rbp",
    "    ret",
    ".endm",
    ".pushsection .text.__rtdyld_tlsdesc,\"ax\",@progbits",
    ".p2align 4",
    ".globl __rtdyld_tlsdesc_return",
    ".hidden __rtdyld_tlsdesc_return",
    ".type __rtdyld_tlsdesc_return,@function",
    "__rtdyld_tlsdesc_return:",
    "    movq 8(%rax), %rax",
    "    ret",
    ".size __rtdyld_tlsdesc_return, . - __rtdyld_tlsdesc_return",
    ".p2align 4",
    ".globl __rtdyld_tlsdesc_xsave",
    ".hidden __rtdyld_tlsdesc_xsave",
    ".type __rtdyld_tlsdesc_xsave,@function",
    "__rtdyld_tlsdesc_xsave:",
    "    rtdyld_tlsdesc_save_gprs",
    "    movq 8(%rax), %rdi",  // the argument: &tls_index
    "    subq 24(%rdi), %rsp", // room for the vector state (a multiple of 64)
    "    andq $-64, %rsp",
    "    xorl %eax, %eax", // XSAVE writes only part of the 64-byte header
    "    movq %rax, 512(%rsp)",
    "    movq %rax, 520(%rsp)",
    "    movq %rax, 528(%rsp)",
    "    movq %rax, 536(%rsp)",
    "    movq %rax, 544(%rsp)",
    "    movq %rax, 552(%rsp)",
    "    movq %rax, 560(%rsp)",
    "    movq %rax, 568(%rsp)",
    "    movl $-1, %eax", // every state component the system enabled
    "    movl $-1, %edx",
    "    xsave64 (%rsp)",
    "    callq *16(%rdi)", // __tls_get_addr(&tls_index); %rsp is 64-aligned
    "    movq %rax, %rbx",
    "    movl $-1, %eax",
    "    movl $-1, %edx",
    "    xrstor64 (%rsp)",
    "    movq %rbx, %rax",
    "    subq %fs:0, %rax",
    "    rtdyld_tlsdesc_restore_gprs_and_return",
    ".size __rtdyld_tlsdesc_xsave, . - __rtdyld_tlsdesc_xsave",
    ".p2align 4",
    ".globl __rtdyld_tlsdesc_fxsave",
    ".hidden __rtdyld_tlsdesc_fxsave",
    ".type __rtdyld_tlsdesc_fxsave,@function",
    "__rtdyld_tlsdesc_fxsave:",
    "    rtdyld_tlsdesc_save_gprs",
    "    movq 8(%rax), %rdi",
    "    subq $512, %rsp",
    "    andq $-64, %rsp",
    "    fxsave64 (%rsp)",
    "    callq *16(%rdi)",
    "    movq %rax, %rbx",
    "    fxrstor64 (%rsp)",
    "    movq %rbx, %rax",
    "    subq %fs:0, %rax",
    "    rtdyld_tlsdesc_restore_gprs_and_return",
    ".size __rtdyld_tlsdesc_fxsave, . - __rtdyld_tlsdesc_fxsave",
    ".popsection",
    ".purgem rtdyld_tlsdesc_save_gprs",
    ".purgem rtdyld_tlsdesc_restore_gprs_and_return",
    options(att_syntax)
);

extern "C" {
    // (Called only by JIT'd code, through descriptors, with their own
    // convention; declared to take their addresses.)
    fn __rtdyld_tlsdesc_return();
    fn __rtdyld_tlsdesc_xsave();
    fn __rtdyld_tlsdesc_fxsave();
}

/// The dynamic-TLS descriptor function for this processor and the bytes of
/// vector state it saves (0 for the FXSAVE one, which needs 512).
fn dynamic_resolver() -> (u64, u64) {
    static CHOICE: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        if std::arch::is_x86_feature_detected!("xsave") {
            // SAFETY: CPUID leaf 0xD exists where XSAVE does; sub-leaf 0's
            // EBX is the size of the area for the components enabled now.
            // (`unsafe` before Rust 1.87.)
            #[allow(unused_unsafe)]
            let size = unsafe { std::arch::x86_64::__cpuid_count(0xd, 0) }.ebx;
            // (At least the legacy area and the header; a multiple of 64.)
            (__rtdyld_tlsdesc_xsave as *const () as u64, u64::from(size.max(576)).next_multiple_of(64))
        } else {
            (__rtdyld_tlsdesc_fxsave as *const () as u64, 0)
        }
    })
}

/// The GOT entry of a TLS descriptor for the variable at `offset` in
/// module `module`, `tp` from the thread pointer when the module is in
/// static TLS; `at` is the entry's address where the code runs.
/// Static TLS: [return function, tp]. Dynamic TLS: [saving function,
/// at + 16, module, offset, `__tls_get_addr`, vector state bytes].
pub fn descriptor(module: u64, offset: u64, tp: Option<i64>, at: u64) -> [u8; 48] {
    let words = match tp {
        Some(tp) => [__rtdyld_tlsdesc_return as *const () as u64, tp as u64, 0, 0, 0, 0],
        None => {
            let (f, save) = dynamic_resolver();
            [f, at + 16, module, offset, __tls_get_addr as *const () as u64, save]
        }
    };
    let mut b = [0u8; 48];
    for (k, w) in words.iter().enumerate() {
        b[k * 8..k * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::arch::x86_64::__m128i;

    // Stands in for `__tls_get_addr`: returns the thread pointer plus the
    // offset of the `tls_index` in %rdi after setting every register the
    // C convention lets it change to garbage.
    std::arch::global_asm!(
        ".pushsection .text.__rtdyld_test_clobber,\"ax\",@progbits",
        ".p2align 4",
        ".globl __rtdyld_test_clobbering_get_addr",
        ".hidden __rtdyld_test_clobbering_get_addr",
        "__rtdyld_test_clobbering_get_addr:",
        "    movq %fs:0, %rax",
        "    addq 8(%rdi), %rax",
        "    .irp r, rcx, rdx, rsi, rdi, r8, r9, r10, r11",
        "    movq $-1, %\\r",
        "    .endr",
        "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
        "    pcmpeqd %xmm\\n, %xmm\\n",
        "    .endr",
        "    ret",
        ".popsection",
        options(att_syntax)
    );
    extern "C" {
        fn __rtdyld_test_clobbering_get_addr();
    }

    /// Calls the dynamic descriptor `function` (saving `save` bytes of
    /// vector state) with registers set to patterns, as JIT'd code would.
    fn call_descriptor(function: u64, save: u64) {
        let mut d = [0u64; 6];
        let bytes = descriptor(7, 0x1234, None, d.as_ptr() as u64);
        for (k, w) in d.iter_mut().enumerate() {
            *w = u64::from_le_bytes(bytes[k * 8..k * 8 + 8].try_into().unwrap());
        }
        assert_eq!(&d[1..4], &[d.as_ptr() as u64 + 16, 7, 0x1234]);
        (d[0], d[4], d[5]) = (function, __rtdyld_test_clobbering_get_addr as *const () as u64, save);
        // SAFETY: 16 plain bytes either way.
        let x = |n: u64| -> __m128i { unsafe { std::mem::transmute(u128::from(n) << 64 | u128::from(!n)) } };
        let g = |n: u64| 0x0101_0101_0101_0101 * n;
        let (mut rax, mut r) = (d.as_ptr() as u64, [g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8)]);
        let mut v = [x(10), x(11), x(12), x(13), x(14), x(15), x(16), x(17), x(18), x(19), x(20), x(21), x(22), x(23), x(24), x(25)];
        // SAFETY: the descriptor protocol: %rax points to the descriptor,
        // the function returns the offset in %rax and keeps every other
        // register; all of them are operands here.
        unsafe {
            std::arch::asm!(
                "call qword ptr [rax]",
                inout("rax") rax, inout("rcx") r[0], inout("rdx") r[1], inout("rsi") r[2], inout("rdi") r[3],
                inout("r8") r[4], inout("r9") r[5], inout("r10") r[6], inout("r11") r[7],
                inout("xmm0") v[0], inout("xmm1") v[1], inout("xmm2") v[2], inout("xmm3") v[3],
                inout("xmm4") v[4], inout("xmm5") v[5], inout("xmm6") v[6], inout("xmm7") v[7],
                inout("xmm8") v[8], inout("xmm9") v[9], inout("xmm10") v[10], inout("xmm11") v[11],
                inout("xmm12") v[12], inout("xmm13") v[13], inout("xmm14") v[14], inout("xmm15") v[15],
            );
        }
        assert_eq!(rax, 0x1234, "the variable's offset from the thread pointer");
        assert_eq!(r, [g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8)], "general registers");
        for (n, v) in v.iter().enumerate() {
            // SAFETY: 16 plain bytes.
            let v: u128 = unsafe { std::mem::transmute(*v) };
            assert_eq!(v, u128::from(n as u64 + 10) << 64 | u128::from(!(n as u64 + 10)), "%xmm{n}");
        }
    }

    #[test]
    fn dynamic_descriptors_keep_every_register() {
        let (function, save) = dynamic_resolver();
        call_descriptor(function, save);
        // The FXSAVE variant, for processors without XSAVE.
        call_descriptor(__rtdyld_tlsdesc_fxsave as *const () as u64, 0);
    }

    #[test]
    fn static_descriptors_return_the_offset() {
        let bytes = descriptor(3, 0x40, Some(-0x80), 0);
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), (-0x80i64) as u64);
        let mut d = [u64::from_le_bytes(bytes[..8].try_into().unwrap()), (-0x80i64) as u64];
        let mut rax = d.as_mut_ptr() as u64;
        // SAFETY: as above; the static function changes only %rax.
        unsafe { std::arch::asm!("call qword ptr [rax]", inout("rax") rax) };
        assert_eq!(rax as i64, -0x80);
    }
}
