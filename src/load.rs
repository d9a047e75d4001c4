//! Reading an ELF x86-64 relocatable object: every check that can fail is
//! done here, before any memory is allocated or any symbol is published, so
//! that a bad object leaves the linker exactly as it was.

use crate::error::{Error, Result};
use crate::memory::SectionKind;
use crate::reloc::{x86_64, Field, Reloc};
use crate::symbols::Strength;
use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, Sym};
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
/// decodes it.
#[derive(Debug, Clone, Copy)]
pub struct ParsedGlobal {
    pub place: GlobalPlace,
    pub strength: Strength,
    pub size: u64,
    pub is_function: bool,
    pub weak: bool,
    pub ifunc: bool,
}

/// A constructor or destructor table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// `.init_array[.N]`: run first to last.
    InitArray,
    /// `.ctors[.N]`: run last to first.
    Ctors,
    /// `.fini_array[.N]`: run last to first.
    FiniArray,
    /// `.dtors[.N]`: run first to last.
    Dtors,
}

impl TableKind {
    pub fn is_init(self) -> bool {
        matches!(self, TableKind::InitArray | TableKind::Ctors)
    }

    /// The table kind and priority (lower runs first for constructors,
    /// last for destructors) of a section name.
    pub fn of(name: &[u8]) -> Option<(TableKind, u32)> {
        const DEFAULT: u32 = 65535;
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
/// of globals costs 16 bytes for each while it loads.
#[derive(Debug, Clone, Copy)]
pub struct GlobalRef {
    sym: u32,
    pub compact: u32,
    name_at: u32,
    name_len: u32,
}

/// Relocations of one allocated section.
#[derive(Debug)]
pub struct ParsedRelocs {
    pub section: usize,
    pub relocs: Vec<Reloc>,
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
    section_slot: Vec<u32>,
    pub local_names: LocalNames,
    pub relocs: Vec<ParsedRelocs>,
    pub wide_addends: Vec<i64>,
    /// Symbols that need a GOT slot, in slot order, and the slot of each
    /// symbol (u32::MAX = none; empty when no symbol has one).
    pub got_symbols: Vec<u32>,
    pub got_index: Vec<u32>,
    /// Symbols that need a stub, in stub order, and the stub of each symbol.
    pub stub_symbols: Vec<u32>,
    pub stub_index: Vec<u32>,
    /// TLS GOT entries, placed after the address slots, in order.
    pub tls_got: Vec<(x86_64::TlsGot, u32)>,
    /// The object uses initial- or local-exec TLS references.
    pub static_tls: bool,
    pub needs_got: bool,
    /// Signatures of the COMDAT groups this object brings (not discarded).
    pub comdat_signatures: Vec<&'a [u8]>,
    /// The object refers to `__dso_handle`.
    pub needs_dso_handle: bool,
    pub wants_low_memory: bool,
    /// Undefined symbols referred to by 32-bit PC-relative data references.
    pub near_symbols: Vec<u32>,
    /// Undefined symbols referred to by any 32-bit data reference.
    pub low_data_refs: Vec<u32>,
}

impl<'a> ParsedObject<'a> {
    /// The name of global `k`.
    pub fn global_name(&self, k: usize) -> &'a [u8] {
        let g = &self.globals[k];
        self.strings.get(g.name_at as usize..g.name_at as usize + g.name_len as usize).unwrap_or_default()
    }

    /// Global `k`, decoded from its symbol-table entry (which [`parse`]
    /// validated).
    pub fn global(&self, k: usize) -> ParsedGlobal {
        let index = SymbolIndex(self.globals[k].sym as usize);
        let place = self.symtab.symbols().get(index.0).and_then(|sym| {
            let place = match quick_place(sym, &self.section_slot, &self.sections) {
                Some(place) => place,
                None => global_place(&self.symtab, sym, index, &self.section_slot, &self.sections).ok()?,
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

/// Per-symbol marks of the relocation pass.
const LOW_DATA_REF: u8 = 1;
const NEAR_SYMBOL: u8 = 2;
const TLS_INDEX: u8 = 4;
const TLS_MODULE: u8 = 8;
const TLS_TP_OFFSET: u8 = 16;
const HAS_GOT_SLOT: u8 = 32;
const HAS_STUB: u8 = 64;

/// Parses and validates `data` as an ELF64 x86-64 relocatable object.
/// `object` names it for messages. `comdat_kept` answers whether a COMDAT
/// group of that signature is already loaded; such groups' sections are
/// then not loaded, and their global symbols bind to the kept copy. With
/// `all_local_names`, the names of all named local symbols are kept, not
/// only of those relocations refer to.
pub fn parse<'a>(
    data: &'a [u8],
    object: &dyn Fn() -> String,
    all_local_names: bool,
    comdat_kept: &dyn Fn(&[u8]) -> bool,
) -> Result<ParsedObject<'a>> {
    let bad = |m: &dyn std::fmt::Display| Error::malformed(&object(), m);
    let unsupported = |m: &dyn std::fmt::Display| Error::unsupported(&object(), m);
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
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
    let mut discarded = vec![false; table.len()];
    let mut comdat_signatures = Vec::new();
    for (index, sh) in table.enumerate() {
        if sh.sh_type(endian) != elf::SHT_GROUP {
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
        if comdat_kept(signature) || comdat_signatures.contains(&signature) {
            for m in members {
                let m = m.get(endian) as usize;
                if m >= table.len() {
                    return Err(bad(&format!("group section {}: member {m} out of range", index.0)));
                }
                discarded[m] = true;
            }
        } else {
            comdat_signatures.push(signature);
        }
    }

    // Allocatable sections.
    let mut sections = Vec::with_capacity(table.len());
    let mut section_slot = vec![u32::MAX; table.len()];
    for (index, sh) in table.enumerate() {
        let flags = sh.sh_flags(endian);
        if flags & u64::from(elf::SHF_ALLOC) == 0 || sh.sh_size(endian) == 0 || discarded[index.0] {
            continue;
        }
        let name = table.section_name(endian, sh).map_err(|e| bad(&format!("section {}: name: {e}", index.0)))?;
        let lossy = || String::from_utf8_lossy(name);
        let tls = flags & u64::from(elf::SHF_TLS) != 0;
        let sh_type = sh.sh_type(endian);
        let size = sh.sh_size(endian);
        let align = sh.sh_addralign(endian).max(1);
        if !align.is_power_of_two() || align > 1 << 30 {
            return Err(bad(&format!("section {} (index {}): alignment {align} is not a power of two up to 1 GiB", lossy(), index.0)));
        }
        if size > u64::from(u32::MAX) {
            return Err(unsupported(&format!("section {} (index {}): size {size} exceeds 4 GiB", lossy(), index.0)));
        }
        let bytes = if sh_type == elf::SHT_NOBITS {
            None
        } else {
            let d = sh
                .data(endian, data)
                .map_err(|_| bad(&format!("section {} (index {}): contents lie outside the file", lossy(), index.0)))?;
            if d.len() as u64 != size {
                return Err(bad(&format!("section {} (index {}): contents are truncated", lossy(), index.0)));
            }
            Some(d)
        };
        section_slot[index.0] = sections.len() as u32;
        sections.push(ParsedSection { tls, elf_index: index.0, name, kind: kind_of(flags, sh_type), size, align, data: bytes });
    }

    // Symbols, by ELF index (only for the time of the load).
    let symtab = table.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| bad(&format!("symbol table: {e}")))?;
    let strings: &[u8] = if symtab.is_empty() {
        &[]
    } else {
        table.section(symtab.string_section()).and_then(|s| s.data(endian, data)).map_err(|e| bad(&format!("symbol string table: {e}")))?
    };
    let mut all = Vec::with_capacity(symtab.len());
    // sh_info of a symbol table is the index of its first non-local symbol.
    let first_global = table.section(symtab.section()).map_or(0, |s| s.sh_info(endian) as usize);
    let mut globals = Vec::with_capacity(symtab.len().saturating_sub(first_global));
    // Whether each global is undefined here.
    let mut undefined_here = Vec::with_capacity(globals.capacity());
    let mut needs_got = false;
    let mut needs_dso_handle = false;
    for (index, sym) in symtab.enumerate() {
        if index.0 == 0 {
            all.push(SymTarget::Absolute(0));
            continue;
        }
        let bind = sym.st_bind();
        let place = match quick_place(sym, &section_slot, &sections) {
            Some(place) => place,
            None => global_place(&symtab, sym, index, &section_slot, &sections).map_err(|m| bad(&m))?,
        };
        let target = if bind == elf::STB_LOCAL {
            match place {
                GlobalPlace::Section { section, value } if sym.st_type() == elf::STT_GNU_IFUNC => {
                    SymTarget::LocalIfunc { section, offset: value, slot: 0 }
                }
                GlobalPlace::Section { section, value } => SymTarget::Section { section, offset: value, size: sym.st_size(endian) },
                GlobalPlace::Absolute(v) => SymTarget::Absolute(v),
                _ => SymTarget::Absolute(0),
            }
        } else {
            // Only global names are needed (local ones are read later, for
            // the few symbols whose names are kept).
            let name = name_at(strings, sym.st_name(endian))
                .ok_or_else(|| bad(&format!("symbol {}: name offset {:#x} lies outside the string table", index.0, sym.st_name(endian))))?;
            let undefined = sym.st_shndx(endian) == elf::SHN_UNDEF;
            if undefined && name == b"_GLOBAL_OFFSET_TABLE_" {
                needs_got = true;
                SymTarget::GotBase
            } else if undefined && name == b"__dso_handle" {
                needs_dso_handle = true;
                SymTarget::DsoHandle
            } else {
                if name.is_empty() {
                    return Err(bad(&format!("symbol {}: global symbol without a name", index.0)));
                }
                undefined_here.push(place == GlobalPlace::Undefined);
                globals.push(GlobalRef {
                    sym: index.0 as u32,
                    compact: u32::MAX,
                    // The name lies in `strings` at st_name (symbol_name read it there).
                    name_at: sym.st_name(endian),
                    name_len: name.len() as u32,
                });
                SymTarget::Global(globals.len() as u32 - 1)
            }
        };
        all.push(target);
    }
    // Relocations of allocated sections. Symbols get their compact index
    // at their first reference.
    let mut symbols: Vec<SymTarget> = Vec::with_capacity(all.len());
    let mut compact_of = vec![u32::MAX; all.len()];
    let mut relocs = Vec::with_capacity(sections.len());
    let mut wide_addends = Vec::new();
    let mut marks = vec![0u8; all.len()];
    let small = all.len().min(64);
    let mut got_symbols = Vec::with_capacity(small);
    let mut stub_symbols = Vec::with_capacity(small);
    let mut wants_low_memory = false;
    let mut near_symbols = Vec::new();
    let mut tls_got = Vec::new();
    let mut static_tls = false;
    let mut low_data_refs = Vec::new();
    let mut referenced_locals = Vec::with_capacity(small);
    // What each relocation type needs, worked out once per type.
    let mut type_info: [Option<(x86_64::Needs, Field)>; 48] = [None; 48];
    for (index, sh) in table.enumerate() {
        let sh_type = sh.sh_type(endian);
        if sh_type != elf::SHT_RELA && sh_type != elf::SHT_REL {
            continue;
        }
        let target = sh.sh_info(endian) as usize;
        if target >= table.len() {
            return Err(bad(&format!("relocation section {}: target section {target} out of range", index.0)));
        }
        let slot = section_slot[target];
        if slot == u32::MAX {
            continue; // relocations of debug info and other unloaded sections
        }
        let section = &sections[slot as usize];
        let sec_name = || section.name_str();
        if sh_type == elf::SHT_REL {
            return Err(unsupported(&format!("section {}: SHT_REL relocations are not used on x86-64", sec_name())));
        }
        if sh.sh_link(endian) as usize != symtab.section().0 && !all.is_empty() {
            return Err(bad(&format!(
                "relocation section for {}: linked to section {} instead of the symbol table",
                sec_name(),
                sh.sh_link(endian)
            )));
        }
        let (entries, _) =
            sh.rela(endian, data).map_err(|e| bad(&format!("relocations for {}: {e}", sec_name())))?.unwrap_or((&[], SectionIndex(0)));
        let mut list = Vec::with_capacity(entries.len());
        for (i, rela) in entries.iter().enumerate() {
            let info = rela.r_info(endian, false);
            let r_type = (info & 0xffff_ffff) as u32;
            let sym = (info >> 32) as usize;
            let offset = rela.r_offset(endian);
            let addend = rela.r_addend(endian);
            let where_ = || format!("{}+{offset:#x} (relocation {i})", sec_name());
            if r_type == x86_64::R_NONE {
                continue;
            }
            let Some(contents) = section.data else {
                return Err(bad(&format!("{}: relocation in a section without contents", where_())));
            };
            let cached = type_info.get_mut(r_type as usize).and_then(|c| *c);
            let (needs, field) = match cached {
                Some(info) => info,
                None => {
                    let needs = x86_64::needs(r_type)
                        .map_err(|why| unsupported(&format!("{}: {} (type {r_type}): {why}", where_(), x86_64::type_name(r_type))))?;
                    let info = (needs, x86_64::field(r_type));
                    if let Some(c) = type_info.get_mut(r_type as usize) {
                        *c = Some(info);
                    }
                    info
                }
            };
            let Some(&target) = all.get(sym) else {
                return Err(bad(&format!("{}: symbol index {sym} out of range (the object has {} symbols)", where_(), all.len())));
            };
            if offset.checked_add(field.size() as u64).is_none_or(|end| end > section.size) {
                return Err(bad(&format!(
                    "{}: {} field lies outside the section of {} bytes",
                    where_(),
                    x86_64::type_name(r_type),
                    section.size
                )));
            }
            let mut c = compact_of[sym];
            if c == u32::MAX {
                c = symbols.len() as u32;
                compact_of[sym] = c;
                symbols.push(target);
                if matches!(target, SymTarget::Section { .. } | SymTarget::LocalIfunc { .. }) {
                    referenced_locals.push(sym as u32);
                }
            }
            let mut flags = 0;
            let undefined = matches!(target, SymTarget::Global(k) if undefined_here[k as usize]);
            let same_section = matches!(target, SymTarget::Section { section: s, .. } if s == slot);
            let mut wants_stub = needs.stub;
            if r_type == x86_64::R_PC32 && section.kind.is_code() && x86_64::is_branch_displacement(contents, offset as usize) {
                wants_stub = true;
            }
            // A 32-bit absolute address of a function in the host cannot be
            // reached from low memory; as in a static link of a non-PIE
            // program, the function's stub (PLT entry) then stands for it.
            let address_stub = (r_type == x86_64::R_32 || r_type == x86_64::R_32S) && undefined;
            if address_stub {
                flags |= Reloc::ADDRESS_STUB;
            }
            let stubbed =
                wants_stub && !same_section && !matches!(target, SymTarget::Absolute(_) | SymTarget::GotBase | SymTarget::DsoHandle);
            if stubbed {
                flags |= Reloc::BRANCH;
            }
            let m = &mut marks[sym];
            if (stubbed || address_stub) && *m & HAS_STUB == 0 {
                *m |= HAS_STUB;
                stub_symbols.push(c);
            }
            if !stubbed && needs.near_symbol && undefined && *m & NEAR_SYMBOL == 0 {
                *m |= NEAR_SYMBOL;
                near_symbols.push(c);
            }
            static_tls |= matches!(r_type, x86_64::R_GOTTPOFF | x86_64::R_TPOFF32 | x86_64::R_TPOFF64);
            if let Some(kind) = needs.tls_got {
                let bit = match kind {
                    x86_64::TlsGot::Index => TLS_INDEX,
                    x86_64::TlsGot::Module => TLS_MODULE,
                    x86_64::TlsGot::TpOffset => TLS_TP_OFFSET,
                };
                if *m & bit == 0 {
                    *m |= bit;
                    tls_got.push((kind, c));
                }
                needs_got = true;
            }
            if needs.got_slot && *m & HAS_GOT_SLOT == 0 {
                *m |= HAS_GOT_SLOT;
                got_symbols.push(c);
            }
            needs_got |= needs.got_slot || needs.got_base;
            if needs.low_memory && !matches!(target, SymTarget::Absolute(_)) {
                wants_low_memory = true;
            }
            if (needs.low_memory || (needs.near_symbol && !stubbed)) && undefined && *m & LOW_DATA_REF == 0 {
                *m |= LOW_DATA_REF;
                low_data_refs.push(c);
            }
            list.push(Reloc::new(offset as u32, c, r_type as u16, flags, addend, &mut wide_addends));
        }
        if !list.is_empty() {
            relocs.push(ParsedRelocs { section: slot as usize, relocs: list });
        }
    }

    // Names of local symbols: of those relocations refer to (for messages),
    // and of all (for perf maps) when asked, which then also get an entry.
    let mut kept = Vec::new();
    let candidates: Box<dyn Iterator<Item = usize>> =
        if all_local_names { Box::new(0..all.len()) } else { Box::new(referenced_locals.iter().map(|&k| k as usize)) };
    for k in candidates {
        if !matches!(all[k], SymTarget::Section { .. } | SymTarget::LocalIfunc { .. }) {
            continue;
        }
        let sym = symtab.symbol(SymbolIndex(k)).map_err(|e| bad(&format!("symbol {k}: {e}")))?;
        if sym.st_type() == elf::STT_SECTION {
            continue;
        }
        let name = name_at(strings, sym.st_name(endian))
            .ok_or_else(|| bad(&format!("symbol {k}: name offset {:#x} lies outside the string table", sym.st_name(endian))))?;
        if name.is_empty() {
            continue;
        }
        if compact_of[k] == u32::MAX {
            compact_of[k] = symbols.len() as u32;
            symbols.push(all[k]);
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
        g.compact = compact_of[g.sym as usize];
    }
    let index_of = |list: &[u32]| {
        if list.is_empty() {
            return Vec::new();
        }
        let mut v = vec![u32::MAX; symbols.len()];
        for (k, &c) in list.iter().enumerate() {
            v[c as usize] = k as u32;
        }
        v
    };
    let got_index = index_of(&got_symbols);
    let stub_index = index_of(&stub_symbols);
    symbols.shrink_to_fit();
    Ok(ParsedObject {
        sections,
        symbols,
        globals,
        symtab,
        strings,
        section_slot,
        local_names,
        relocs,
        wide_addends,
        got_symbols,
        got_index,
        stub_symbols,
        stub_index,
        tls_got,
        static_tls,
        needs_got,
        comdat_signatures,
        needs_dso_handle,
        wants_low_memory,
        near_symbols,
        low_data_refs,
    })
}

/// The NUL-terminated string at `offset` of a string table. (Symbol names
/// are short: a plain scan beats a general-purpose memchr's setup.)
fn name_at(strings: &[u8], offset: u32) -> Option<&[u8]> {
    let rest = strings.get(offset as usize..)?;
    Some(&rest[..rest.iter().position(|&b| b == 0)?])
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
            slot => {
                let value = sym.st_value(e);
                (value <= sections[slot as usize].size).then_some(GlobalPlace::Section { section: slot, value })
            }
        },
        _ => None,
    }
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
        (elf::SHN_COMMON, _) => {
            let align = value.max(1);
            if !align.is_power_of_two() || align > 1 << 30 || size > u64::from(u32::MAX) {
                return Err(format!("common symbol {}: size {size} or alignment {align} is invalid", lossy()));
            }
            GlobalPlace::Common { size, align }
        }
        (_, Some(s)) => match section_slot[s.0] {
            // A symbol of a section that is not loaded (debug information)
            // cannot be referred to from loaded code.
            u32::MAX => GlobalPlace::Undefined,
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
        _ => GlobalPlace::Undefined,
    })
}

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
