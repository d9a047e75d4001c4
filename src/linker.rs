//! The linker: loads objects into memory from a memory manager, keeps one
//! symbol table across them, and (re)applies relocations at every finalize
//! against the sections' target addresses.

use crate::error::{Error, ErrorKind, Result};
use crate::host;
use crate::load::{self, GlobalPlace, LocalNames, SymTarget, TableKind};
use crate::memory::{AllocationRequest, DefaultMemoryManager, MemoryManager, ReserveRequest, SectionKind};
use crate::reloc::{x86_64, Field, Reloc};
use crate::symbols::{Canonical, Definition, Strength, SymbolTable};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;

/// How an object refers to a global name it does not define.
#[derive(Debug, Clone, Copy)]
struct UndefinedRef {
    /// Weak: binds to 0 when nothing defines the name.
    weak: bool,
    /// The object's own definition, in a COMDAT group, was dropped for
    /// another object's copy (see `load::ParsedGlobal::discarded`).
    discarded_copy: bool,
}

/// Hashes section addresses for `Linker::by_local` (SipHash is needlessly
/// slow for keys nobody chooses adversarially).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        let h = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A section's name in the linker's name buffer.
fn name_in(names: &[u8], at: usize) -> &CStr {
    CStr::from_bytes_until_nul(&names[at..]).unwrap_or_default()
}

/// Answers a symbol name with an address, or `None` when it does not know it.
pub type Resolver = Box<dyn FnMut(&str) -> Option<u64> + Send>;

/// Names of the sections rtdyld creates itself.
pub const GOT_SECTION: &str = "__rtdyld_got";
pub const STUB_SECTION: &str = "__rtdyld_stubs";
pub const COMMON_SECTION: &str = "__rtdyld_common";
pub const DSO_HANDLE_SECTION: &str = "__rtdyld_dso_handle";
pub const COPY_SECTION: &str = "__rtdyld_copies";

#[derive(Debug)]
struct Section {
    /// Where its name starts in the linker's `section_names`.
    name_at: usize,
    object: u32,
    kind: SectionKind,
    local: *mut u8,
    target: u64,
    size: u64,
    /// The memory manager finalized this section and it has not been made
    /// writable since.
    protected: bool,
    /// The apply in progress holds back writes to it (in the `Writer`'s
    /// `held_sections`; false outside an apply).
    held: bool,
    /// Its target address when relocations were last applied successfully.
    applied_target: Option<u64>,
    /// The object was removed and the memory released.
    removed: bool,
    /// Part of a TLS template: memory of the C library's, never moved.
    tls_template: bool,
    /// Its alignment, as a power of two (a target must keep it).
    align_log2: u8,
}

/// The relocations of one section: `start..end` of [`LoadedObject::relocs`].
#[derive(Debug)]
struct RelocGroup {
    section: u32,
    start: u32,
    end: u32,
}

#[derive(Debug)]
struct LoadedObject {
    id: u32,
    name: String,
    sections: Vec<u32>,
    symbols: Vec<SymTarget>,
    local_names: LocalNames,
    relocs: Vec<Reloc>,
    reloc_groups: Vec<RelocGroup>,
    wide_addends: Vec<i64>,
    got: Option<u32>,
    got_symbols: Vec<u32>,
    /// The GOT slot of each symbol that has one.
    got_index: load::SlotIndex,
    stubs: Option<u32>,
    stub_symbols: Vec<u32>,
    stub_index: load::SlotIndex,
    /// Undefined symbols whose address a 32-bit absolute relocation takes.
    address_stubs: Vec<u32>,
    /// The host data its memory was placed near (it refers to it with 32-bit
    /// PC-relative references), for messages.
    placed_near: Option<u32>,
    /// Host functions whose canonical stub (see
    /// [`Linker::assign_canonical_stubs`]) is one of this object's stubs
    /// (or was: an entry may be stale).
    canonical_for: Vec<u32>,
    /// The global symbols this object defines, whether or not its
    /// definition is the one in use.
    defined: Vec<u32>,
    /// Its definitions that are not in use (another object's displaced
    /// them, or it was weaker than one already there).
    shadowed: Vec<(u32, Definition)>,
    /// The signatures of the COMDAT groups it holds the kept copy of.
    comdats: Vec<Box<[u8]>>,
    /// Some of its global definitions are IFUNCs.
    defines_ifuncs: bool,
    /// Relocations were applied and then dropped; the object cannot be relinked.
    relocations_dropped: bool,
    /// The object is new or one of its sections moved since the last
    /// successful finalize: its relocations must be looked at again.
    needs_apply: bool,
    /// Its relocations were applied by a successful finalize: a later one
    /// re-applies only those whose section or symbol moved.
    applied: bool,
    /// The global symbols its relocations, GOT slots and stubs refer to.
    global_refs: Vec<u32>,
    /// Its `.eh_frame` section, and the target address it is registered at
    /// with the [`code_key`] of the object's sections then (the unwinder
    /// keeps what it read of the table: moved code needs it registered
    /// again).
    eh_frame: Option<u32>,
    eh_registered: Option<(u64, u64)>,
    /// Constructor and destructor tables: kind, priority, section.
    tables: Vec<(TableKind, u32, u32)>,
    /// Its constructors ran (so its destructors are due).
    constructed: bool,
    /// The globals it defines in the COMDAT groups it brought (inline
    /// functions, templates, vtables), which objects loaded later use
    /// instead of their own copies.
    comdat_defs: Vec<u32>,
    /// The section its `__dso_handle` stands for (it is referred to
    /// PC-relatively, so it lives with the object), and the address the
    /// `__cxa_atexit` registrations made through it are kept under.
    dso_handle: Option<u32>,
    dso_key: usize,
    /// Names it refers to without defining them, and whether weakly.
    undefined_refs: Vec<(u32, UndefinedRef)>,
    /// Local IFUNC symbols and their resolvers' answers.
    local_ifuncs: Vec<(u32, Option<u64>)>,
    /// Its thread-local storage, and its TLS GOT entries (kind, symbol,
    /// byte offset in the GOT).
    tls: Option<crate::tls::TlsModule>,
    tls_got: Vec<(x86_64::TlsGot, u32, u64)>,
    /// Where its copies of read-only host data live.
    copy_section: Option<u32>,
    /// The object's bytes, kept for the debugger, and which section-table
    /// entry each loaded section came from.
    image: Option<Box<[u8]>>,
    elf_sections: Vec<(usize, u32)>,
    /// The registration with the debugger, and the section targets it shows.
    debug_image: Option<(crate::debugger::DebugImage, Vec<u64>)>,
    /// The section targets the perf map names, once written.
    perf_written: Option<Vec<u64>>,
    removed: bool,
}

impl LoadedObject {
    fn display(&self, id: u32) -> String {
        format!("obj {id} ({})", self.name)
    }
}

/// A loaded section, as seen from outside.
#[derive(Debug, Clone, Copy)]
pub struct SectionInfo<'a> {
    pub id: u32,
    pub object: u32,
    pub name: &'a CStr,
    pub kind: SectionKind,
    /// Where rtdyld writes.
    pub local: *mut u8,
    /// Where the code runs.
    pub target: u64,
    pub size: u64,
}

/// A symbol an object defines.
#[derive(Debug, Clone, Copy)]
pub struct SymbolInfo<'a> {
    pub name: &'a CStr,
    pub target: u64,
    pub local: *mut u8,
    pub size: u64,
    /// `None` for absolute symbols.
    pub section: Option<u32>,
    pub is_function: bool,
    pub is_weak: bool,
    /// This definition is the one the linker uses (a strong one elsewhere may override a weak one).
    pub is_active: bool,
}

/// A section to allocate for an object being loaded.
struct Plan<'a> {
    name: &'a [u8],
    kind: SectionKind,
    size: u64,
    align: u64,
    data: Option<&'a [u8]>,
    /// Offset in the object's TLS template (not allocated).
    tls: Option<u64>,
    /// A large-model section (`SHF_X86_64_LARGE`).
    large: bool,
}

/// Gives the memory manager back the sections of an object whose load
/// failed after some were allocated: `placed` are the sections handled so
/// far (in plan order; null for TLS ones, which live in the TLS module),
/// `large` the large-model ones allocated ahead of them. (A release that
/// fails changes nothing for the caller, who gets the load's error.)
fn release_unplaced(
    mm: &mut dyn MemoryManager,
    first_id: u32,
    plan: &[Plan<'_>],
    placed: &[(&[u8], *mut u8, SectionKind)],
    large: &[(usize, *mut u8)],
) {
    let ahead = large.iter().filter(|e| e.0 >= placed.len()).map(|e| (e.0, e.1));
    for (k, local) in placed.iter().enumerate().map(|(k, p)| (k, p.1)).chain(ahead) {
        if !local.is_null() {
            let _ = mm.release(local, plan[k].size as usize, first_id + k as u32);
        }
    }
}

/// Working buffers of `load_object` and `apply_object`, kept between
/// objects (empty in between: the items of the first two borrow an object's
/// bytes, see [`load::recycle`]).
#[derive(Default)]
struct Buffers {
    plan: Vec<Plan<'static>>,
    /// The sections placed: name, local address, kind.
    placed: Vec<(&'static [u8], *mut u8, SectionKind)>,
    /// The address of each symbol of the object being applied.
    values: Vec<u64>,
}

/// A runtime linker for relocatable objects. See the crate documentation.
pub struct Linker {
    mm: Box<dyn MemoryManager>,
    objects: Vec<LoadedObject>,
    sections: Vec<Section>,
    /// Section id by local address, for `map_section_address`; made at its
    /// first call (most clients never make one) and kept up to date after.
    by_local: Option<HashMap<usize, u32, BuildHasherDefault<AddressHasher>>>,
    /// Buffers lent to each load.
    scratch: load::Scratch,
    buffers: Buffers,
    /// Section names, each followed by a NUL.
    section_names: Vec<u8>,
    symbols: SymbolTable,
    /// The value of each global symbol at the last successful apply, to
    /// find the objects a later finalize must re-apply.
    applied: Vec<u64>,
    /// What changed since the last successful finalize, so that a finalize
    /// costs in proportion to it rather than to everything loaded.
    changes: Changes,
    /// Some object loaded defines or uses IFUNC symbols.
    has_ifuncs: bool,
    /// Loaded COMDAT groups: signature -> the object holding the kept copy.
    comdats: HashMap<Box<[u8]>, u32>,
    /// Global -> the live objects that refer to it (its entries in their
    /// `global_refs`), so that a finalize after a global changed value finds
    /// the objects to apply again without going over every object's
    /// references. Made by the first such finalize in a linker with many
    /// objects ([`REFERRERS_FROM`]), kept up to date after.
    referrers: Option<Vec<Vec<u32>>>,
    /// Global -> the objects whose `shadowed` list holds a definition of it
    /// (once per entry), so that a removal finds the one to take over
    /// without going over every object.
    shadowed_in: HashMap<u32, Vec<u32>>,
    /// Globals that some object's code reaches with initial-exec TLS
    /// references (`R_X86_64_GOTTPOFF`): an object defining one later puts
    /// its block in static TLS.
    initial_exec_refs: std::collections::HashSet<u32>,
    /// Every object's TLS asks for static TLS (see `set_static_tls_for_all`).
    static_tls_for_all: bool,
    /// The target address of the last section placed by the memory manager.
    latest_target: Option<u64>,
    resolver: Option<Resolver>,
    process_symbols: bool,
    /// Removed objects whose memory and unwind table stay because the
    /// loaded objects listed use their COMDAT copies: what their code took
    /// from those copies at run time (vtable pointers of objects they made,
    /// destructors they registered, function pointers) stays valid until
    /// the last of them is removed.
    kept_for: Vec<(u32, Vec<u32>)>,
    /// Some object dropped its relocations (retention was off at a finalize).
    relocations_ever_dropped: bool,
    /// Objects whose constructors have not run (may hold removed ones):
    /// `run_constructors` looks at these only.
    unconstructed: Vec<u32>,
    /// Names of the implementation's namespace come from this process when
    /// the resolver does not know them (see `set_runtime_helpers`).
    runtime_helpers: bool,
    /// What constructors receive, when the client set it (else the
    /// process's own).
    program_args: Option<crate::runtime::ProgramArgs>,
    retain_relocations: bool,
    register_eh_frames: bool,
    debugger_registration: bool,
    perf_map: bool,
}

// SAFETY: the raw pointers a linker holds are addresses of section memory
// owned by its memory manager, which moves with it (`MemoryManager: Send`);
// the resolver is `Send` too. A `Linker` is not `Sync`: `&mut self` methods
// must not race, which the borrow checker (or the C API's state word) enforces.
unsafe impl Send for Linker {}

impl Default for Linker {
    fn default() -> Self {
        Self::new()
    }
}

/// Largest thread-local template (every thread gets a copy) and alignment
/// an object may ask for; beyond, loading fails instead of the process
/// running out of memory.
const MAX_TLS_BYTES: u64 = 64 << 20;
const MAX_TLS_ALIGN: u64 = 64 << 10;

fn align_up(v: u64, a: u64) -> u64 {
    // (Alignments are powers of two, checked at parse: no division.)
    debug_assert!(a.is_power_of_two());
    (v + (a - 1)) & !(a - 1)
}

/// Lays sections out one after another; returns (total size, max alignment).
fn sequential_size(items: impl Iterator<Item = (u64, u64)>) -> (usize, usize) {
    let (mut end, mut max_align) = (0u64, 1u64);
    for (size, align) in items {
        end = align_up(end, align) + size;
        max_align = max_align.max(align);
    }
    (end as usize, max_align as usize)
}

/// What a finalize has to look at again. A JIT that adds one small module
/// at a time and finalizes after each must not pay, at every finalize, for
/// all the modules before: the work is driven by these lists, and the whole
/// linker is gone over only after a setting that concerns every object. (A
/// removal lists the globals it withdraws; the objects that refer to them
/// are found through `Linker::referrers`, or with few objects by going over
/// their references.)
#[derive(Debug, Default)]
struct Changes {
    /// Objects whose relocations must be looked at again: each once, when
    /// its `needs_apply` is set.
    objects: Vec<u32>,
    /// Globals whose value may differ from the one last applied (a new
    /// definition, one withdrawn by a removal, a new resolver or IFUNC
    /// answer; those of moved sections are found through `moved`); may
    /// repeat. Globals interned since the last apply are new anyway.
    globals: Vec<u32>,
    /// Globals that may be referred to without being defined: the names a
    /// finalize asks the resolver and the host about; each once, unless
    /// `externals_repeat`. A name they answered is not asked again until
    /// it loses its definition again, or the client says its address
    /// changed ([`Linker::refresh_external`]); unanswered ones stay listed.
    externals: Vec<u32>,
    /// Every name referred to without a definition is asked about again
    /// (a new resolver, process symbols switched, or the client's word).
    all_externals: bool,
    /// A removal may have listed a name in `externals` twice (a definition
    /// withdrawn, or references dropped to 0 and back).
    externals_repeat: bool,
    /// Objects with a section moved: the globals they define may have moved
    /// with it (may repeat).
    moved: Vec<u32>,
    /// Go over every object and global at the next finalize.
    everything: bool,
    /// A host function lost its canonical stub (its object was removed):
    /// look at every object for a new one.
    canonical_rescan: bool,
}

impl Changes {
    fn object(&mut self, o: &mut LoadedObject) {
        if !o.needs_apply {
            o.needs_apply = true;
            self.objects.push(o.id);
        }
    }
}

/// Which globals changed value since the last apply: those interned since
/// (`id >= old`), and those marked.
struct Changed {
    old: usize,
    marked: Vec<bool>,
}

impl Changed {
    fn get(&self, g: u32) -> bool {
        g as usize >= self.old || self.marked.get(g as usize).copied().unwrap_or(false)
    }
}

impl Linker {
    /// A linker with the [`DefaultMemoryManager`].
    pub fn new() -> Self {
        Self::with_memory_manager(Box::new(DefaultMemoryManager::new()))
    }

    pub fn with_memory_manager(mm: Box<dyn MemoryManager>) -> Self {
        Linker {
            mm,
            objects: Vec::new(),
            sections: std::mem::take(&mut SPARE_SECTIONS.lock().unwrap_or_else(|e| e.into_inner()).0),
            by_local: None,
            scratch: load::Scratch::default(),
            buffers: Buffers::default(),
            section_names: Vec::new(),
            symbols: SymbolTable::default(),
            applied: Vec::new(),
            changes: Changes::default(),
            has_ifuncs: false,
            comdats: HashMap::new(),
            shadowed_in: HashMap::new(),
            initial_exec_refs: Default::default(),
            static_tls_for_all: false,
            latest_target: None,
            referrers: None,
            resolver: None,
            process_symbols: false,
            unconstructed: Vec::new(),
            kept_for: Vec::new(),
            relocations_ever_dropped: false,
            runtime_helpers: true,
            program_args: None,
            retain_relocations: true,
            register_eh_frames: true,
            debugger_registration: false,
            perf_map: false,
        }
    }

    /// Sets the resolver asked, at finalize, for symbols no loaded object
    /// defines. It may also be asked while loading, for placement hints.
    pub fn set_resolver(&mut self, resolver: Option<Resolver>) {
        self.resolver = resolver;
        self.changes.all_externals = true;
    }

    /// Tells the linker that the address the resolver or the host gives
    /// for external symbol `name` (every external symbol: `None`) may have
    /// changed: the next finalize asks again, and re-applies what refers
    /// to it if the answer differs. Otherwise a name is asked about once,
    /// when first referred to without a definition (and after it loses
    /// one), and names not found are asked again at each finalize. Unknown
    /// names are ignored.
    pub fn refresh_external(&mut self, name: Option<&[u8]>) {
        match name {
            None => self.changes.all_externals = true,
            Some(n) => {
                if let Some(g) = self.symbols.find(n) {
                    self.changes.externals.push(g);
                    self.changes.externals_repeat = true;
                }
            }
        }
    }

    /// Sets the `(argc, argv, envp)` that the objects' `.preinit_array` and
    /// `.init_array` functions receive, as the C library passes a
    /// program's (a constructor may read them). By default they get the
    /// process's own, as a `dlopen`ed library's do. The arrays must stay
    /// valid while constructors run.
    pub fn set_program_arguments(&mut self, argc: i32, argv: *const *const std::ffi::c_char, envp: *const *const std::ffi::c_char) {
        self.program_args = Some(crate::runtime::ProgramArgs { argc, argv: argv as usize, envp: envp as usize });
    }

    /// Whether symbols not found by the resolver are looked up in the host
    /// process (its executable and loaded libraries). Off by default.
    pub fn set_process_symbols(&mut self, enable: bool) {
        if enable != self.process_symbols {
            self.changes.all_externals = true;
        }
        self.process_symbols = enable;
    }

    /// Whether names of the implementation's namespace (`__*`, `_Unwind_*`:
    /// `__stack_chk_fail`, `__cxa_atexit`, `__gxx_personality_v0`, ...) and
    /// `atexit`, `at_quick_exit`, `pthread_atfork` that the resolver does
    /// not know are taken from this process (rtdyld's own helpers, or the
    /// host's libraries) even with process symbols off. On by default; turn
    /// it off when the code runs in another process, where addresses of
    /// this one mean nothing.
    pub fn set_runtime_helpers(&mut self, enable: bool) {
        if enable != self.runtime_helpers {
            self.changes.all_externals = true;
        }
        self.runtime_helpers = enable;
    }

    /// Whether every object's thread-local storage asks the C library for
    /// static TLS (off by default: only objects whose code needs it, and
    /// those defining a variable that code loaded earlier reaches with
    /// initial-exec references). On, initial-exec code reaches variables of
    /// objects loaded before it in any case, as in a static link, as long
    /// as the C library's reserve lasts (`glibc.rtld.optional_static_tls`;
    /// beyond it a module gets dynamic TLS). The reserve is not given back
    /// when a module is unloaded: for a process that loads a program once,
    /// as the `rtdyld` command does.
    pub fn set_static_tls_for_all(&mut self, on: bool) {
        self.static_tls_for_all = on;
    }

    /// Whether relocations are kept after finalize so that later finalizes
    /// can re-apply them (on by default). When off, each object's
    /// relocations are dropped after its first successful finalize, and its
    /// sections can no longer be remapped.
    pub fn set_retain_relocations(&mut self, retain: bool) {
        self.retain_relocations = retain;
        self.changes.everything |= !retain;
    }

    /// Whether each object's `.eh_frame` is registered with this process's
    /// unwinder at its target address after finalize (on by default), so
    /// that exceptions and backtraces work through JIT'd code. Turn it off
    /// when the target addresses are not in this process (a remote JIT).
    pub fn set_register_eh_frames(&mut self, enable: bool) {
        self.register_eh_frames = enable;
        if !enable {
            self.deregister_eh_frames();
        }
        // Registered at the next finalize, those loaded before too.
        self.changes.everything |= enable;
    }

    /// Whether objects loaded from now on are registered with debuggers
    /// through the GDB JIT interface after each finalize (off by default:
    /// it keeps a copy of each object's bytes). gdb then shows their
    /// functions in backtraces and can break on them.
    pub fn set_debugger_registration(&mut self, enable: bool) {
        self.debugger_registration = enable;
    }

    /// Whether each finalize appends the loaded functions to
    /// `/tmp/perf-PID.map` for `perf` (off by default). Turn it on before
    /// loading: the names of static functions are kept only for objects
    /// loaded while it is on.
    pub fn set_perf_map(&mut self, enable: bool) {
        self.perf_map = enable;
        self.changes.everything |= enable;
    }

    /// Registers objects `touched` with the debugger, and names their
    /// functions in the perf map, where their sections are new or moved.
    fn announce(&mut self, touched: &[u32]) {
        for &oi in touched {
            let o = &mut self.objects[oi as usize];
            if o.removed || (o.image.is_none() && !self.perf_map) {
                continue;
            }
            let targets: Vec<u64> = o.sections.iter().map(|&s| self.sections[s as usize].target).collect();
            if let Some(bytes) = &o.image {
                if o.debug_image.as_ref().is_none_or(|(_, t)| *t != targets) {
                    o.debug_image = None;
                    let mut copy: Box<[u8]> = bytes.clone();
                    patch_section_addresses(&mut copy, &o.elf_sections, &self.sections);
                    o.debug_image = Some((crate::debugger::DebugImage::register(copy), targets.clone()));
                }
            }
            if self.perf_map && o.perf_written.as_ref() != Some(&targets) {
                let mut entries = Vec::new();
                for &g in &o.defined {
                    let Some(def) = own_definition(o, g, &self.symbols) else { continue };
                    if let (true, Some(sec)) = (def.is_function, def.section) {
                        let name = self.symbols.name_str(g).to_owned();
                        entries.push((self.sections[sec as usize].target + def.value, def.size, name));
                    }
                }
                for (sym, name) in o.local_names.iter() {
                    if let Some(SymTarget::Section { section, offset, size }) = o.symbols.get(sym as usize) {
                        if self.sections[*section as usize].kind.is_code() {
                            entries.push((self.sections[*section as usize].target + offset, *size, name.to_string()));
                        }
                    }
                }
                // A perf map is a best-effort aid; failing to write it must
                // not fail the link.
                let _ = crate::debugger::append_perf_map(&entries);
                o.perf_written = Some(targets);
            }
        }
    }

    fn deregister_eh_frames(&mut self) {
        // Newest first: the unwinder keeps its tables in a list, newest at
        // the head, and looks each one up from there (in load order, the
        // teardown of n objects would cost n² steps).
        for o in self.objects.iter_mut().rev() {
            deregister_eh_frame(o, &self.sections);
        }
    }

    /// (Re-)registers the unwind tables of objects `touched` whose target
    /// address changed.
    fn register_eh_frames(&mut self, touched: &[u32]) {
        if !self.register_eh_frames {
            return;
        }
        for &oi in touched {
            let o = &mut self.objects[oi as usize];
            if o.removed {
                continue;
            }
            let Some(sec) = o.eh_frame else { continue };
            let target = self.sections[sec as usize].target;
            let key = code_key(o, &self.sections);
            if o.eh_registered == Some((target, key)) {
                continue;
            }
            deregister_eh_frame(o, &self.sections);
            // SAFETY: the section is relocated, zero-terminated and mapped
            // at `target` in this process (the client said so by leaving
            // registration on).
            if unsafe { crate::unwind::register(target, self.sections[sec as usize].size) } {
                o.eh_registered = Some((target, key));
            }
        }
    }

    /// Refuses, before anything is written, a finalize that would have the
    /// unwinder of this process read an unwind table where it is not
    /// readable here: at its new target (sections mapped into another
    /// process with registration left on), or at its old one, where it is
    /// withdrawn before it is registered again (an old mapping the client
    /// has given up already). It would crash. Looks only at the objects
    /// loaded or moved since the last finalize.
    fn check_unwind_targets(&self) -> Result<()> {
        if !self.register_eh_frames {
            return Ok(());
        }
        let every: Vec<u32>;
        let candidates: &[u32] = if self.changes.everything {
            every = (0..self.objects.len() as u32).collect();
            &every
        } else {
            &self.changes.objects
        };
        let mut readable: Option<Vec<(u64, u64)>> = None;
        for &oi in candidates {
            let o = &self.objects[oi as usize];
            let Some(sec) = o.eh_frame.filter(|_| !o.removed) else { continue };
            let s = &self.sections[sec as usize];
            if o.eh_registered == Some((s.target, code_key(o, &self.sections))) {
                continue;
            }
            let mut readable_at = |addr: u64| {
                addr == s.local as u64
                    || crate::pages::covered(readable.get_or_insert_with(|| crate::pages::ranges_allowing(b'r')), addr, s.size)
            };
            if !readable_at(s.target) {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "{}: its unwind table (.eh_frame, section {sec}) has target address {:#x}, which is not readable in \
                         this process, where the unwinder would read it: turn unwind-table registration off for code that \
                         runs in another process",
                        o.display(oi),
                        s.target
                    ),
                ));
            }
            if let Some((old, _)) = o.eh_registered.filter(|r| r.0 != s.target) {
                if !readable_at(old) {
                    return Err(Error::new(
                        ErrorKind::InvalidState,
                        format!(
                            "{}: its unwind table is registered with this process's unwinder at {old:#x}, where it was before \
                             the remap, and that is no longer readable: the unwinder reads it there to withdraw it. Keep the \
                             old mapping until the finalize after the remap, or turn unwind-table registration off first",
                            o.display(oi)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The memory manager, if it is of type `T`.
    pub fn memory_manager_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.mm.as_any_mut()?.downcast_mut::<T>()
    }

    pub fn object_count(&self) -> u32 {
        self.objects.len() as u32
    }

    fn object(&self, id: u32) -> Result<&LoadedObject> {
        match self.objects.get(id as usize) {
            Some(o) if !o.removed => Ok(o),
            Some(o) => Err(Error::new(ErrorKind::NotFound, format!("{} was removed", o.display(id)))),
            None => Err(Error::new(ErrorKind::NotFound, format!("no object with id {id} (there are {})", self.objects.len()))),
        }
    }

    pub fn object_name(&self, id: u32) -> Result<&str> {
        Ok(&self.object(id)?.name)
    }

    /// The `.tdata` part of the TLS templates of objects `touched`, as they
    /// are before their relocations are applied (for
    /// [`Self::follow_tls_templates`]).
    fn tls_templates(&self, touched: &[u32]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        for &oi in touched {
            let o = &self.objects[oi as usize];
            let Some(m) = o.tls.as_ref() else { continue };
            let len = o
                .sections
                .iter()
                .map(|&s| &self.sections[s as usize])
                .filter(|s| s.kind == SectionKind::TlsData && !s.local.is_null())
                .map(|s| s.local as usize - m.template as usize + s.size as usize)
                .max()
                .unwrap_or(0);
            // (Only templates that relocations write into.)
            let relocated = o.reloc_groups.iter().any(|g| self.sections[g.section as usize].kind == SectionKind::TlsData);
            if len > 0 && relocated {
                // SAFETY: the template's `.tdata` part: `len` bytes from
                // `m.template`, in the module's writable mapping.
                out.push((oi, unsafe { std::slice::from_raw_parts(m.template, len) }.to_vec()));
            }
        }
        out
    }

    /// The calling thread's copy of each template in `before` (taken by
    /// [`Self::tls_templates`]) follows what the relocations just applied
    /// changed: a relocated field that still holds the template's earlier
    /// value gets the new one. The C library copies a static TLS module's
    /// template into the block of every thread that exists when the module
    /// is opened, at load, before finalize relocates it; and a remap moves
    /// what the fields point to. (Other threads that existed then keep
    /// what the template held at load: see `prerelocate_tls_image`.)
    fn follow_tls_templates(&self, before: &[(u32, Vec<u8>)]) {
        for (oi, old) in before {
            let o = &self.objects[*oi as usize];
            let Some(m) = o.tls.as_ref() else { continue };
            // SAFETY: as in `tls_templates`; the relocations only changed bytes.
            let new = unsafe { std::slice::from_raw_parts(m.template, old.len()) };
            if new == &old[..] {
                continue;
            }
            let block = m.current_thread_block();
            for g in &o.reloc_groups {
                let s = &self.sections[g.section as usize];
                if s.kind != SectionKind::TlsData || s.local.is_null() {
                    continue;
                }
                let base = s.local as usize - m.template as usize;
                for r in &o.relocs[g.start as usize..g.end as usize] {
                    let at = base + r.offset as usize;
                    let size = x86_64::field(u32::from(r.r_type)).size();
                    let (Some(was), Some(now)) = (old.get(at..at + size), new.get(at..at + size)) else { continue };
                    if was == now {
                        continue;
                    }
                    // SAFETY: the thread's block holds a copy of the whole
                    // template, so `at + size` lies within it.
                    unsafe {
                        let field = std::slice::from_raw_parts_mut(block.add(at), size);
                        if field == was {
                            field.copy_from_slice(now);
                        }
                    }
                }
            }
        }
    }

    /// Writes into `image`, the TLS template of the object being loaded,
    /// the 64-bit addresses its relocations put there whose values are
    /// known now (its own sections, just placed; symbols defined by
    /// objects loaded before it; names found before, or in the process).
    /// The C library copies the template into the block of every thread
    /// that exists when a static TLS module is opened, and those copies
    /// are not relocated later: without this, `__thread int *p = &x;`
    /// would read NULL there (the main thread's, typically). Finalize
    /// applies every relocation of the template again, for threads that
    /// come later.
    fn prerelocate_tls_image(
        &mut self,
        parsed: &load::ParsedObject<'_>,
        plan: &[Plan<'_>],
        placed: &[(&[u8], *mut u8, SectionKind)],
        found: &[u32],
        image: &mut [u8],
    ) {
        let host_lookups = host::HostLookups::new();
        let section_address = |slot: u32| -> Option<u64> {
            let p = plan.get(slot as usize)?;
            (p.tls.is_none() && !placed[slot as usize].1.is_null()).then(|| placed[slot as usize].1 as u64)
        };
        for g in &parsed.reloc_groups {
            let Some(base) = plan[g.section].tls.filter(|_| plan[g.section].data.is_some()) else { continue };
            for r in &parsed.relocs[g.start as usize..g.end as usize] {
                if u32::from(r.r_type) != x86_64::R_64 {
                    continue;
                }
                let value = match parsed.symbols[r.symbol as usize] {
                    SymTarget::Absolute(v) => Some(v),
                    SymTarget::Section { section, offset, .. } => section_address(section).map(|a| a + offset),
                    SymTarget::Global(k) => {
                        let k = k as usize;
                        let glob = parsed.global(k);
                        let gid = found[k];
                        let earlier = self.symbols.get(gid).definition();
                        let own_binds = earlier.is_none_or(|d| glob.strength > d.strength);
                        match (glob.place, earlier) {
                            _ if glob.ifunc => None,
                            (GlobalPlace::Section { section, value }, _) if own_binds => section_address(section).map(|a| a + value),
                            (GlobalPlace::Absolute(v), _) if own_binds => Some(v),
                            (_, Some(d)) if !d.is_tls && !d.is_ifunc => match d.section {
                                Some(s) => Some(self.sections[s as usize].target + d.value),
                                None => Some(d.value),
                            },
                            // (Not the resolver: it is asked at finalize, once.)
                            (GlobalPlace::Undefined, None) => self.symbols.get(gid).external().or_else(|| {
                                Self::lookup_external(
                                    &mut None,
                                    (self.process_symbols, self.runtime_helpers),
                                    &host_lookups,
                                    self.symbols.cname(gid),
                                )
                            }),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some(v) = value else { continue };
                let at = (base + u64::from(r.offset)) as usize;
                if let Some(field) = image.get_mut(at..at + 8) {
                    field.copy_from_slice(&v.wrapping_add(r.addend(&parsed.wide_addends) as u64).to_le_bytes());
                }
            }
        }
    }

    /// Looks a name up outside the loaded objects: resolver, then runtime
    /// helpers (when `helpers`), then process (when `process`).
    fn lookup_external(
        resolver: &mut Option<Resolver>,
        (process, helpers): (bool, bool),
        host: &host::HostLookups,
        name: &CStr,
    ) -> Option<u64> {
        if let Some(r) = resolver.as_mut() {
            if let Some(a) = r(&name.to_string_lossy()) {
                return Some(a);
            }
        }
        if let Some(a) = helpers.then(|| crate::runtime::lookup(name)).flatten() {
            return Some(a);
        }
        if process {
            return host.lookup(name);
        }
        None
    }

    /// Loads an ELF x86-64 relocatable object. `data` is only borrowed for
    /// the call. On error nothing of the object stays in the symbol table,
    /// and the sections already allocated are released.
    pub fn load_object(&mut self, data: &[u8], name: &str) -> Result<u32> {
        // (ELF structures are read in place, at any alignment: `object`'s
        // `unaligned` feature; TinyCC and yasm align their tables to 4.)
        let id = self.objects.len() as u32;
        let display = || format!("obj {id} ({name})");
        let comdats = &self.comdats;
        // (Lost, not returned, when the load fails.)
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut parsed = load::parse(data, &display, self.perf_map, &|sig| comdats.contains_key(sig), &mut scratch)?;

        // Every global name is interned once, here; a duplicate strong
        // definition fails before anything else changes. (A name interned
        // for an object that then fails to load is invisible: it has
        // neither definition nor references.)
        let mut found = std::mem::take(&mut scratch.ids);
        let first_new = self.symbols.len() as u32;
        if !self.symbols.intern_all(parsed.globals.len(), |k| parsed.global_name(k), &mut found) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{}: the linker's symbol names would take more than 4 GiB with this object's", display()),
            ));
        }
        let mut defined_count = 0;
        // Commons are laid out in one area of the object's.
        let mut common_size = 0u64;
        let mut common_align = 1u64;
        let mut common_offset = Vec::new();
        for k in 0..parsed.globals.len() {
            let r = &parsed.globals[k];
            if r.undefined() {
                continue;
            }
            let g = found[k];
            if r.in_section() && g >= first_new {
                // Defined in a section (not common) under a name no earlier
                // object had: nothing to lay out, nothing to clash with.
                // (Most globals of a large object; their entries need not
                // be decoded here.)
                defined_count += 1;
                continue;
            }
            let glob = parsed.global(k);
            defined_count += usize::from(glob.place != GlobalPlace::Undefined);
            if let GlobalPlace::Common { size, align } = glob.place {
                if common_offset.is_empty() {
                    common_offset = vec![0u64; parsed.globals.len()];
                }
                common_size = align_up(common_size, align);
                common_offset[k] = common_size;
                common_size += size;
                common_align = common_align.max(align);
            }
            if glob.strength == Strength::Strong && glob.place != GlobalPlace::Undefined {
                if let Some(other) = self.symbols.clash(g, Strength::Strong) {
                    let sname = parsed.global_name(k);
                    return Err(Error::new(
                        ErrorKind::DuplicateSymbol,
                        format!(
                            "duplicate definition of `{}`: in {} and in {}",
                            String::from_utf8_lossy(sname),
                            display(),
                            self.objects[other as usize].display(other)
                        ),
                    ));
                }
            }
        }

        // Object sections, then at most five of rtdyld's own.
        let mut plan: Vec<Plan> = load::recycle(std::mem::take(&mut self.buffers.plan));
        plan.reserve(parsed.sections.len() + 5);
        plan.extend(parsed.sections.iter().map(|s| Plan {
            name: s.name,
            kind: s.kind,
            size: s.size + if is_fragment(s.name, s.kind, s.data) { load::FRAGMENT_TAIL as u64 } else { 0 },
            align: s.align,
            data: s.data,
            tls: None,
            large: s.large,
        }));
        // Room for the zero terminator the unwinder looks for.
        let eh_frame_slot = plan.iter().position(|p| p.name == b".eh_frame" && p.data.is_some());
        if let Some(k) = eh_frame_slot {
            plan[k].size += 4;
        }
        let common_slot = (common_size > 0).then(|| {
            plan.push(Plan {
                name: COMMON_SECTION.as_bytes(),
                kind: SectionKind::ZeroFill,
                size: common_size,
                align: common_align,
                data: None,
                tls: None,
                large: false,
            });
            plan.len() - 1
        });
        // Where the object's 32-bit data references to the host point.
        // Writable data must be reached where it is: the region goes near
        // it (`near`). Read-only host data out of reach of where the region
        // will be gets a copy next to the object instead, as a static link
        // of a non-PIE program copies it (vtables, typeinfo, constant tables).
        let mut externals: Vec<(u32, u64, Option<u64>)> = Vec::new();
        let host_lookups = host::HostLookups::new();
        for &sym in &parsed.low_data_refs {
            let Some(k) = parsed.global_of(sym) else { continue };
            let g = found[k];
            if self.symbols.get(g).definition().is_some() {
                continue;
            }
            if let Some(addr) = Self::lookup_external(
                &mut self.resolver,
                (self.process_symbols, self.runtime_helpers),
                &host_lookups,
                self.symbols.cname(g),
            ) {
                externals.push((sym, addr, host::read_only_object_size(addr)));
            }
        }
        let near_host = externals.iter().find(|e| e.2.is_none() && parsed.near_symbols.contains(&e.0));
        let placed_near = near_host.and_then(|e| parsed.global_of(e.0)).map(|k| found[k]).filter(|_| !parsed.wants_low_memory);
        let mut near = near_host.map(|e| e.1);
        if near.is_none() {
            // Data defined by an earlier object.
            for &sym in parsed.near_symbols.iter().take(8) {
                if let Some(k) = parsed.global_of(sym) {
                    let defined = self.symbols.get(found[k]).definition();
                    near = defined.and_then(|d| d.section.map(|s| self.sections[s as usize].target + d.value));
                    if near.is_some() {
                        break;
                    }
                }
            }
        }
        let anchor = match near {
            _ if parsed.wants_low_memory => 1 << 30,
            Some(n) => n,
            // Near the memory of the object loaded last (removed or not:
            // the next region goes near it), an estimate only.
            None => self.latest_target.unwrap_or(1 << 30),
        };
        let mut copies: Vec<(u32, u64, u64)> = Vec::new();
        let mut copies_size = 0u64;
        for &(sym, addr, ro_size) in &externals {
            if let Some(size) = ro_size {
                if addr.abs_diff(anchor) > (3 << 29) {
                    copies.push((sym, copies_size, size));
                    copies_size = align_up(copies_size + size, 16);
                }
            }
        }
        let copy_slot = (copies_size > 0).then(|| {
            plan.push(Plan {
                name: COPY_SECTION.as_bytes(),
                kind: SectionKind::ReadOnlyData,
                size: copies_size,
                align: 16,
                data: None,
                tls: None,
                large: false,
            });
            plan.len() - 1
        });

        // TLS GOT entries follow the address slots.
        let mut tls_got = Vec::with_capacity(parsed.tls_got.len());
        let mut got_end = parsed.got_symbols.len() as u64 * 8;
        for &(kind, sym) in &parsed.tls_got {
            tls_got.push((kind, sym, got_end));
            got_end += kind.size();
        }
        // The TLS template: .tdata sections first, then .tbss. Every
        // thread gets a copy: its size is checked before anything is built.
        let mut tls_end = 0u64;
        let mut tls_align = 1u64;
        for pass_data in [true, false] {
            for (k, ps) in parsed.sections.iter().enumerate() {
                if ps.tls && ps.data.is_some() == pass_data {
                    tls_end = align_up(tls_end, ps.align);
                    plan[k].tls = Some(tls_end);
                    tls_end += ps.size;
                    tls_align = tls_align.max(ps.align);
                }
            }
        }
        if tls_end > MAX_TLS_BYTES || tls_align > MAX_TLS_ALIGN {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: thread-local storage of {tls_end} bytes aligned to {tls_align}: rtdyld takes at most {} MiB, aligned to at most {} KiB",
                    display(),
                    MAX_TLS_BYTES >> 20,
                    MAX_TLS_ALIGN >> 10
                ),
            ));
        }
        let mut tls_image = Vec::new();
        for (k, ps) in parsed.sections.iter().enumerate() {
            if let (Some(offset), Some(d)) = (plan[k].tls, ps.data) {
                tls_image.resize(offset as usize, 0);
                tls_image.extend_from_slice(d);
            }
        }
        let got_slot = parsed.needs_got.then(|| {
            let size = got_end.max(8);
            plan.push(Plan {
                name: GOT_SECTION.as_bytes(),
                kind: SectionKind::ReadOnlyData,
                size,
                align: 8,
                data: None,
                tls: None,
                large: false,
            });
            plan.len() - 1
        });
        let dso_slot = parsed.needs_dso_handle.then(|| {
            plan.push(Plan {
                name: DSO_HANDLE_SECTION.as_bytes(),
                kind: SectionKind::ReadOnlyData,
                size: 8,
                align: 8,
                data: None,
                tls: None,
                large: false,
            });
            plan.len() - 1
        });
        let stub_slot = (!parsed.stub_symbols.is_empty()).then(|| {
            let size = (parsed.stub_symbols.len() * x86_64::STUB_SIZE) as u64;
            plan.push(Plan {
                name: STUB_SECTION.as_bytes(),
                kind: SectionKind::Code,
                size,
                align: 16,
                data: None,
                tls: None,
                large: false,
            });
            plan.len() - 1
        });

        // Reservation.
        let class = |k: SectionKind| match k {
            SectionKind::Code => 0,
            SectionKind::ReadOnlyData => 1,
            _ => 2,
        };
        let class_size =
            |c: usize| sequential_size(plan.iter().filter(|p| p.tls.is_none() && class(p.kind) == c).map(|p| (p.size, p.align)));
        let (code_size, code_align) = class_size(0);
        let (ro_size, ro_align) = class_size(1);
        let (rw_size, rw_align) = class_size(2);
        let request =
            ReserveRequest { code_size, code_align, ro_size, ro_align, rw_size, rw_align, wants_low_memory: parsed.wants_low_memory, near };
        self.mm
            .reserve(&request)
            .map_err(|e| Error::new(ErrorKind::MemoryManager, format!("{}: the memory manager refused to reserve {code_size} bytes of code, {ro_size} of read-only and {rw_size} of read-write data: {e}", display())))?;

        // The TLS module, from the C library.
        for &(kind, sym) in &parsed.tls_got {
            if let (x86_64::TlsGot::TpOffset, Some(k)) = (kind, parsed.global_of(sym)) {
                if parsed.globals[k].undefined() {
                    self.initial_exec_refs.insert(found[k]);
                }
            }
        }
        // Static TLS (a small reserve of the C library's, not given back
        // when a module is unloaded) only for objects whose own code needs
        // it, or that define a variable an earlier object's code reaches
        // that way. (The module is made once the other sections are placed.)
        let has_tls = plan.iter().any(|p| p.tls.is_some());
        let static_tls = has_tls && {
            let defines_initial_exec_target = |k: usize| {
                self.initial_exec_refs.contains(&found[k])
                    && matches!(parsed.global(k).place, GlobalPlace::Section { section, .. } if plan[section as usize].tls.is_some())
            };
            // Descriptors are one load in static TLS, but the C library
            // copies a static module's template into the threads that exist
            // when it opens it, before finalize relocates it: with addresses
            // among the initial values, those threads would keep zeros.
            // Such objects take dynamic TLS (each thread's block is copied
            // when it is first used, from the relocated template).
            let addresses_in_template =
                || parsed.reloc_groups.iter().any(|g| parsed.sections[g.section].tls && parsed.sections[g.section].data.is_some());
            self.static_tls_for_all
                || parsed.static_tls
                || (parsed.tls_descriptors && !addresses_in_template())
                || (!self.initial_exec_refs.is_empty() && (0..parsed.globals.len()).any(defines_initial_exec_target))
        };

        // Allocation and copy.
        let zeroed = self.mm.allocates_zeroed_memory();
        let first_id = self.sections.len() as u32;
        let mut new_sections: Vec<(&[u8], *mut u8, SectionKind)> = load::recycle(std::mem::take(&mut self.buffers.placed));
        new_sections.reserve(plan.len());
        let mut tables = Vec::new();
        let mm = &mut self.mm;
        let mut allocate = |k: usize, p: &Plan<'_>| -> Result<*mut u8> {
            let pname = if p.name.is_ascii() {
                // SAFETY: ASCII is UTF-8 (the common case, checked faster
                // than by full UTF-8 validation).
                unsafe { std::str::from_utf8_unchecked(p.name) }
            } else {
                std::str::from_utf8(p.name).unwrap_or("<non-UTF-8 name>")
            };
            let req = AllocationRequest {
                size: p.size as usize,
                align: p.align as usize,
                section_id: first_id + k as u32,
                name: pname,
                kind: p.kind,
            };
            let fail = |why: String| {
                Error::new(
                    ErrorKind::MemoryManager,
                    format!("{}: allocating section {pname} ({} bytes, align {}, {}): {why}", display(), p.size, p.align, p.kind.name()),
                )
            };
            let local = mm.allocate(&req).map_err(fail)?;
            if local.is_null() {
                return Err(fail("the memory manager returned NULL".into()));
            }
            if (local as u64) % p.align != 0 {
                return Err(fail(format!("the memory manager returned misaligned memory {local:p}")));
            }
            Ok(local)
        };
        // Large-model data (-mcmodel=medium's .ldata, .lbss, .lrodata) first,
        // at the far end of its part: the small data that code reaches with
        // 32-bit offsets then lies next to the code, as a static link puts
        // large sections after all others.
        let mut large = Vec::new();
        for (k, p) in plan.iter().enumerate().filter(|(_, p)| p.large && p.tls.is_none()) {
            match allocate(k, p) {
                Ok(local) => large.push((k, local)),
                Err(e) => {
                    release_unplaced(&mut **mm, first_id, &plan, &new_sections, &large);
                    return Err(e);
                }
            }
        }
        for (k, p) in plan.iter().enumerate() {
            let sid = first_id + k as u32;
            if p.tls.is_some() {
                // Part of the TLS template, in the module's own mapping
                // (set below).
                let kind = if p.data.is_some() { SectionKind::TlsData } else { SectionKind::TlsZeroFill };
                new_sections.push((p.name, ptr::null_mut(), kind));
                continue;
            }
            let local = match large.iter().find(|e| e.0 == k) {
                Some(e) => e.1,
                None => match allocate(k, p) {
                    Ok(local) => local,
                    Err(e) => {
                        release_unplaced(&mut **mm, first_id, &plan, &new_sections, &large);
                        return Err(e);
                    }
                },
            };
            // SAFETY: the memory manager promised `size` writable bytes at
            // `local`; `data` has exactly `size` bytes (checked at parse).
            unsafe {
                let copied = p.data.map_or(0, |d| {
                    ptr::copy_nonoverlapping(d.as_ptr(), local, d.len());
                    d.len()
                });
                // Fresh zero pages need no writing (a huge .bss then costs
                // nothing until used).
                if !zeroed && (p.size as usize) > copied {
                    ptr::write_bytes(local.add(copied), 0, p.size as usize - copied);
                }
            }
            if let Some((kind, priority)) = TableKind::of(p.name).filter(|_| k < parsed.sections.len()) {
                if !kind.is_fragment() {
                    tables.push((kind, priority, sid));
                } else if let Some(len) = p.data.map(|d| d.len()).filter(|_| is_fragment(p.name, p.kind, p.data)) {
                    let tail = load::fragment_tail(len);
                    // SAFETY: the section has `len + FRAGMENT_TAIL` bytes
                    // (planned above), writable at `local`.
                    unsafe { ptr::copy_nonoverlapping(tail.as_ptr(), local.add(len), tail.len()) };
                    tables.push((kind, priority, sid));
                }
            }
            new_sections.push((p.name, local, p.kind));
        }
        for &(slot, offset, size) in &parsed.zeroed {
            let local = new_sections[slot as usize].1;
            if !local.is_null() {
                // SAFETY: the field lies within the section (checked when
                // its relocation was read), just copied and writable.
                unsafe { ptr::write_bytes(local.add(offset as usize), 0, usize::from(size)) };
            }
        }
        let tls = if has_tls {
            self.prerelocate_tls_image(&parsed, &plan, &new_sections, &found, &mut tls_image);
            let module = match crate::tls::TlsModule::create(&tls_image, tls_end as usize, tls_align as usize, static_tls) {
                Ok(module) => module,
                Err(e) => {
                    release_unplaced(&mut *self.mm, first_id, &plan, &new_sections, &large);
                    return Err(Error::new(ErrorKind::Unsupported, format!("{}: thread-local storage of {tls_end} bytes: {e}", display())));
                }
            };
            for (k, p) in plan.iter().enumerate() {
                if let (Some(off), Some(_)) = (p.tls, p.data) {
                    new_sections[k].1 = module.template.wrapping_add(off as usize);
                }
            }
            Some(module)
        } else {
            None
        };

        // Commit: from here on nothing fails.
        self.section_names.reserve(plan.iter().map(|p| p.name.len() + 1).sum());
        self.sections.reserve(new_sections.len());
        if let Some(index) = &mut self.by_local {
            index.reserve(new_sections.len());
        }
        for (k, &(sname, local, kind)) in new_sections.iter().enumerate() {
            if let Some(index) = self.by_local.as_mut().filter(|_| !local.is_null()) {
                index.insert(local as usize, self.sections.len() as u32);
            }
            let name_at = self.section_names.len();
            // (Names end at their first NUL: read by `name_at` or `object`
            // from a string table, or rtdyld's own.)
            debug_assert!(!sname.contains(&0));
            self.section_names.extend_from_slice(sname);
            self.section_names.push(0);
            self.sections.push(Section {
                name_at,
                object: id,
                kind,
                local,
                target: local as u64,
                size: plan[k].size,
                protected: false,
                held: false,
                applied_target: None,
                removed: false,
                tls_template: kind.is_tls(),
                align_log2: plan[k].align.max(1).trailing_zeros() as u8,
            });
            if !kind.is_tls() && !local.is_null() {
                self.latest_target = Some(local as u64);
            }
        }
        let sid = |slot: u32| first_id + slot;
        let mut defined = Vec::with_capacity(defined_count);
        let mut comdat_defs = Vec::new();
        let mut shadowed = Vec::new();
        let mut defines_ifuncs = false;
        let mut undefined_refs = Vec::with_capacity(parsed.globals.len() - defined_count);
        for k in 0..parsed.globals.len() {
            let g = found[k];
            let glob = parsed.global(k);
            let compact = parsed.globals[k].compact;
            let copy = if copies.is_empty() { None } else { copies.iter().find(|c| c.0 == compact) };
            if let Some(target) = parsed.symbols.get_mut(compact as usize) {
                *target = match copy {
                    Some(&(_, offset, size)) => SymTarget::Copy { global: g, offset, size },
                    None => SymTarget::Global(g),
                };
            }
            let place = if copy.is_some() { GlobalPlace::Undefined } else { glob.place };
            let tls_offset = match place {
                GlobalPlace::Section { section, value } => plan[section as usize].tls.map(|o| o + value),
                _ => None,
            };
            if matches!(place, GlobalPlace::Section { section, .. } if parsed.sections[section as usize].comdat) {
                comdat_defs.push(g);
            }
            let (section, value) = match place {
                GlobalPlace::Undefined => {
                    let e = self.symbols.get_mut(g);
                    e.references += 1;
                    e.strong_references += u32::from(!glob.weak);
                    undefined_refs.push((g, UndefinedRef { weak: glob.weak, discarded_copy: glob.discarded }));
                    // Listed once, when first referred to (references only
                    // drop back to 0 with a removal, after which the next
                    // finalize removes repeats).
                    if e.references == 1 {
                        self.changes.externals.push(g);
                    }
                    continue;
                }
                _ if tls_offset.is_some() => (None, tls_offset.unwrap_or(0)),
                GlobalPlace::Section { section, value } => (Some(sid(section)), value),
                GlobalPlace::Absolute(v) => (None, v),
                GlobalPlace::Common { .. } => (common_slot.map(|s| sid(s as u32)), common_offset[k]),
            };
            let def = Definition {
                object: id,
                section,
                value,
                size: glob.size,
                strength: glob.strength,
                is_function: glob.is_function,
                is_ifunc: glob.ifunc,
                is_tls: tls_offset.is_some(),
            };
            defines_ifuncs |= def.is_ifunc;
            if g >= first_new && !self.symbols.get(g).is_defined() {
                // A name new to the linker (interned for this object) and
                // not defined twice in it: no definition to displace,
                // nothing applied refers to it.
                self.symbols.set_definition(g, Some(def));
                defined.push(g);
                continue;
            }
            let old = self.symbols.get(g).definition();
            if self.symbols.define(g, def) {
                // (Globals new since the last apply need no mark.)
                if (g as usize) < self.applied.len() {
                    self.changes.globals.push(g);
                }
                // The definition it displaced stays with its object, for
                // when this one is removed.
                if let Some(old) = old {
                    if old.object == id {
                        shadowed.push((g, old));
                    } else {
                        self.objects[old.object as usize].shadowed.push((g, old));
                    }
                    self.shadowed_in.entry(g).or_default().push(old.object);
                }
            } else {
                shadowed.push((g, def));
                self.shadowed_in.entry(g).or_default().push(id);
            }
            defined.push(g);
        }
        let mut local_ifuncs = Vec::new();
        // The global symbols referred to. Each symbol of the compact list is
        // a different symbol-table entry, so a name repeats here only in odd
        // objects (repeats are harmless).
        let mut global_refs = Vec::with_capacity(parsed.globals.len().min(parsed.symbols.len()));
        for (i, t) in parsed.symbols.iter_mut().enumerate() {
            *t = match *t {
                SymTarget::Section { section, offset, .. } if plan[section as usize].tls.is_some() => {
                    SymTarget::Tls { offset: plan[section as usize].tls.unwrap_or(0) + offset }
                }
                SymTarget::Section { section, offset, size } => SymTarget::Section { section: sid(section), offset, size },
                SymTarget::LocalIfunc { section, offset, .. } => {
                    local_ifuncs.push((i as u32, None));
                    SymTarget::LocalIfunc { section: sid(section), offset, slot: local_ifuncs.len() as u32 - 1 }
                }
                SymTarget::Global(g) | SymTarget::Copy { global: g, .. } => {
                    global_refs.push(g);
                    *t
                }
                other => other,
            };
        }
        let reloc_groups: Vec<RelocGroup> =
            parsed.reloc_groups.iter().map(|g| RelocGroup { section: sid(g.section as u32), start: g.start, end: g.end }).collect();
        let mut wide_addends = parsed.wide_addends;
        wide_addends.shrink_to_fit();
        let comdats: Vec<Box<[u8]>> = parsed.comdat_signatures.iter().map(|&sig| sig.into()).collect();
        for sig in &comdats {
            self.comdats.insert(sig.clone(), id);
        }
        let dso_handle = dso_slot.map(|s| sid(s as u32));
        let dso_key = dso_handle.map_or(0, |d| self.sections[d as usize].target as usize);
        if dso_key != 0 {
            crate::runtime::register_dso(dso_key);
        }
        let slot_id = |s: Option<usize>| s.map(|s| sid(s as u32));
        let local_ifuncs_empty = local_ifuncs.is_empty();
        self.objects.push(LoadedObject {
            id,
            name: name.to_owned(),
            sections: (first_id..first_id + plan.len() as u32).collect(),
            symbols: parsed.symbols,
            local_names: parsed.local_names,
            relocs: parsed.relocs,
            reloc_groups,
            wide_addends,
            got: slot_id(got_slot),
            got_index: parsed.got_index,
            got_symbols: parsed.got_symbols,
            stubs: slot_id(stub_slot),
            stub_index: parsed.stub_index,
            stub_symbols: parsed.stub_symbols,
            address_stubs: parsed.address_stub_symbols,
            placed_near,
            canonical_for: Vec::new(),
            defines_ifuncs,
            defined,
            shadowed,
            comdats,
            relocations_dropped: false,
            // Pushed onto `changes.objects` below.
            needs_apply: true,
            applied: false,
            global_refs,
            eh_frame: slot_id(eh_frame_slot),
            eh_registered: None,
            comdat_defs,
            tables,
            constructed: false,
            dso_handle,
            dso_key,
            undefined_refs,
            local_ifuncs,
            tls,
            tls_got,
            copy_section: slot_id(copy_slot),
            image: self.debugger_registration.then(|| data.into()),
            elf_sections: parsed.sections.iter().enumerate().map(|(k, ps)| (ps.elf_index, sid(k as u32))).collect(),
            debug_image: None,
            perf_written: None,
            removed: false,
        });
        if let Some(referrers) = &mut self.referrers {
            referrers.resize(self.symbols.len(), Vec::new());
            for &g in &self.objects[id as usize].global_refs {
                referrers[g as usize].push(id);
            }
        }
        self.changes.objects.push(id);
        self.unconstructed.push(id);
        self.has_ifuncs |= defines_ifuncs || !local_ifuncs_empty;
        if plan.capacity() <= 4096 {
            self.buffers.plan = load::recycle(plan);
            self.buffers.placed = load::recycle(new_sections);
        }
        scratch.give_back(parsed.sections, parsed.section_slot, parsed.globals, parsed.reloc_groups, found);
        self.scratch = scratch;
        Ok(id)
    }

    /// Gives each host function whose address `-fno-pic` code takes (a
    /// 32-bit absolute relocation, which cannot reach the host's libraries
    /// from low memory) one stub that stands for it in all loaded code, as
    /// a static link of a non-PIE program makes the function's PLT entry
    /// its address everywhere: in data (`R_X86_64_64`), GOT slots, calls
    /// and other objects' references alike, so that pointers to the
    /// function compare equal. The stub is one of the first such object's;
    /// when that object goes, another one's takes over.
    fn assign_canonical_stubs(&mut self) {
        let rescan = std::mem::take(&mut self.changes.canonical_rescan) || self.changes.everything;
        let count = if rescan { self.objects.len() } else { self.changes.objects.len() };
        let mut assigned = Vec::new();
        for i in 0..count {
            let oi = if rescan { i as u32 } else { self.changes.objects[i] };
            let o = &self.objects[oi as usize];
            let Some(stubs) = o.stubs.filter(|_| !o.removed && !o.relocations_dropped) else { continue };
            for &c in &o.address_stubs {
                let SymTarget::Global(g) = o.symbols[c as usize] else { continue };
                let gs = self.symbols.get(g);
                if self.symbols.canonical(g).is_some() || gs.is_defined() {
                    continue;
                }
                let Some(addr) = gs.external().filter(|&a| a > i32::MAX as u64) else { continue };
                let Some(k) = o.stub_index.get(c).filter(|_| host::is_function(addr)) else { continue };
                let offset = u64::from(k) * x86_64::STUB_SIZE as u64;
                self.symbols.set_canonical(g, Some(Canonical { object: oi, section: stubs, offset }));
                assigned.push((oi, g));
            }
        }
        for (oi, g) in assigned {
            let o = &mut self.objects[oi as usize];
            o.canonical_for.push(g);
            // Its stub must be written, and what refers to the function
            // gets the stub's address.
            self.changes.object(o);
            self.changes.globals.push(g);
        }
    }

    /// Resolves the symbols no loaded object defines that are new, not
    /// found before, or said to have changed (see `Changes::externals`);
    /// fails naming all the unresolved ones (weak references resolve to 0).
    fn resolve_externals(&mut self) -> Result<()> {
        let mut unresolved = Vec::new();
        let host_lookups = host::HostLookups::new();
        let mut names = std::mem::take(&mut self.changes.externals);
        // (Settings that re-apply everything, as dropping relocations or
        // registering unwind tables, do not change what names resolve to.)
        let all = std::mem::take(&mut self.changes.all_externals);
        if all {
            names.clear();
            names.extend(0..self.symbols.len() as u32);
        } else if self.changes.externals_repeat {
            names.sort_unstable();
            names.dedup();
        }
        self.changes.externals_repeat = false;
        names.retain(|&id| {
            let s = self.symbols.get(id);
            s.references > 0 && s.definition().is_none()
        });
        for &id in &names {
            let addr = Self::lookup_external(
                &mut self.resolver,
                (self.process_symbols, self.runtime_helpers),
                &host_lookups,
                self.symbols.cname(id),
            );
            let s = self.symbols.get_mut(id);
            let changed = s.external() != addr;
            s.set_external(addr);
            if changed {
                self.changes.globals.push(id);
                if let Some(c) = self.symbols.canonical(id) {
                    // Its stub jumps to the new address (or, with none,
                    // stands for nothing).
                    self.changes.object(&mut self.objects[c.object as usize]);
                    if addr.is_none() {
                        self.symbols.set_canonical(id, None);
                        self.changes.canonical_rescan = true;
                    }
                }
            }
            if addr.is_none() && self.symbols.get(id).strong_references > 0 {
                unresolved.push(id);
            }
        }
        // Those not found are asked again at the next finalize.
        names.retain(|&id| self.symbols.get(id).external().is_none());
        self.changes.externals = names;
        if unresolved.is_empty() {
            return Ok(());
        }
        // The first ones, each with (at most three of) the objects that refer
        // to it: found in one pass over the objects, or by the index.
        const LISTED: usize = 100;
        let listed = &unresolved[..unresolved.len().min(LISTED)];
        let mut users: HashMap<u32, Vec<u32>> = listed.iter().map(|&g| (g, Vec::new())).collect();
        let live = |o: &u32| !self.objects[*o as usize].removed;
        match &self.referrers {
            Some(referrers) => {
                for (&g, v) in users.iter_mut() {
                    v.extend(referrers.get(g as usize).into_iter().flatten().filter(|o| live(o)).take(3));
                }
            }
            None => {
                for (i, o) in self.objects.iter().enumerate().filter(|(_, o)| !o.removed) {
                    for &(x, _) in &o.undefined_refs {
                        if let Some(v) = users.get_mut(&x).filter(|v| v.len() < 3 && v.last() != Some(&(i as u32))) {
                            v.push(i as u32);
                        }
                    }
                }
            }
        }
        let mut msg = format!("{} unresolved symbol{}:", unresolved.len(), if unresolved.len() == 1 { "" } else { "s" });
        let mut discarded_copies = false;
        for (k, &g) in listed.iter().enumerate() {
            let by: Vec<String> = users[&g].iter().map(|&i| self.objects[i as usize].display(i)).collect();
            let name = self.symbols.name_str(g);
            let cxx = host::demangle(name).map_or(String::new(), |d| format!(" ({d})"));
            msg.push_str(&format!("{} `{name}`{cxx} (referenced by {})", if k == 0 { "" } else { "," }, by.join(", ")));
            discarded_copies |=
                users[&g].iter().any(|&i| self.objects[i as usize].undefined_refs.iter().any(|&(x, r)| x == g && r.discarded_copy));
        }
        if unresolved.len() > LISTED {
            msg.push_str(&format!(", and {} more", unresolved.len() - LISTED));
        }
        if discarded_copies {
            msg.push_str(
                "; note: an object that refers to a name it defines itself, in a COMDAT group (C++ inline functions, \
                 templates), had its copy dropped for that of an object loaded before it, since removed: load that \
                 object again, or the referring one again (it then keeps its own copy)",
            );
        }
        if unresolved.iter().any(|&g| ["__start_", "__stop_"].iter().any(|p| self.symbols.name_str(g).starts_with(p))) {
            msg.push_str(
                "; note: rtdyld defines __start_X and __stop_X only for an object's own section X (each object is a unit of its own)",
            );
        }
        Err(Error::new(ErrorKind::UnresolvedSymbol, msg))
    }

    /// Resolves symbols, applies every relocation whose value changed since
    /// the last finalize (all of them the first time), writes GOT slots and
    /// stubs, and lets the memory manager finalize. May be called any number
    /// of times. After an error the linker stays usable.
    ///
    /// Costs in proportion to what changed since the last finalize (the
    /// objects loaded, the sections moved and the symbols whose addresses
    /// changed, with what refers to them), not to all that is loaded.
    pub fn finalize(&mut self) -> Result<()> {
        self.check_unwind_targets()?;
        self.resolve_externals()?;
        self.assign_canonical_stubs();
        self.mm
            .begin_finalize()
            .map_err(|e| Error::new(ErrorKind::MemoryManager, format!("the memory manager failed to begin finalize: {e}")))?;
        let mut touched = self.apply_and_protect()?;
        // IFUNC resolvers run once their code is executable; what refers to
        // them is then relinked to their answers.
        if self.resolve_ifuncs()? {
            touched.extend(self.apply_and_protect()?);
        }
        // Unwind tables, debugger and perf-map entries and `__dso_handle`
        // keys change only with the objects applied (new or moved), unless
        // a setting asks for all of them to be looked at again.
        if self.changes.everything {
            touched = (0..self.objects.len() as u32).filter(|&o| !self.objects[o as usize].removed).collect();
        }
        touched.sort_unstable();
        touched.dedup();
        self.register_eh_frames(&touched);
        self.announce(&touched);
        for &oi in &touched {
            let o = &mut self.objects[oi as usize];
            if let Some(d) = o.dso_handle.filter(|_| !o.removed) {
                let key = self.sections[d as usize].target as usize;
                if key != o.dso_key {
                    crate::runtime::rekey_dso(o.dso_key, key);
                    o.dso_key = key;
                }
            }
            if !self.retain_relocations {
                o.relocs = Vec::new();
                o.reloc_groups = Vec::new();
                o.wide_addends = Vec::new();
                o.relocations_dropped = true;
                self.relocations_ever_dropped = true;
            }
        }
        self.changes.everything = false;
        Ok(())
    }

    /// Applies the relocations of every object affected since the last
    /// successful pass and lets the memory manager finalize. Returns the
    /// objects it applied.
    fn apply_and_protect(&mut self) -> Result<Vec<u32>> {
        // The value of every global: those applied last time, updated where
        // they may have changed, and those of the globals interned since.
        let old = self.applied.len();
        let mut undo: Vec<(u32, u64)> = Vec::new();
        let mut update = |g: u32, applied: &mut [u64]| {
            let v = global_value(g, &self.sections, &self.symbols);
            let slot = &mut applied[g as usize];
            if *slot != v {
                undo.push((g, *slot));
                *slot = v;
            }
        };
        if self.changes.everything {
            (0..old as u32).for_each(|g| update(g, &mut self.applied));
        } else {
            self.changes.globals.iter().filter(|&&g| (g as usize) < old).for_each(|&g| update(g, &mut self.applied));
            // The globals defined by objects with a section moved.
            self.changes.moved.sort_unstable();
            self.changes.moved.dedup();
            for &oi in &self.changes.moved {
                let o = &self.objects[oi as usize];
                if o.removed {
                    continue;
                }
                for &g in o.defined.iter().filter(|&&g| (g as usize) < old) {
                    if self.symbols.get(g).definition().is_some_and(|d| d.object == oi) {
                        update(g, &mut self.applied);
                    }
                }
                // Host functions its stubs stand for move with them.
                for &g in o.canonical_for.iter().filter(|&&g| (g as usize) < old) {
                    if self.symbols.canonical(g).is_some_and(|c| c.object == oi) {
                        update(g, &mut self.applied);
                    }
                }
            }
        }
        let mut values = std::mem::take(&mut self.applied);
        values.extend((old as u32..self.symbols.len() as u32).map(|g| global_value(g, &self.sections, &self.symbols)));
        let mut marked = Vec::new();
        if !undo.is_empty() {
            marked = vec![false; old];
            for &(g, _) in &undo {
                marked[g as usize] = true;
            }
        }
        let changed = Changed { old, marked };
        // The objects to apply: those marked, and those that refer to a
        // global whose value changed. When only new globals have values,
        // there are none of the latter to look for: an object applied
        // before refers only to globals that existed then. With few
        // objects, going over their references costs less than an index.
        let use_index = !self.changes.everything && !undo.is_empty() && self.objects.len() >= REFERRERS_FROM;
        if use_index && self.referrers.is_none() {
            self.referrers = Some(referrers_of(&self.objects, self.symbols.len()));
        }
        let pending =
            self.changes.objects.iter().copied().filter(|&o| self.objects[o as usize].needs_apply && !self.objects[o as usize].removed);
        let mut touched: Vec<u32> = if use_index {
            let referrers = self.referrers.as_deref().unwrap_or_default();
            let objects = &self.objects;
            let referring = undo
                .iter()
                .flat_map(|&(g, _)| referrers.get(g as usize).map_or(&[][..], |v| &v[..]))
                .copied()
                .filter(|&o| !objects[o as usize].removed);
            pending.chain(referring).collect()
        } else if self.changes.everything || !undo.is_empty() {
            let refers = |o: &LoadedObject| o.global_refs.iter().any(|&g| changed.get(g));
            self.objects.iter().filter(|o| !o.removed && (o.needs_apply || refers(o))).map(|o| o.id).collect()
        } else {
            pending.collect()
        };
        touched.sort_unstable();
        touched.dedup();
        let templates = self.tls_templates(&touched);
        if let Err(e) = self.apply_objects(&touched, &values, &changed) {
            // As before the call: the next finalize starts from the same state.
            for &(g, v) in &undo {
                values[g as usize] = v;
            }
            values.truncate(old);
            self.applied = values;
            return Err(e);
        }
        self.applied = values;
        self.follow_tls_templates(&templates);
        for &oi in &touched {
            let o = &mut self.objects[oi as usize];
            for &sid in &o.sections {
                let s = &mut self.sections[sid as usize];
                s.applied_target = Some(s.target);
            }
            o.needs_apply = false;
            o.applied = true;
        }
        self.changes.objects.clear();
        self.changes.globals.clear();
        self.changes.moved.clear();
        Ok(touched)
    }

    /// Applies the relocations of objects `touched` with global values
    /// `values`, marks their sections protected and lets the memory
    /// manager finalize.
    fn apply_objects(&mut self, touched: &[u32], values: &[u64], changed: &Changed) -> Result<()> {
        let Linker { objects, sections, section_names, symbols, mm, buffers, .. } = self;
        let tls = TlsView(objects);
        let mut w = Writer::new(sections, section_names, &mut **mm);
        for &oi in touched {
            let obj = &objects[oi as usize];
            if !obj.relocations_dropped {
                apply_object(oi, obj, symbols, values, changed, &tls, &mut w, &mut buffers.values)?;
            }
        }
        if buffers.values.capacity() > 64 << 10 {
            // (Kept between objects and finalizes only when small.)
            buffers.values = Vec::new();
        }
        w.flush()?;
        // (Dropped now: it borrows the sections.)
        drop(w);
        // From here on the memory may be protected, even if finalize fails
        // half-way: later writes ask for make_writable first.
        for &oi in touched {
            for &sid in &self.objects[oi as usize].sections {
                let s = &mut self.sections[sid as usize];
                if !s.tls_template {
                    s.protected = true;
                }
            }
        }
        self.mm.finalize().map_err(|e| Error::new(ErrorKind::MemoryManager, format!("the memory manager failed to finalize: {e}")))
    }

    /// Calls the resolver of every IFUNC symbol that has no answer yet.
    /// Returns whether any answer is new.
    fn resolve_ifuncs(&mut self) -> Result<bool> {
        if !self.has_ifuncs {
            return Ok(false);
        }
        // SAFETY: getauxval only reads the auxiliary vector.
        let hwcap = unsafe { libc::getauxval(libc::AT_HWCAP) };
        let call = |addr: u64| -> u64 {
            // SAFETY: an IFUNC resolver of a finalized object, at its target
            // address in this process: `void *(*)(unsigned long hwcap)`.
            unsafe { std::mem::transmute::<usize, extern "C" fn(u64) -> u64>(addr as usize)(hwcap) }
        };
        let mut any = false;
        let in_code = |sections: &[Section], s: Option<u32>, off: u64| {
            s.is_some_and(|s| sections[s as usize].kind.is_code() && off < sections[s as usize].size)
        };
        let mut bad = Vec::new();
        // Resolvers at a target address that is not executable here (code
        // placed in another process, or an alias the client has not made
        // executable yet) cannot be called. (Read once, when a section moved.)
        let mut elsewhere = Vec::new();
        let mut executable: Option<Vec<(u64, u64)>> = None;
        let mut not_here = |sections: &[Section], s: Option<u32>, addr: u64| {
            s.is_some_and(|s| sections[s as usize].target != sections[s as usize].local as u64)
                && !crate::pages::covered(executable.get_or_insert_with(|| crate::pages::ranges_allowing(b'x')), addr, 1)
        };
        for g in 0..self.symbols.len() as u32 {
            let gs = self.symbols.get(g);
            let Some(d) = gs.definition() else { continue };
            if d.is_ifunc && self.symbols.ifunc_value(g).is_none() {
                if !in_code(&self.sections, d.section, d.value) {
                    bad.push(format!("`{}` of {}", self.symbols.name_str(g), self.objects[d.object as usize].display(d.object)));
                    continue;
                }
                let resolver = d.section.map_or(d.value, |s| self.sections[s as usize].target + d.value);
                if not_here(&self.sections, d.section, resolver) {
                    let owner = &self.objects[d.object as usize];
                    elsewhere.push(format!("`{}` of {} at {resolver:#x}", self.symbols.name_str(g), owner.display(d.object)));
                    continue;
                }
                let v = call(resolver);
                self.symbols.set_ifunc_value(g, Some(v));
                self.changes.globals.push(g);
                any = true;
            }
        }
        for o in self.objects.iter_mut().filter(|o| !o.removed) {
            for k in 0..o.local_ifuncs.len() {
                let (sym, None) = o.local_ifuncs[k] else { continue };
                let SymTarget::LocalIfunc { section, offset, .. } = o.symbols[sym as usize] else { continue };
                if !in_code(&self.sections, Some(section), offset) {
                    bad.push(o.local_names.get(sym).map_or_else(
                        || format!("an unnamed local symbol of {}", o.display(o.id)),
                        |n| format!("`{n}` of {}", o.display(o.id)),
                    ));
                    continue;
                }
                let resolver = self.sections[section as usize].target + offset;
                if not_here(&self.sections, Some(section), resolver) {
                    let name = o.local_names.get(sym).map_or_else(|| "an unnamed local symbol".to_owned(), |n| format!("`{n}`"));
                    elsewhere.push(format!("{name} of {} at {resolver:#x}", o.display(o.id)));
                    continue;
                }
                let v = call(resolver);
                o.local_ifuncs[k].1 = Some(v);
                self.changes.object(o);
                any = true;
            }
        }
        if !elsewhere.is_empty() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "IFUNC resolvers run during finalize, in this process, at their target address, which must be executable \
                     here once the memory manager's finalize has returned; these are not: {}",
                    elsewhere.join(", ")
                ),
            ));
        }
        if bad.is_empty() {
            Ok(any)
        } else {
            Err(Error::new(
                ErrorKind::MalformedObject,
                format!("IFUNC symbols whose resolver is not in a loaded code section (it would not be called): {}", bad.join(", ")),
            ))
        }
    }

    /// Runs the constructors (`.preinit_array` first, then `.init_array`
    /// and `.ctors`, with priorities) of every object whose constructors
    /// have not run yet: lower priority numbers first, then in load order.
    /// Each gets `(argc, argv, envp)`, as the C library calls them (see
    /// [`set_program_arguments`](Self::set_program_arguments)). Call after
    /// a successful finalize, on the thread that should run them; the code
    /// runs at its target address in this process.
    pub fn run_constructors(&mut self) -> Result<()> {
        let mut calls: Vec<((u32, u32), usize, u64)> = Vec::new();
        for &oi in &self.unconstructed {
            let (oi, o) = (oi as usize, &self.objects[oi as usize]);
            if o.removed || o.constructed {
                continue;
            }
            if o.needs_apply {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("{}: constructors can only run after a successful finalize", o.display(oi as u32)),
                ));
            }
            let mut tables: Vec<&(TableKind, u32, u32)> = o.tables.iter().filter(|t| t.0.is_init()).collect();
            tables.sort_by_key(|t| t.1);
            for &&(kind, priority, sec) in &tables {
                let mut entries = self.table_entries(kind, sec);
                if kind == TableKind::Ctors {
                    entries.reverse();
                }
                // `.preinit_array` functions run before all others, then
                // the `.init` fragments (as `_init`), then the rest.
                let class = match kind {
                    TableKind::PreinitArray => 0,
                    TableKind::InitFragment => 1,
                    _ => 2,
                };
                calls.extend(entries.into_iter().map(|f| ((class, priority), oi, f)));
            }
        }
        calls.sort_by_key(|&(order, oi, _)| (order, oi));
        let args = self.program_args.unwrap_or_else(crate::runtime::process_args);
        for oi in std::mem::take(&mut self.unconstructed) {
            let o = &mut self.objects[oi as usize];
            if !o.removed {
                o.constructed = true;
            }
        }
        type Init = extern "C" fn(std::ffi::c_int, *mut *mut std::ffi::c_char, *mut *mut std::ffi::c_char);
        for (_, _, f) in calls {
            // SAFETY: an entry of a constructor table of a finalized object:
            // a function at its target address in this process, called as
            // the C library calls them, with (argc, argv, envp); one that
            // takes no arguments ignores them.
            unsafe { std::mem::transmute::<usize, Init>(f as usize)(args.argc, args.argv as *mut _, args.envp as *mut _) };
        }
        Ok(())
    }

    /// Runs the destructors of every loaded object whose constructors ran,
    /// and what their code registered with `__cxa_atexit` and `atexit`, as
    /// `exit` would for a program statically linked from them (see
    /// [`remove_object`](Self::remove_object) for the order), and leaves
    /// the objects loaded: their code stays in place and their unwind
    /// tables registered, for threads that still run it while the process
    /// exits. Each destructor runs once; dropping the linker or removing
    /// an object later runs none again.
    pub fn run_destructors(&mut self) {
        let live: Vec<usize> = (0..self.objects.len()).filter(|&i| !self.objects[i].removed).collect();
        self.run_destructors_of(&live);
    }

    /// The function addresses in a constructor or destructor table, read at
    /// its target address: the functions run there, in this process, so the
    /// table is readable there too (the local view may not be).
    fn table_entries(&self, kind: TableKind, sec: u32) -> Vec<u64> {
        let s = &self.sections[sec as usize];
        if kind.is_fragment() {
            // A fragment: one function, its entry after the epilogue.
            return vec![s.target + s.size - load::FRAGMENT_TAIL as u64 + 5];
        }
        let table = s.target as *const u64;
        (0..s.size as usize / 8)
            // SAFETY: the finalized section's `size` bytes are readable at
            // its target address in this process.
            .map(|k| unsafe { table.add(k).read_unaligned() })
            .filter(|&f| f != 0 && f != u64::MAX)
            .collect()
    }

    /// Runs the destructors of the objects `ids`, as `exit` would for a
    /// program statically linked from them: every `__cxa_atexit`
    /// registration, newest first across the objects; then the
    /// `.fini_array`/`.dtors` entries of those whose constructors ran, in
    /// the reverse of the order a static link lays them out (by priority,
    /// then object order).
    fn run_destructors_of(&mut self, ids: &[usize]) {
        let keys: Vec<usize> = ids.iter().map(|&i| self.objects[i].dso_key).filter(|&k| k != 0).collect();
        // What their code registered runs (and the handles are retired) even
        // if the client never ran their constructors.
        // (`atexit` functions by where they lie: their objects' code.)
        let code: Vec<std::ops::Range<u64>> = ids
            .iter()
            .flat_map(|&i| self.objects[i].sections.iter().map(|&s| &self.sections[s as usize]))
            .filter(|s| s.kind == SectionKind::Code)
            .map(|s| s.target..s.target + s.size)
            .collect();
        crate::runtime::run_atexit(&keys, &code);
        crate::runtime::forget_atfork(&code);
        crate::runtime::forget_quick_exit(&code);
        let mut tables: Vec<(u32, usize, TableKind, u32)> = Vec::new();
        for &i in ids {
            let o = &self.objects[i];
            if o.constructed {
                tables.extend(o.tables.iter().filter(|t| !t.0.is_init()).map(|&(kind, prio, sec)| (prio, i, kind, sec)));
            }
        }
        tables.sort_by_key(|&(prio, i, _, _)| (prio, i));
        let mut calls = Vec::new();
        for &(_, _, kind, sec) in tables.iter().rev().filter(|t| !t.2.is_fragment()) {
            let mut entries = self.table_entries(kind, sec);
            if kind == TableKind::FiniArray {
                entries.reverse();
            }
            calls.extend(entries);
        }
        // Then the `.fini` fragments, as `_fini`: in object order, as a
        // static link concatenates them.
        for &(_, _, kind, sec) in tables.iter().filter(|t| t.2.is_fragment()) {
            calls.extend(self.table_entries(kind, sec));
        }
        for &i in ids {
            // (Constructed again by a later `run_constructors`, as before.)
            if std::mem::take(&mut self.objects[i].constructed) {
                self.unconstructed.push(i as u32);
            }
        }
        for f in calls {
            // SAFETY: an entry of a destructor table of a constructed object.
            unsafe { std::mem::transmute::<usize, extern "C" fn()>(f as usize)() };
        }
    }

    /// Drops one entry of object `k` from the objects listed as holding a
    /// shadowed definition of `g`.
    fn unlist_shadowed(&mut self, g: u32, k: u32) {
        if let Some(v) = self.shadowed_in.get_mut(&g) {
            if let Some(at) = v.iter().position(|&x| x == k) {
                v.swap_remove(at);
            }
            if v.is_empty() {
                self.shadowed_in.remove(&g);
            }
        }
    }

    /// Removes an object: runs its destructors (if its constructors ran),
    /// deregisters its unwind tables, releases its memory through the
    /// memory manager and withdraws its symbols. A weak or common definition
    /// in another object takes over a withdrawn one. Objects that referred
    /// to its symbols are relinked at the next finalize: to another
    /// definition, the resolver's or the process's answer, or else that
    /// finalize fails naming the symbols. Until then they must not run.
    /// Its id is not reused. Refused (`InvalidState`, nothing changed) when
    /// an object whose relocations were dropped uses one of its definitions.
    pub fn remove_object(&mut self, id: u32) -> Result<()> {
        self.object(id)?;
        self.check_relinkable_without(id)?;
        let oi = id as usize;
        // (While its definitions are still the ones in use.)
        let holders = self.comdat_users(id);
        self.run_destructors_of(&[oi]);
        // The debugger forgets the code while it can still read it (to take
        // out its breakpoints: left in, they are lost when new code is
        // copied over the same addresses).
        self.objects[oi].debug_image = None;
        // Withdraw its definitions; the best remaining one takes over.
        // Every other object's definition of a name whose definition in use
        // is this object's is in that object's `shadowed` list (and the
        // object in `shadowed_in`).
        let defined = std::mem::take(&mut self.objects[oi].defined);
        for (g, _) in std::mem::take(&mut self.objects[oi].shadowed) {
            self.unlist_shadowed(g, id);
        }
        for &g in &defined {
            if self.symbols.get(g).definition().is_none_or(|d| d.object != id) {
                continue;
            }
            // The strongest (of common ones, the largest); of equals, the
            // first loaded (as in a static link, the first in link order).
            let mut best: Option<(usize, usize, Definition)> = None;
            for &k in self.shadowed_in.get(&g).map_or(&[][..], |v| &v[..]) {
                let o = &self.objects[k as usize];
                for (j, &(g2, d)) in o.shadowed.iter().enumerate() {
                    let k = k as usize;
                    if g2 == g && best.is_none_or(|b| (d.rank(), std::cmp::Reverse(k)) > (b.2.rank(), std::cmp::Reverse(b.0))) {
                        best = Some((k, j, d));
                    }
                }
            }
            if let Some((k, j, _)) = best {
                self.objects[k].shadowed.swap_remove(j);
                self.unlist_shadowed(g, k as u32);
            }
            self.symbols.set_definition(g, best.map(|b| b.2));
            // Its value changed: what refers to it is applied again, and
            // without a definition it is looked for outside.
            self.changes.globals.push(g);
            if best.is_none() && self.symbols.get(g).references > 0 {
                self.changes.externals.push(g);
            }
        }
        for &(g, UndefinedRef { weak, .. }) in &self.objects[oi].undefined_refs {
            let e = self.symbols.get_mut(g);
            e.references -= 1;
            e.strong_references -= u32::from(!weak);
        }
        // Host functions its stubs stood for: another object's stub takes
        // over at the next finalize, if any refers to them so.
        for g in std::mem::take(&mut self.objects[oi].canonical_for) {
            if self.symbols.canonical(g).is_some_and(|c| c.object == id) {
                self.symbols.set_canonical(g, None);
                self.changes.globals.push(g);
                self.changes.canonical_rescan = true;
            }
        }
        self.changes.externals_repeat = true;
        if let Some(referrers) = &mut self.referrers {
            for &g in &self.objects[oi].global_refs {
                if let Some(v) = referrers.get_mut(g as usize) {
                    v.retain(|&x| x != id);
                }
            }
        }
        for sig in std::mem::take(&mut self.objects[oi].comdats) {
            if self.comdats.get(&sig) == Some(&id) {
                self.comdats.remove(&sig);
            }
        }
        // Release the memory, unless other objects use its COMDAT copies
        // (then when the last of them goes); and that of the removed objects
        // whose copies only this one still used.
        let mut failure = None;
        for &sid in &self.objects[oi].sections {
            let s = &mut self.sections[sid as usize];
            if let Some(index) = &mut self.by_local {
                index.remove(&(s.local as usize));
            }
            s.removed = true;
        }
        let mut done = Vec::new();
        for entry in &mut self.kept_for {
            entry.1.retain(|&h| h != id);
            if entry.1.is_empty() {
                done.push(entry.0);
            }
        }
        self.kept_for.retain(|e| !e.1.is_empty());
        if holders.is_empty() {
            done.push(id);
        } else {
            self.kept_for.push((id, holders));
        }
        for k in done {
            if let Err(e) = self.release_memory(k as usize) {
                failure.get_or_insert(e);
            }
        }
        let o = &mut self.objects[oi];
        o.removed = true;
        o.relocs = Vec::new();
        o.reloc_groups = Vec::new();
        o.wide_addends = Vec::new();
        o.symbols = Vec::new();
        o.local_names = LocalNames::default();
        o.global_refs = Vec::new();
        o.undefined_refs = Vec::new();
        o.got_index = load::SlotIndex::Empty;
        o.stub_index = load::SlotIndex::Empty;
        o.image = None;
        // (The TLS module goes with the memory: kept code may use its
        // variables, and destructors registered for them are due at thread
        // exit.)
        o.got_symbols = Vec::new();
        o.stub_symbols = Vec::new();
        o.address_stubs = Vec::new();
        o.tls_got = Vec::new();
        o.local_ifuncs = Vec::new();
        o.tables = Vec::new();
        o.elf_sections = Vec::new();
        match failure {
            None => Ok(()),
            Some(e) => Err(Error::new(
                ErrorKind::MemoryManager,
                format!("{} was removed, but the memory manager failed to release its memory: {e}", o.display(id)),
            )),
        }
    }

    /// The loaded objects (but `id`) that use COMDAT copies of object `id`:
    /// they refer to a global that `id` defines in a group it brought, and
    /// whose definition in use is `id`'s. (Before `id`'s definitions are
    /// withdrawn.)
    fn comdat_users(&self, id: u32) -> Vec<u32> {
        let o = &self.objects[id as usize];
        let in_use: Vec<u32> =
            o.comdat_defs.iter().copied().filter(|&g| self.symbols.get(g).definition().is_some_and(|d| d.object == id)).collect();
        if in_use.is_empty() {
            return Vec::new();
        }
        let mut users: Vec<u32> = match &self.referrers {
            Some(referrers) => in_use.iter().flat_map(|&g| referrers.get(g as usize).into_iter().flatten().copied()).collect(),
            None => {
                let set: HashSet<u32> = in_use.into_iter().collect();
                self.objects.iter().filter(|x| !x.removed && x.global_refs.iter().any(|g| set.contains(g))).map(|x| x.id).collect()
            }
        };
        users.retain(|&k| k != id && !self.objects[k as usize].removed);
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Withdraws the unwind table of removed object `oi` and gives its
    /// sections' memory back to the memory manager.
    fn release_memory(&mut self, oi: usize) -> std::result::Result<(), String> {
        deregister_eh_frame(&mut self.objects[oi], &self.sections);
        self.objects[oi].tls = None;
        let mut failure = Ok(());
        for &sid in &self.objects[oi].sections {
            let s = &self.sections[sid as usize];
            if !s.tls_template {
                if let Err(e) = self.mm.release(s.local, s.size as usize, sid) {
                    failure = failure.and(Err(e));
                }
            }
        }
        failure
    }

    /// Sets the address at which the section starting at local address
    /// `local` will run. Takes effect at the next finalize.
    ///
    /// # Safety
    ///
    /// In-process steps use a section at its target address: finalize
    /// registers `.eh_frame` with the unwinder (unless turned off) and runs
    /// IFUNC resolvers; `run_constructors`, `run_destructors` and dropping
    /// the linker read and call the constructor and destructor tables. When
    /// any of these apply, the target must be where the section's bytes are
    /// mapped in this process by the next finalize (an alias of the local
    /// memory, say); a target elsewhere (another process) needs them off.
    /// (Finalize refuses, with an error, to register an unwind table at a
    /// target that is not readable in this process, or call a resolver at
    /// one that is not executable; other memory mapped there it cannot
    /// tell from the section's.)
    pub unsafe fn map_section_address(&mut self, local: *const u8, target: u64) -> Result<()> {
        if local.is_null() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "local address NULL: no section starts there (a thread-local .tbss has none, and thread-local sections do not move)"
                    .to_string(),
            ));
        }
        let sections = &self.sections;
        let index = self.by_local.get_or_insert_with(|| {
            sections
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.removed && !s.local.is_null())
                .map(|(id, s)| (s.local as usize, id as u32))
                .collect()
        });
        let id = *index
            .get(&(local as usize))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no section starts at local address {local:p}")))?;
        // SAFETY: the caller's contract, passed on.
        unsafe { self.map_section(id, target) }
    }

    /// Refuses the removal of object `id` when another object would be left
    /// pointing into it for good: one whose relocations were dropped
    /// (retention off) and that refers to a symbol `id` defines (or whose
    /// stub stands for a host function there).
    fn check_relinkable_without(&self, id: u32) -> Result<()> {
        let o = &self.objects[id as usize];
        // (Retention was never off: no object dropped its relocations. Not
        // a walk over every object ever loaded at each removal.)
        if self.retain_relocations && !self.relocations_ever_dropped {
            return Ok(());
        }
        if !self.objects.iter().any(|x| x.relocations_dropped && !x.removed) {
            return Ok(());
        }
        let ours: HashSet<u32> = o
            .defined
            .iter()
            .copied()
            .filter(|&g| self.symbols.get(g).definition().is_some_and(|d| d.object == id))
            .chain(o.canonical_for.iter().copied().filter(|&g| self.symbols.canonical(g).is_some_and(|c| c.object == id)))
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        for (k, x) in self.objects.iter().enumerate() {
            if k == id as usize || x.removed || !x.relocations_dropped {
                continue;
            }
            if let Some(&g) = x.global_refs.iter().find(|g| ours.contains(g)) {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!(
                        "{} cannot be removed: {} refers to its symbol `{}`, and that object's relocations were dropped after \
                         finalize (relocation retention is off), so it could not be relinked; remove it first",
                        o.display(id),
                        x.display(k as u32),
                        self.symbols.name_str(g)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sets the address at which section `id` will run. Takes effect at the
    /// next finalize.
    ///
    /// # Safety
    ///
    /// In-process steps use a section at its target address: finalize
    /// registers `.eh_frame` with the unwinder (unless turned off) and runs
    /// IFUNC resolvers; `run_constructors`, `run_destructors` and dropping
    /// the linker read and call the constructor and destructor tables. When
    /// any of these apply, the target must be where the section's bytes are
    /// mapped in this process by the next finalize (an alias of the local
    /// memory, say); a target elsewhere (another process) needs them off.
    /// (Finalize refuses, with an error, to register an unwind table at a
    /// target that is not readable in this process, or call a resolver at
    /// one that is not executable; other memory mapped there it cannot
    /// tell from the section's.)
    pub unsafe fn map_section(&mut self, id: u32, target: u64) -> Result<()> {
        let s = self.section_ref(id)?;
        if s.tls_template {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "section {} (id {id}) is part of a thread-local storage template, which the C library owns; it cannot be moved",
                    name_in(&self.section_names, s.name_at).to_string_lossy()
                ),
            ));
        }
        if target & ((1u64 << s.align_log2) - 1) != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "section {} (id {id}) cannot run at {target:#x}: its contents are aligned to {} bytes (aligned data \
                     instructions and tables rely on it), and that address is not",
                    name_in(&self.section_names, s.name_at).to_string_lossy(),
                    1u64 << s.align_log2
                ),
            ));
        }
        if target.checked_add(s.size).is_none() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "section {} (id {id}, {} bytes) cannot run at {target:#x}: it would extend past the end of the address space",
                    name_in(&self.section_names, s.name_at).to_string_lossy(),
                    s.size
                ),
            ));
        }
        let s_object = s.object;
        let obj = &self.objects[s.object as usize];
        if obj.relocations_dropped {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "{}: its relocations were dropped after finalize (relocation retention is off), so its sections cannot be moved",
                    obj.display(s.object)
                ),
            ));
        }
        if self.sections[id as usize].target != target {
            self.sections[id as usize].target = target;
            let o = &mut self.objects[s_object as usize];
            self.changes.object(o);
            // The globals it defines there move with it: looked at once per
            // finalize for the object, however many of its sections move.
            self.changes.moved.push(s_object);
            // IFUNC answers may point into the moved code: ask again.
            for f in &mut o.local_ifuncs {
                f.1 = None;
            }
            if o.defines_ifuncs {
                for &g in &o.defined {
                    if self.symbols.get(g).definition().is_some_and(|d| d.object == s_object && d.is_ifunc) {
                        self.symbols.set_ifunc_value(g, None);
                    }
                }
            }
        }
        Ok(())
    }

    fn section_ref(&self, id: u32) -> Result<&Section> {
        match self.sections.get(id as usize) {
            Some(s) if !s.removed => Ok(s),
            Some(_) => Err(Error::new(ErrorKind::NotFound, format!("section {id} belonged to a removed object"))),
            None => Err(Error::new(ErrorKind::NotFound, format!("no section with id {id} (there are {})", self.sections.len()))),
        }
    }

    pub fn section_count(&self) -> u32 {
        self.sections.len() as u32
    }

    pub fn section(&self, id: u32) -> Result<SectionInfo<'_>> {
        let s = self.section_ref(id)?;
        Ok(SectionInfo {
            id,
            object: s.object,
            name: name_in(&self.section_names, s.name_at),
            kind: s.kind,
            local: s.local,
            target: s.target,
            size: s.size,
        })
    }

    /// Section ids of an object, in allocation order.
    pub fn object_sections(&self, object: u32) -> Result<&[u32]> {
        Ok(&self.object(object)?.sections)
    }

    pub fn object_symbol_count(&self, object: u32) -> Result<u32> {
        Ok(self.object(object)?.defined.len() as u32)
    }

    /// The `index`th global symbol that `object` defines.
    pub fn object_symbol(&self, object: u32, index: u32) -> Result<SymbolInfo<'_>> {
        let obj = self.object(object)?;
        let missing =
            || Error::new(ErrorKind::NotFound, format!("{} defines {} symbols, no symbol {index}", obj.display(object), obj.defined.len()));
        let g = *obj.defined.get(index as usize).ok_or_else(missing)?;
        let def = own_definition(obj, g, &self.symbols).ok_or_else(missing)?;
        let (target, local) = match def.section {
            Some(s) => {
                let s = &self.sections[s as usize];
                (s.target + def.value, s.local.wrapping_add(def.value as usize))
            }
            None => (def.value, ptr::null_mut()),
        };
        let name = self.symbols.cname(g);
        let g = self.symbols.get(g);
        Ok(SymbolInfo {
            name,
            target,
            local,
            size: def.size,
            section: def.section,
            is_function: def.is_function,
            is_weak: def.strength != Strength::Strong,
            is_active: g.definition() == Some(def),
        })
    }

    fn definition(&self, name: &str) -> Result<Definition> {
        self.symbols.find(name.as_bytes()).and_then(|g| self.symbols.get(g).definition()).ok_or_else(|| {
            // (A name of any length may be asked about; the message keeps
            // its start.)
            let shown = match name.char_indices().nth(256) {
                Some((at, _)) => format!("{}... ({} bytes)", &name[..at], name.len()),
                None => name.to_owned(),
            };
            Error::new(ErrorKind::NotFound, format!("symbol `{shown}` is not defined by any loaded object"))
        })
    }

    /// The address at which symbol `name` runs (its target address).
    pub fn lookup(&self, name: &str) -> Result<u64> {
        let d = self.definition(name)?;
        if d.is_ifunc {
            if let Some(v) = self.symbols.find(name.as_bytes()).and_then(|g| self.symbols.ifunc_value(g)) {
                return Ok(v);
            }
        }
        Ok(match d.section {
            Some(s) => self.sections[s as usize].target + d.value,
            None => d.value,
        })
    }

    /// The address at which rtdyld wrote symbol `name` (its local address).
    pub fn lookup_local(&self, name: &str) -> Result<*mut u8> {
        let d = self.definition(name)?;
        match d.section {
            Some(s) => Ok(self.sections[s as usize].local.wrapping_add(d.value as usize)),
            None => Err(Error::new(ErrorKind::NotFound, format!("symbol `{name}` is absolute and has no local address"))),
        }
    }

    /// Bytes held to re-apply relocations at later finalizes.
    pub fn retained_relocation_bytes(&self) -> usize {
        self.objects.iter().map(|o| o.relocs.capacity() * std::mem::size_of::<Reloc>() + o.wide_addends.capacity() * 8).sum()
    }

    /// Number of relocations held for re-finalize.
    pub fn retained_relocation_count(&self) -> usize {
        self.objects.iter().map(|o| o.relocs.len()).sum()
    }
}

/// From this many objects (removed ones included) on, a finalize after a
/// global changed value finds the objects that refer to it through an index
/// ([`Linker::referrers`]) instead of going over every object's references.
const REFERRERS_FROM: usize = 256;

/// Global -> the live objects of `objects` that refer to it.
fn referrers_of(objects: &[LoadedObject], globals: usize) -> Vec<Vec<u32>> {
    let mut referrers = vec![Vec::new(); globals];
    for o in objects.iter().filter(|o| !o.removed) {
        for &g in &o.global_refs {
            referrers[g as usize].push(o.id);
        }
    }
    referrers
}

impl Drop for Linker {
    fn drop(&mut self) {
        // Destructors of constructed objects, newest object first; then the
        // unwinder must forget the frames before their memory goes.
        self.run_destructors();
        self.deregister_eh_frames();
        // The debugger forgets the code before its memory goes (see
        // `remove_object`).
        for o in &mut self.objects {
            o.debug_image = None;
        }
        let mut sections = std::mem::take(&mut self.sections);
        if sections.capacity() * std::mem::size_of::<Section>() <= SPARE_MAX {
            sections.clear();
            let mut spare = SPARE_SECTIONS.lock().unwrap_or_else(|e| e.into_inner());
            if spare.0.capacity() < sections.capacity() {
                spare.0 = sections;
            }
        }
    }
}

/// The section list of a dropped linker, empty, for the next one: a JIT
/// that makes a linker per module or query would otherwise grow the list
/// into fresh heap pages each time (glibc gives the pages of a large block
/// freed at the top of the heap back to the system), one page fault per
/// 4 KiB: 15 per link of Lua built with -ffunction-sections (1089
/// sections). [`crate::memory::release_recycled_memory`] frees it.
static SPARE_SECTIONS: std::sync::Mutex<SpareSections> = std::sync::Mutex::new(SpareSections(Vec::new()));

/// Always empty: only its allocation is kept.
struct SpareSections(Vec<Section>);

// SAFETY: the vector holds no section (it is cleared before it is kept),
// so no raw pointer of one thread's linker reaches another thread; only
// the allocation moves, which any thread may use and free.
unsafe impl Send for SpareSections {}

/// The largest section list kept (bytes).
const SPARE_MAX: usize = 1 << 20;

/// Frees the section list kept for the next linker.
pub(crate) fn release_spare_sections() {
    SPARE_SECTIONS.lock().unwrap_or_else(|e| e.into_inner()).0 = Vec::new();
}

/// Object `o`'s definition of global `g`: the one in use, or one of those
/// it keeps aside.
fn own_definition(o: &LoadedObject, g: u32, symbols: &SymbolTable) -> Option<Definition> {
    match symbols.get(g).definition() {
        Some(d) if d.object == o.id => Some(d),
        _ => o.shadowed.iter().find(|e| e.0 == g).map(|e| e.1),
    }
}

/// Refuses references that are not thread-local ones (an address, a GOT
/// slot, a call) to a thread-local variable another object defines, as a
/// static link does ("TLS definition mismatches non-TLS reference"): the
/// variable has no address shared by all threads, and the value would be
/// its offset in its TLS block. (Declared without `__thread` on one side.)
fn check_tls_references(oi: u32, obj: &LoadedObject, symbols: &SymbolTable, w: &Writer<'_>) -> Result<()> {
    let tls_global = |sym: u32| match obj.symbols[sym as usize] {
        SymTarget::Global(g) => symbols.get(g).definition().is_some_and(|d| d.is_tls),
        _ => false,
    };
    if !(0..obj.symbols.len() as u32).any(tls_global) {
        return Ok(());
    }
    for g in &obj.reloc_groups {
        for r in &obj.relocs[g.start as usize..g.end as usize] {
            let t = u32::from(r.r_type);
            let tls_type = matches!(t, 16..=23 | 34..=36 | x86_64::R_SIZE32 | x86_64::R_SIZE64);
            if !tls_type && tls_global(r.symbol) {
                let SymTarget::Global(sym) = obj.symbols[r.symbol as usize] else { continue };
                let owner = symbols.get(sym).definition().map_or(0, |d| d.object);
                return Err(Error::new(
                    ErrorKind::MalformedObject,
                    format!(
                        "{} {}+{:#x}: {} refers to `{}` as an ordinary symbol, but obj {owner} defines it as thread-local \
                         (declared `__thread`/`thread_local` on one side only?)",
                        obj.display(oi),
                        name_in(w.names, w.sections[g.section as usize].name_at).to_string_lossy(),
                        r.offset,
                        x86_64::type_name(t),
                        symbols.name_str(sym)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Where an object's sections run, in one number: it changes when any of
/// them moves (the unwind table's code addresses then change in place).
fn code_key(o: &LoadedObject, sections: &[Section]) -> u64 {
    o.sections.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, &sid| (h ^ sections[sid as usize].target).wrapping_mul(0x0100_0000_01b3))
}

/// Withdraws an object's unwind tables from the unwinder, if registered.
fn deregister_eh_frame(o: &mut LoadedObject, sections: &[Section]) {
    if let (Some((addr, _)), Some(sec)) = (o.eh_registered.take(), o.eh_frame) {
        // SAFETY: registered by `register_eh_frames` at `addr`, and still
        // mapped there (the memory manager outlives the objects).
        unsafe { crate::unwind::deregister(addr, sections[sec as usize].size) };
    }
}

/// Sets each loaded section's `sh_addr` in a copy of its object file to the
/// section's target address, for the debugger.
fn patch_section_addresses(image: &mut [u8], elf_sections: &[(usize, u32)], sections: &[Section]) {
    let read = |b: &[u8], at: usize, n: usize| -> Option<u64> {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b.get(at..at + n)?);
        Some(u64::from_le_bytes(v))
    };
    let (Some(shoff), Some(shentsize)) = (read(image, 0x28, 8), read(image, 0x3a, 2)) else { return };
    for &(index, sid) in elf_sections {
        let at = shoff as usize + index * shentsize as usize + 16;
        if let Some(field) = image.get_mut(at..at + 8) {
            field.copy_from_slice(&sections[sid as usize].target.to_le_bytes());
        }
    }
}

/// Writes into section memory. Writes into sections that a finalize
/// protected and that change bytes are held back and made by [`Writer::flush`],
/// after one request to the memory manager for all those sections.
struct Writer<'a> {
    sections: &'a mut [Section],
    /// The linker's section names, for messages.
    names: &'a [u8],
    mm: &'a mut dyn MemoryManager,
    /// Held-back writes: section, offset, and where the bytes are in `held_bytes`.
    held: Vec<(u32, u64, usize, usize)>,
    held_bytes: Vec<u8>,
    /// Held-back relocated fields: section, offset, value, size.
    held_fields: Vec<(u32, u32, u64, u8)>,
    /// The sections with held-back writes.
    held_sections: Vec<u32>,
}

impl<'a> Writer<'a> {
    fn new(sections: &'a mut [Section], names: &'a [u8], mm: &'a mut dyn MemoryManager) -> Self {
        Writer { sections, names, mm, held: Vec::new(), held_bytes: Vec::new(), held_fields: Vec::new(), held_sections: Vec::new() }
    }

    /// Writes the low `size` (1, 2, 4 or 8) bytes of `value`, little-endian.
    #[inline]
    fn write_field(&mut self, section: u32, offset: u64, value: u64, size: usize) -> Result<()> {
        let s = &self.sections[section as usize];
        debug_assert!(offset + size as u64 <= s.size);
        if s.protected {
            return self.hold_field(section, offset, value, size);
        }
        // SAFETY: `offset + size <= size of the section` (checked when the
        // relocation was read) and the section is writable (not protected).
        unsafe { store_field(s.local.add(offset as usize), value, size) };
        Ok(())
    }

    /// [`Self::write_field`] into a finalized section: held back unless it
    /// changes nothing.
    #[inline(never)]
    fn hold_field(&mut self, section: u32, offset: u64, value: u64, size: usize) -> Result<()> {
        let s = &self.sections[section as usize];
        // SAFETY: `offset + size <= size of the section` (checked when the
        // relocation was read); the section's local memory is readable.
        let dst = unsafe { s.local.add(offset as usize) };
        // Unchanged fields need no write (and no writable pages), unless an
        // earlier held-back write to the section may have changed them.
        if !s.held {
            // SAFETY: as above (reading).
            let current = unsafe {
                match size {
                    8 => dst.cast::<u64>().read_unaligned(),
                    4 => u64::from(dst.cast::<u32>().read_unaligned()),
                    2 => u64::from(dst.cast::<u16>().read_unaligned()),
                    _ => u64::from(dst.read()),
                }
            };
            let mask = if size == 8 { u64::MAX } else { (1u64 << (size * 8)) - 1 };
            if u64::from_le(current) == value & mask {
                return Ok(());
            }
            self.hold(section);
        }
        self.held_fields.push((section, offset as u32, value, size as u8));
        Ok(())
    }

    fn write(&mut self, section: u32, offset: u64, bytes: &[u8]) -> Result<()> {
        let s = &self.sections[section as usize];
        debug_assert!(offset + bytes.len() as u64 <= s.size);
        // SAFETY: `offset + len <= size` (checked when the relocation or
        // table entry was created) and the section's local memory is
        // readable while the memory manager lives.
        let dst = unsafe { s.local.add(offset as usize) };
        if s.protected {
            // Unchanged bytes need no write (and no writable pages), unless
            // an earlier held-back write to the section may have changed them.
            let held = s.held;
            // SAFETY: as above.
            if !held && unsafe { std::slice::from_raw_parts(dst, bytes.len()) } == bytes {
                return Ok(());
            }
            if !held {
                self.hold(section);
            }
            self.held.push((section, offset, self.held_bytes.len(), bytes.len()));
            self.held_bytes.extend_from_slice(bytes);
            return Ok(());
        }
        // SAFETY: as above; the section is writable (never finalized).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        Ok(())
    }

    /// Starts holding back writes to `section`.
    fn hold(&mut self, section: u32) {
        self.sections[section as usize].held = true;
        self.held_sections.push(section);
    }

    /// Forgets the held-back writes (made, or dropped with a failed apply).
    fn release_held(&mut self) {
        for &id in &self.held_sections {
            self.sections[id as usize].held = false;
        }
        self.held_fields.clear();
        self.held.clear();
        self.held_bytes.clear();
        self.held_sections.clear();
    }

    /// Makes a finalized section writable right away (when most of it is
    /// about to be rewritten: it moved), so that its writes need not be
    /// compared and held back. Not when writes to it are already held.
    fn open_now(&mut self, section: u32) -> Result<()> {
        let s = &self.sections[section as usize];
        if !s.protected || s.held {
            return Ok(());
        }
        self.mm.make_writable_many(&[(s.local, s.size as usize, section)]).map_err(|e| {
            Error::new(
                ErrorKind::MemoryManager,
                format!(
                    "the memory manager could not make section {} (id {section}) of obj {} writable again: {e}",
                    name_in(self.names, s.name_at).to_string_lossy(),
                    s.object
                ),
            )
        })?;
        self.sections[section as usize].protected = false;
        Ok(())
    }

    /// Makes the held-back writes: the memory manager makes their sections
    /// writable (in one request), then the bytes are written.
    fn flush(&mut self) -> Result<()> {
        if self.held_sections.is_empty() {
            return Ok(());
        }
        let open: Vec<(*mut u8, usize, u32)> =
            self.held_sections.iter().map(|&id| (self.sections[id as usize].local, self.sections[id as usize].size as usize, id)).collect();
        self.mm.make_writable_many(&open).map_err(|e| {
            let first = &self.sections[self.held_sections[0] as usize];
            Error::new(
                ErrorKind::MemoryManager,
                format!(
                    "the memory manager could not make {} finalized section{} writable again (the first: {} of obj {}): {e}",
                    open.len(),
                    if open.len() == 1 { "" } else { "s" },
                    name_in(self.names, first.name_at).to_string_lossy(),
                    first.object
                ),
            )
        })?;
        for &id in &self.held_sections {
            self.sections[id as usize].protected = false;
        }
        for &(section, offset, at, len) in &self.held {
            let s = &self.sections[section as usize];
            // SAFETY: checked as for `write`; the memory manager made the
            // section writable just above.
            unsafe { ptr::copy_nonoverlapping(self.held_bytes[at..at + len].as_ptr(), s.local.add(offset as usize), len) };
        }
        for &(section, offset, value, size) in &self.held_fields {
            // SAFETY: as above.
            unsafe { store_field(self.sections[section as usize].local.add(offset as usize), value, usize::from(size)) };
        }
        self.release_held();
        Ok(())
    }
}

impl Drop for Writer<'_> {
    /// A failed apply drops the writes it held back: the sections are no
    /// longer marked as held.
    fn drop(&mut self) {
        self.release_held();
    }
}

/// Stores the low `size` (1, 2, 4 or 8) bytes of `value` at `dst`, little-endian.
///
/// # Safety
/// `dst..dst + size` must be writable.
unsafe fn store_field(dst: *mut u8, value: u64, size: usize) {
    // SAFETY: the caller guarantees `size` writable bytes at `dst`.
    unsafe {
        match size {
            8 => dst.cast::<u64>().write_unaligned(value.to_le()),
            4 => dst.cast::<u32>().write_unaligned((value as u32).to_le()),
            2 => dst.cast::<u16>().write_unaligned((value as u16).to_le()),
            _ => dst.write(value as u8),
        }
    }
}

/// Whether an object's symbol is a function (for externals: as far as the
/// host's dynamic loader can tell).
fn symbol_is_function(obj: &LoadedObject, sym: u32, symbols: &SymbolTable) -> bool {
    match obj.symbols[sym as usize] {
        SymTarget::Global(g) => {
            let gs = symbols.get(g);
            match gs.definition() {
                Some(d) => d.is_function,
                None => gs.external().is_some_and(host::is_function),
            }
        }
        _ => false,
    }
}

/// The address a global symbol stands for now.
fn global_value(g: u32, sections: &[Section], symbols: &SymbolTable) -> u64 {
    let gs = symbols.get(g);
    match gs.definition() {
        Some(d) if d.is_ifunc && symbols.ifunc_value(g).is_some() => symbols.ifunc_value(g).unwrap_or(0),
        // A thread-local variable is an offset in its object's TLS block;
        // TLS relocations take its module and offsets from the object
        // (`tls_of`), so the value here only has to change when they do:
        // with the offset, and with the object (one removed and loaded
        // again gets a new TLS module, and a new place in static TLS).
        Some(d) if d.is_tls => (u64::from(d.object) + 1) << 40 | d.value,
        Some(d) => d.section.map_or(d.value, |s| sections[s as usize].target.wrapping_add(d.value)),
        None => match (gs.external(), symbols.canonical(g)) {
            (Some(_), Some(c)) => sections[c.section as usize].target.wrapping_add(c.offset),
            (addr, _) => addr.unwrap_or(0),
        },
    }
}

/// The target address of symbol `sym` of `obj`; `values` holds every
/// global symbol's ([`global_value`]).
fn symbol_value(obj: &LoadedObject, sym: u32, sections: &[Section], values: &[u64]) -> u64 {
    match obj.symbols[sym as usize] {
        SymTarget::Absolute(v) => v,
        SymTarget::Section { section, offset, .. } => sections[section as usize].target.wrapping_add(offset),
        SymTarget::Global(g) => values[g as usize],
        SymTarget::GotBase => obj.got.map_or(0, |g| sections[g as usize].target),
        SymTarget::DsoHandle => obj.dso_handle.map_or(0, |d| sections[d as usize].target),
        SymTarget::LocalIfunc { section, offset, slot } => {
            obj.local_ifuncs[slot as usize].1.unwrap_or(sections[section as usize].target.wrapping_add(offset))
        }
        SymTarget::Tls { offset } => offset,
        SymTarget::Copy { offset, .. } => obj.copy_section.map_or(0, |c| sections[c as usize].target + offset),
    }
}

/// Why a relocation of `obj` to symbol `sym`, defined in another loaded
/// object, may not reach: one of the two objects was placed near host data
/// it reaches with 32-bit PC-relative references (writable data of a
/// library, which cannot be copied next to it), far from the other. Empty
/// when that is not the case.
fn placement_hint(oi: u32, obj: &LoadedObject, sym: u32, symbols: &SymbolTable, objects: &[LoadedObject]) -> String {
    let SymTarget::Global(g) = obj.symbols[sym as usize] else { return String::new() };
    let Some(other) = symbols.get(g).definition().map(|d| d.object).filter(|&o| o != oi) else { return String::new() };
    let placed: Vec<(String, String)> = [oi, other]
        .iter()
        .filter_map(|&o| Some((objects[o as usize].display(o), symbols.name_str(objects[o as usize].placed_near?).to_owned())))
        .collect();
    let (what, who) = match &placed[..] {
        [] => return String::new(),
        [(o, h)] => (format!("{o} was placed near `{h}`"), "it refers"),
        [(o1, h1), (o2, h2), ..] => (format!("{o1} was placed near `{h1}` and {o2} near `{h2}`"), "they refer"),
    };
    // An object is placed when it is loaded, knowing only what it and the
    // objects before it need.
    let order = match (objects[oi as usize].placed_near, objects[other as usize].placed_near) {
        (Some(_), None) if other < oi => format!(
            "; {} was loaded before, with no host data to be near, and placed elsewhere (loaded after the objects that refer \
             to host data, it would go near them)",
            objects[other as usize].display(other)
        ),
        (None, Some(_)) if oi < other => format!(
            "; {} was loaded before, with no host data to be near, and placed elsewhere (loaded after {}, it would go near it)",
            objects[oi as usize].display(oi),
            objects[other as usize].display(other)
        ),
        _ => String::new(),
    };
    format!(
        "; the two objects lie far apart: {what}, host data {who} to with 32-bit PC-relative references{order}; \
         compile with -fPIC to reach host data through the GOT"
    )
}

/// Why a 32-bit reference of `obj` to symbol `sym` may not reach: it is data
/// of the host, which rtdyld copies next to the object only when it is
/// read-only and the dynamic loader knows its size. Empty otherwise.
fn host_data_hint(obj: &LoadedObject, sym: u32, r_type: u32, symbols: &SymbolTable) -> String {
    let SymTarget::Global(g) = obj.symbols[sym as usize] else { return String::new() };
    let Some(addr) = symbols.get(g).external() else { return String::new() };
    if x86_64::field(r_type).size() != 4 || host::is_function(addr) {
        return String::new();
    }
    if let Some(near) = obj.placed_near.filter(|&n| n != g) {
        return format!(
            "; it is data of the host, out of reach: the object was placed near `{}`, other host data it refers to with \
             32-bit PC-relative references, and no place reaches both; compile with -fPIC to reach host data through the GOT",
            symbols.name_str(near)
        );
    }
    "; it is data of the host, out of reach: 32-bit references reach host data only within 2 GiB, or through a copy next to \
     the object, made for read-only data whose size the dynamic loader knows (the host's symbol must be exported, e.g. \
     linked with -rdynamic); compile with -fPIC to reach it through the GOT"
        .to_owned()
}

/// Where the stub of symbol `sym` of `obj` jumps: the symbol's address,
/// or, for a host function whose address is a stub (maybe this one), the
/// function itself.
fn stub_target(obj: &LoadedObject, sym: u32, sections: &[Section], values: &[u64], symbols: &SymbolTable) -> u64 {
    match obj.symbols[sym as usize] {
        SymTarget::Global(g) if symbols.canonical(g).is_some() && !symbols.get(g).is_defined() => symbols.get(g).external().unwrap_or(0),
        _ => symbol_value(obj, sym, sections, values),
    }
}

/// The size of symbol `sym` of `obj` (`st_size`; 0 when unknown).
fn symbol_size(obj: &LoadedObject, sym: u32, symbols: &SymbolTable) -> u64 {
    match obj.symbols[sym as usize] {
        SymTarget::Section { size, .. } | SymTarget::Copy { size, .. } => size,
        SymTarget::Global(g) => match symbols.get(g).definition() {
            Some(d) => d.size,
            // A symbol of the host: the size its library's symbol table gives.
            None => symbols.get(g).external().and_then(host::symbol_size).unwrap_or(0),
        },
        _ => 0,
    }
}

fn symbol_name(obj: &LoadedObject, sym: u32, sections: &[Section], names: &[u8], symbols: &SymbolTable) -> String {
    match obj.symbols[sym as usize] {
        SymTarget::Global(g) => format!("`{}`", symbols.name_str(g)),
        SymTarget::GotBase => "`_GLOBAL_OFFSET_TABLE_`".into(),
        SymTarget::DsoHandle => "`__dso_handle`".into(),
        SymTarget::Copy { global, .. } => format!("`{}` (copy)", symbols.name_str(global)),
        SymTarget::Tls { .. } | SymTarget::LocalIfunc { .. } => match obj.local_names.get(sym) {
            Some(n) => format!("`{n}`"),
            None => "an unnamed local symbol".into(),
        },
        SymTarget::Absolute(v) => format!("absolute {v:#x}"),
        SymTarget::Section { section, offset, .. } => match obj.local_names.get(sym) {
            Some(n) => format!("`{n}`"),
            None => format!("{}+{offset:#x}", name_in(names, sections[section as usize].name_at).to_string_lossy()),
        },
    }
}

/// What relocations need to know of each object's TLS module: its id and
/// its offset from the thread pointer (static TLS only), by object id.
/// The TLS module id and static offset of each object's block, read from
/// the objects.
struct TlsView<'a>(&'a [LoadedObject]);

impl TlsView<'_> {
    fn get(&self, object: usize) -> Option<(u64, Option<i64>)> {
        self.0.get(object)?.tls.as_ref().map(|m| (m.module_id, m.tp_offset))
    }
}

/// The TLS module id, offset in the module's block, and offset from the
/// thread pointer (if static) of thread-local symbol `sym` of `obj`.
fn tls_of(oi: u32, obj: &LoadedObject, sym: u32, symbols: &SymbolTable, tls: &TlsView<'_>) -> Result<(u64, u64, Option<i64>)> {
    let (owner, offset) = match obj.symbols.get(sym as usize) {
        Some(SymTarget::Tls { offset }) => (oi, *offset),
        Some(SymTarget::Global(g)) => match symbols.get(*g).definition() {
            Some(d) if d.is_tls => (d.object, d.value),
            Some(d) => {
                return Err(Error::new(
                    ErrorKind::MalformedObject,
                    format!(
                        "{}: a relocation for thread-local storage refers to `{}`, which obj {} defines as a variable or function that is not thread-local",
                        obj.display(oi),
                        symbols.name_str(*g),
                        d.object
                    ),
                ));
            }
            None => {
                // A thread-local variable of the host (libstdc++'s, say).
                return host::tls_symbol(symbols.cname(*g)).map(|t| (t.module, t.offset, t.tp_offset)).ok_or_else(|| {
                    // (A resolver answers with an address, which says nothing
                    // of a variable every thread has a copy of.)
                    let answered = if symbols.get(*g).external().is_some() {
                        " (the address the resolver or the process gave for the name cannot stand for a thread-local variable)"
                    } else {
                        ""
                    };
                    Error::new(
                        ErrorKind::UnresolvedSymbol,
                        format!(
                            "{}: thread-local `{}` is defined neither by a loaded object nor as a thread-local variable of the host{answered}",
                            obj.display(oi),
                            symbols.name_str(*g)
                        ),
                    )
                });
            }
        },
        _ => (oi, 0),
    };
    let Some((module, tp)) = tls.get(owner as usize) else {
        let what = match obj.local_names.get(sym) {
            Some(n) => format!("`{n}`"),
            None => format!("local symbol {sym} (unnamed)"),
        };
        return Err(Error::new(
            ErrorKind::MalformedObject,
            format!("{}: a relocation for thread-local storage refers to {what}, which is not thread-local", obj.display(oi)),
        ));
    };
    Ok((module, offset, tp.map(|t| t.wrapping_add(offset as i64))))
}

/// The object that defines thread-local symbol `sym` of `obj`, when it is
/// a loaded object's global.
fn tls_owner(obj: &LoadedObject, sym: u32, symbols: &SymbolTable) -> Option<u32> {
    match obj.symbols.get(sym as usize) {
        Some(SymTarget::Global(g)) => symbols.get(*g).definition().filter(|d| d.is_tls).map(|d| d.object),
        _ => None,
    }
}

/// Whether symbol `sym` of `obj` is a thread-local variable of the host
/// (no loaded object defines it).
fn host_tls(obj: &LoadedObject, sym: u32, symbols: &SymbolTable) -> bool {
    matches!(obj.symbols.get(sym as usize), Some(SymTarget::Global(g)) if symbols.get(*g).definition().is_none())
}

/// Why an initial- or local-exec reference of `obj` to thread-local `what`
/// cannot be applied: its block is in dynamic TLS. `owner`: the object
/// that defines it, when another one; if that object never asked for
/// static TLS (it was loaded before any object referred to its variables
/// so), the message says what to do about it.
fn static_tls_error_in(oi: u32, obj: &LoadedObject, what: &str, owner: Option<(u32, &LoadedObject)>, host: bool) -> Error {
    if host {
        // A variable of a library the process opened with dlopen (`-l`,
        // `--dylib`): the C library never moves one into static TLS.
        return Error::new(
            ErrorKind::Unsupported,
            format!(
                "{}: an initial-exec reference to thread-local {what}, which a library of the process has in dynamic TLS \
                 (a library opened with dlopen, as -l and --dylib do, never gets static TLS): compile this object with \
                 -fPIC (general-dynamic access), or load the library at start-up (link the host with it, or LD_PRELOAD it)",
                obj.display(oi)
            ),
        );
    }
    let unrequested = |o: &LoadedObject| o.tls.as_ref().is_some_and(|m| !m.static_requested);
    if let Some((o, owner)) = owner.filter(|&(o, owner)| o != oi && unrequested(owner)) {
        return Error::new(
            ErrorKind::Unsupported,
            format!(
                "{}: an initial-exec reference to thread-local {what}, which {} defines in dynamic TLS: that object was loaded \
                 before any object referred to its variables that way (load {} first, compile {} with \
                 -ftls-model=initial-exec, or this one with -fPIC)",
                obj.display(oi),
                owner.display(o),
                obj.display(oi),
                owner.display(o)
            ),
        );
    }
    // glibc puts a module in static TLS only when its alignment is at most
    // that of the static TLS block, fixed at start-up (64 bytes, unless the
    // program's own TLS asks for more): no reserve helps beyond it.
    let align = owner.map_or(obj, |o| o.1).tls.as_ref().map_or(0, |m| m.align);
    let why = if align > 64 {
        format!(
            "its module's thread-local variables are aligned to {align} bytes, more than the C library's static TLS \
             block (64 bytes unless the program's own TLS asks for more) can place: compile with -ftls-model=global-dynamic, \
             or align them to at most 64"
        )
    } else {
        "compile with -ftls-model=global-dynamic, or raise GLIBC_TUNABLES=glibc.rtld.optional_static_tls".to_owned()
    };
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{}: an initial- or local-exec reference to thread-local {what} needs static TLS, which the C library could not provide for its module ({why})",
            obj.display(oi)
        ),
    )
}

/// Whether a section is a `.init` or `.fini` fragment that gets a tail
/// (see [`load::FRAGMENT_TAIL`]): code, with contents.
fn is_fragment(name: &[u8], kind: SectionKind, data: Option<&[u8]>) -> bool {
    name.len() == 5 && kind == SectionKind::Code && data.is_some_and(|d| !d.is_empty()) && (name == b".init" || name == b".fini")
}

#[allow(clippy::too_many_arguments)]
fn apply_object(
    oi: u32,
    obj: &LoadedObject,
    symbols: &SymbolTable,
    values: &[u64],
    changed: &Changed,
    tls: &TlsView<'_>,
    w: &mut Writer<'_>,
    s_values: &mut Vec<u64>,
) -> Result<()> {
    let name_of = |sym: u32, w: &Writer<'_>| symbol_name(obj, sym, w.sections, w.names, symbols);
    if symbols.any_tls_definition() {
        check_tls_references(oi, obj, symbols, w)?;
    }
    if let Some(got) = obj.got {
        for (k, &sym) in obj.got_symbols.iter().enumerate() {
            let v = symbol_value(obj, sym, w.sections, values);
            w.write(got, k as u64 * 8, &v.to_le_bytes())?;
        }
        for &(kind, sym, at) in &obj.tls_got {
            let (module, offset, tp) = tls_of(oi, obj, sym, symbols, tls)?;
            match kind {
                x86_64::TlsGot::Index => {
                    w.write(got, at, &module.to_le_bytes())?;
                    w.write(got, at + 8, &offset.to_le_bytes())?;
                }
                x86_64::TlsGot::Module => {
                    w.write(got, at, &module.to_le_bytes())?;
                    w.write(got, at + 8, &0u64.to_le_bytes())?;
                }
                x86_64::TlsGot::TpOffset => {
                    let owner = tls_owner(obj, sym, symbols).map(|o| (o, &tls.0[o as usize]));
                    let host = host_tls(obj, sym, symbols);
                    let tp = tp.ok_or_else(|| static_tls_error_in(oi, obj, &name_of(sym, w), owner, host))?;
                    w.write(got, at, &tp.to_le_bytes())?;
                }
                x86_64::TlsGot::Desc => {
                    // The argument may point into the entry, where the code runs.
                    let at_target = w.sections[got as usize].target + at;
                    w.write(got, at, &crate::tls::descriptor(module, offset, tp, at_target))?;
                }
            }
        }
    }
    if let Some(cs) = obj.copy_section {
        for t in &obj.symbols {
            let SymTarget::Copy { global, offset, size } = *t else { continue };
            let Some(src) = symbols.get(global).external() else { continue };
            if host::read_only_object_size(src) != Some(size) {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{}: `{}` is no longer the read-only host object of {size} bytes it was when the object was loaded",
                        obj.display(oi),
                        symbols.name_str(global)
                    ),
                ));
            }
            // SAFETY: the host object is `size` readable bytes at `src`
            // (checked just above with the dynamic loader).
            let bytes = unsafe { std::slice::from_raw_parts(src as *const u8, size as usize) };
            w.write(cs, offset, bytes)?;
        }
    }
    // The TLS modules the object's local-dynamic sequences start from.
    // (With descriptors, local-dynamic code starts from the descriptor of
    // `_TLS_MODULE_BASE_`, which is in the object's own block.)
    // (With the symbol each starts from.)
    let ld_modules: Vec<(u64, u32)> = obj
        .tls_got
        .iter()
        .filter(|e| {
            e.0 == x86_64::TlsGot::Module || (e.0 == x86_64::TlsGot::Desc && matches!(obj.symbols[e.1 as usize], SymTarget::Tls { .. }))
        })
        .filter_map(|e| tls_of(oi, obj, e.1, symbols, tls).ok().map(|t| (t.0, e.1)))
        .collect();
    let got_base = obj.got.map_or(0, |g| w.sections[g as usize].target);
    let stub_base = obj.stubs.map_or(0, |s| w.sections[s as usize].target);
    // The address of each symbol the relocations refer to, worked out once.
    s_values.clear();
    s_values.extend((0..obj.symbols.len() as u32).map(|k| symbol_value(obj, k, w.sections, values)));
    // After a successful apply, only relocations whose section or symbol
    // moved can change: a re-finalize costs in proportion to those.
    let moved =
        |sections: &[Section], s: Option<u32>| s.is_some_and(|s| sections[s as usize].applied_target != Some(sections[s as usize].target));
    let m = |s: Option<u32>| moved(w.sections, s);
    let all_dirty = !obj.applied || m(obj.got) || m(obj.stubs) || m(obj.dso_handle) || m(obj.copy_section);
    let sym_dirty: Vec<bool> = if all_dirty {
        Vec::new()
    } else {
        obj.symbols
            .iter()
            .map(|t| match *t {
                SymTarget::Absolute(_) | SymTarget::GotBase | SymTarget::DsoHandle => false,
                SymTarget::Section { section, .. } => m(Some(section)),
                SymTarget::Global(g) => changed.get(g),
                // Resolver answers, TLS and host copies: always looked at.
                SymTarget::LocalIfunc { .. } | SymTarget::Tls { .. } | SymTarget::Copy { .. } => true,
            })
            .collect()
    };
    // Stubs are written only where a relocation goes through one (a call
    // or address out of reach, or R_X86_64_PLTOFF64): most calls reach
    // their function directly, and their stubs stay unwritten until a
    // remap puts it out of reach (the relocations are applied again then).
    let mut used_stubs: Vec<u32> = Vec::new();
    for g in &obj.reloc_groups {
        let p_base = w.sections[g.section as usize].target;
        let section_moved = moved(w.sections, Some(g.section));
        if section_moved {
            // Its PC-relative fields all change: open it now rather than
            // compare and hold back every write.
            w.open_now(g.section)?;
        }
        let group_dirty = all_dirty || section_moved;
        // Where fields of a section that is still writable are stored directly.
        let direct = {
            let s = &w.sections[g.section as usize];
            (!s.protected).then_some(s.local)
        };
        for r in &obj.relocs[g.start as usize..g.end as usize] {
            if !group_dirty && !sym_dirty[r.symbol as usize] {
                continue;
            }
            let s = s_values[r.symbol as usize];
            let r_type = u32::from(r.r_type);
            // The common types, when their value fits (calls and data
            // references that reach, GOT loads, absolute addresses).
            let a = r.addend(&obj.wide_addends) as u64;
            let p = p_base.wrapping_add(u64::from(r.offset));
            let quick = match r_type {
                x86_64::R_64 => Some((s.wrapping_add(a), Field::Word64)),
                x86_64::R_PC32 | x86_64::R_PLT32 => Some((s.wrapping_add(a).wrapping_sub(p), Field::Signed32)),
                x86_64::R_GOTPCREL | x86_64::R_GOTPCRELX | x86_64::R_REX_GOTPCRELX => obj
                    .got_index
                    .get(r.symbol)
                    .map(|k| (got_base.wrapping_add(u64::from(k) * 8).wrapping_add(a).wrapping_sub(p), Field::Signed32)),
                // Absolute 32-bit addresses (-fno-pic code).
                x86_64::R_32S => Some((s.wrapping_add(a), Field::Signed32)),
                x86_64::R_32 => Some((s.wrapping_add(a), Field::Unsigned32)),
                _ => None,
            };
            if let Some((v, field)) = quick.filter(|&(v, field)| field.fits(v)) {
                match direct {
                    // SAFETY: the field lies within the section (checked when
                    // the relocation was read), which is writable.
                    Some(local) => unsafe { store_field(local.add(r.offset as usize), v, field.size()) },
                    None => w.write_field(g.section, u64::from(r.offset), v, field.size())?,
                }
                continue;
            }
            let slot = obj.got_index.get(r.symbol).map_or(0, |k| got_base + u64::from(k) * 8);
            let stub_k = obj.stub_index.get(r.symbol);
            let stub = stub_k.map(|k| stub_base + u64::from(k) * x86_64::STUB_SIZE as u64);
            let (mut tls_module, mut dtp_offset, mut tp_offset, mut slot) = (0, 0, 0, slot);
            if matches!(r_type, 16..=23 | x86_64::R_GOTPC32_TLSDESC) {
                let (m, off, tp) = tls_of(oi, obj, r.symbol, symbols, tls).map_err(|e| {
                    let at = format!(
                        " (at {}+{:#x}, {})",
                        name_in(w.names, w.sections[g.section as usize].name_at).to_string_lossy(),
                        r.offset,
                        x86_64::type_name(r_type)
                    );
                    Error::new(e.kind(), e.message().to_owned() + &at)
                })?;
                (tls_module, dtp_offset) = (m, off);
                if matches!(r_type, x86_64::R_TPOFF32 | x86_64::R_TPOFF64) {
                    let owner = tls_owner(obj, r.symbol, symbols).map(|o| (o, &tls.0[o as usize]));
                    let host = host_tls(obj, r.symbol, symbols);
                    tp_offset = tp.ok_or_else(|| static_tls_error_in(oi, obj, &name_of(r.symbol, w), owner, host))? as u64;
                }
                let kind = match r_type {
                    x86_64::R_TLSGD => Some(x86_64::TlsGot::Index),
                    x86_64::R_TLSLD => Some(x86_64::TlsGot::Module),
                    x86_64::R_GOTTPOFF => Some(x86_64::TlsGot::TpOffset),
                    x86_64::R_GOTPC32_TLSDESC => Some(x86_64::TlsGot::Desc),
                    _ => None,
                };
                if let Some(kind) = kind {
                    if let Some(&(_, _, at)) = obj.tls_got.iter().find(|e| e.0 == kind && e.1 == r.symbol) {
                        slot = got_base + at;
                    }
                }
                // Local-dynamic code adds DTPOFF to the block of the module
                // its TLSLD named; each loaded object is a module of its own.
                // Which TLSLD a DTPOFF goes with is not recorded: when the
                // object's TLSLDs name more than one module (one a variable
                // of another object), none can be trusted.
                if let Some(&(_, start)) =
                    ld_modules.iter().find(|x| x.0 != m).filter(|_| matches!(r_type, x86_64::R_DTPOFF32 | x86_64::R_DTPOFF64))
                {
                    let from = |sym: u32| match tls_owner(obj, sym, symbols) {
                        Some(o) if o != oi => format!("obj {o}"),
                        _ => "this object".to_string(),
                    };
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "{}: local-dynamic TLS mixes the variables of two objects: the access to {} (defined in {}) goes with a \
                             sequence that may start from {} (defined in {}); rtdyld gives each object its own TLS module, so \
                             local-dynamic code reaches only its own object's variables (compile with -ftls-model=global-dynamic, \
                             or leave variables of other objects out of -ftls-model=local-dynamic)",
                            obj.display(oi),
                            name_of(r.symbol, w),
                            from(r.symbol),
                            name_of(start, w),
                            from(start)
                        ),
                    ));
                }
            }
            let mut inputs = x86_64::Inputs {
                s,
                a: r.addend(&obj.wide_addends),
                p: p_base.wrapping_add(u64::from(r.offset)),
                z: if matches!(r_type, x86_64::R_SIZE32 | x86_64::R_SIZE64) { symbol_size(obj, r.symbol, symbols) } else { 0 },
                got: got_base,
                slot,
                l: stub.unwrap_or(s),
                tls_module,
                dtp_offset,
                tp_offset,
            };
            let (mut value, field) = x86_64::compute(r_type, &inputs);
            if r_type == x86_64::R_PLTOFF64 {
                used_stubs.extend(stub_k);
            }
            let stub_ok = r.is_branch() || (r.flags & Reloc::ADDRESS_STUB != 0 && symbol_is_function(obj, r.symbol, symbols));
            if stub_ok && !field.fits(value) {
                if let Some(stub) = stub {
                    inputs.s = stub;
                    value = x86_64::compute(r_type, &inputs).0;
                    used_stubs.extend(stub_k);
                }
            }
            if !field.fits(value) {
                return Err(Error::new(
                    ErrorKind::RelocationOverflow,
                    format!(
                        "{} {}+{:#x}: {} to {} overflows: value {:#x} (target {:#x}{}{}, place {:#x}) does not fit in a {}",
                        obj.display(oi),
                        name_in(w.names, w.sections[g.section as usize].name_at).to_string_lossy(),
                        r.offset,
                        x86_64::type_name(r_type),
                        name_of(r.symbol, w),
                        value,
                        s,
                        match inputs.a {
                            0 => String::new(),
                            a if a < 0 => format!(", addend -{:#x}", a.unsigned_abs()),
                            a => format!(", addend {a:#x}"),
                        },
                        // (What a GOT-relative field reaches is the slot.)
                        if matches!(r_type, x86_64::R_GOTPCREL | x86_64::R_GOTPCRELX | x86_64::R_REX_GOTPCRELX | x86_64::R_GOT32) {
                            format!(", its GOT slot {:#x}", inputs.slot)
                        } else {
                            String::new()
                        },
                        inputs.p,
                        field.describe()
                    ) + &placement_hint(oi, obj, r.symbol, symbols, tls.0)
                        + &host_data_hint(obj, r.symbol, r_type, symbols),
                ));
            }
            w.write_field(g.section, u64::from(r.offset), value, field.size())?;
        }
    }
    if let Some(stubs) = obj.stubs {
        // The stubs that stand for host functions are always written.
        for &g in &obj.canonical_for {
            if let Some(c) = symbols.canonical(g).filter(|c| c.object == oi) {
                used_stubs.push((c.offset / x86_64::STUB_SIZE as u64) as u32);
            }
        }
        used_stubs.sort_unstable();
        used_stubs.dedup();
        for &k in &used_stubs {
            let v = stub_target(obj, obj.stub_symbols[k as usize], w.sections, values, symbols);
            w.write(stubs, u64::from(k) * x86_64::STUB_SIZE as u64, &x86_64::stub_bytes(v))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_linkers_section_list_serves_the_next_linker_until_released() {
        // (No other unit test of this binary makes a linker; the memory
        // manager's tests release what is kept, one at a time with this.)
        let _g = crate::memory::default::tests::lock();
        let mut l = Linker::new();
        for _ in 0..3 {
            l.sections.push(Section {
                name_at: 0,
                object: 0,
                kind: SectionKind::Code,
                local: ptr::null_mut(),
                target: 0,
                size: 0,
                protected: false,
                held: false,
                applied_target: None,
                removed: true,
                tls_template: false,
                align_log2: 0,
            });
        }
        let cap = l.sections.capacity();
        drop(l);
        let next = Linker::new();
        assert!(next.sections.is_empty());
        assert_eq!(next.sections.capacity(), cap);
        drop(next);
        release_spare_sections();
        assert_eq!(Linker::new().sections.capacity(), 0);
    }
}
