//! Reading an ELF x86-64 relocatable object: every check that can fail is
//! done here, before any memory is allocated or any symbol is published, so
//! that a bad object leaves the linker exactly as it was.

use crate::error::{Error, Result};
use crate::memory::SectionKind;
use crate::reloc::{x86_64, Reloc};
use crate::symbols::Strength;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{LittleEndian, SectionIndex, SymbolIndex};
use std::borrow::Cow;

/// An allocatable section of the object.
#[derive(Debug)]
pub struct ParsedSection<'a> {
    /// Index in the object's section table.
    pub elf_index: usize,
    pub name: &'a [u8],
    pub kind: SectionKind,
    pub size: u64,
    pub align: u64,
    /// The bytes to copy; `None` for `SHT_NOBITS`.
    pub data: Option<&'a [u8]>,
    /// A `.tdata`/`.tbss` section: part of the object's TLS template, not
    /// allocated through the memory manager.
    pub tls: bool,
    /// A large-model section (`SHF_X86_64_LARGE`: `.ldata`, `.lbss`,
    /// `.lrodata` of -mcmodel=medium), reached only with 64-bit offsets.
    pub large: bool,
    /// A member of a COMDAT group this object brings (inline functions,
    /// templates, vtables: objects loaded later use this copy).
    pub comdat: bool,
}

impl ParsedSection<'_> {
    /// The name for messages and for memory managers.
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(self.name).unwrap_or("<non-UTF-8 name>")
    }
}

/// What a symbol of an object stands for. [`parse`] fills `section` fields
/// with indices into [`ParsedObject::sections`] and `Global` with indices
/// into [`ParsedObject::globals`]; the linker then turns them, in place,
/// into section ids and ids of its symbol table. Kept for every symbol of
/// a loaded object, so it is small (24 bytes).
#[derive(Debug, Clone, Copy)]
pub enum SymTarget {
    /// The null symbol, file symbols, absolute locals and symbols of
    /// sections that are not loaded.
    Absolute(u64),
    Section {
        section: u32,
        offset: u64,
        size: u64,
    },
    Global(u32),
    /// `_GLOBAL_OFFSET_TABLE_`: the object's own GOT.
    GotBase,
    /// `__dso_handle`: the object's own handle.
    DsoHandle,
    /// A local IFUNC symbol: its resolver, and its slot in the object's
    /// table of local IFUNC answers (set by the linker).
    LocalIfunc {
        section: u32,
        offset: u64,
        slot: u32,
    },
    /// A local thread-local symbol: its offset in the object's TLS block
    /// (set by the linker, which lays the block out).
    Tls {
        offset: u64,
    },
    /// Read-only host data referred to through the object's own copy, at
    /// `offset` in its copy section (set by the linker).
    Copy {
        global: u32,
        offset: u64,
        size: u64,
    },
}

const _: () = assert!(std::mem::size_of::<SymTarget>() == 24);

/// Where a global symbol of the object is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalPlace {
    /// Not defined here (or in a section that is not loaded, such as debug
    /// information, which loaded code cannot refer to).
    Undefined,
    /// In allocated section `section` (an index into `ParsedObject::sections`).
    Section {
        section: u32,
        value: u64,
    },
    Absolute(u64),
    /// A `COMMON` symbol: storage laid out by the linker.
    Common {
        size: u64,
        align: u64,
    },
}

/// A global or weak symbol of the object, as [`ParsedObject::global`]
/// decodes it. Of a symbol the object does not define, only `place`,
/// `strength` and `weak` are read.
#[derive(Debug, Clone, Copy)]
pub struct ParsedGlobal {
    pub place: GlobalPlace,
    pub strength: Strength,
    pub size: u64,
    pub is_function: bool,
    pub weak: bool,
    pub ifunc: bool,
    /// A definition in a section not loaded: in a COMDAT group discarded
    /// for another object's copy, which it then refers to.
    pub discarded: bool,
}

/// A constructor or destructor table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// `.preinit_array`: run first to last, before every other constructor.
    PreinitArray,
    /// `.init_array[.N]`: run first to last.
    InitArray,
    /// `.ctors[.N]`: run last to first.
    Ctors,
    /// `.fini_array[.N]`: run last to first.
    FiniArray,
    /// `.dtors[.N]`: run first to last.
    Dtors,
    /// `.init`: code, not a table. A static link concatenates the objects'
    /// `.init` fragments (each typically one `call`) between the C
    /// library's `_init` prologue and epilogue; they run after
    /// `.preinit_array` and before every other constructor. rtdyld
    /// appends an epilogue and an entry to each (see [`FRAGMENT_TAIL`]).
    InitFragment,
    /// `.fini`: the same for `_fini`, which runs after every destructor.
    FiniFragment,
}

/// Bytes appended to a `.init` or `.fini` fragment to make it a function:
/// an epilogue it falls through to (`add $8, %rsp; ret`), then the entry
/// (`sub $8, %rsp; jmp <fragment>`), which keeps the stack aligned for the
/// fragment's calls as `_init`'s prologue does. Everything is relative to
/// the section, so it survives a remap.
pub const FRAGMENT_TAIL: usize = 14;

/// The tail of a fragment of `len` bytes (see [`FRAGMENT_TAIL`]); its
/// entry is at `len + 5`.
pub fn fragment_tail(len: usize) -> [u8; FRAGMENT_TAIL] {
    let mut t = [0x48, 0x83, 0xc4, 0x08, 0xc3, 0x48, 0x83, 0xec, 0x08, 0xe9, 0, 0, 0, 0];
    // From the end of the `jmp` back to the fragment's start.
    let back = -((len + FRAGMENT_TAIL) as i64) as i32;
    t[10..].copy_from_slice(&back.to_le_bytes());
    t
}

impl TableKind {
    pub fn is_init(self) -> bool {
        matches!(self, TableKind::PreinitArray | TableKind::InitArray | TableKind::Ctors | TableKind::InitFragment)
    }

    /// A code fragment (`.init`, `.fini`), not a table of pointers.
    pub fn is_fragment(self) -> bool {
        matches!(self, TableKind::InitFragment | TableKind::FiniFragment)
    }

    /// The table kind and priority (lower runs first for constructors,
    /// last for destructors) of a section name.
    pub fn of(name: &[u8]) -> Option<(TableKind, u32)> {
        const DEFAULT: u32 = 65535;
        // Most sections are no table: reject them by their second byte.
        if !matches!(name.get(1), Some(b'i' | b'f' | b'c' | b'd' | b'p')) {
            return None;
        }
        match name {
            b".preinit_array" => return Some((TableKind::PreinitArray, DEFAULT)),
            b".init" => return Some((TableKind::InitFragment, DEFAULT)),
            b".fini" => return Some((TableKind::FiniFragment, DEFAULT)),
            _ => {}
        }
        for (prefix, kind, inverted) in [
            (&b".init_array"[..], TableKind::InitArray, false),
            (b".fini_array", TableKind::FiniArray, false),
            (b".ctors", TableKind::Ctors, true),
            (b".dtors", TableKind::Dtors, true),
        ] {
            if let Some(rest) = name.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Some((kind, DEFAULT));
                }
                let n: u32 = std::str::from_utf8(rest.strip_prefix(b".")?).ok()?.parse().ok()?;
                // `.ctors.N` and `.dtors.N` number priorities backwards.
                return Some((kind, if inverted { DEFAULT.saturating_sub(n) } else { n }));
            }
        }
        None
    }
}

/// Where a global symbol of the object is: its entry in the symbol table,
/// its name in the string table, and its index in
/// [`ParsedObject::symbols`] (u32::MAX when no relocation refers to it).
/// Everything else about it is decoded again when needed
/// ([`ParsedObject::global`]), so that an object with hundreds of thousands
/// of globals costs 20 bytes for each while it loads.
#[derive(Debug, Clone, Copy)]
pub struct GlobalRef {
    /// The ELF symbol index, and `UNDEFINED` when not defined here.
    sym: u32,
    pub compact: u32,
    name_at: u32,
    name_len: u32,
    /// The slot in `ParsedObject::sections` of its section, when it is
    /// defined in one (u32::MAX otherwise).
    section: u32,
}

impl GlobalRef {
    const UNDEFINED: u32 = 1 << 31;
    /// The plain `name` that a definition of `name@@VERSION` (the default
    /// version, as `.symver` makes it) also defines, as a static link does.
    /// Relocations refer to the versioned entry, never to this one.
    const ALIAS: u32 = 1 << 30;

    /// Whether the symbol is not defined in the object.
    pub fn undefined(&self) -> bool {
        self.sym & Self::UNDEFINED != 0
    }

    /// Whether the symbol is defined in one of the object's allocated
    /// sections (its place is then [`GlobalPlace::Section`]).
    pub fn in_section(&self) -> bool {
        self.section != u32::MAX
    }

    /// The ELF symbol index.
    fn index(&self) -> usize {
        (self.sym & !(Self::UNDEFINED | Self::ALIAS)) as usize
    }
}

/// The relocations of one allocated section: `start..end` of
/// [`ParsedObject::relocs`].
#[derive(Debug)]
pub struct ParsedRelocs {
    pub section: usize,
    pub start: u32,
    pub end: u32,
}

/// Names of an object's local symbols, kept after the object's bytes are
/// gone: those its relocations refer to (for messages), or all named ones
/// when asked (for perf maps). One buffer, searched by symbol index.
#[derive(Debug, Default)]
pub struct LocalNames {
    /// (symbol index, end of its name in `text`), by symbol index.
    index: Vec<(u32, u32)>,
    text: Vec<u8>,
}

impl LocalNames {
    /// The name of symbol `sym` (invalid UTF-8 replaced), if kept.
    pub fn get(&self, sym: u32) -> Option<Cow<'_, str>> {
        let k = self.index.binary_search_by_key(&sym, |e| e.0).ok()?;
        let start = if k == 0 { 0 } else { self.index[k - 1].1 as usize };
        Some(String::from_utf8_lossy(&self.text[start..self.index[k].1 as usize]))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, Cow<'_, str>)> {
        self.index.iter().scan(0usize, |start, &(sym, end)| {
            let s = String::from_utf8_lossy(&self.text[*start..end as usize]);
            *start = end as usize;
            Some((sym, s))
        })
    }

    fn push(&mut self, sym: u32, name: &[u8]) {
        self.text.extend_from_slice(name);
        self.index.push((sym, self.text.len() as u32));
    }
}

/// Buffers that [`parse`] borrows and the linker keeps between loads (see
/// [`Scratch::give_back`]), so that loading many objects does not allocate
/// them anew for each. Only small ones are kept.
#[derive(Debug, Default)]
pub struct Scratch {
    section_slot: Vec<u32>,
    compact_of: Vec<u32>,
    globals: Vec<GlobalRef>,
    sym_bits: Vec<u16>,
    referenced_locals: Vec<u32>,
    reloc_groups: Vec<ParsedRelocs>,
    /// The compact symbols as the relocation pass finds them (the object
    /// keeps an exact copy).
    symbols: Vec<SymTarget>,
    /// The allocation of an object's section list (empty between loads:
    /// its items borrow the object's bytes; see [`recycle`]).
    sections: Vec<ParsedSection<'static>>,
    /// For the linker: the symbol-table ids of an object's globals.
    pub ids: Vec<u32>,
}

impl Scratch {
    /// Buffers larger than this are dropped rather than kept.
    const KEEP: usize = 256 << 10;

    fn keep<T>(slot: &mut Vec<T>, mut v: Vec<T>) {
        if v.capacity() * std::mem::size_of::<T>() <= Self::KEEP {
            v.clear();
            *slot = v;
        }
    }

    /// Takes back the buffers of a parsed object the linker is done with.
    pub fn give_back(
        &mut self,
        sections: Vec<ParsedSection<'_>>,
        section_slot: Vec<u32>,
        globals: Vec<GlobalRef>,
        reloc_groups: Vec<ParsedRelocs>,
        ids: Vec<u32>,
    ) {
        Self::keep(&mut self.sections, recycle(sections));
        Self::keep(&mut self.section_slot, section_slot);
        Self::keep(&mut self.globals, globals);
        Self::keep(&mut self.reloc_groups, reloc_groups);
        Self::keep(&mut self.ids, ids);
    }
}

/// The slot (GOT entry or stub) of each compact symbol that has one.
#[derive(Debug, Default)]
pub enum SlotIndex {
    /// No symbol has a slot.
    #[default]
    Empty,
    /// The slot of every compact symbol (u32::MAX = none), when many have one.
    Dense(Vec<u32>),
    /// (symbol, slot) pairs sorted by symbol, when few symbols of many have
    /// one (a large object calling a handful of library functions).
    Sparse(Vec<(u32, u32)>),
}

impl SlotIndex {
    /// The index of `list`, the symbols with slots in slot order, among
    /// `symbol_count` symbols.
    fn new(list: &[u32], symbol_count: usize) -> SlotIndex {
        if list.is_empty() {
            SlotIndex::Empty
        } else if list.len().saturating_mul(16) < symbol_count {
            let mut pairs: Vec<(u32, u32)> = list.iter().enumerate().map(|(k, &c)| (c, k as u32)).collect();
            pairs.sort_unstable();
            SlotIndex::Sparse(pairs)
        } else {
            let mut v = vec![u32::MAX; symbol_count];
            for (k, &c) in list.iter().enumerate() {
                v[c as usize] = k as u32;
            }
            SlotIndex::Dense(v)
        }
    }

    /// The slot of compact symbol `sym`.
    #[inline]
    pub fn get(&self, sym: u32) -> Option<u32> {
        match self {
            SlotIndex::Empty => None,
            SlotIndex::Dense(v) => v.get(sym as usize).copied().filter(|&k| k != u32::MAX),
            SlotIndex::Sparse(pairs) => pairs.binary_search_by_key(&sym, |p| p.0).ok().map(|i| pairs[i].1),
        }
    }
}

/// A vector from `slot`, cleared.
fn reuse<T>(slot: &mut Vec<T>) -> Vec<T> {
    let mut v = std::mem::take(slot);
    v.clear();
    v
}

/// `v`, emptied, as a vector of `U`: a type of the same size and alignment
/// (the same type with other lifetimes) keeps the allocation, so that a
/// buffer of borrowed items can be kept between uses. (Collecting in place
/// is how `std` handles this; no item is ever mapped.)
pub fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the vector was emptied")).collect()
}

/// Everything the linker needs from one object, validated.
#[derive(Debug)]
pub struct ParsedObject<'a> {
    pub sections: Vec<ParsedSection<'a>>,
    /// The symbols that relocations refer to (and, with `all_local_names`,
    /// the named local ones), in order of first reference. Relocations,
    /// GOT and stub lists and local names use indices into this list, not
    /// ELF symbol indices, so that symbols nobody refers to cost nothing
    /// after the load.
    pub symbols: Vec<SymTarget>,
    pub globals: Vec<GlobalRef>,
    symtab: object::read::elf::SymbolTable<'a, elf::FileHeader64<LittleEndian>>,
    /// The string table the global names are in.
    strings: &'a [u8],
    /// The slot in `sections` of each ELF section (u32::MAX = not loaded).
    pub section_slot: Vec<u32>,
    pub local_names: LocalNames,
    /// All relocations of the object, section after section (one vector,
    /// so that an object costs one allocation for them).
    pub relocs: Vec<Reloc>,
    pub reloc_groups: Vec<ParsedRelocs>,
    pub wide_addends: Vec<i64>,
    /// Symbols that need a GOT slot, in slot order, and the slot of each.
    pub got_symbols: Vec<u32>,
    pub got_index: SlotIndex,
    /// Symbols that need a stub, in stub order, and the stub of each.
    pub stub_symbols: Vec<u32>,
    pub stub_index: SlotIndex,
    /// Undefined symbols whose address a 32-bit absolute relocation takes
    /// (`-fno-pic` code): when one is a host function, its stub may become
    /// the address that stands for it everywhere (see the linker).
    pub address_stub_symbols: Vec<u32>,
    /// TLS GOT entries, placed after the address slots, in order.
    pub tls_got: Vec<(x86_64::TlsGot, u32)>,
    /// The object uses initial- or local-exec TLS references.
    pub static_tls: bool,
    /// The object uses TLS descriptors (`-mtls-dialect=gnu2`).
    pub tls_descriptors: bool,
    pub needs_got: bool,
    /// Signatures of the COMDAT groups this object brings (not discarded).
    pub comdat_signatures: Vec<&'a [u8]>,
    /// Per ELF section: in a COMDAT group discarded for another object's
    /// copy (empty when none is).
    pub comdat_discarded: Vec<bool>,
    /// The object refers to `__dso_handle`.
    pub needs_dso_handle: bool,
    pub wants_low_memory: bool,
    /// Undefined symbols referred to by 32-bit PC-relative data references.
    pub near_symbols: Vec<u32>,
    /// Undefined symbols referred to by any 32-bit data reference.
    pub low_data_refs: Vec<u32>,
    /// Fields to hold 0 (section slot, offset, size): references to
    /// sections not loaded (see `RelocPass::zeroed`).
    pub zeroed: Vec<(u32, u32, u8)>,
}

impl<'a> ParsedObject<'a> {
    /// The name of global `k`.
    pub fn global_name(&self, k: usize) -> &'a [u8] {
        let g = &self.globals[k];
        self.strings.get(g.name_at as usize..g.name_at as usize + g.name_len as usize).unwrap_or_default()
    }

    /// Global `k`, decoded from its symbol-table entry (which [`parse`]
    /// validated).
    #[inline]
    pub fn global(&self, k: usize) -> ParsedGlobal {
        let r = &self.globals[k];
        if r.undefined() {
            // A reference: only its binding matters. A definition in a
            // COMDAT group discarded for another object's copy stands for
            // that copy (a strong reference: should the copy go, not 0); one
            // in a section not loaded for another reason (coverage records,
            // debug information) binds like a weak reference, to 0 when
            // nothing else defines the name.
            let sym = self.symtab.symbols().get(r.index());
            let defined_here = sym.is_some_and(|s| s.st_shndx(LittleEndian) != elf::SHN_UNDEF);
            // (Looked up only for such definitions, in objects with discarded groups.)
            let discarded = defined_here
                && !self.comdat_discarded.is_empty()
                && sym.is_some_and(|s| {
                    matches!(self.symtab.symbol_section(LittleEndian, s, SymbolIndex(r.index())),
                        Ok(Some(i)) if self.comdat_discarded.get(i.0) == Some(&true))
                });
            let weak = (sym.is_some_and(|s| s.st_bind() == elf::STB_WEAK) || defined_here) && !discarded;
            return ParsedGlobal {
                place: GlobalPlace::Undefined,
                strength: if weak { Strength::Weak } else { Strength::Strong },
                size: 0,
                is_function: false,
                weak,
                ifunc: false,
                discarded,
            };
        }
        let index = SymbolIndex(r.index());
        let place = self.symtab.symbols().get(index.0).and_then(|sym| {
            let place = if r.section != u32::MAX {
                // Where parse found (and checked) it.
                GlobalPlace::Section { section: r.section, value: sym.st_value(LittleEndian) }
            } else {
                match quick_place(sym, &self.section_slot, &self.sections) {
                    Some(place) => place,
                    None => global_place(&self.symtab, sym, index, &self.section_slot, &self.sections).ok()?,
                }
            };
            Some(describe_global(sym, place))
        });
        place.unwrap_or(ParsedGlobal {
            place: GlobalPlace::Undefined,
            strength: Strength::Strong,
            size: 0,
            is_function: false,
            weak: false,
            ifunc: false,
            discarded: false,
        })
    }

    /// The global that symbol `sym` is, if it is one.
    pub fn global_of(&self, sym: u32) -> Option<usize> {
        match self.symbols.get(sym as usize) {
            Some(&SymTarget::Global(k)) => Some(k as usize),
            _ => None,
        }
    }
}

fn kind_of(flags: u64, sh_type: u32) -> SectionKind {
    if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
        SectionKind::Code
    } else if flags & u64::from(elf::SHF_WRITE) != 0 {
        if sh_type == elf::SHT_NOBITS {
            SectionKind::ZeroFill
        } else {
            SectionKind::ReadWriteData
        }
    } else {
        SectionKind::ReadOnlyData
    }
}

/// What a compact symbol is (set at its first reference)...
const SYM_UNDEFINED: u16 = 1;
/// ...an absolute symbol, the GOT base or `__dso_handle`: never stubbed...
const SYM_NO_STUB: u16 = 2;
/// ...an absolute symbol...
const SYM_ABSOLUTE: u16 = 4;
/// ...a local symbol of a loaded section (`SymTarget::Section`/`LocalIfunc`).
const SYM_LOCAL: u16 = 8;
/// ...and what the relocation pass found: its address is taken by a 32-bit
/// absolute relocation...
const ADDRESS_TAKEN: u16 = 1 << 4;
/// ...and what the relocation pass gave it.
const LOW_DATA_REF: u16 = 1 << 8;
const NEAR_SYMBOL: u16 = 1 << 9;
const TLS_INDEX: u16 = 1 << 10;
const TLS_MODULE: u16 = 1 << 11;
const TLS_TP_OFFSET: u16 = 1 << 12;
const HAS_GOT_SLOT: u16 = 1 << 13;
const HAS_STUB: u16 = 1 << 14;
const TLS_DESC: u16 = 1 << 15;

/// Compact relocation sections (LLVM 19's `--crel`).
const SHT_CREL: u32 = 0x4000_0014;

/// `section_slot` of an empty allocatable section, not loaded unless a
/// global symbol lies in it (`u32::MAX`: a section not loaded).
const EMPTY_SECTION: u32 = u32::MAX - 1;

/// `compact_of` entries of symbols not referred to yet: a local, the GOT
/// base, `__dso_handle`, the start of the object's own TLS block, a
/// section's start or end, or `UNREF_GLOBAL | k` for global `k`. Compact
/// indices stay below `UNREF`.
const UNREF: u32 = 1 << 31;
const UNREF_GLOBAL: u32 = UNREF;
const UNREF_LOCAL: u32 = u32::MAX;
const UNREF_GOT_BASE: u32 = u32::MAX - 1;
const UNREF_DSO_HANDLE: u32 = u32::MAX - 2;
const UNREF_TLS_MODULE_BASE: u32 = u32::MAX - 3;
/// `__start_X` or `__stop_X` of the object's section `X`: see
/// [`section_bound`].
const UNREF_SECTION_BOUND: u32 = u32::MAX - 4;
/// A local symbol of a section that is not loaded (see
/// `RelocPass::zeroed`): never given a compact index.
const UNREF_DISCARDED: u32 = u32::MAX - 5;
/// More symbols than this cannot be numbered in 30 bits (see
/// [`GlobalRef`]'s flags).
const MAX_SYMBOLS: usize = 1 << 30;

/// What a relocation type needs, as bits: its class is worked out once
/// per type per object ([`classify`]).
const T_KNOWN: u16 = 1;
/// `R_X86_64_NONE`.
const T_SKIP: u16 = 1 << 1;
/// A stub when the symbol may be out of reach (PLT32, PLTOFF64).
const T_STUB: u16 = 1 << 2;
/// PC32: a stub too when it is the displacement of a call or jump.
const T_PC32: u16 = 1 << 3;
/// A 32-bit absolute address (32, 32S).
const T_ADDR32: u16 = 1 << 4;
const T_GOT_SLOT: u16 = 1 << 5;
/// The object needs a GOT (a slot, the GOT base or a TLS entry).
const T_NEEDS_GOT: u16 = 1 << 6;
const T_LOW_MEMORY: u16 = 1 << 7;
const T_NEAR: u16 = 1 << 8;
/// Initial- or local-exec TLS.
const T_STATIC_TLS: u16 = 1 << 9;
/// TLS descriptors: they work in dynamic TLS, and take static TLS (one
/// load) where it serves.
const T_TLS_DESC: u16 = 1 << 13;
/// A TLS GOT entry, of the kind in the two bits at `T_TLS_KIND_SHIFT`.
const T_TLS_GOT: u16 = 1 << 10;
const T_TLS_KIND_SHIFT: u16 = 11;
/// log2 of the field size, in the two top bits.
const T_SIZE_SHIFT: u16 = 14;
/// Types whose symbol needs a look (anything but plain data and code references).
const T_SPECIAL: u16 = T_STUB | T_PC32 | T_ADDR32 | T_GOT_SLOT | T_LOW_MEMORY | T_NEAR | T_TLS_GOT;

/// The class bits of a relocation type, or why it is not supported.
fn classify(r_type: u32) -> std::result::Result<u16, &'static str> {
    let needs = x86_64::needs(r_type)?;
    let size = x86_64::field(r_type).size() as u16;
    let mut t = T_KNOWN | (size.trailing_zeros() as u16) << T_SIZE_SHIFT;
    let bit = |on: bool, b: u16| if on { b } else { 0 };
    t |= bit(r_type == x86_64::R_NONE || r_type == x86_64::R_TLSDESC_CALL, T_SKIP);
    t |= bit(needs.stub, T_STUB);
    t |= bit(r_type == x86_64::R_PC32, T_PC32);
    t |= bit(r_type == x86_64::R_32 || r_type == x86_64::R_32S, T_ADDR32);
    t |= bit(needs.got_slot, T_GOT_SLOT);
    t |= bit(needs.got_slot || needs.got_base || needs.tls_got.is_some(), T_NEEDS_GOT);
    t |= bit(needs.low_memory, T_LOW_MEMORY);
    t |= bit(needs.near_symbol, T_NEAR);
    // (Descriptors work in dynamic TLS too, but static TLS makes them one load.)
    t |= bit(matches!(r_type, x86_64::R_GOTTPOFF | x86_64::R_TPOFF32 | x86_64::R_TPOFF64), T_STATIC_TLS);
    t |= bit(r_type == x86_64::R_GOTPC32_TLSDESC, T_TLS_DESC);
    if let Some(kind) = needs.tls_got {
        let k = match kind {
            x86_64::TlsGot::Index => 0,
            x86_64::TlsGot::Module => 1,
            x86_64::TlsGot::TpOffset => 2,
            x86_64::TlsGot::Desc => 3,
        };
        t |= T_TLS_GOT | k << T_TLS_KIND_SHIFT;
    }
    Ok(t)
}

/// What decoding a symbol at its first reference needs.
struct SymbolRefs<'o, 'a> {
    elf_syms: &'a [elf::Sym64<LittleEndian>],
    symtab: &'o ElfSymbols<'a>,
    section_slot: &'o [u32],
    sections: &'o [ParsedSection<'a>],
    globals: &'o [GlobalRef],
    /// ELF index and target of each `__start_X`/`__stop_X` symbol.
    section_bounds: &'o [(u32, SymTarget)],
}

/// Why a symbol could not be decoded at its first reference.
enum RefFault {
    /// Its entry is invalid.
    Bad(String),
    /// It lies in the empty section of this ELF index, which must be
    /// loaded first.
    EmptySection(usize),
    /// It is local to a section that is not loaded.
    Discarded,
}

impl SymbolRefs<'_, '_> {
    /// The target and SYM_* bits of symbol `sym`, whose `compact_of` entry
    /// is `code` (one of the UNREF_* values).
    #[inline]
    fn first_reference(&self, code: u32, sym: usize) -> std::result::Result<(SymTarget, u16), RefFault> {
        Ok(match code {
            UNREF_GOT_BASE => (SymTarget::GotBase, SYM_NO_STUB),
            UNREF_DSO_HANDLE => (SymTarget::DsoHandle, SYM_NO_STUB),
            UNREF_TLS_MODULE_BASE => (SymTarget::Tls { offset: 0 }, SYM_NO_STUB),
            UNREF_SECTION_BOUND => {
                // (Listed when its code was given.)
                let target = self.section_bounds.iter().find(|b| b.0 as usize == sym).map_or(SymTarget::Absolute(0), |b| b.1);
                (target, SYM_LOCAL)
            }
            UNREF_LOCAL if sym == 0 => (SymTarget::Absolute(0), SYM_NO_STUB | SYM_ABSOLUTE),
            UNREF_LOCAL => {
                let s = &self.elf_syms[sym];
                let bind = s.st_bind();
                if !matches!(bind, elf::STB_LOCAL | elf::STB_GLOBAL | elf::STB_WEAK | elf::STB_GNU_UNIQUE) {
                    return Err(RefFault::Bad(format!("symbol {sym}: binding {bind} is none of LOCAL, GLOBAL, WEAK and GNU_UNIQUE")));
                }
                let place = match quick_place(s, self.section_slot, self.sections) {
                    Some(place) => place,
                    None => {
                        // (A static function gcc left empty, as one whose
                        // body is `__builtin_unreachable()`, may still have
                        // its address taken.)
                        let k = usize::from(s.st_shndx(LittleEndian));
                        if self.section_slot.get(k) == Some(&EMPTY_SECTION) {
                            return Err(RefFault::EmptySection(k));
                        }
                        global_place(self.symtab, s, SymbolIndex(sym), self.section_slot, self.sections).map_err(RefFault::Bad)?
                    }
                };
                match place {
                    GlobalPlace::Section { section, value } if s.st_type() == elf::STT_GNU_IFUNC => {
                        (SymTarget::LocalIfunc { section, offset: value, slot: 0 }, SYM_LOCAL)
                    }
                    GlobalPlace::Section { section, value } => {
                        (SymTarget::Section { section, offset: value, size: s.st_size(LittleEndian) }, SYM_LOCAL)
                    }
                    GlobalPlace::Absolute(v) => (SymTarget::Absolute(v), SYM_NO_STUB | SYM_ABSOLUTE),
                    GlobalPlace::Undefined if s.st_shndx(LittleEndian) == elf::SHN_UNDEF => {
                        return Err(RefFault::Bad(format!(
                            "symbol {sym} is undefined but local (an undefined symbol must be global or weak)"
                        )));
                    }
                    // In a section not loaded: debug information, or a
                    // discarded COMDAT group's, as .eh_frame refers to.
                    _ => return Err(RefFault::Discarded),
                }
            }
            _ => {
                let k = code & !UNREF;
                let undefined = self.globals[k as usize].undefined();
                (SymTarget::Global(k), if undefined { SYM_UNDEFINED } else { 0 })
            }
        })
    }
}

/// Why the relocation pass stopped, and where: (index, offset) of the
/// relocation in its section. [`parse`] words the message.
struct RelocFault {
    at: (usize, u64),
    what: Fault,
}

enum Fault {
    /// An unsupported relocation type, and why.
    Type(u32, &'static str),
    NoContents,
    /// The field of this type lies outside the section.
    Outside(u32),
    SymbolIndex(usize),
    /// The symbol's entry is invalid.
    Symbol(String),
    /// The symbol lies in the empty section of this ELF index, not loaded
    /// yet: [`parse`] loads it and goes on from this relocation.
    EmptySection(usize),
}

/// The relocation pass over an object: each relocation is checked,
/// classified and kept in compact form. Symbols get their compact index at
/// their first reference; what a relocation asks of its symbol (a GOT
/// slot, a stub, nearness) is noted once per symbol.
struct RelocPass {
    symbols: Vec<SymTarget>,
    /// Per compact symbol: what it is (SYM_*) and what it was given (HAS_*, ...).
    sym_bits: Vec<u16>,
    wide_addends: Vec<i64>,
    got_symbols: Vec<u32>,
    stub_symbols: Vec<u32>,
    address_stub_symbols: Vec<u32>,
    near_symbols: Vec<u32>,
    low_data_refs: Vec<u32>,
    tls_got: Vec<(x86_64::TlsGot, u32)>,
    /// ELF indices of the local symbols referred to, for their names.
    referenced_locals: Vec<u32>,
    /// Fields that refer to a local symbol of a section not loaded (section
    /// slot, offset, size), to hold 0: no relocation is kept for them. Such
    /// a reference is the start of an unwind entry (FDE) or its LSDA, of a
    /// function in a COMDAT group whose copy was dropped for another
    /// object's; unwinders skip an FDE whose start field is 0 (a static
    /// link drops it), where an address would make the entry claim code
    /// it does not describe, and would not fit a 32-bit field far from 0.
    zeroed: Vec<(u32, u32, u8)>,
    /// What each relocation type needs (T_* bits), worked out once per type.
    type_class: [u16; 48],
    /// The union of the classes of all relocations.
    seen: u16,
    wants_low_memory: bool,
}

impl RelocPass {
    /// At most `referable` symbols can be referred to.
    fn new(referable: usize, scratch: &mut Scratch) -> Self {
        let small = referable.min(64);
        let mut sym_bits = reuse(&mut scratch.sym_bits);
        sym_bits.reserve(referable);
        let mut referenced_locals = reuse(&mut scratch.referenced_locals);
        referenced_locals.reserve(small);
        RelocPass {
            // (Reserved whole: growing by doubling would copy, and touch
            // fresh memory, twice over on a large object.)
            // (Filled as symbols are first referred to, to an extent not
            // known yet: a large buffer gets huge pages, which fault in as
            // they are reached, 2 MiB at a time.)
            symbols: {
                let mut v = reuse(&mut scratch.symbols);
                v.reserve(referable);
                crate::pages::prefer_huge_pages(&v);
                v
            },
            sym_bits,
            wide_addends: Vec::new(),
            got_symbols: Vec::with_capacity(small),
            stub_symbols: Vec::with_capacity(small),
            address_stub_symbols: Vec::new(),
            near_symbols: Vec::new(),
            low_data_refs: Vec::new(),
            tls_got: Vec::new(),
            referenced_locals,
            zeroed: Vec::new(),
            type_class: [0; 48],
            seen: 0,
            wants_low_memory: false,
        }
    }

    /// Reads the relocations `entries` of section `slot` into `list`.
    /// (A function of its own, with few live values, so that the loop's
    /// variables stay in registers.)
    fn scan(
        &mut self,
        entries: &[elf::Rela64<LittleEndian>],
        slot: u32,
        section: &ParsedSection<'_>,
        compact_of: &mut [u32],
        refs: &SymbolRefs<'_, '_>,
        list: &mut Vec<Reloc>,
    ) -> std::result::Result<(), RelocFault> {
        let e = LittleEndian;
        let contents = section.data.unwrap_or_default();
        let has_contents = section.data.is_some();
        let in_code = section.kind.is_code();
        for (i, rela) in entries.iter().enumerate() {
            let info = rela.r_info.get(e);
            let r_type = info as u32;
            let offset = rela.r_offset.get(e);
            let fault = move |what| RelocFault { at: (i, offset), what };
            let mut t = self.type_class.get(r_type as usize).copied().unwrap_or(0);
            if t & T_KNOWN == 0 {
                t = classify(r_type).map_err(|why| fault(Fault::Type(r_type, why)))?;
                if let Some(c) = self.type_class.get_mut(r_type as usize) {
                    *c = t;
                }
            }
            if t & T_SKIP != 0 {
                continue;
            }
            if !has_contents {
                return Err(fault(Fault::NoContents));
            }
            self.seen |= t;
            let size = 1u64 << (t >> T_SIZE_SHIFT);
            if offset.checked_add(size).is_none_or(|end| end > section.size) {
                return Err(fault(Fault::Outside(r_type)));
            }
            let sym = (info >> 32) as usize;
            let Some(&code) = compact_of.get(sym) else {
                return Err(fault(Fault::SymbolIndex(sym)));
            };
            let c = if code & UNREF != 0 {
                let c = match code {
                    UNREF_DISCARDED => None,
                    _ => match self.first_reference(code, sym, refs) {
                        Ok(c) => Some(c),
                        Err(RefFault::Discarded) => None,
                        Err(RefFault::Bad(why)) => return Err(fault(Fault::Symbol(why))),
                        Err(RefFault::EmptySection(k)) => return Err(fault(Fault::EmptySection(k))),
                    },
                };
                let Some(c) = c else {
                    compact_of[sym] = UNREF_DISCARDED;
                    self.zeroed.push((slot, offset as u32, size as u8));
                    continue;
                };
                compact_of[sym] = c;
                c
            } else {
                code
            };
            let flags = if t & T_SPECIAL != 0 { self.note(t, c, slot, in_code && is_call_or_jump(t, contents, offset)) } else { 0 };
            list.push(Reloc::new(offset as u32, c, r_type as u16, flags, rela.r_addend.get(e), &mut self.wide_addends));
        }
        Ok(())
    }

    /// Gives symbol `sym` its compact index.
    #[inline(never)]
    fn first_reference(&mut self, code: u32, sym: usize, refs: &SymbolRefs<'_, '_>) -> std::result::Result<u32, RefFault> {
        let (target, bits) = refs.first_reference(code, sym)?;
        let c = self.symbols.len() as u32;
        self.symbols.push(target);
        self.sym_bits.push(bits);
        if bits & SYM_LOCAL != 0 {
            self.referenced_locals.push(sym as u32);
        }
        Ok(c)
    }

    /// Notes what a relocation of class `t` (with T_SPECIAL bits) in
    /// section `slot` asks of compact symbol `c`; returns the relocation's
    /// flags. `branch`: a PC32 field is the displacement of a call or jump.
    #[inline]
    fn note(&mut self, t: u16, c: u32, slot: u32, branch: bool) -> u8 {
        let bits = &mut self.sym_bits[c as usize];
        let undefined = *bits & SYM_UNDEFINED != 0;
        let mut flags = 0;
        let mut stubbed = false;
        if t & T_STUB != 0 || branch {
            // Not for absolute symbols, nor for a call within its own section.
            stubbed = *bits & SYM_NO_STUB == 0
                && !(*bits & SYM_LOCAL != 0 && matches!(self.symbols[c as usize], SymTarget::Section { section: s, .. } if s == slot));
        }
        // A 32-bit absolute address of a function in the host cannot be
        // reached from low memory; as in a static link of a non-PIE
        // program, the function's stub (PLT entry) then stands for it.
        let address_stub = t & T_ADDR32 != 0 && undefined;
        if address_stub {
            flags |= Reloc::ADDRESS_STUB;
            if *bits & ADDRESS_TAKEN == 0 {
                *bits |= ADDRESS_TAKEN;
                self.address_stub_symbols.push(c);
            }
        }
        if stubbed {
            flags |= Reloc::BRANCH;
        }
        if (stubbed || address_stub) && *bits & HAS_STUB == 0 {
            *bits |= HAS_STUB;
            self.stub_symbols.push(c);
        }
        if t & T_GOT_SLOT != 0 && *bits & HAS_GOT_SLOT == 0 {
            *bits |= HAS_GOT_SLOT;
            self.got_symbols.push(c);
        }
        if t & (T_NEAR | T_LOW_MEMORY | T_TLS_GOT) == 0 {
            return flags;
        }
        if !stubbed && t & T_NEAR != 0 && undefined && *bits & NEAR_SYMBOL == 0 {
            *bits |= NEAR_SYMBOL;
            self.near_symbols.push(c);
        }
        if t & T_TLS_GOT != 0 {
            let (kind, bit) = match (t >> T_TLS_KIND_SHIFT) & 3 {
                0 => (x86_64::TlsGot::Index, TLS_INDEX),
                1 => (x86_64::TlsGot::Module, TLS_MODULE),
                2 => (x86_64::TlsGot::TpOffset, TLS_TP_OFFSET),
                _ => (x86_64::TlsGot::Desc, TLS_DESC),
            };
            if *bits & bit == 0 {
                *bits |= bit;
                self.tls_got.push((kind, c));
            }
        }
        if t & T_LOW_MEMORY != 0 && *bits & SYM_ABSOLUTE == 0 {
            self.wants_low_memory = true;
        }
        if (t & T_LOW_MEMORY != 0 || (t & T_NEAR != 0 && !stubbed)) && undefined && *bits & LOW_DATA_REF == 0 {
            *bits |= LOW_DATA_REF;
            self.low_data_refs.push(c);
        }
        flags
    }
}

/// Whether a relocation of class `t` at `offset` of `code` is a PC32
/// displacement of a call or jump (which may go through a stub).
#[inline]
fn is_call_or_jump(t: u16, code: &[u8], offset: u64) -> bool {
    t & T_PC32 != 0 && x86_64::is_branch_displacement(code, offset as usize)
}

/// Why objects that ask for an executable stack are refused.
const EXECUTABLE_STACK: &str = "needs an executable stack (its .note.GNU-stack section is marked executable, as GCC marks code \
     that takes the address of a nested function: the trampoline is built on the stack); rtdyld does not make stacks \
     executable (no page is ever writable and executable), as newer C libraries refuse to for dlopen";

/// Why link-time-optimization objects are refused: they hold a compiler's
/// intermediate code, which only that compiler's linker plugin turns into
/// machine code.
const LLVM_BITCODE: &str =
    "LLVM bitcode (as clang -flto or -emit-llvm writes it), not machine code: compile without -flto, or to an object with llc";
const GCC_SLIM_LTO: &str =
    "GCC link-time-optimization object holding only GCC's intermediate code (compiled with -flto): compile without -flto, or add -ffat-lto-objects";

/// Parses and validates `data` as an ELF64 x86-64 relocatable object.
/// `object` names it for messages. `comdat_kept` answers whether a COMDAT
/// group of that signature is already loaded; such groups' sections are
/// then not loaded, and their global symbols bind to the kept copy. With
/// `all_local_names`, the names of all named local symbols are kept, not
/// only of those relocations refer to. Working buffers come from `scratch`
/// (and those the result holds go back with [`Scratch::give_back`]).
pub fn parse<'a>(
    data: &'a [u8],
    object: &dyn Fn() -> String,
    all_local_names: bool,
    comdat_kept: &dyn Fn(&[u8]) -> bool,
    scratch: &mut Scratch,
) -> Result<ParsedObject<'a>> {
    let bad = |m: &dyn std::fmt::Display| Error::malformed(&object(), m);
    let unsupported = |m: &dyn std::fmt::Display| Error::unsupported(&object(), m);
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        // LLVM bitcode, bare or in its wrapper: what clang -flto writes.
        if data.starts_with(b"BC\xc0\xde") || data.starts_with(&0x0b17_c0de_u32.to_le_bytes()) {
            return Err(unsupported(&LLVM_BITCODE));
        }
        return Err(bad(&"not an ELF file (bad magic)"));
    }
    if data.len() >= 5 && data[4] != elf::ELFCLASS64 {
        return Err(unsupported(&"only 64-bit ELF objects are supported"));
    }
    if data.len() >= 6 && data[5] != elf::ELFDATA2LSB {
        return Err(unsupported(&"big-endian ELF object; x86-64 objects are little-endian"));
    }
    let header = elf::FileHeader64::<LittleEndian>::parse(data).map_err(|e| bad(&format!("ELF header: {e}")))?;
    // Checked above: the object is little-endian, so every field is read
    // with a fixed byte order (no run-time dispatch per field).
    let endian = LittleEndian;
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(unsupported(&format!(
            "wrong architecture: ELF machine {} ({}), expected x86-64",
            header.e_machine(endian),
            machine_name(header.e_machine(endian))
        )));
    }
    if header.e_type(endian) != elf::ET_REL {
        return Err(unsupported(&format!("not a relocatable object (ELF type {}); rtdyld loads ET_REL .o files", header.e_type(endian))));
    }
    let table = header.sections(endian, data).map_err(|e| bad(&format!("section table: {e}")))?;

    // COMDAT groups: a group whose signature is already loaded is discarded.
    // (Allocated at the first discarded group.)
    let mut discarded: Vec<bool> = Vec::new();
    let mut comdat_signatures = Vec::new();
    let mut many_signatures: Option<std::collections::HashSet<&[u8]>> = None;
    // (The undefined `__start_X`/`__stop_X` symbols, listed at the first
    // group that would be discarded; see `per_object_group`.)
    let mut bound_syms: Option<Vec<u32>> = None;
    // (Members of the groups it brings; allocated at the first one.)
    let mut kept_members: Vec<bool> = Vec::new();
    for (index, sh) in table.enumerate() {
        if sh.sh_type(endian) != elf::SHT_GROUP {
            let flags = sh.sh_flags(endian);
            if flags & u64::from(elf::SHF_EXECINSTR | elf::SHF_ALLOC) == u64::from(elf::SHF_EXECINSTR)
                && table.section_name(endian, sh).ok() == Some(b".note.GNU-stack")
            {
                return Err(unsupported(&EXECUTABLE_STACK));
            }
            continue;
        }
        let words: &[object::U32<LittleEndian>] =
            sh.data_as_array(endian, data).map_err(|_| bad(&format!("group section {}: contents lie outside the file", index.0)))?;
        let Some((flags, members)) = words.split_first() else { continue };
        if flags.get(endian) & elf::GRP_COMDAT == 0 {
            continue;
        }
        let symtab_index = sh.sh_link(endian) as usize;
        let symtab_sh =
            table.section(SectionIndex(symtab_index)).map_err(|_| bad(&format!("group section {}: bad symbol table link", index.0)))?;
        let strtab = table
            .strings(endian, data, SectionIndex(symtab_sh.sh_link(endian) as usize))
            .map_err(|_| bad(&format!("group section {}: bad string table", index.0)))?;
        let syms: &[elf::Sym64<LittleEndian>] =
            symtab_sh.data_as_array(endian, data).map_err(|_| bad(&format!("group section {}: bad symbol table", index.0)))?;
        let sig = syms
            .get(sh.sh_info(endian) as usize)
            .ok_or_else(|| bad(&format!("group section {}: signature symbol {} out of range", index.0, sh.sh_info(endian))))?;
        let signature = sig.name(endian, strtab).map_err(|_| bad(&format!("group section {}: bad signature name", index.0)))?;
        // (A set once there are many, so that a template-heavy object
        // with thousands of groups costs linear time.)
        let repeated = match &many_signatures {
            Some(set) => set.contains(signature),
            None => comdat_signatures.contains(&signature),
        };
        let loaded = comdat_kept(signature) || repeated;
        if loaded && per_object_group(members, syms, strtab, symtab_sh.sh_info(endian) as usize, &table, data, &mut bound_syms) {
            // Kept in this object too (its signature stays the first copy's).
            continue;
        }
        if loaded {
            for m in members {
                let m = m.get(endian) as usize;
                if m >= table.len() {
                    return Err(bad(&format!("group section {}: member {m} out of range", index.0)));
                }
                if discarded.is_empty() {
                    discarded = vec![false; table.len()];
                }
                discarded[m] = true;
            }
        } else {
            for m in members {
                if kept_members.is_empty() {
                    kept_members = vec![false; table.len()];
                }
                if let Some(k) = kept_members.get_mut(m.get(endian) as usize) {
                    *k = true;
                }
            }
            comdat_signatures.push(signature);
            match &mut many_signatures {
                Some(set) => {
                    set.insert(signature);
                }
                None if comdat_signatures.len() > 32 => many_signatures = Some(comdat_signatures.iter().copied().collect()),
                None => {}
            }
        }
    }

    // Allocatable sections. Their names are read from the section-name
    // string table directly (`name_at`); where that fails, `object` says why.
    let shstrtab = header
        .shstrndx(endian, data)
        .ok()
        .and_then(|i| table.section(SectionIndex(i as usize)).ok())
        .and_then(|sh| sh.data(endian, data).ok())
        .unwrap_or_default();
    let mut sections: Vec<ParsedSection<'a>> = recycle(std::mem::take(&mut scratch.sections));
    // (Reserved for the allocatable sections only: in an object built with
    // -ffunction-sections, as many again are relocation sections.)
    sections.reserve(table.iter().filter(|sh| sh.sh_flags(endian) & u64::from(elf::SHF_ALLOC) != 0).count());
    let mut section_slot = reuse(&mut scratch.section_slot);
    section_slot.resize(table.len(), u32::MAX);
    // Empty allocatable sections are loaded only if a global symbol lies in
    // one (gcc puts a function that is all `__builtin_unreachable()` at
    // offset 0 of an empty .text.unlikely): marked EMPTY_SECTION until the
    // globals are read.
    let mut empty_sections = false;
    let parse_section = |index: usize, sh: &elf::SectionHeader64<LittleEndian>| -> Result<ParsedSection<'a>> {
        let name = match name_at(shstrtab, sh.sh_name(endian)) {
            Some(name) => name,
            None => table.section_name(endian, sh).map_err(|e| bad(&format!("section {index}: name: {e}")))?,
        };
        let lossy = || String::from_utf8_lossy(name);
        let flags = sh.sh_flags(endian);
        let tls = flags & u64::from(elf::SHF_TLS) != 0;
        let sh_type = sh.sh_type(endian);
        let size = sh.sh_size(endian);
        let align = sh.sh_addralign(endian).max(1);
        if !align.is_power_of_two() || align > 1 << 30 {
            return Err(bad(&format!("section {} (index {index}): alignment {align} is not a power of two up to 1 GiB", lossy())));
        }
        if size > u64::from(u32::MAX) {
            return Err(unsupported(&format!("section {} (index {index}): size {size} exceeds 4 GiB", lossy())));
        }
        let wx = u64::from(elf::SHF_ALLOC | elf::SHF_WRITE | elf::SHF_EXECINSTR);
        if flags & wx == wx {
            return Err(unsupported(&format!(
                "section {} (index {index}) is writable and executable (flags \"awx\"): rtdyld never maps memory writable \
                 and executable at once (self-modifying code needs its own W^X switching: write through a data alias)",
                lossy()
            )));
        }
        let bytes = if sh_type == elf::SHT_NOBITS {
            None
        } else {
            let d =
                sh.data(endian, data).map_err(|_| bad(&format!("section {} (index {index}): contents lie outside the file", lossy())))?;
            if d.len() as u64 != size {
                return Err(bad(&format!("section {} (index {index}): contents are truncated", lossy())));
            }
            Some(d)
        };
        let large = flags & SHF_X86_64_LARGE != 0;
        let comdat = kept_members.get(index) == Some(&true);
        Ok(ParsedSection { tls, large, comdat, elf_index: index, name, kind: kind_of(flags, sh_type), size, align, data: bytes })
    };
    for (index, sh) in table.enumerate() {
        let flags = sh.sh_flags(endian);
        if flags & u64::from(elf::SHF_ALLOC) == 0 || discarded.get(index.0) == Some(&true) {
            continue;
        }
        if sh.sh_size(endian) == 0 {
            section_slot[index.0] = EMPTY_SECTION;
            empty_sections = true;
            continue;
        }
        section_slot[index.0] = sections.len() as u32;
        sections.push(parse_section(index.0, sh)?);
    }
    // An empty section a global symbol lies in, loaded after all.
    let materialize_empty = |index: usize, sections: &mut Vec<ParsedSection<'a>>, section_slot: &mut [u32]| -> Result<()> {
        let sh = table.section(SectionIndex(index)).map_err(|e| bad(&format!("section {index}: {e}")))?;
        section_slot[index] = sections.len() as u32;
        sections.push(parse_section(index, sh)?);
        Ok(())
    };

    // Symbols. Globals are listed here, in one pass over the global part
    // of the table; a local symbol is decoded only when a relocation first
    // refers to it. `compact_of` gives each ELF symbol its index in
    // `symbols` once referenced, and until then what it is (UNREF_*).
    let symtab = table.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| bad(&format!("symbol table: {e}")))?;
    let strings: &[u8] = if symtab.is_empty() {
        &[]
    } else {
        table.section(symtab.string_section()).and_then(|s| s.data(endian, data)).map_err(|e| bad(&format!("symbol string table: {e}")))?
    };
    let elf_syms = symtab.symbols();
    if elf_syms.len() >= MAX_SYMBOLS {
        return Err(unsupported(&format!("symbol table of {} entries is too large", elf_syms.len())));
    }
    // sh_info of a symbol table is the index of its first non-local symbol;
    // every symbol before it is local.
    let first_global = table.section(symtab.section()).map_or(0, |s| s.sh_info(endian) as usize);
    if first_global > elf_syms.len() {
        return Err(bad(&format!(
            "symbol table: its first global symbol ({first_global}, sh_info) lies beyond its {} entries",
            elf_syms.len()
        )));
    }
    let first_global = first_global.clamp(1, elf_syms.len().max(1));
    let mut compact_of = reuse(&mut scratch.compact_of);
    compact_of.reserve(elf_syms.len());
    crate::pages::populate_spare(&compact_of, elf_syms.len());
    compact_of.resize(elf_syms.len(), UNREF_LOCAL);
    let mut globals = reuse(&mut scratch.globals);
    globals.reserve(elf_syms.len().saturating_sub(first_global));
    crate::pages::populate_spare(&globals, elf_syms.len().saturating_sub(first_global));
    let mut needs_got = false;
    let mut needs_dso_handle = false;
    let mut section_bounds = Vec::new();
    for (i, sym) in elf_syms.iter().enumerate().skip(first_global) {
        let bind = sym.st_bind();
        if bind == elf::STB_LOCAL {
            continue; // out of place, but harmless: decoded as a local
        }
        if bind != elf::STB_GLOBAL && bind != elf::STB_WEAK && bind != elf::STB_GNU_UNIQUE {
            let name = name_at(strings, sym.st_name(endian)).map(String::from_utf8_lossy).unwrap_or_default();
            return Err(bad(&format!("symbol {i} (`{name}`): binding {bind} is none of LOCAL, GLOBAL, WEAK and GNU_UNIQUE")));
        }
        if empty_sections {
            let k = usize::from(sym.st_shndx(endian));
            if section_slot.get(k) == Some(&EMPTY_SECTION) {
                materialize_empty(k, &mut sections, &mut section_slot)?;
            }
        }
        let index = SymbolIndex(i);
        let place = match quick_place(sym, &section_slot, &sections) {
            Some(place) => place,
            None => global_place(&symtab, sym, index, &section_slot, &sections).map_err(|m| bad(&m))?,
        };
        let st_name = sym.st_name(endian);
        let (name, versioned) = scan_name(strings, st_name)
            .ok_or_else(|| bad(&format!("symbol {i}: name offset {st_name:#x} lies outside the string table")))?;
        // GCC marks an object that holds only its intermediate code (LTO
        // without -ffat-lto-objects) with this common symbol.
        if matches!(place, GlobalPlace::Common { .. }) && name == b"__gnu_lto_slim" {
            return Err(unsupported(&GCC_SLIM_LTO));
        }
        let undefined = sym.st_shndx(endian) == elf::SHN_UNDEF;
        compact_of[i] = if undefined && name == b"_GLOBAL_OFFSET_TABLE_" {
            needs_got = true;
            UNREF_GOT_BASE
        } else if undefined && name == b"__dso_handle" {
            needs_dso_handle = true;
            UNREF_DSO_HANDLE
        } else if undefined && name == b"_TLS_MODULE_BASE_" {
            // Local-dynamic code with TLS descriptors starts from the
            // object's own block (what a static linker defines it as).
            UNREF_TLS_MODULE_BASE
        } else if let Some(target) = undefined.then(|| section_bound(name, &sections)).flatten().transpose().map_err(|m| unsupported(&m))? {
            section_bounds.push((i as u32, target));
            UNREF_SECTION_BOUND
        } else {
            if name.is_empty() {
                return Err(bad(&format!("symbol {i}: global symbol without a name")));
            }
            let flag = if place == GlobalPlace::Undefined { GlobalRef::UNDEFINED } else { 0 };
            let section = match place {
                GlobalPlace::Section { section, .. } => section,
                _ => u32::MAX,
            };
            globals.push(GlobalRef { sym: i as u32 | flag, compact: u32::MAX, name_at: st_name, name_len: name.len() as u32, section });
            let k = globals.len() as u32 - 1;
            if versioned && flag == 0 {
                if let Some(at) = name.windows(2).position(|w| w == b"@@").filter(|&at| at > 0 && at + 2 < name.len()) {
                    let alias = GlobalRef::ALIAS | i as u32;
                    globals.push(GlobalRef { sym: alias, compact: u32::MAX, name_at: st_name, name_len: at as u32, section });
                }
            }
            UNREF_GLOBAL | k
        };
    }
    // Room for every entry of the relocation sections of loaded sections
    // (no more than the file could hold).
    let entry_count: usize = table
        .iter()
        .filter(|sh| {
            sh.sh_type(endian) == elf::SHT_RELA && section_slot.get(sh.sh_info(endian) as usize).is_some_and(|&s| s < EMPTY_SECTION)
        })
        .map(|sh| sh.sh_size(endian) as usize / std::mem::size_of::<elf::Rela64<LittleEndian>>())
        .fold(0usize, usize::saturating_add)
        .min(data.len() / std::mem::size_of::<elf::Rela64<LittleEndian>>());
    // Relocations of allocated sections (see [`RelocPass`]). No more
    // symbols can be referred to than there are symbols or relocations.
    let mut pass = RelocPass::new(elf_syms.len().min(entry_count), scratch);
    // What decoding a symbol needs, borrowed afresh where an empty section
    // may have been loaded since.
    macro_rules! symbol_refs {
        () => {
            SymbolRefs {
                elf_syms,
                symtab: &symtab,
                section_slot: &section_slot,
                sections: &sections,
                globals: &globals,
                section_bounds: &section_bounds,
            }
        };
    }
    let mut relocs = Vec::with_capacity(entry_count);
    crate::pages::prefer_huge_pages(&relocs);
    crate::pages::populate_spare(&relocs, entry_count);
    let mut reloc_groups = reuse(&mut scratch.reloc_groups);
    reloc_groups.reserve(sections.len());
    for (index, sh) in table.enumerate() {
        let sh_type = sh.sh_type(endian);
        if sh_type != elf::SHT_RELA && sh_type != elf::SHT_REL && sh_type != SHT_CREL {
            continue;
        }
        let target = sh.sh_info(endian) as usize;
        if target >= table.len() || target == 0 {
            return Err(bad(&format!("relocation section {}: target section {target} out of range", index.0)));
        }
        let slot = section_slot[target];
        if slot >= EMPTY_SECTION {
            // Relocations of debug info and other unloaded sections (an
            // empty one has no room for any).
            continue;
        }
        let sec_name = |sections: &[ParsedSection<'_>]| sections[slot as usize].name_str().to_owned();
        if sh_type == elf::SHT_REL {
            return Err(unsupported(&format!("section {}: SHT_REL relocations are not used on x86-64", sec_name(&sections))));
        }
        if sh_type == SHT_CREL {
            return Err(unsupported(&format!(
                "section {}: its relocations are in the compact SHT_CREL form (assembled with --crel), which rtdyld does not \
                 read: assemble without --crel",
                sec_name(&sections)
            )));
        }
        if sh.sh_link(endian) as usize != symtab.section().0 && !elf_syms.is_empty() {
            return Err(bad(&format!(
                "relocation section for {}: linked to section {} instead of the symbol table",
                sec_name(&sections),
                sh.sh_link(endian)
            )));
        }
        let (entries, _) = sh
            .rela(endian, data)
            .map_err(|e| bad(&format!("relocations for {}: {e}", sec_name(&sections))))?
            .unwrap_or((&[], SectionIndex(0)));
        let start = relocs.len() as u32;
        let mut first = 0;
        let fault = loop {
            let refs = symbol_refs!();
            // (Fault indices count from `first`.)
            match pass.scan(&entries[first..], slot, &sections[slot as usize], &mut compact_of, &refs, &mut relocs) {
                Ok(()) => break None,
                Err(RelocFault { at: (i, _), what: Fault::EmptySection(k) }) => {
                    materialize_empty(k, &mut sections, &mut section_slot)?;
                    first += i;
                }
                Err(RelocFault { at: (i, offset), what }) => break Some(RelocFault { at: (first + i, offset), what }),
            }
        };
        if let Some(fault) = fault {
            let section = &sections[slot as usize];
            let (i, offset) = fault.at;
            let place = format!("{}+{offset:#x} (relocation {i})", sec_name(&sections));
            return Err(match fault.what {
                Fault::Type(r_type, why) => unsupported(&format!("{place}: {} (type {r_type}): {why}", x86_64::type_name(r_type))),
                Fault::NoContents => bad(&format!("{place}: relocation in a section without contents")),
                Fault::Outside(r_type) => {
                    bad(&format!("{place}: {} field lies outside the section of {} bytes", x86_64::type_name(r_type), section.size))
                }
                Fault::SymbolIndex(sym) => {
                    bad(&format!("{place}: symbol index {sym} out of range (the object has {} symbols)", elf_syms.len()))
                }
                Fault::Symbol(why) => bad(&format!("{place}: {why}")),
                Fault::EmptySection(_) => unreachable!("handled above"),
            });
        }
        if relocs.len() as u32 > start {
            reloc_groups.push(ParsedRelocs { section: slot as usize, start, end: relocs.len() as u32 });
        }
    }
    let RelocPass {
        mut symbols,
        sym_bits,
        wide_addends,
        got_symbols,
        stub_symbols,
        address_stub_symbols,
        near_symbols,
        low_data_refs,
        tls_got,
        referenced_locals,
        zeroed,
        type_class: _,
        seen,
        wants_low_memory,
    } = pass;
    let static_tls = seen & T_STATIC_TLS != 0;
    let tls_descriptors = seen & T_TLS_DESC != 0;
    needs_got |= seen & T_NEEDS_GOT != 0;
    if empty_sections {
        // (Empty sections that neither a global symbol nor a relocation
        // refers to stay unloaded.)
        for slot in section_slot.iter_mut().filter(|s| **s == EMPTY_SECTION) {
            *slot = u32::MAX;
        }
    }
    let refs = symbol_refs!();

    // Names of local symbols: of those relocations refer to (for messages),
    // and of all (for perf maps) when asked, which then also get an entry.
    let mut kept = Vec::with_capacity(if all_local_names { 0 } else { referenced_locals.len() });
    let every = 1..if all_local_names { elf_syms.len() } else { 1 };
    for k in every.chain(referenced_locals.iter().map(|&k| k as usize).filter(|_| !all_local_names)) {
        let code = compact_of[k];
        let target = match code {
            UNREF_LOCAL => match refs.first_reference(code, k) {
                Ok((target, bits)) if bits & SYM_LOCAL != 0 => Some(target),
                // Unreferenced and undecodable: no name worth keeping.
                _ => None,
            },
            _ if code & UNREF != 0 => None,
            c => (sym_bits[c as usize] & SYM_LOCAL != 0).then_some(symbols[c as usize]),
        };
        let Some(target) = target else { continue };
        let sym = &elf_syms[k];
        if sym.st_type() == elf::STT_SECTION {
            continue;
        }
        let name = name_at(strings, sym.st_name(endian))
            .ok_or_else(|| bad(&format!("symbol {k}: name offset {:#x} lies outside the string table", sym.st_name(endian))))?;
        if name.is_empty() {
            continue;
        }
        if code == UNREF_LOCAL {
            compact_of[k] = symbols.len() as u32;
            symbols.push(target);
        }
        kept.push((compact_of[k], name));
    }
    kept.sort_unstable_by_key(|e| e.0);
    let mut local_names =
        LocalNames { index: Vec::with_capacity(kept.len()), text: Vec::with_capacity(kept.iter().map(|n| n.1.len()).sum()) };
    for (c, name) in kept {
        local_names.push(c, name);
    }
    for g in &mut globals {
        let code = compact_of[g.index()];
        g.compact = if code & UNREF != 0 || g.sym & GlobalRef::ALIAS != 0 { u32::MAX } else { code };
    }
    Scratch::keep(&mut scratch.compact_of, compact_of);
    Scratch::keep(&mut scratch.sym_bits, sym_bits);
    Scratch::keep(&mut scratch.referenced_locals, referenced_locals);
    let got_index = SlotIndex::new(&got_symbols, symbols.len());
    let stub_index = SlotIndex::new(&stub_symbols, symbols.len());
    // The object keeps an exact copy; the pass's buffer serves the next.
    // A large buffer that is mostly used goes to the object itself instead:
    // shrinking it copies nothing (glibc shrinks a block in place, and a
    // mapped one with mremap), where copying would write it all again.
    let symbols = if symbols.len() >= 4096 && symbols.len() * 2 >= symbols.capacity() {
        let mut symbols = symbols;
        symbols.shrink_to_fit();
        symbols
    } else {
        let kept_symbols = symbols.to_vec();
        Scratch::keep(&mut scratch.symbols, symbols);
        kept_symbols
    };
    // (Only `R_X86_64_NONE` entries leave room unused.)
    relocs.shrink_to_fit();
    Ok(ParsedObject {
        sections,
        symbols,
        globals,
        symtab,
        strings,
        section_slot,
        local_names,
        relocs,
        reloc_groups,
        wide_addends,
        got_symbols,
        got_index,
        stub_symbols,
        stub_index,
        address_stub_symbols,
        tls_got,
        static_tls,
        tls_descriptors,
        needs_got,
        comdat_signatures,
        comdat_discarded: discarded,
        needs_dso_handle,
        wants_low_memory,
        near_symbols,
        low_data_refs,
        zeroed,
    })
}

/// Whether a COMDAT group whose signature is loaded already must be kept
/// all the same, because what it holds differs from object to object: its
/// code refers to the object's own `__start_X`/`__stop_X` (sanitizer
/// coverage and ASan put a module constructor in a group of one name in
/// every object, each registering its own object's table; a static link
/// keeps one, whose bounds span every object's table), and it defines no
/// global symbol (so two copies do not clash). `bound_syms` caches the
/// object's undefined `__start_`/`__stop_` symbols.
fn per_object_group(
    members: &[object::U32<LittleEndian>],
    syms: &[elf::Sym64<LittleEndian>],
    strtab: object::StringTable<'_>,
    first_global: usize,
    table: &object::read::elf::SectionTable<'_, elf::FileHeader64<LittleEndian>>,
    data: &[u8],
    bound_syms: &mut Option<Vec<u32>>,
) -> bool {
    let e = LittleEndian;
    let bounds = bound_syms.get_or_insert_with(|| {
        (first_global.min(syms.len())..syms.len())
            .filter(|&i| {
                let s = &syms[i];
                s.st_shndx(e) == elf::SHN_UNDEF && s.name(e, strtab).is_ok_and(|n| n.starts_with(b"__start_") || n.starts_with(b"__stop_"))
            })
            .map(|i| i as u32)
            .collect()
    });
    if bounds.is_empty() {
        return false;
    }
    let member = |k: usize| members.iter().any(|m| m.get(e) as usize == k);
    let refers_to_bounds = members.iter().any(|m| {
        let Ok(sh) = table.section(SectionIndex(m.get(e) as usize)) else { return false };
        sh.sh_type(e) == elf::SHT_RELA
            && sh
                .rela(e, data)
                .ok()
                .flatten()
                .is_some_and(|(rela, _)| rela.iter().any(|r| bounds.contains(&((r.r_info.get(e) >> 32) as u32))))
    });
    refers_to_bounds && !syms[first_global.min(syms.len())..].iter().any(|s| member(usize::from(s.st_shndx(e))))
}

/// The NUL-terminated string at `offset` of a string table, found eight
/// bytes at a time.
fn name_at(strings: &[u8], offset: u32) -> Option<&[u8]> {
    scan::<false>(strings, offset).map(|n| n.0)
}

/// As [`name_at`], and whether the name holds an `@` (a symbol version).
#[inline]
fn scan_name(strings: &[u8], offset: u32) -> Option<(&[u8], bool)> {
    scan::<true>(strings, offset)
}

/// [`name_at`], and with `AT_SIGN` whether the name holds an `@`.
#[inline]
fn scan<const AT_SIGN: bool>(strings: &[u8], offset: u32) -> Option<(&[u8], bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const ATS: u64 = 0x4040_4040_4040_4040;
    // The lowest byte flagged here is the first byte equal to `b`'s (bytes
    // above it may be flagged too, wrongly, but never below it).
    let flag = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let rest = strings.get(offset as usize..)?;
    let mut words = rest.chunks_exact(8);
    let mut at = 0;
    let mut versioned = false;
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let zero = flag(w);
        let at_sign = if AT_SIGN { flag(w ^ ATS) } else { 0 };
        if zero != 0 {
            versioned |= at_sign.trailing_zeros() < zero.trailing_zeros();
            return Some((&rest[..at + (zero.trailing_zeros() / 8) as usize], versioned));
        }
        versioned |= at_sign != 0;
        at += 8;
    }
    let tail = words.remainder();
    let end = tail.iter().position(|&b| b == 0)?;
    Some((&rest[..at + end], AT_SIGN && (versioned || tail[..end].contains(&b'@'))))
}

type ElfSymbols<'a> = object::read::elf::SymbolTable<'a, elf::FileHeader64<LittleEndian>>;

/// Where a symbol is defined, for the usual, valid entries: undefined,
/// absolute, or in a section of the ordinary index range and within it.
/// `None` for everything else (common symbols, extended section indices,
/// entries [`global_place`] must check and may reject).
#[inline]
fn quick_place(sym: &elf::Sym64<LittleEndian>, section_slot: &[u32], sections: &[ParsedSection<'_>]) -> Option<GlobalPlace> {
    let e = LittleEndian;
    match sym.st_shndx(e) {
        elf::SHN_UNDEF => Some(GlobalPlace::Undefined),
        elf::SHN_ABS => Some(GlobalPlace::Absolute(sym.st_value(e))),
        s if s < elf::SHN_LORESERVE => match *section_slot.get(usize::from(s))? {
            u32::MAX => Some(GlobalPlace::Undefined),
            EMPTY_SECTION => None,
            slot => {
                let value = sym.st_value(e);
                (value <= sections[slot as usize].size).then_some(GlobalPlace::Section { section: slot, value })
            }
        },
        _ => None,
    }
}

/// What an undefined `__start_X` or `__stop_X` stands for: the start or
/// end of the object's allocated section `X`, when `X` is a C identifier
/// and the object has such a section (as a static linker defines them for
/// an output section; each object is a unit of its own, like a shared
/// library, so another object's sections do not count). `None`: the name
/// is looked up as usual. An error when several sections bear the name,
/// which a static linker would have concatenated.
fn section_bound(name: &[u8], sections: &[ParsedSection<'_>]) -> Option<std::result::Result<SymTarget, String>> {
    let (x, at_end) = match (name.strip_prefix(b"__start_"), name.strip_prefix(b"__stop_")) {
        (Some(x), _) => (x, false),
        (_, Some(x)) => (x, true),
        _ => return None,
    };
    let identifier = x.first().is_some_and(|c| !c.is_ascii_digit()) && x.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
    if !identifier {
        return None;
    }
    let mut named = sections.iter().enumerate().filter(|(_, s)| s.name == x && !s.tls);
    let (slot, section) = named.next()?;
    let others = named.count();
    if others > 0 {
        return Some(Err(format!(
            "symbol {}: the object has {} sections named {}, which a static link would concatenate; rtdyld places sections \
             separately (give the section one name, or merge them, e.g. with ld -r)",
            String::from_utf8_lossy(name),
            others + 1,
            String::from_utf8_lossy(x)
        )));
    }
    let offset = if at_end { section.size } else { 0 };
    Some(Ok(SymTarget::Section { section: slot as u32, offset, size: 0 }))
}

/// Where symbol `index` is defined, or why its entry is invalid.
fn global_place(
    symtab: &ElfSymbols<'_>,
    sym: &elf::Sym64<LittleEndian>,
    index: SymbolIndex,
    section_slot: &[u32],
    sections: &[ParsedSection<'_>],
) -> std::result::Result<GlobalPlace, String> {
    let endian = LittleEndian;
    let lossy = || String::from_utf8_lossy(symtab.symbol_name(endian, sym).unwrap_or(b"<bad name>")).into_owned();
    let shndx = sym.st_shndx(endian);
    let value = sym.st_value(endian);
    let size = sym.st_size(endian);
    let section = symtab.symbol_section(endian, sym, index).map_err(|e| format!("symbol {} ({}): {e}", index.0, lossy()))?;
    if let Some(s) = section {
        if s.0 >= section_slot.len() {
            return Err(format!(
                "symbol {} ({}): section index {} out of range (the object has {} sections)",
                index.0,
                lossy(),
                s.0,
                section_slot.len()
            ));
        }
    }
    Ok(match (shndx, section) {
        (elf::SHN_UNDEF, _) => GlobalPlace::Undefined,
        (elf::SHN_ABS, _) => GlobalPlace::Absolute(value),
        // (SHN_X86_64_LCOMMON: a common symbol of the medium and large
        // models, above the large-data threshold; laid out the same way.)
        (elf::SHN_COMMON | SHN_X86_64_LCOMMON, _) => {
            let align = value.max(1);
            if !align.is_power_of_two() || align > 1 << 30 || size > u64::from(u32::MAX) {
                return Err(format!("common symbol {}: size {size} or alignment {align} is invalid", lossy()));
            }
            GlobalPlace::Common { size, align }
        }
        (_, Some(s)) => match section_slot[s.0] {
            // A symbol of a section that is not loaded (debug information)
            // cannot be referred to from loaded code.
            u32::MAX | EMPTY_SECTION => GlobalPlace::Undefined,
            slot => {
                let sec = &sections[slot as usize];
                if value > sec.size {
                    return Err(format!(
                        "symbol {} ({}): value {value:#x} lies beyond its section {} of {} bytes",
                        index.0,
                        lossy(),
                        sec.name_str(),
                        sec.size
                    ));
                }
                GlobalPlace::Section { section: slot, value }
            }
        },
        _ => return Err(format!("symbol {} ({}): unsupported special section index {shndx:#x}", index.0, lossy())),
    })
}

/// `SHF_X86_64_LARGE`: a section of the large data model (x86-64 psABI).
const SHF_X86_64_LARGE: u64 = 0x1000_0000;

/// `SHN_X86_64_LCOMMON`: the section index of a large common symbol.
const SHN_X86_64_LCOMMON: u16 = 0xff02;

/// The binding facts of a global symbol defined (or not) at `place`.
fn describe_global(sym: &elf::Sym64<LittleEndian>, place: GlobalPlace) -> ParsedGlobal {
    let weak = sym.st_bind() == elf::STB_WEAK;
    let ifunc = sym.st_type() == elf::STT_GNU_IFUNC;
    ParsedGlobal {
        place,
        strength: match place {
            GlobalPlace::Common { .. } => Strength::Common,
            _ if weak => Strength::Weak,
            _ => Strength::Strong,
        },
        size: sym.st_size(LittleEndian),
        is_function: sym.st_type() == elf::STT_FUNC || ifunc,
        weak,
        ifunc,
        // (A definition whose section is not loaded is read by
        // `ParsedObject::global`, as a reference.)
        discarded: false,
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        elf::EM_386 => "i386",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_ARM => "ARM",
        elf::EM_RISCV => "RISC-V",
        elf::EM_PPC64 => "PowerPC64",
        elf::EM_S390 => "s390",
        elf::EM_X86_64 => "x86-64",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::{name_at, recycle, scan_name, SlotIndex, TableKind};

    #[test]
    fn a_recycled_vector_keeps_its_allocation() {
        let bytes = [1u8, 2, 3];
        let mut v: Vec<(&[u8], u64)> = Vec::with_capacity(10);
        v.push((&bytes[..], 7));
        let at = v.as_ptr() as usize;
        let kept: Vec<(&'static [u8], u64)> = recycle(v);
        assert!(kept.is_empty());
        assert_eq!((kept.as_ptr() as usize, kept.capacity()), (at, 10));
    }

    #[test]
    fn slot_indices_answer_alike_dense_or_sparse() {
        // Slots 0, 1 and 2 for the symbols listed, among `count` symbols:
        // one entry per symbol when many have a slot, sorted pairs when few.
        for (list, count, dense) in [([7, 3, 30], 40, true), ([7, 3, 900], 1000, false)] {
            let index = SlotIndex::new(&list, count);
            assert_eq!(matches!(index, SlotIndex::Dense(_)), dense, "{index:?}");
            assert!(matches!(index, SlotIndex::Dense(_) | SlotIndex::Sparse(_)));
            assert_eq!(list.map(|s| index.get(s)), [Some(0), Some(1), Some(2)]);
            for none in [0, 4, 8, 29, 899, 901, 5000] {
                assert_eq!(index.get(none), None, "{none}");
            }
        }
        assert!(matches!(SlotIndex::new(&[], 10), SlotIndex::Empty));
        assert_eq!(SlotIndex::Empty.get(0), None);
    }

    #[test]
    fn table_kinds_and_priorities_come_from_section_names() {
        assert_eq!(TableKind::of(b".init_array"), Some((TableKind::InitArray, 65535)));
        assert_eq!(TableKind::of(b".init_array.101"), Some((TableKind::InitArray, 101)));
        assert_eq!(TableKind::of(b".fini_array.7"), Some((TableKind::FiniArray, 7)));
        // .ctors.N and .dtors.N count priorities backwards.
        assert_eq!(TableKind::of(b".ctors.65434"), Some((TableKind::Ctors, 101)));
        assert_eq!(TableKind::of(b".dtors"), Some((TableKind::Dtors, 65535)));
        assert_eq!(TableKind::of(b".preinit_array"), Some((TableKind::PreinitArray, 65535)));
        assert_eq!(TableKind::of(b".init"), Some((TableKind::InitFragment, 65535)));
        assert_eq!(TableKind::of(b".fini"), Some((TableKind::FiniFragment, 65535)));
        for other in [
            &b".text"[..],
            b".data",
            b".data.rel.ro",
            b".initx",
            b".fini.1",
            b".comment",
            b"",
            b".",
            b".init_arrayx",
            b".ctors.x",
            b".preinit_arrayx",
        ] {
            assert_eq!(TableKind::of(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn name_at_finds_the_first_nul_at_any_length_and_offset() {
        // Names of 0 to 20 bytes, some with bytes that look like a zero to
        // a careless word test (0x80, 0x01 after 0x00), at every alignment.
        for len in 0..=20usize {
            for lead in 0..9usize {
                let mut table = vec![b'x'; lead];
                let name: Vec<u8> = (0..len).map(|k| [b'a', 0x80, 0x01, 0xff][k % 4]).collect();
                table.extend_from_slice(&name);
                table.extend_from_slice(&[0, 0x01, 0x80, b'z']);
                assert_eq!(name_at(&table, lead as u32), Some(&name[..]), "len {len} lead {lead}");
            }
        }
        // No terminator, or an offset past the end: no name.
        assert_eq!(name_at(b"abcdefghijk", 0), None);
        assert_eq!(name_at(b"abc\0", 5), None);
        assert_eq!(name_at(b"abc\0", 4), None);
        assert_eq!(name_at(b"abc\0", 3), Some(&b""[..]));
    }

    #[test]
    fn scan_name_tells_whether_an_at_sign_comes_before_the_nul() {
        for len in 0..=20usize {
            for lead in 0..9usize {
                for at in (0..len).map(Some).chain([None]) {
                    let mut table = vec![b'@'; lead];
                    // Bytes next to '@' (0x3f, 0x41, 0xc0) that a careless word test could take for one.
                    let mut name: Vec<u8> = (0..len).map(|k| [b'a', 0x3f, 0x41, 0xc0][k % 4]).collect();
                    if let Some(a) = at {
                        name[a] = b'@';
                    }
                    table.extend_from_slice(&name);
                    table.extend_from_slice(&[0, b'@', 0x40, b'z', b'@']);
                    assert_eq!(scan_name(&table, lead as u32), Some((&name[..], at.is_some())), "len {len} lead {lead} at {at:?}");
                }
            }
        }
    }
}
