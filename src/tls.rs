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
//! reported as errors naming the symbol.
//!
//! The template lives in the generated library's writable segment, so
//! relocations in `.tdata` are applied there; threads that create their
//! block later see relocated initial values. (A static module's blocks in
//! threads that already existed are copied at `dlopen`, before relocation.)

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
}

// SAFETY: the handle and template belong to this module; the C library's
// dl* functions are thread-safe.
unsafe impl Send for TlsModule {}

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
    let (dynsym, dynstr, hash, rela, slot, dynamic) = (0x100usize, 0x118usize, 0x120usize, 0x130usize, 0x148usize, 0x150usize);
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
    put(&mut b, 56, &3u16.to_le_bytes()); // e_phnum
    put(&mut b, 58, &64u16.to_le_bytes()); // e_shentsize
                                           // Program headers: PT_LOAD (rw), PT_DYNAMIC, PT_TLS.
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
/// library by its path, `/proc/self/fd/N`, which must not be reused.
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
        let path = CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default();
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
            return Ok(TlsModule { handle, fd, module_id: modid as u64, tp_offset, template: (l_addr as usize + tls_off) as *mut u8 });
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
