//! The structure-aware mutation of target (b).
//!
//! Input layout: `[n][n records of REC bytes][object bytes]`, `n % 16`
//! records. Each record is
//! `[what][entry: u16 LE][field][mode][value: u64 LE]`:
//! - `what % 4` picks the ELF header (0), a section header (1), a symbol
//!   entry of a `SHT_SYMTAB` (2) or a relocation entry of a `SHT_RELA` (3);
//! - `entry` picks the header / symbol / relocation (modulo their count);
//! - `field` picks the field (modulo the number of fields);
//! - `mode % 6` picks how the new value is made: the raw `value`, an
//!   interesting constant, a small delta, a bit flip, a value near the file
//!   size, or a doubling.
//!
//! The mutator itself never panics: every read and write is bounds-checked.

pub const REC: usize = 13;

const SHT_SYMTAB: u32 = 2;
const SHT_RELA: u32 = 4;

fn rd(d: &[u8], off: usize, width: usize) -> Option<u64> {
    let b = d.get(off..off.checked_add(width)?)?;
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        v |= (x as u64) << (8 * i);
    }
    Some(v)
}

fn wr(d: &mut [u8], off: usize, width: usize, v: u64) {
    let Some(end) = off.checked_add(width) else {
        return;
    };
    if let Some(b) = d.get_mut(off..end) {
        for (i, x) in b.iter_mut().enumerate() {
            *x = (v >> (8 * i)) as u8;
        }
    }
}

/// ELF64 header fields: (offset, width).
#[rustfmt::skip]
const EHDR_FIELDS: &[(usize, usize)] = &[
    (4, 1), (5, 1), (6, 1), (7, 1), (0x10, 2), (0x12, 2), (0x14, 4), (0x18, 8), (0x20, 8), (0x28, 8),
    (0x30, 4), (0x34, 2), (0x36, 2), (0x38, 2), (0x3a, 2), (0x3c, 2), (0x3e, 2),
];
/// Elf64_Shdr fields.
const SHDR_FIELDS: &[(usize, usize)] = &[
    (0, 4),
    (4, 4),
    (8, 8),
    (16, 8),
    (24, 8),
    (32, 8),
    (40, 4),
    (44, 4),
    (48, 8),
    (56, 8),
];
/// Elf64_Sym fields.
const SYM_FIELDS: &[(usize, usize)] = &[(0, 4), (4, 1), (5, 1), (6, 2), (8, 8), (16, 8)];
/// Elf64_Rela fields: r_offset, r_info's type (low half), r_info's symbol (high half), r_addend.
const RELA_FIELDS: &[(usize, usize)] = &[(0, 8), (8, 4), (12, 4), (16, 8)];

struct Shdr {
    at: usize,
    ty: u32,
    offset: u64,
    size: u64,
}

/// The section headers that lie inside the file, from `e_shnum`. With
/// `extended`, an `e_shnum` of 0 means the count is in the first header's
/// `sh_size`, as the ELF specification (and rtdyld) read it; the mutator
/// itself takes `e_shnum` as it is.
fn section_headers(d: &[u8], extended: bool) -> Vec<Shdr> {
    let Some(shoff) = rd(d, 0x28, 8) else {
        return Vec::new();
    };
    let shnum = if extended {
        match rd(d, 0x3c, 2).unwrap_or(0) {
            0 => rd(d, (shoff as usize).saturating_add(32), 8)
                .unwrap_or(0)
                .min(1 << 20),
            n => n,
        }
    } else {
        let Some(n) = rd(d, 0x3c, 2) else {
            return Vec::new();
        };
        n
    };
    let mut out = Vec::new();
    for i in 0..shnum as usize {
        let Some(at) = (shoff as usize).checked_add(i * 64) else {
            break;
        };
        if at >= d.len() {
            break; // no header there; and `at + 56` cannot overflow
        }
        let (Some(ty), Some(offset), Some(size)) =
            (rd(d, at + 4, 4), rd(d, at + 24, 8), rd(d, at + 32, 8))
        else {
            break;
        };
        out.push(Shdr {
            at,
            ty: ty as u32,
            offset,
            size,
        });
    }
    out
}

/// Offsets of every 24-byte entry of sections of type `ty` that lies inside the file.
fn entries(d: &[u8], secs: &[Shdr], ty: u32) -> Vec<usize> {
    let mut out = Vec::new();
    for s in secs.iter().filter(|s| s.ty == ty) {
        let n = (s.size / 24).min(1 << 16);
        for i in 0..n {
            let at = s.offset.saturating_add(i * 24);
            if at.saturating_add(24) <= d.len() as u64 {
                out.push(at as usize);
            }
        }
    }
    out
}

fn new_value(old: u64, width: usize, mode: u8, value: u64, file_len: usize, count: usize) -> u64 {
    let interesting = [
        0,
        1,
        2,
        3,
        4,
        7,
        8,
        15,
        16,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        i64::MAX as u64,
        1 << 63,
        u64::MAX,
        u64::MAX - 1,
        file_len as u64,
        file_len as u64 + 1,
        count as u64,
        count as u64 + 1,
    ];
    match mode % 6 {
        0 => value,
        1 => interesting[(value % interesting.len() as u64) as usize],
        2 => old.wrapping_add(value as i8 as i64 as u64),
        3 => old ^ (1u64 << (value % (width as u64 * 8))),
        4 => (file_len as u64).wrapping_sub(value % 256),
        _ => old.wrapping_mul(2).wrapping_add(value & 1),
    }
}

fn apply(d: &mut [u8], rec: &[u8]) {
    let what = rec[0] % 4;
    let entry = u16::from_le_bytes([rec[1], rec[2]]) as usize;
    let field = rec[3] as usize;
    let mode = rec[4];
    let value = u64::from_le_bytes(rec[5..13].try_into().unwrap());
    let secs = section_headers(d, false);
    let (base, fields, count) = match what {
        0 => (0, EHDR_FIELDS, 1),
        1 => {
            if secs.is_empty() {
                return;
            }
            (secs[entry % secs.len()].at, SHDR_FIELDS, secs.len())
        }
        2 | 3 => {
            let (ty, f) = if what == 2 {
                (SHT_SYMTAB, SYM_FIELDS)
            } else {
                (SHT_RELA, RELA_FIELDS)
            };
            let e = entries(d, &secs, ty);
            if e.is_empty() {
                return;
            }
            (e[entry % e.len()], f, e.len())
        }
        _ => unreachable!(),
    };
    let (off, width) = fields[field % fields.len()];
    let at = base.saturating_add(off);
    let Some(old) = rd(d, at, width) else { return };
    let v = new_value(old, width, mode, value, d.len(), count);
    wr(d, at, width, v);
}

/// Decodes the input and returns the mutated object.
pub fn apply_script(data: &[u8]) -> Vec<u8> {
    let Some((&n, rest)) = data.split_first() else {
        return Vec::new();
    };
    let len = ((n % 16) as usize * REC).min(rest.len() / REC * REC);
    let (script, object) = rest.split_at(len);
    let mut object = object.to_vec();
    for rec in script.chunks_exact(REC) {
        apply(&mut object, rec);
    }
    object
}

/// Whether the object has a symbol of type `STT_GNU_IFUNC` (10).
///
/// rtdyld calls IFUNC resolvers during finalize, that is, it runs code from
/// the object (before bece55d an absolute IFUNC symbol with value 0 made it
/// call address 0: fuzz/regressions/README.md, finding 2; now resolvers
/// outside code sections are an error, but those inside are still called).
/// The fuzz targets must never run loaded code, so they skip such objects.
pub fn has_ifunc(d: &[u8]) -> bool {
    if d.get(..4) != Some(b"\x7fELF".as_slice()) {
        return false;
    }
    let secs = section_headers(d, true);
    // Every symbol table entry, wherever a SHT_SYMTAB section points
    // (`entries` keeps only those inside the file, as rtdyld must).
    entries(d, &secs, SHT_SYMTAB)
        .into_iter()
        .any(|at| d.get(at + 4).is_some_and(|info| info & 0xf == 10))
}

/// Whether a fuzz target must not load this object: it has IFUNC symbols
/// ([`has_ifunc`]).
///
/// (Until bece55d the targets also skipped objects declaring more than
/// 64 MiB of `.bss`, commons or alignment, which rtdyld zero-filled byte by
/// byte: fuzz/regressions/README.md, finding 1. The default memory manager
/// now reports its fresh pages as zero, so those inputs are cheap again and
/// are fuzzed.)
pub fn skip(d: &[u8]) -> bool {
    has_ifunc(d)
}
