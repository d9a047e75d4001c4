//! The memory-manager protocol: how rtdyld obtains memory for sections and
//! how that memory changes protection across (repeated) finalizes.
//!
//! For each loaded object the linker calls, in this order:
//! 1. [`MemoryManager::reserve`] once, with the totals of what follows;
//! 2. [`MemoryManager::allocate`] once per section (object sections, then the
//!    common-symbol area, the GOT and the stubs that rtdyld builds);
//!
//! and on every finalize:
//! 3. [`MemoryManager::begin_finalize`];
//! 4. [`MemoryManager::make_writable_many`] for the sections an earlier
//!    finalize finalized and that must be written again (after a remap or
//!    when a symbol's address changed): once for each section that moved,
//!    then once with all the others whose bytes change; by default it calls
//!    [`MemoryManager::make_writable`] for each;
//! 5. [`MemoryManager::finalize`], which applies the final protections.

pub(crate) mod default;

pub use default::{release_recycled_memory, set_recycled_memory_limit, DefaultMemoryManager, RegionAlias};

use std::any::Any;

/// What a section will hold, which decides its final protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SectionKind {
    /// Executable code: read + execute after finalize.
    Code = 0,
    /// Read-only data (also the GOT): read-only after finalize.
    ReadOnlyData = 1,
    /// Writable data: read + write.
    ReadWriteData = 2,
    /// Zero-initialised writable data (`SHT_NOBITS`, commons): read + write.
    ZeroFill = 3,
    /// `.tdata`: initial values of thread-local variables. Never allocated
    /// through a memory manager (the C library owns TLS templates).
    TlsData = 4,
    /// `.tbss`: zero-initialised thread-local variables; no memory at all.
    TlsZeroFill = 5,
}

impl SectionKind {
    pub fn is_code(self) -> bool {
        self == SectionKind::Code
    }
    pub fn is_read_only(self) -> bool {
        self == SectionKind::ReadOnlyData
    }
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Code => "code",
            SectionKind::ReadOnlyData => "rodata",
            SectionKind::ReadWriteData => "data",
            SectionKind::ZeroFill => "bss",
            SectionKind::TlsData => "tdata",
            SectionKind::TlsZeroFill => "tbss",
        }
    }

    /// Part of a thread-local storage template.
    pub fn is_tls(self) -> bool {
        matches!(self, SectionKind::TlsData | SectionKind::TlsZeroFill)
    }
}

/// Totals for one object, passed to [`MemoryManager::reserve`] before any of
/// its allocations. Each size is what a bump allocator needs when it places
/// that class's sections one after another, in the order they are requested,
/// each at its alignment, starting at an address aligned to the class's
/// alignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReserveRequest {
    pub code_size: usize,
    pub code_align: usize,
    pub ro_size: usize,
    pub ro_align: usize,
    /// Read-write and zero-fill data.
    pub rw_size: usize,
    pub rw_align: usize,
    /// The object uses 32-bit absolute relocations (`-fno-pic` code), so its
    /// memory should lie in the low 2 GiB of the address space.
    pub wants_low_memory: bool,
    /// An address the object refers to with 32-bit PC-relative relocations
    /// that cannot go through a stub (data in the host): memory within
    /// ±2 GiB of it lets those references reach.
    pub near: Option<u64>,
}

/// One section allocation.
#[derive(Debug, Clone)]
pub struct AllocationRequest<'a> {
    pub size: usize,
    pub align: usize,
    pub section_id: u32,
    pub name: &'a str,
    pub kind: SectionKind,
}

/// Provides memory for sections and controls its protection.
///
/// A linker may move to another thread, taking its memory manager along,
/// hence `Send`.
///
/// # Safety
///
/// The linker writes section bytes, relocated fields, GOT slots and stubs
/// through the pointers the manager hands out, and trusts it to do so:
/// [`MemoryManager::allocate`] must return memory writable for `size`
/// bytes, used for nothing else, that stays valid at the same local
/// address until the manager is dropped (the linker drops it last); and
/// after `make_writable`/`make_writable_many` (and `begin_finalize`) the
/// named sections must be writable again.
pub unsafe trait MemoryManager: Send {
    /// Called once per object before its allocations. The default accepts.
    fn reserve(&mut self, _request: &ReserveRequest) -> Result<(), String> {
        Ok(())
    }

    /// Whether the allocations of the object just reserved are zero-filled
    /// already (fresh anonymous pages), so that rtdyld need not write the
    /// zeros of `.bss`. Asked after [`Self::reserve`], once per object. The
    /// default says no.
    fn allocates_zeroed_memory(&self) -> bool {
        false
    }

    /// Returns writable memory of at least `size` bytes at `align`.
    fn allocate(&mut self, request: &AllocationRequest<'_>) -> Result<*mut u8, String>;

    /// Called at the start of every finalize, before rtdyld reads or writes
    /// section memory. The default does nothing.
    fn begin_finalize(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Called before rtdyld writes again into a section that an earlier
    /// finalize finalized. The default does nothing, which is right when the
    /// local addresses always stay writable (a writable alias).
    fn make_writable(&mut self, _local: *mut u8, _size: usize, _section_id: u32) -> Result<(), String> {
        Ok(())
    }

    /// Makes several finalized sections writable again, as
    /// [`MemoryManager::make_writable`] does for each (see the protocol in
    /// the module documentation). Managers that can switch adjacent
    /// sections together override it.
    fn make_writable_many(&mut self, sections: &[(*mut u8, usize, u32)]) -> Result<(), String> {
        for &(local, size, id) in sections {
            self.make_writable(local, size, id)?;
        }
        Ok(())
    }

    /// Called for each section of an object being removed, or of an object
    /// whose load failed after the section was allocated: the memory is no
    /// longer used by rtdyld. The default does nothing.
    fn release(&mut self, _local: *mut u8, _size: usize, _section_id: u32) -> Result<(), String> {
        Ok(())
    }

    /// Applies the final protections. Called at the end of every finalize.
    fn finalize(&mut self) -> Result<(), String>;

    /// Allows [`crate::Linker::memory_manager_mut`] to downcast.
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
}
