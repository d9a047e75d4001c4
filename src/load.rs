//! Reading an ELF x86-64 relocatable object: every check that can fail is
//! done here, before any memory is allocated or any symbol is published, so
//! that a bad object leaves the linker exactly as it was.

use crate::error::{Error, Result};
use crate::memory::SectionKind;
use crate::reloc::{x86_64, Reloc};
use crate::symbols::Strength;
use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, Sym};
use object::{Endianness, SectionIndex};

/// An allocatable section of the object.
#[derive(Debug)]
pub struct ParsedSection<'a> {
    /// Index in the object's section table.
    pub elf_index: usize,
    pub name: String,
    pub kind: SectionKind,
    pub size: u64,
    pub align: u64,
    /// The bytes to copy; `None` for `SHT_NOBITS`.
    pub data: Option<&'a [u8]>,
    /// A `.tdata`/`.tbss` section: part of the object's TLS template, not
    /// allocated through the memory manager.
    pub tls: bool,
}

/// Where a global symbol of the object is defined.
#[derive(Debug, Clone, Copy)]
pub enum GlobalPlace {
    /// In allocated section `section` (an index into `ParsedObject::sections`).
    Section {
        section: usize,
        value: u64,
    },
    Absolute(u64),
    /// A `COMMON` symbol: storage laid out by the linker.
    Common {
        size: u64,
        align: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum ParsedSymbol<'a> {
    /// The null symbol, file symbols, absolute locals and symbols of
    /// sections that are not loaded.
    Absolute(u64),
    /// A local symbol in allocated section `section`.
    Local { section: usize, value: u64, size: u64, ifunc: bool },
    /// A global or weak symbol, defined here or not.
    Global { name: &'a [u8], definition: Option<(GlobalPlace, Strength)>, size: u64, is_function: bool, weak: bool, ifunc: bool },
    /// `_GLOBAL_OFFSET_TABLE_`: the object's own GOT.
    GotBase,
    /// `__dso_handle`: the object's own handle.
    DsoHandle,
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
    pub fn of(name: &str) -> Option<(TableKind, u32)> {
        const DEFAULT: u32 = 65535;
        for (prefix, kind, inverted) in [
            (".init_array", TableKind::InitArray, false),
            (".fini_array", TableKind::FiniArray, false),
            (".ctors", TableKind::Ctors, true),
            (".dtors", TableKind::Dtors, true),
        ] {
            if let Some(rest) = name.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Some((kind, DEFAULT));
                }
                let n: u32 = rest.strip_prefix('.')?.parse().ok()?;
                // `.ctors.N` and `.dtors.N` number priorities backwards.
                return Some((kind, if inverted { DEFAULT.saturating_sub(n) } else { n }));
            }
        }
        None
    }
}

/// Relocations of one allocated section.
#[derive(Debug)]
pub struct ParsedRelocs {
    pub section: usize,
    pub relocs: Vec<Reloc>,
}

/// Everything the linker needs from one object, validated.
#[derive(Debug)]
pub struct ParsedObject<'a> {
    pub sections: Vec<ParsedSection<'a>>,
    pub symbols: Vec<ParsedSymbol<'a>>,
    /// Names of named local symbols, for messages.
    pub local_names: Vec<(u32, String)>,
    pub relocs: Vec<ParsedRelocs>,
    pub wide_addends: Vec<i64>,
    /// Symbols that need a GOT slot, in slot order.
    pub got_symbols: Vec<u32>,
    /// Symbols that need a stub, in stub order.
    pub stub_symbols: Vec<u32>,
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

/// Parses and validates `data` as an ELF64 x86-64 relocatable object.
/// `comdat_kept` answers whether a COMDAT group of that signature is
/// already loaded; such groups' sections are then not loaded, and their
/// global symbols bind to the kept copy.
pub fn parse<'a>(data: &'a [u8], object: &str, comdat_kept: &dyn Fn(&[u8]) -> bool) -> Result<ParsedObject<'a>> {
    let bad = |m: &dyn std::fmt::Display| Error::malformed(object, m);
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Err(bad(&"not an ELF file (bad magic)"));
    }
    if data.len() >= 5 && data[4] != elf::ELFCLASS64 {
        return Err(Error::unsupported(object, "only 64-bit ELF objects are supported"));
    }
    if data.len() >= 6 && data[5] != elf::ELFDATA2LSB {
        return Err(Error::unsupported(object, "big-endian ELF object; x86-64 objects are little-endian"));
    }
    let header = elf::FileHeader64::<Endianness>::parse(data).map_err(|e| bad(&format!("ELF header: {e}")))?;
    let endian = header.endian().map_err(|e| bad(&e))?;
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(Error::unsupported(
            object,
            format!(
                "wrong architecture: ELF machine {} ({}), expected x86-64",
                header.e_machine(endian),
                machine_name(header.e_machine(endian))
            ),
        ));
    }
    if header.e_type(endian) != elf::ET_REL {
        return Err(Error::unsupported(
            object,
            format!("not a relocatable object (ELF type {}); rtdyld loads ET_REL .o files", header.e_type(endian)),
        ));
    }
    let table = header.sections(endian, data).map_err(|e| bad(&format!("section table: {e}")))?;

    // COMDAT groups: a group whose signature is already loaded is discarded.
    let mut discarded = vec![false; table.len()];
    let mut comdat_signatures = Vec::new();
    for (index, sh) in table.enumerate() {
        if sh.sh_type(endian) != elf::SHT_GROUP {
            continue;
        }
        let words: &[object::U32<Endianness>] =
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
        let syms: &[elf::Sym64<Endianness>] =
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
    let mut sections = Vec::new();
    let mut section_slot = vec![usize::MAX; table.len()];
    for (index, sh) in table.enumerate() {
        let flags = sh.sh_flags(endian);
        if flags & u64::from(elf::SHF_ALLOC) == 0 || sh.sh_size(endian) == 0 || discarded[index.0] {
            continue;
        }
        let name = table.section_name(endian, sh).map_err(|e| bad(&format!("section {}: name: {e}", index.0)))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let tls = flags & u64::from(elf::SHF_TLS) != 0;
        let sh_type = sh.sh_type(endian);
        let size = sh.sh_size(endian);
        let align = sh.sh_addralign(endian).max(1);
        if !align.is_power_of_two() || align > 1 << 30 {
            return Err(bad(&format!("section {name} (index {}): alignment {align} is not a power of two up to 1 GiB", index.0)));
        }
        if size > u64::from(u32::MAX) {
            return Err(Error::unsupported(object, format!("section {name} (index {}): size {size} exceeds 4 GiB", index.0)));
        }
        let bytes = if sh_type == elf::SHT_NOBITS {
            None
        } else {
            let d =
                sh.data(endian, data).map_err(|_| bad(&format!("section {name} (index {}): contents lie outside the file", index.0)))?;
            if d.len() as u64 != size {
                return Err(bad(&format!("section {name} (index {}): contents are truncated", index.0)));
            }
            Some(d)
        };
        section_slot[index.0] = sections.len();
        sections.push(ParsedSection { tls, elf_index: index.0, name, kind: kind_of(flags, sh_type), size, align, data: bytes });
    }

    // Symbols.
    let symtab = table.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| bad(&format!("symbol table: {e}")))?;
    let mut symbols = Vec::with_capacity(symtab.len());
    let mut local_names = Vec::new();
    let mut needs_got = false;
    let mut needs_dso_handle = false;
    for (index, sym) in symtab.enumerate() {
        if index.0 == 0 {
            symbols.push(ParsedSymbol::Absolute(0));
            continue;
        }
        let name = symtab.symbol_name(endian, sym).map_err(|e| bad(&format!("symbol {}: name: {e}", index.0)))?;
        let shndx = sym.st_shndx(endian);
        let bind = sym.st_bind();
        let st_type = sym.st_type();
        let value = sym.st_value(endian);
        let size = sym.st_size(endian);
        let section = symtab
            .symbol_section(endian, sym, index)
            .map_err(|e| bad(&format!("symbol {} ({}): {e}", index.0, String::from_utf8_lossy(name))))?;
        if let Some(s) = section {
            if s.0 >= table.len() {
                return Err(bad(&format!(
                    "symbol {} ({}): section index {} out of range (the object has {} sections)",
                    index.0,
                    String::from_utf8_lossy(name),
                    s.0,
                    table.len()
                )));
            }
        }
        let ifunc = st_type == elf::STT_GNU_IFUNC;
        let place = match (shndx, section) {
            (elf::SHN_ABS, _) => Some(GlobalPlace::Absolute(value)),
            (elf::SHN_COMMON, _) => {
                let align = value.max(1);
                if !align.is_power_of_two() || align > 1 << 30 || size > u64::from(u32::MAX) {
                    return Err(bad(&format!(
                        "common symbol {}: size {size} or alignment {align} is invalid",
                        String::from_utf8_lossy(name)
                    )));
                }
                Some(GlobalPlace::Common { size, align })
            }
            (_, Some(s)) => match section_slot[s.0] {
                usize::MAX => None,
                slot => {
                    if value > sections[slot].size {
                        return Err(bad(&format!(
                            "symbol {} ({}): value {value:#x} lies beyond its section {} of {} bytes",
                            index.0,
                            String::from_utf8_lossy(name),
                            sections[slot].name,
                            sections[slot].size
                        )));
                    }
                    Some(GlobalPlace::Section { section: slot, value })
                }
            },
            _ => None,
        };
        let parsed = if bind == elf::STB_LOCAL {
            match place {
                Some(GlobalPlace::Section { section, value }) => {
                    if !name.is_empty() && st_type != elf::STT_SECTION {
                        local_names.push((index.0 as u32, String::from_utf8_lossy(name).into_owned()));
                    }
                    ParsedSymbol::Local { section, value, size, ifunc }
                }
                Some(GlobalPlace::Absolute(v)) => ParsedSymbol::Absolute(v),
                _ => ParsedSymbol::Absolute(0),
            }
        } else if shndx == elf::SHN_UNDEF && name == b"_GLOBAL_OFFSET_TABLE_" {
            needs_got = true;
            ParsedSymbol::GotBase
        } else if shndx == elf::SHN_UNDEF && name == b"__dso_handle" {
            needs_dso_handle = true;
            ParsedSymbol::DsoHandle
        } else {
            let weak = bind == elf::STB_WEAK;
            let strength = match place {
                Some(GlobalPlace::Common { .. }) => Strength::Common,
                _ if weak => Strength::Weak,
                _ => Strength::Strong,
            };
            if name.is_empty() {
                return Err(bad(&format!("symbol {}: global symbol without a name", index.0)));
            }
            // A global defined in a section that is not loaded (debug info)
            // cannot be referred to from loaded code; treat it as undefined.
            let definition = if shndx != elf::SHN_UNDEF { place.map(|p| (p, strength)) } else { None };
            ParsedSymbol::Global { name, definition, size, is_function: st_type == elf::STT_FUNC || ifunc, weak, ifunc }
        };
        symbols.push(parsed);
    }

    // Relocations of allocated sections.
    let mut relocs = Vec::new();
    let mut wide_addends = Vec::new();
    let mut got_index = vec![u32::MAX; symbols.len()];
    let mut stub_index = vec![u32::MAX; symbols.len()];
    let mut got_symbols = Vec::new();
    let mut stub_symbols = Vec::new();
    let mut wants_low_memory = false;
    let mut near_symbols = Vec::new();
    let mut tls_got = Vec::new();
    let mut static_tls = false;
    let mut low_data_refs = Vec::new();
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
        if slot == usize::MAX {
            continue; // relocations of debug info and other unloaded sections
        }
        let sec_name = sections[slot].name.clone();
        if sh_type == elf::SHT_REL {
            return Err(Error::unsupported(object, format!("section {sec_name}: SHT_REL relocations are not used on x86-64")));
        }
        if sh.sh_link(endian) as usize != symtab.section().0 && !symbols.is_empty() {
            return Err(bad(&format!(
                "relocation section for {sec_name}: linked to section {} instead of the symbol table",
                sh.sh_link(endian)
            )));
        }
        let (entries, _) =
            sh.rela(endian, data).map_err(|e| bad(&format!("relocations for {sec_name}: {e}")))?.unwrap_or((&[], SectionIndex(0)));
        let section = &sections[slot];
        let mut list = Vec::with_capacity(entries.len());
        for (i, rela) in entries.iter().enumerate() {
            let info = rela.r_info(endian, false);
            let r_type = (info & 0xffff_ffff) as u32;
            let sym = (info >> 32) as usize;
            let offset = rela.r_offset(endian);
            let addend = rela.r_addend(endian);
            let where_ = || format!("{sec_name}+{offset:#x} (relocation {i})");
            if r_type == x86_64::R_NONE {
                continue;
            }
            let needs = x86_64::needs(r_type)
                .map_err(|why| Error::unsupported(object, format!("{}: {} (type {r_type}): {why}", where_(), x86_64::type_name(r_type))))?;
            if sym >= symbols.len() {
                return Err(bad(&format!("{}: symbol index {sym} out of range (the object has {} symbols)", where_(), symbols.len())));
            }
            let zero = x86_64::Inputs { s: 0, a: 0, p: 0, z: 0, got: 0, slot: 0, l: 0, tls_module: 0, dtp_offset: 0, tp_offset: 0 };
            let field = x86_64::compute(r_type, &zero).1;
            if offset.checked_add(field.size() as u64).is_none_or(|end| end > section.size) {
                return Err(bad(&format!(
                    "{}: {} field lies outside the section of {} bytes",
                    where_(),
                    x86_64::type_name(r_type),
                    section.size
                )));
            }
            if section.data.is_none() {
                return Err(bad(&format!("{}: relocation in a section without contents", where_())));
            }
            let mut flags = 0;
            let same_section = matches!(symbols[sym], ParsedSymbol::Local { section: s, .. } if s == slot);
            let mut wants_stub = needs.stub;
            if r_type == x86_64::R_PC32
                && section.kind.is_code()
                && x86_64::is_branch_displacement(section.data.unwrap_or(&[]), offset as usize)
            {
                wants_stub = true;
            }
            // A 32-bit absolute address of a function in the host cannot be
            // reached from low memory; as in a static link of a non-PIE
            // program, the function's stub (PLT entry) then stands for it.
            let address_stub = (r_type == x86_64::R_32 || r_type == x86_64::R_32S)
                && matches!(symbols[sym], ParsedSymbol::Global { definition: None, .. });
            if address_stub {
                flags |= Reloc::ADDRESS_STUB;
            }
            let stubbed = wants_stub
                && !same_section
                && !matches!(symbols[sym], ParsedSymbol::Absolute(_) | ParsedSymbol::GotBase | ParsedSymbol::DsoHandle);
            if stubbed {
                flags |= Reloc::BRANCH;
            }
            if (stubbed || address_stub) && stub_index[sym] == u32::MAX {
                stub_index[sym] = stub_symbols.len() as u32;
                stub_symbols.push(sym as u32);
            }
            if !stubbed && needs.near_symbol {
                if let ParsedSymbol::Global { definition: None, .. } = symbols[sym] {
                    near_symbols.push(sym as u32);
                }
            }
            static_tls |= matches!(r_type, x86_64::R_GOTTPOFF | x86_64::R_TPOFF32 | x86_64::R_TPOFF64);
            if let Some(kind) = needs.tls_got {
                let key = (kind, sym as u32);
                if !tls_got.contains(&key) {
                    tls_got.push(key);
                }
                needs_got = true;
            }
            if needs.got_slot && got_index[sym] == u32::MAX {
                got_index[sym] = got_symbols.len() as u32;
                got_symbols.push(sym as u32);
            }
            needs_got |= needs.got_slot || needs.got_base;
            if needs.low_memory && !matches!(symbols[sym], ParsedSymbol::Absolute(_)) {
                wants_low_memory = true;
            }
            if (needs.low_memory || (needs.near_symbol && !stubbed))
                && matches!(symbols[sym], ParsedSymbol::Global { definition: None, .. })
                && !low_data_refs.contains(&(sym as u32))
            {
                low_data_refs.push(sym as u32);
            }
            list.push(Reloc::new(offset as u32, sym as u32, r_type as u16, flags, addend, &mut wide_addends));
        }
        if !list.is_empty() {
            relocs.push(ParsedRelocs { section: slot, relocs: list });
        }
    }
    Ok(ParsedObject {
        sections,
        symbols,
        local_names,
        relocs,
        wide_addends,
        got_symbols,
        stub_symbols,
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
