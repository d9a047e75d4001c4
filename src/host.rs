//! The host process as a symbol source: its own symbols and the shared
//! libraries it has loaded, through the dynamic loader.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The address of `name` in the host process (the executable and every
/// library loaded with global visibility), if any.
///
/// Answers are remembered, process-wide, for as long as the set of loaded
/// libraries stays the same: the dynamic loader counts every load and
/// unload (`dlpi_adds`, `dlpi_subs`), and any change forgets them all. A
/// JIT whose modules call the same C library functions then asks the
/// dynamic loader once per name, not once per module and finalize.
pub fn lookup(name: &CStr) -> Option<u64> {
    HostLookups::new().lookup(name)
}

/// Host lookups for a batch of names (one finalize): the set of loaded
/// libraries is checked once, when the batch starts.
pub struct HostLookups {
    generation: (u64, u64),
}

impl HostLookups {
    pub fn new() -> Self {
        HostLookups { generation: library_generation() }
    }

    /// As [`lookup`].
    pub fn lookup(&self, name: &CStr) -> Option<u64> {
        let mut cache = LOOKUPS.lock().unwrap_or_else(|e| e.into_inner());
        let cache = cache.get_or_insert_with(|| LookupCache { generation: self.generation, answers: HashMap::new() });
        if cache.generation != self.generation {
            cache.generation = self.generation;
            cache.answers.clear();
        }
        if let Some(&answer) = cache.answers.get(name.to_bytes()) {
            return answer;
        }
        let answer = dl_lookup(name);
        cache.answers.insert(name.to_bytes().into(), answer);
        answer
    }
}

/// Asks the dynamic loader for `name`. A versioned name, `base@VERSION` (as
/// `.symver` makes, to bind to an older `memcpy@GLIBC_2.2.5`, say), asks
/// for that version of `base`.
fn dl_lookup(name: &CStr) -> Option<u64> {
    // (Not found: libraries a linker script named as needed may have it.)
    dl_lookup_loaded(name).or_else(|| open_as_needed().then(|| dl_lookup_loaded(name)).flatten())
}

fn dl_lookup_loaded(name: &CStr) -> Option<u64> {
    let bytes = name.to_bytes();
    let p = match bytes.iter().position(|&b| b == b'@') {
        Some(at) if at > 0 => {
            let base = CString::new(&bytes[..at]).ok()?;
            // (`base@@VERSION`, the default version, is that version too.)
            let version = &bytes[at + 1..];
            let version = CString::new(version.strip_prefix(b"@").unwrap_or(version)).ok()?;
            // SAFETY: dlvsym with RTLD_DEFAULT and NUL-terminated strings only reads.
            unsafe { libc::dlvsym(libc::RTLD_DEFAULT, base.as_ptr(), version.as_ptr()) }
        }
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
        _ => unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) },
    };
    (!p.is_null()).then_some(p as u64)
}

impl Default for HostLookups {
    fn default() -> Self {
        Self::new()
    }
}

struct LookupCache {
    /// The dynamic loader's (adds, subs) counters the answers hold for.
    generation: (u64, u64),
    answers: HashMap<Box<[u8]>, Option<u64>>,
}

static LOOKUPS: Mutex<Option<LookupCache>> = Mutex::new(None);

/// The dynamic loader's counts of library loads and unloads so far.
fn library_generation() -> (u64, u64) {
    extern "C" fn first(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the dynamic loader passes a valid `info` for the call, and
        // `data` is the `(u64, u64)` below, borrowed for the whole iteration.
        unsafe {
            let out = &mut *data.cast::<(u64, u64)>();
            *out = ((*info).dlpi_adds, (*info).dlpi_subs);
        }
        1 // the counters are the same in every entry: stop after the first
    }
    let mut out = (0u64, 0u64);
    // SAFETY: `first` only writes to `out`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut out as *mut (u64, u64)).cast()) };
    out
}

/// The type (`STT_*`) and size of the dynamic symbol of the host process
/// that starts exactly at `addr`, if any.
fn symbol_at(addr: u64) -> Option<(u8, u64)> {
    const RTLD_DL_SYMENT: libc::c_int = 1;
    // SAFETY: dladdr1 fills `info` and `sym` (a pointer to the ELF symbol
    // inside a loaded object, valid while it stays loaded); both are only
    // read here.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let mut sym: *mut libc::c_void = std::ptr::null_mut();
        if libc::dladdr1(addr as *const libc::c_void, &mut info, &mut sym, RTLD_DL_SYMENT) == 0 || sym.is_null() {
            return None;
        }
        let sym = &*(sym as *const libc::Elf64_Sym);
        (info.dli_saddr as u64 == addr).then_some((sym.st_info & 0xf, sym.st_size))
    }
}

/// The size of the host symbol that starts at `addr` (its `st_size`), for
/// `R_X86_64_SIZE32`/`SIZE64` references to it.
pub fn symbol_size(addr: u64) -> Option<u64> {
    symbol_at(addr).map(|(_, size)| size)
}

/// Whether one program header of a loaded object that `accepts` covers
/// `start..end`.
fn segment_covers(start: u64, end: u64, accepts: fn(&libc::Elf64_Phdr) -> bool) -> bool {
    struct Query {
        start: u64,
        end: u64,
        accepts: fn(&libc::Elf64_Phdr) -> bool,
        found: bool,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the C library passes a valid info for each loaded object,
        // and `data` is our `Query`.
        unsafe {
            let q = &mut *(data as *mut Query);
            let info = &*info;
            for k in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(k);
                let lo = info.dlpi_addr + ph.p_vaddr;
                if q.start >= lo && q.end <= lo.wrapping_add(ph.p_memsz) && (q.accepts)(ph) {
                    q.found = true;
                    return 1;
                }
            }
            0
        }
    }
    if end <= start {
        // (A range that wraps past the end of the address space lies in no segment.)
        return false;
    }
    let mut q = Query { start, end, accepts, found: false };
    // SAFETY: iterating the loaded objects with a callback that only reads.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut q as *mut Query).cast()) };
    q.found
}

/// The C++ name a mangled `name` stands for, when the process has
/// libstdc++'s demangler (`__cxa_demangle`) loaded; for messages.
pub fn demangle(name: &str) -> Option<String> {
    type Demangle = unsafe extern "C" fn(*const libc::c_char, *mut libc::c_char, *mut usize, *mut libc::c_int) -> *mut libc::c_char;
    if !name.starts_with("_Z") {
        return None;
    }
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__cxa_demangle".as_ptr()) };
    if f.is_null() {
        return None;
    }
    // SAFETY: `__cxa_demangle` has this signature (the Itanium C++ ABI).
    let f: Demangle = unsafe { std::mem::transmute::<*mut libc::c_void, Demangle>(f) };
    let c = CString::new(name).ok()?;
    let mut status: libc::c_int = -1;
    // SAFETY: a NUL-terminated name, no buffer (it allocates with malloc),
    // and a status out-parameter.
    let out = unsafe { f(c.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), &mut status) };
    if out.is_null() {
        return None;
    }
    // SAFETY: on success, a NUL-terminated string.
    let text = (status == 0).then(|| unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned());
    // SAFETY: allocated with malloc by `__cxa_demangle`, ours to free, once.
    unsafe { libc::free(out.cast()) };
    text
}

/// Whether `addr` is the address of a function of the host process (as
/// opposed to data), when the dynamic loader can tell.
pub fn is_function(addr: u64) -> bool {
    match symbol_at(addr) {
        Some((st_type, _)) => st_type == 2 /* STT_FUNC */ || st_type == 10, /* STT_GNU_IFUNC */
        // An IFUNC's answer is often a function no dynamic symbol table
        // lists (strlen's is __strlen_avx2): code all the same, in an
        // executable segment. (A symbol that is listed is taken at its
        // word: data can share an executable segment.)
        None => segment_covers(addr, addr.wrapping_add(1), |ph| ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0),
    }
}

/// If `addr` is the start of a data object of the host process that stays
/// read-only after loading (in a read-only segment, or under RELRO: vtables,
/// typeinfo, constant tables), its size.
pub fn read_only_object_size(addr: u64) -> Option<u64> {
    let (st_type, size) = symbol_at(addr)?;
    if st_type != 1 /* STT_OBJECT */ || size == 0 {
        return None;
    }
    let read_only = |ph: &libc::Elf64_Phdr| match ph.p_type {
        libc::PT_GNU_RELRO => true,
        libc::PT_LOAD => ph.p_flags & libc::PF_W == 0,
        _ => false,
    };
    segment_covers(addr, addr.wrapping_add(size), read_only).then_some(size)
}

/// Where a thread-local variable of the host lives: its TLS module id, its
/// offset in the module's block, and (for static TLS) the offset of the
/// variable from the thread pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTls {
    pub module: u64,
    pub offset: u64,
    pub tp_offset: Option<i64>,
}

/// The thread pointer (`%fs:0` on x86-64).
fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reads the TCB's self-pointer, always valid on x86-64 Linux.
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    tp
}

/// Finds the host's thread-local variable `name` (libstdc++'s
/// `__once_callable`, say).
pub fn tls_symbol(name: &CStr) -> Option<HostTls> {
    // For a TLS symbol, dlsym answers the calling thread's instance.
    let addr = lookup(name)?;
    struct Query {
        addr: u64,
        found: Option<(u64, u64)>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the C library passes a valid info; `data` is our Query.
        unsafe {
            let q = &mut *(data as *mut Query);
            let info = &*info;
            if info.dlpi_tls_modid == 0 || info.dlpi_tls_data.is_null() {
                return 0;
            }
            for k in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(k);
                if ph.p_type == libc::PT_TLS {
                    let base = info.dlpi_tls_data as u64;
                    if q.addr >= base && q.addr < base + ph.p_memsz {
                        q.found = Some((info.dlpi_tls_modid as u64, q.addr - base));
                        return 1;
                    }
                }
            }
            0
        }
    }
    let mut q = Query { addr, found: None };
    // SAFETY: iterating loaded objects with a callback that only reads.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut q as *mut Query).cast()) };
    let (module, offset) = q.found?;
    // Static TLS lies just below the thread pointer, within the size glibc
    // reports; a block elsewhere is dynamic and has no fixed offset.
    type StaticInfo = unsafe extern "C" fn(*mut libc::size_t, *mut libc::size_t);
    // SAFETY: a GLIBC_PRIVATE function of ld.so that sanitizers use too,
    // with this signature; absent elsewhere, then nothing is static.
    let static_size = unsafe {
        let f = libc::dlsym(libc::RTLD_DEFAULT, c"_dl_get_tls_static_info".as_ptr());
        if f.is_null() {
            0
        } else {
            let (mut size, mut align) = (0, 0);
            std::mem::transmute::<*mut libc::c_void, StaticInfo>(f)(&mut size, &mut align);
            size as u64
        }
    };
    let tp = thread_pointer();
    let tp_offset = (addr < tp && tp - addr <= static_size).then(|| addr.wrapping_sub(tp) as i64);
    Some(HostTls { module, offset, tp_offset })
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: see above; copied before any other dl call.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// Loads a shared library by path with global visibility, so that
/// [`lookup`] finds its symbols. The library stays loaded for the life of
/// the process.
pub fn open_path(path: &Path) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| format!("{}: path contains NUL", path.display()))?;
    // SAFETY: dlopen with a NUL-terminated path; the handle is deliberately
    // never closed, as the JIT'd code may refer into the library.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if h.is_null() {
        return Err(dl_error());
    }
    Ok(())
}

/// Directories the dynamic loader searches by default, plus LD_LIBRARY_PATH.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default();
    for d in ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/local/lib", "/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// What a GNU ld script (`libm.so`, `libncurses.so` and the like are such
/// text files) names in its `GROUP(...)` and `INPUT(...)` commands, those
/// within `AS_NEEDED(...)` included: file names, and `-lNAME` as
/// `Err(NAME)`. Static archives (`libc_nonshared.a`) are left out: their
/// members are for a static link.
fn script_inputs(text: &str) -> Vec<(std::result::Result<String, String>, bool)> {
    // Comments out, parentheses and commas as separators.
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/*") {
        plain.push_str(&rest[..at]);
        rest = rest[at + 2..].split_once("*/").map_or("", |(_, after)| after);
    }
    plain.push_str(rest);
    let spaced = plain.replace('(', " ( ").replace(')', " ) ").replace(',', " ");
    let mut out = Vec::new();
    let mut tokens = spaced.split_whitespace().peekable();
    while let Some(t) = tokens.next() {
        if !matches!(t, "GROUP" | "INPUT") || tokens.peek() != Some(&"(") {
            continue;
        }
        tokens.next();
        let mut depth = 1;
        // (The depth inside AS_NEEDED(...), when in it.)
        let mut as_needed = None;
        let mut after_as_needed = false;
        for t in tokens.by_ref() {
            match t {
                "(" => {
                    depth += 1;
                    if std::mem::take(&mut after_as_needed) {
                        as_needed = Some(depth);
                    }
                }
                ")" => {
                    if as_needed == Some(depth) {
                        as_needed = None;
                    }
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                "AS_NEEDED" => after_as_needed = true,
                t if t.ends_with(".a") => {}
                t => out.push((t.strip_prefix("-l").map_or_else(|| Ok(t.to_owned()), |n| Err(n.to_owned())), as_needed.is_some())),
            }
        }
    }
    out
}

/// Loads what the linker script at `path` names (see [`script_inputs`]),
/// looking up bare file names next to the script and on the loader's path,
/// as ld does. `depth` bounds scripts that name scripts.
fn open_script(path: &Path, depth: u32) -> Result<(), String> {
    if depth > 8 {
        return Err(format!("{}: linker scripts nested too deep", path.display()));
    }
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let inputs = script_inputs(&String::from_utf8_lossy(&text));
    if inputs.is_empty() {
        return Err(format!("{}: a linker script that names no library", path.display()));
    }
    for (input, as_needed) in inputs {
        let file = match input {
            Err(lib) if as_needed => {
                AS_NEEDED.lock().unwrap_or_else(|e| e.into_inner()).push(AsNeeded::Library(lib));
                continue;
            }
            Err(lib) => {
                open_library_at(&lib, depth + 1)?;
                continue;
            }
            Ok(file) if file.contains('/') => PathBuf::from(file),
            Ok(file) => {
                let dirs = path.parent().map(Path::to_path_buf).into_iter().chain(search_dirs());
                dirs.map(|d| d.join(&file)).find(|p| p.exists()).unwrap_or_else(|| PathBuf::from(file))
            }
        };
        if as_needed {
            AS_NEEDED.lock().unwrap_or_else(|e| e.into_inner()).push(AsNeeded::File(file));
        } else {
            open_file(&file, depth + 1)?;
        }
    }
    Ok(())
}

/// A library a linker script names within `AS_NEEDED(...)`: loaded only
/// when a name is not found in what the process has (ld links it only if
/// it defines a name the program needs: `libm.so` names libmvec so).
enum AsNeeded {
    File(PathBuf),
    Library(String),
}

static AS_NEEDED: std::sync::Mutex<Vec<AsNeeded>> = std::sync::Mutex::new(Vec::new());

/// Loads the libraries waiting in `AS_NEEDED`; whether there were any.
fn open_as_needed() -> bool {
    let waiting = std::mem::take(&mut *AS_NEEDED.lock().unwrap_or_else(|e| e.into_inner()));
    for lib in &waiting {
        // (A library that fails to load leaves the name unresolved, which
        // the linker reports.)
        let _ = match lib {
            AsNeeded::File(path) => open_file(path, 1),
            AsNeeded::Library(name) => open_library_at(name, 1),
        };
    }
    !waiting.is_empty()
}

/// Loads the shared library at `path`, or what it names if it is a linker
/// script.
fn open_file(path: &Path, depth: u32) -> Result<(), String> {
    if is_text(path) {
        open_script(path, depth)
    } else {
        open_path(path)
    }
}

/// Whether the file at `path` can be read and does not start as ELF does.
fn is_text(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && &magic != b"\x7fELF"
}

/// Loads `libNAME.so` as `-lNAME` would. When the plain name is missing or
/// is a linker script (the development symlink may be absent, or be text),
/// loads what the script names (as ld does: `libm.so` names libm and
/// libmvec), else the highest versioned file `libNAME.so.N...` on the
/// loader's path.
pub fn open_library(name: &str) -> Result<(), String> {
    open_library_at(name, 0)
}

fn open_library_at(name: &str, depth: u32) -> Result<(), String> {
    let plain = format!("lib{name}.so");
    let first = match open_path(Path::new(&plain)) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if let Some(script) = search_dirs().into_iter().map(|d| d.join(&plain)).find(|p| p.is_file()).filter(|p| is_text(p)) {
        return open_script(&script, depth).map_err(|e| format!("cannot load library {name}: {e}"));
    }
    let prefix = format!("{plain}.");
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let file = e.file_name();
            let Some(file) = file.to_str() else { continue };
            let Some(ver) = file.strip_prefix(&prefix) else { continue };
            let Ok(v) = ver.split('.').map(str::parse::<u64>).collect::<Result<Vec<_>, _>>() else { continue };
            if best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, e.path()));
            }
        }
        if best.is_some() {
            break;
        }
    }
    match best {
        Some((_, path)) => open_path(&path),
        None => Err(format!("cannot load library {name}: {first}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_lookups_follow_libraries_being_loaded_and_unloaded() {
        let dir = std::env::temp_dir().join(format!("rtdyld-host-lookups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("probe.c");
        let lib = dir.join("libprobe.so");
        std::fs::write(&src, "int rtdyld_lookup_cache_probe(void) { return 42; }\n").unwrap();
        let built = std::process::Command::new("gcc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status().unwrap();
        assert!(built.success());
        let name = c"rtdyld_lookup_cache_probe";
        assert_eq!(lookup(name), None, "not loaded yet (and the miss is remembered)");
        let path = CString::new(lib.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: loading a library this test just built; it has no constructors.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        assert!(!handle.is_null());
        let found = lookup(name);
        assert!(found.is_some(), "a library loaded since the miss is seen");
        assert_eq!(lookup(name), found);
        // SAFETY: nothing refers to the library any more.
        unsafe { libc::dlclose(handle) };
        // Whether glibc really unloads it is its business: the remembered
        // answer must be what the dynamic loader answers now.
        // SAFETY: as in `lookup`.
        let direct = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        assert_eq!(lookup(name), (!direct.is_null()).then_some(direct as u64));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn versioned_names_ask_for_that_version() {
        // glibc has two versions of realpath on x86-64; the default is 2.3.
        let (old, default) = (lookup(c"realpath@GLIBC_2.2.5"), lookup(c"realpath"));
        assert!(old.is_some() && default.is_some() && old != default);
        assert_eq!(lookup(c"realpath@@GLIBC_2.3"), default);
        assert_eq!(lookup(c"realpath@GLIBC_2.3"), default);
        assert_eq!(lookup(c"realpath@NO_SUCH_VERSION"), None);
        assert_eq!(lookup(c"@GLIBC_2.2.5"), None);
    }

    #[test]
    fn addresses_at_the_end_of_the_address_space_are_no_functions() {
        // (The range check once wrapped around to "everything".)
        assert!(!is_function(u64::MAX));
        assert!(!is_function(u64::MAX - 8));
        assert_eq!(read_only_object_size(u64::MAX), None);
        let strlen = lookup(c"strlen").unwrap();
        assert!(is_function(strlen));
    }

    #[test]
    fn linker_scripts_name_their_libraries() {
        let script = "/* GNU ld script\n   Use the shared library */\nOUTPUT_FORMAT(elf64-x86-64)\n\
                      GROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  \
                      AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n";
        let file = |f: &str, as_needed: bool| (Ok(f.to_owned()), as_needed);
        assert_eq!(script_inputs(script), [file("/lib/x86_64-linux-gnu/libc.so.6", false), file("/lib64/ld-linux-x86-64.so.2", true)]);
        assert_eq!(script_inputs("INPUT(libncurses.so.6 -ltinfo)"), [file("libncurses.so.6", false), (Err("tinfo".to_owned()), false)]);
        assert_eq!(script_inputs("GROUP( libtinfo.so )"), [file("libtinfo.so", false)]);
        assert_eq!(script_inputs("GROUP ( a.so AS_NEEDED ( b.so ) c.so )"), [file("a.so", false), file("b.so", true), file("c.so", false)]);
        assert!(script_inputs("SEARCH_DIR(\"/x\")").is_empty());
    }

    #[test]
    fn libm_brings_the_vector_math_library_its_script_names() {
        // libm.so is `GROUP ( libm.so.6 AS_NEEDED ( libmvec.so.1 ) )`:
        // gcc -O3 -ffast-math vectorizes `sin` into libmvec's `_ZGVdN4v_sin`.
        // (libmvec is loaded once a name is not found elsewhere.)
        open_library("m").unwrap();
        assert!(lookup(c"_ZGVdN4v_sin").is_some());
    }

    #[test]
    fn a_library_with_only_its_versioned_file_is_found() {
        // libgcc_s ships only libgcc_s.so.1 on the loader's path (the
        // unversioned name, where present, is a linker script elsewhere),
        // as libstdc++ ships only libstdc++.so.6 on a stock system.
        open_library("gcc_s").unwrap();
        assert!(lookup(c"_Unwind_Backtrace").is_some());
        assert!(open_library("surely_not_a_library_name").unwrap_err().contains("surely_not_a_library_name"));
    }
}
