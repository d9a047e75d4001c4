//! ELF x86-64 relocations: which types exist, what each needs (a GOT slot, a
//! stub, the GOT base), and the value each computes (System V x86-64 psABI,
//! section 4.4).

use super::Field;

pub const R_NONE: u32 = 0;
pub const R_64: u32 = 1;
pub const R_PC32: u32 = 2;
pub const R_GOT32: u32 = 3;
pub const R_PLT32: u32 = 4;
pub const R_GOTPCREL: u32 = 9;
pub const R_32: u32 = 10;
pub const R_32S: u32 = 11;
pub const R_16: u32 = 12;
pub const R_PC16: u32 = 13;
pub const R_8: u32 = 14;
pub const R_PC8: u32 = 15;
pub const R_PC64: u32 = 24;
pub const R_GOTOFF64: u32 = 25;
pub const R_GOTPC32: u32 = 26;
pub const R_GOT64: u32 = 27;
pub const R_GOTPCREL64: u32 = 28;
pub const R_GOTPC64: u32 = 29;
pub const R_GOTPLT64: u32 = 30;
pub const R_PLTOFF64: u32 = 31;
pub const R_SIZE32: u32 = 32;
pub const R_SIZE64: u32 = 33;
pub const R_DTPMOD64: u32 = 16;
pub const R_DTPOFF64: u32 = 17;
pub const R_TPOFF64: u32 = 18;
pub const R_TLSGD: u32 = 19;
pub const R_TLSLD: u32 = 20;
pub const R_DTPOFF32: u32 = 21;
pub const R_GOTTPOFF: u32 = 22;
pub const R_TPOFF32: u32 = 23;
pub const R_GOTPC32_TLSDESC: u32 = 34;
pub const R_TLSDESC_CALL: u32 = 35;
pub const R_GOTPCRELX: u32 = 41;
pub const R_REX_GOTPCRELX: u32 = 42;

/// The name of a relocation type, for messages.
pub fn type_name(r_type: u32) -> &'static str {
    match r_type {
        0 => "R_X86_64_NONE",
        1 => "R_X86_64_64",
        2 => "R_X86_64_PC32",
        3 => "R_X86_64_GOT32",
        4 => "R_X86_64_PLT32",
        5 => "R_X86_64_COPY",
        6 => "R_X86_64_GLOB_DAT",
        7 => "R_X86_64_JUMP_SLOT",
        8 => "R_X86_64_RELATIVE",
        9 => "R_X86_64_GOTPCREL",
        10 => "R_X86_64_32",
        11 => "R_X86_64_32S",
        12 => "R_X86_64_16",
        13 => "R_X86_64_PC16",
        14 => "R_X86_64_8",
        15 => "R_X86_64_PC8",
        16 => "R_X86_64_DTPMOD64",
        17 => "R_X86_64_DTPOFF64",
        18 => "R_X86_64_TPOFF64",
        19 => "R_X86_64_TLSGD",
        20 => "R_X86_64_TLSLD",
        21 => "R_X86_64_DTPOFF32",
        22 => "R_X86_64_GOTTPOFF",
        23 => "R_X86_64_TPOFF32",
        24 => "R_X86_64_PC64",
        25 => "R_X86_64_GOTOFF64",
        26 => "R_X86_64_GOTPC32",
        27 => "R_X86_64_GOT64",
        28 => "R_X86_64_GOTPCREL64",
        29 => "R_X86_64_GOTPC64",
        30 => "R_X86_64_GOTPLT64",
        31 => "R_X86_64_PLTOFF64",
        32 => "R_X86_64_SIZE32",
        33 => "R_X86_64_SIZE64",
        34 => "R_X86_64_GOTPC32_TLSDESC",
        35 => "R_X86_64_TLSDESC_CALL",
        36 => "R_X86_64_TLSDESC",
        37 => "R_X86_64_IRELATIVE",
        38 => "R_X86_64_RELATIVE64",
        41 => "R_X86_64_GOTPCRELX",
        42 => "R_X86_64_REX_GOTPCRELX",
        43 => "R_X86_64_CODE_4_GOTPCRELX",
        44 => "R_X86_64_CODE_4_GOTTPOFF",
        45 => "R_X86_64_CODE_4_GOTPC32_TLSDESC",
        _ => "unknown x86-64 relocation",
    }
}

/// What a relocation type needs from the linker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// A GOT slot holding the symbol's address.
    pub got_slot: bool,
    /// The object's GOT base address.
    pub got_base: bool,
    /// A stub (PLT entry) when the symbol may be out of reach.
    pub stub: bool,
    /// A 32-bit absolute field: the object's memory should be in the low 2 GiB.
    pub low_memory: bool,
    /// A 32-bit PC-relative data reference: memory should be near the symbol.
    pub near_symbol: bool,
    /// A GOT entry for thread-local storage.
    pub tls_got: Option<TlsGot>,
}

/// GOT entries for thread-local storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsGot {
    /// `tls_index` {module, offset} of a symbol (general dynamic): 16 bytes.
    Index,
    /// `tls_index` {module, 0} of the object's own module (local dynamic): 16 bytes.
    Module,
    /// The symbol's offset from the thread pointer (initial exec): 8 bytes.
    TpOffset,
    /// A TLS descriptor (`-mtls-dialect=gnu2`): the function the code calls
    /// and its argument, then room for a `tls_index` the argument may
    /// point to: 48 bytes (see `tls::descriptor`).
    Desc,
}

impl TlsGot {
    /// Bytes of the GOT entry.
    pub fn size(self) -> u64 {
        match self {
            TlsGot::TpOffset => 8,
            TlsGot::Index | TlsGot::Module => 16,
            TlsGot::Desc => 48,
        }
    }
}

/// Classifies a relocation type, or explains why it is not supported.
pub fn needs(r_type: u32) -> Result<Needs, &'static str> {
    let n = Needs::default();
    Ok(match r_type {
        R_NONE | R_64 | R_PC64 | R_SIZE32 | R_SIZE64 | R_PC16 | R_PC8 => n,
        R_PC32 => Needs { near_symbol: true, ..n },
        R_PLT32 => Needs { stub: true, ..n },
        R_32 | R_32S | R_16 | R_8 => Needs { low_memory: true, ..n },
        R_GOTPCREL | R_GOTPCRELX | R_REX_GOTPCRELX | R_GOTPCREL64 => Needs { got_slot: true, ..n },
        R_GOT32 | R_GOT64 | R_GOTPLT64 => Needs { got_slot: true, got_base: true, ..n },
        R_GOTOFF64 | R_GOTPC32 | R_GOTPC64 => Needs { got_base: true, ..n },
        R_PLTOFF64 => Needs { got_base: true, stub: true, ..n },
        R_TLSGD => Needs { tls_got: Some(TlsGot::Index), ..n },
        R_TLSLD => Needs { tls_got: Some(TlsGot::Module), ..n },
        R_GOTTPOFF => Needs { tls_got: Some(TlsGot::TpOffset), ..n },
        R_TPOFF32 | R_TPOFF64 | R_DTPMOD64 | R_DTPOFF32 | R_DTPOFF64 => n,
        R_GOTPC32_TLSDESC => Needs { tls_got: Some(TlsGot::Desc), ..n },
        // Marks the call through the descriptor: no field.
        R_TLSDESC_CALL => n,
        43..=45 => return Err("relocations of APX instructions (REX2 and EVEX prefixes) are not supported yet"),
        5..=8 | 36..=38 => return Err("dynamic relocation types do not belong in a relocatable object"),
        _ => return Err("unknown relocation type"),
    })
}

/// The inputs of one relocation, all as target (run-time) addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs {
    /// S: the symbol's address.
    pub s: u64,
    /// A: the addend.
    pub a: i64,
    /// P: the address of the field.
    pub p: u64,
    /// Z: the symbol's size.
    pub z: u64,
    /// GOT: the GOT base.
    pub got: u64,
    /// G + GOT: the address of the symbol's GOT slot.
    pub slot: u64,
    /// L: the address of the symbol's stub (S when there is none).
    pub l: u64,
    /// For TLS symbols: the TLS module id, the offset in the module's
    /// block, and the offset of that from the thread pointer.
    pub tls_module: u64,
    pub dtp_offset: u64,
    pub tp_offset: u64,
}

/// Computes a relocation's value and the field it goes into.
pub fn compute(r_type: u32, i: &Inputs) -> (u64, Field) {
    let a = i.a as u64;
    match r_type {
        R_64 => (i.s.wrapping_add(a), Field::Word64),
        R_PC32 | R_PLT32 => (i.s.wrapping_add(a).wrapping_sub(i.p), Field::Signed32),
        R_32 => (i.s.wrapping_add(a), Field::Unsigned32),
        R_32S => (i.s.wrapping_add(a), Field::Signed32),
        R_16 => (i.s.wrapping_add(a), Field::Bits16),
        R_8 => (i.s.wrapping_add(a), Field::Bits8),
        R_PC16 => (i.s.wrapping_add(a).wrapping_sub(i.p), Field::Signed16),
        R_PC8 => (i.s.wrapping_add(a).wrapping_sub(i.p), Field::Signed8),
        R_PC64 => (i.s.wrapping_add(a).wrapping_sub(i.p), Field::Word64),
        R_GOTPCREL | R_GOTPCRELX | R_REX_GOTPCRELX => (i.slot.wrapping_add(a).wrapping_sub(i.p), Field::Signed32),
        R_GOTPCREL64 => (i.slot.wrapping_add(a).wrapping_sub(i.p), Field::Word64),
        R_GOT32 => (i.slot.wrapping_sub(i.got).wrapping_add(a), Field::Signed32),
        R_GOT64 | R_GOTPLT64 => (i.slot.wrapping_sub(i.got).wrapping_add(a), Field::Word64),
        R_GOTOFF64 => (i.s.wrapping_add(a).wrapping_sub(i.got), Field::Word64),
        R_GOTPC32 => (i.got.wrapping_add(a).wrapping_sub(i.p), Field::Signed32),
        R_GOTPC64 => (i.got.wrapping_add(a).wrapping_sub(i.p), Field::Word64),
        R_PLTOFF64 => (i.l.wrapping_add(a).wrapping_sub(i.got), Field::Word64),
        R_SIZE32 => (i.z.wrapping_add(a), Field::Unsigned32),
        R_SIZE64 => (i.z.wrapping_add(a), Field::Word64),
        R_TLSGD | R_TLSLD | R_GOTTPOFF | R_GOTPC32_TLSDESC => (i.slot.wrapping_add(a).wrapping_sub(i.p), Field::Signed32),
        R_DTPMOD64 => (i.tls_module, Field::Word64),
        R_DTPOFF32 => (i.dtp_offset.wrapping_add(a), Field::Signed32),
        R_DTPOFF64 => (i.dtp_offset.wrapping_add(a), Field::Word64),
        R_TPOFF32 => (i.tp_offset.wrapping_add(a), Field::Signed32),
        R_TPOFF64 => (i.tp_offset.wrapping_add(a), Field::Word64),
        // R_NONE, R_TLSDESC_CALL and anything `needs` rejected never reach here.
        _ => (0, Field::Word64),
    }
}

/// The field a relocation type writes.
pub fn field(r_type: u32) -> Field {
    compute(r_type, &Inputs::default()).1
}

/// Bytes of one stub: `jmp *0(%rip)` followed by the 8-byte target.
pub const STUB_SIZE: usize = 16;

pub fn stub_bytes(target: u64) -> [u8; STUB_SIZE] {
    let mut b = [0xcc; STUB_SIZE];
    b[..6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
    b[6..14].copy_from_slice(&target.to_le_bytes());
    b
}

/// Is the 4-byte field at `offset` of `code` the displacement of a direct
/// `call rel32` or `jmp rel32`?
pub fn is_branch_displacement(code: &[u8], offset: usize) -> bool {
    offset >= 1 && matches!(code.get(offset - 1), Some(0xe8) | Some(0xe9))
}
