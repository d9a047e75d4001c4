//! The default memory manager: one contiguous region per object, W^X.
//!
//! Each object gets one mapping split into three page-aligned parts: code,
//! read-only data (with the GOT) and read-write data. Keeping an object's
//! sections together means every 32-bit reference between them reaches, and
//! its stubs and GOT are always within reach of its code. Pages stay
//! read+write while linking; [`MemoryManager::finalize`] makes code
//! read+execute and read-only data read-only. No page is ever writable and
//! executable at once: to re-apply relocations, a part is switched from
//! read+execute to read+write and back.
//!
//! With [`DefaultMemoryManager::with_dual_mapping`], regions are backed by
//! a memfd, so that the same pages can be mapped a second time at another
//! address ([`DefaultMemoryManager::alias`]): write at one address, run at
//! another.

use super::{AllocationRequest, MemoryManager, ReserveRequest, SectionKind};
use std::any::Any;
use std::ptr;

const CODE: usize = 0;
const RO: usize = 1;
const RW: usize = 2;

#[derive(Debug, Default, Clone, Copy)]
struct Part {
    /// Offset of the part from the region base (page-aligned).
    offset: usize,
    /// Length in bytes (whole pages).
    len: usize,
    /// Bytes handed out so far.
    cursor: usize,
}

#[derive(Debug)]
struct Region {
    base: *mut u8,
    len: usize,
    /// memfd backing the region, or -1 for anonymous private memory.
    fd: i32,
    parts: [Part; 3],
    low: bool,
    aliases: Vec<*mut u8>,
    /// Protections must be applied at the next finalize.
    dirty: bool,
    /// The local view is inaccessible ([`DefaultMemoryManager::seal_local_views`]).
    sealed: bool,
    /// Allocations not yet released.
    live: usize,
}

/// A second mapping of one region: `alias_base + (p - local_base)` runs what
/// was written at `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionAlias {
    pub local_base: *mut u8,
    pub alias_base: *mut u8,
    pub len: usize,
}

/// See the module documentation.
#[derive(Debug)]
pub struct DefaultMemoryManager {
    regions: Vec<Region>,
    /// The region that the current object's allocations come from.
    current: Option<usize>,
    page: usize,
    use_memfd: bool,
}

// SAFETY: the manager exclusively owns its mappings; the raw pointers are
// addresses of those mappings, not shared references.
unsafe impl Send for DefaultMemoryManager {}

impl Default for DefaultMemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

fn align_up(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

fn part_index(kind: SectionKind) -> usize {
    match kind {
        SectionKind::Code => CODE,
        SectionKind::ReadOnlyData => RO,
        _ => RW,
    }
}

fn final_protection(part: usize) -> region::Protection {
    match part {
        CODE => region::Protection::READ_EXECUTE,
        RO => region::Protection::READ,
        _ => region::Protection::READ_WRITE,
    }
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

impl DefaultMemoryManager {
    /// A manager over anonymous private memory.
    pub fn new() -> Self {
        DefaultMemoryManager { regions: Vec::new(), current: None, page: region::page::size(), use_memfd: false }
    }

    /// A manager whose regions are backed by memfds, so that
    /// [`Self::alias`] can map them a second time (falls back to anonymous
    /// memory where the kernel has no memfd). A debugger cannot plant
    /// breakpoints in such shared read+execute mappings.
    pub fn with_dual_mapping() -> Self {
        let mut m = Self::new();
        m.use_memfd = true;
        m
    }

    /// Number of regions (one per loaded object).
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    /// Maps the region holding `local` a second time at another address,
    /// with the same protections it has now (and gets at each finalize).
    /// Fails unless the manager was made [`Self::with_dual_mapping`].
    pub fn alias(&mut self, local: *const u8) -> Result<RegionAlias, String> {
        let idx = self.region_of(local).ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let r = &self.regions[idx];
        if r.fd < 0 {
            return Err("the region is not backed by a memfd and cannot be mapped twice".into());
        }
        let low = r.low || (r.base as u64) < (1 << 31);
        let flags = libc::MAP_SHARED | if low { libc::MAP_32BIT } else { 0 };
        let hint = self
            .regions
            .iter()
            .map(|r| r.base as u64 + r.len as u64)
            .chain(self.regions.iter().flat_map(|r| r.aliases.iter().map(|&a| a as u64 + r.len as u64)))
            .max();
        let r = &self.regions[idx];
        let alias = match try_candidates(r.len, r.fd, libc::MAP_SHARED, &hint.into_iter().collect::<Vec<_>>()) {
            Some(a) if !low || (a as u64) + (r.len as u64) <= 1 << 31 => a,
            Some(a) => {
                // SAFETY: unmapping what we just mapped.
                unsafe { libc::munmap(a as *mut libc::c_void, r.len) };
                map_anywhere(r.len, r.fd, flags)?
            }
            None => map_anywhere(r.len, r.fd, flags)?,
        };
        let finalized = !r.dirty;
        let r = &mut self.regions[idx];
        r.aliases.push(alias);
        if finalized {
            Self::protect_view(alias, &r.parts)?;
        }
        Ok(RegionAlias { local_base: r.base, alias_base: alias, len: r.len })
    }

    /// Makes every local view inaccessible, so that code can only run (and
    /// data only be reached) through aliases made by [`Self::alias`]. Used
    /// to prove that nothing still refers to the local addresses after a
    /// remap. The next finalize makes the local views accessible again.
    pub fn seal_local_views(&mut self) -> Result<(), String> {
        for r in &mut self.regions {
            // SAFETY: the region is a mapping this manager owns.
            unsafe { region::protect(r.base, r.len, region::Protection::NONE) }.map_err(|e| format!("mprotect failed: {e}"))?;
            r.sealed = true;
        }
        Ok(())
    }

    fn region_of(&self, p: *const u8) -> Option<usize> {
        let a = p as usize;
        self.regions.iter().position(|r| a >= r.base as usize && a < r.base as usize + r.len)
    }

    fn protect_view(view: *mut u8, parts: &[Part; 3]) -> Result<(), String> {
        for (i, part) in parts.iter().enumerate() {
            if part.len == 0 {
                continue;
            }
            // SAFETY: the part lies inside a mapping this manager owns.
            unsafe { region::protect(view.add(part.offset), part.len, final_protection(i)) }
                .map_err(|e| format!("mprotect failed: {e}"))?;
        }
        Ok(())
    }

    /// Addresses to try for a new region of `len` bytes, best first.
    fn candidates(&self, len: u64, low: bool, near: Option<u64>) -> Vec<u64> {
        let page = self.page as u64;
        let mut c = Vec::new();
        let lo = self.regions.iter().map(|r| r.base as u64).min();
        let hi = self.regions.iter().map(|r| r.base as u64 + r.len as u64).max();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            // Right after the highest region, or right before the lowest.
            c.push(hi);
            if let Some(below) = lo.checked_sub(len) {
                c.push(below & !(page - 1));
            }
        }
        let reaches = |a: u64, x: u64| a.abs_diff(x) < REACH && (a + len).abs_diff(x) < REACH;
        if let Some(x) = near {
            c.retain(|&a| reaches(a, x));
            // Leave room above for the heap when `x` is in the executable.
            for delta in [256u64 << 20, 768 << 20, 1280 << 20] {
                c.push((x + delta) & !(page - 1));
                if let Some(below) = x.checked_sub(delta + len) {
                    c.push(below & !(page - 1));
                }
            }
            // Every existing region must stay within reach of the new one.
            if let (Some(lo), Some(hi)) = (lo, hi) {
                c.retain(|&a| reaches(a, lo) && reaches(a, hi));
            }
        }
        if low {
            c.retain(|&a| a + len <= 1 << 31);
        }
        c
    }

    fn new_region(&mut self, sizes: [(usize, usize); 3], low: bool, near: Option<u64>) -> Result<usize, String> {
        let mut parts = [Part::default(); 3];
        let mut offset = 0;
        for (i, &(size, align)) in sizes.iter().enumerate() {
            // Alignment beyond a page needs slack: the part starts page-aligned.
            let slack = align.saturating_sub(self.page);
            let len = if size == 0 { 0 } else { align_up(size + slack, self.page) };
            parts[i] = Part { offset, len, cursor: 0 };
            offset += len;
        }
        let len = offset.max(self.page);
        let mut fd = -1;
        if self.use_memfd {
            // SAFETY: plain syscalls on a fd we own.
            unsafe {
                fd = libc::memfd_create(c"rtdyld".as_ptr(), libc::MFD_CLOEXEC);
                if fd >= 0 && libc::ftruncate(fd, len as libc::off_t) != 0 {
                    libc::close(fd);
                    fd = -1;
                }
            }
            if fd < 0 {
                self.use_memfd = false;
            }
        }
        let flags = if fd >= 0 { libc::MAP_SHARED } else { libc::MAP_PRIVATE | libc::MAP_ANONYMOUS };
        // Placement: all regions of a manager are packed next to each other,
        // so that references between objects reach; an object with 32-bit
        // absolute references goes in the low 2 GiB; an object that refers
        // to host data with 32-bit PC-relative references goes within reach
        // of it. The first region goes low when it can, so that later
        // -fno-pic objects can reach it.
        let candidates = self.candidates(len as u64, low, near);
        let placed = try_candidates(len, fd, flags, &candidates).ok_or(()).or_else(|_| {
            if low || self.regions.is_empty() {
                map_anywhere(len, fd, flags | libc::MAP_32BIT)
            } else {
                Err(String::new())
            }
        });
        let base = match placed.or_else(|_| map_anywhere(len, fd, flags)) {
            Ok(b) => b,
            Err(e) => {
                if fd >= 0 {
                    // SAFETY: closing the fd we opened.
                    unsafe { libc::close(fd) };
                }
                return Err(e);
            }
        };
        self.regions.push(Region { base, len, fd, parts, low, aliases: Vec::new(), dirty: true, sealed: false, live: 0 });
        Ok(self.regions.len() - 1)
    }
}

const PROT_RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
/// How far apart two addresses may be for a 32-bit displacement to reach,
/// with a margin.
const REACH: u64 = (1 << 31) - (64 << 20);

/// Maps `len` bytes read+write exactly at the first candidate address that
/// is free, if any.
fn try_candidates(len: usize, fd: i32, flags: i32, candidates: &[u64]) -> Option<*mut u8> {
    for &hint in candidates {
        if hint == 0 || hint.checked_add(len as u64).is_none_or(|end| end > 1 << 47) {
            continue;
        }
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping;
        // on kernels that ignore it the hint is only a hint and we check.
        let p = unsafe { libc::mmap(hint as *mut libc::c_void, len, PROT_RW, flags | libc::MAP_FIXED_NOREPLACE, fd, 0) };
        if p == libc::MAP_FAILED {
            continue;
        }
        if p as u64 == hint {
            return Some(p as *mut u8);
        }
        // SAFETY: unmapping what we just mapped.
        unsafe { libc::munmap(p, len) };
    }
    None
}

/// Maps `len` bytes read+write where the kernel (and `flags`) put it.
fn map_anywhere(len: usize, fd: i32, flags: i32) -> Result<*mut u8, String> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing.
    let p = unsafe { libc::mmap(ptr::null_mut(), len, PROT_RW, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(os_error(&format!("mmap of {len} bytes failed")));
    }
    Ok(p as *mut u8)
}

impl MemoryManager for DefaultMemoryManager {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        let idx =
            self.new_region([(r.code_size, r.code_align), (r.ro_size, r.ro_align), (r.rw_size, r.rw_align)], r.wants_low_memory, r.near)?;
        self.current = Some(idx);
        Ok(())
    }

    fn allocates_zeroed_memory(&self) -> bool {
        // Each allocation comes from a fresh mapping, never reused.
        true
    }

    fn allocate(&mut self, req: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        let pi = part_index(req.kind);
        let align = req.align.max(1);
        if self.current.is_none() {
            // Used without a reservation: a region of its own.
            let mut sizes = [(0, 1); 3];
            sizes[pi] = (req.size, align);
            self.current = Some(self.new_region(sizes, false, None)?);
        }
        let r = &mut self.regions[self.current.unwrap()];
        let part = &mut r.parts[pi];
        let start = r.base as usize + part.offset;
        let addr = align_up(start + part.cursor, align);
        let end = addr + req.size;
        if end > start + part.len {
            return Err(format!(
                "section {} ({} bytes, align {}) does not fit in the reserved {} part of {} bytes",
                req.name,
                req.size,
                align,
                req.kind.name(),
                part.len
            ));
        }
        part.cursor = end - start;
        r.dirty = true;
        r.live += 1;
        Ok(addr as *mut u8)
    }

    fn begin_finalize(&mut self) -> Result<(), String> {
        for r in self.regions.iter_mut().filter(|r| r.sealed) {
            Self::protect_view(r.base, &r.parts)?;
            r.sealed = false;
        }
        Ok(())
    }

    fn make_writable(&mut self, local: *mut u8, _size: usize, _section_id: u32) -> Result<(), String> {
        let idx = self.region_of(local).ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let page = self.page;
        let r = &mut self.regions[idx];
        let off = local as usize - r.base as usize;
        if let Some(part) = r.parts.iter().find(|p| off >= p.offset && off < p.offset + p.len) {
            let _ = page;
            // SAFETY: the part lies inside the region's mapping. Code becomes
            // read+write (not executable) until the next finalize.
            unsafe { region::protect(r.base.add(part.offset), part.len, region::Protection::READ_WRITE) }
                .map_err(|e| format!("mprotect failed: {e}"))?;
            r.dirty = true;
        }
        Ok(())
    }

    fn release(&mut self, local: *mut u8, _size: usize, _section_id: u32) -> Result<(), String> {
        let idx = self.region_of(local).ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let r = &mut self.regions[idx];
        r.live = r.live.saturating_sub(1);
        if r.live > 0 {
            return Ok(());
        }
        let r = self.regions.swap_remove(idx);
        self.current = None;
        Self::unmap(&r);
        Ok(())
    }

    fn finalize(&mut self) -> Result<(), String> {
        self.current = None;
        for r in self.regions.iter_mut().filter(|r| r.dirty) {
            Self::protect_view(r.base, &r.parts)?;
            for &a in &r.aliases {
                Self::protect_view(a, &r.parts)?;
            }
            r.dirty = false;
        }
        Ok(())
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

impl DefaultMemoryManager {
    /// Unmaps a region and its aliases and closes its memfd.
    fn unmap(r: &Region) {
        // SAFETY: unmapping mappings this manager created, once nothing
        // refers to them any more (the object was removed, or the linker
        // that owns the manager is gone).
        unsafe {
            for &a in &r.aliases {
                libc::munmap(a as *mut libc::c_void, r.len);
            }
            libc::munmap(r.base as *mut libc::c_void, r.len);
            if r.fd >= 0 {
                libc::close(r.fd);
            }
        }
    }
}

impl Drop for DefaultMemoryManager {
    fn drop(&mut self) {
        for r in &self.regions {
            Self::unmap(r);
        }
    }
}
