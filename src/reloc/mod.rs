//! Relocations: the compact record kept for re-finalize, and writing a
//! computed value into its field with an overflow check.

pub mod x86_64;

/// One retained relocation: 16 bytes.
///
/// `symbol` indexes the owning object's symbol list (the ELF symbol index);
/// `offset` is relative to the patched section. An addend that does not fit
/// 32 bits is kept in the object's side table and `addend` is its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Reloc {
    pub offset: u32,
    pub symbol: u32,
    pub addend: i32,
    pub r_type: u16,
    pub flags: u8,
    _reserved: u8,
}

const _: () = assert!(std::mem::size_of::<Reloc>() == 16);

impl Reloc {
    /// `addend` is an index into the object's table of wide addends.
    pub const WIDE_ADDEND: u8 = 1;
    /// A call or jump that may go through a stub when the target is out of reach.
    pub const BRANCH: u8 = 2;
    /// A 32-bit absolute reference to an external symbol: when it is a
    /// function out of reach, its stub stands for it.
    pub const ADDRESS_STUB: u8 = 4;

    pub fn new(offset: u32, symbol: u32, r_type: u16, flags: u8, addend: i64, wide: &mut Vec<i64>) -> Reloc {
        let (addend, flags) = match i32::try_from(addend) {
            Ok(a) => (a, flags),
            Err(_) => {
                wide.push(addend);
                ((wide.len() - 1) as i32, flags | Self::WIDE_ADDEND)
            }
        };
        Reloc { offset, symbol, addend, r_type, flags, _reserved: 0 }
    }

    pub fn addend(&self, wide: &[i64]) -> i64 {
        if self.flags & Self::WIDE_ADDEND != 0 {
            wide[self.addend as usize]
        } else {
            self.addend as i64
        }
    }

    pub fn is_branch(&self) -> bool {
        self.flags & Self::BRANCH != 0
    }
}

/// The width and overflow rule of a relocated field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// 64 bits, no check.
    Word64,
    /// 32 bits, the value must fit when sign-extended.
    Signed32,
    /// 32 bits, the value must fit when zero-extended.
    Unsigned32,
    /// 16 bits, signed or unsigned.
    Bits16,
    /// 16 bits, signed (PC-relative).
    Signed16,
    /// 8 bits, signed or unsigned.
    Bits8,
    /// 8 bits, signed (PC-relative).
    Signed8,
}

impl Field {
    pub fn size(self) -> usize {
        match self {
            Field::Word64 => 8,
            Field::Signed32 | Field::Unsigned32 => 4,
            Field::Bits16 | Field::Signed16 => 2,
            Field::Bits8 | Field::Signed8 => 1,
        }
    }

    /// Whether `value` (as a 64-bit two's-complement number) fits.
    pub fn fits(self, value: u64) -> bool {
        let v = value as i64;
        match self {
            Field::Word64 => true,
            Field::Signed32 => i32::try_from(v).is_ok(),
            Field::Unsigned32 => u32::try_from(value).is_ok(),
            Field::Bits16 => (-(1i64 << 15)..(1i64 << 16)).contains(&v),
            Field::Signed16 => i16::try_from(v).is_ok(),
            Field::Bits8 => (-(1i64 << 7)..(1i64 << 8)).contains(&v),
            Field::Signed8 => i8::try_from(v).is_ok(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Field::Word64 => "64-bit field",
            Field::Signed32 => "signed 32-bit field",
            Field::Unsigned32 => "unsigned 32-bit field",
            Field::Bits16 => "16-bit field",
            Field::Signed16 => "signed 16-bit field",
            Field::Bits8 => "8-bit field",
            Field::Signed8 => "signed 8-bit field",
        }
    }
}
