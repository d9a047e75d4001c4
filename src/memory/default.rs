//! The default memory manager: objects share a region, in batches between
//! finalizes, W^X.
//!
//! **Regions.** A region is one mapping split into three page-aligned parts:
//! read-write data, read-only data (with the GOT) and code, in that order,
//! each a bump allocator. All sections of an object come from one region, so
//! every 32-bit reference between them reaches, and its stubs and GOT are
//! always within reach of its code.
//!
//! **Batches.** Objects reserved between two finalizes go into the same
//! region as long as they fit in the room left in each of its parts and
//! their placement constraints hold for the whole region: below 2 GiB for an
//! object with 32-bit absolute references, every byte within ±2 GiB of the
//! host address an object must reach. Otherwise a new region is opened. The
//! regions opened since the last finalize all stay open, and an object goes
//! into the newest one it fits in.
//!
//! **Left open.** A finalize protects the pages the batch's objects use and
//! leaves the region of the last object placed open: the code and
//! read-only parts' cursors move to the next page, so later objects go on
//! fresh pages above (read-write data just goes on). A protected page is
//! never written again behind the client's back (another thread may be
//! running its code). A JIT that finalizes module after module then pays
//! one `mprotect` per part and module, and its code stays a few kernel
//! mappings: adjacent pages with the same protection merge. Other open
//! regions are closed; so is the region left open when a later batch needs
//! a new one (it did not fit, or needed another placement).
//!
//! **Capacity.** A new region gives each part what the object needs plus
//! room for the rest of the batch: twice what that part used in the previous
//! batch, so far in this one, or in the region left open that it replaces
//! (so that regions outgrown grow geometrically), at least [`FIRST_ROOM`] in the manager's
//! first batch and [`MIN_ROOM`] later, at most [`MAX_ROOM`]. Anonymous
//! regions are mapped with `MAP_NORESERVE`; untouched pages cost no memory,
//! only address space, which must stay small because all regions of a
//! manager are kept within ±2 GiB of each other. The pages of an object's
//! code and read-only data, which are written in full right after, are
//! faulted in at `reserve` with one `MADV_POPULATE_WRITE` per part (up to
//! [`POPULATE_MAX`]), instead of one page fault per page.
//!
//! **Closing.** When a region is closed, the page-aligned unused tail of
//! its code part is unmapped, so that the address space the manager
//! holds stays dense (the code part comes last, so its unused tail is where
//! the next region goes). So are the tails of the other parts when larger
//! than [`KEEP_TAIL`]; a smaller one stays mapped with its part's protection,
//! which saves a call per part and leaves no hole. Where a tail is unmapped
//! the region has a hole between its parts, in which
//! the kernel may place other mappings: every view records which pages of
//! each part it maps, and protecting and unmapping go part by part, never
//! over a hole. Code becomes read+execute and read-only data read-only, one
//! `mprotect` per part; read-write data stays as it is. A finalize visits
//! only the regions opened or made writable since the last one, so that a
//! JIT finalizing thousands of modules one by one pays the same for each.
//!
//! **Re-finalize.** [`MemoryManager::make_writable`] switches only the pages
//! covering the given section to read+write (not executable) and records
//! them; the next finalize gives exactly those pages their final protection
//! again. No page is ever writable and executable at once. Other sections
//! of the same object that share a page with the written one are not
//! executable in between; another object's code never is affected, because
//! each object's code starts on a page of its own.
//!
//! **Release.** Memory of a removed object returns page-wise at once; its
//! address range returns when every object of its region has been removed.
//! When an allocation is released, the whole pages that no live allocation
//! touches any more are given back to the system (`MADV_DONTNEED`, or a hole
//! punched in the memfd so that every view sees it); pages shared with a
//! live allocation stay. A region is unmapped, with its aliases and its
//! memfd, when its last allocation is released. Bump allocation never hands
//! out a byte twice and fresh or given-back pages read as zero, so every
//! allocation of a fresh region is zero-filled.
//!
//! **Recycling.** When a manager is dropped, its anonymous regions are kept
//! mapped, pages and all but inaccessible (`PROT_NONE`), in a process-wide
//! cache of at most 16 MiB ([`set_recycled_memory_limit`] changes that,
//! [`release_recycled_memory`] unmaps them), and the next manager that needs a region of no more
//! than that size, where that region lies (low, near, within reach of its
//! other regions), takes it and makes it read+write. The holes closing left
//! are mapped again when the region is kept (untouched, they cost no
//! memory), so that this is one `mprotect`; a hole something else took
//! meanwhile is mapped at reuse, and if that fails the region is given
//! back and a fresh one mapped. A JIT
//! that links each query or module with a fresh linker then writes into
//! warm pages instead of faulting in fresh zeroed ones. Such a region's pages
//! hold old bytes: padding is cleared at `allocate`, the rest of each
//! protected part's last page at finalize (and, when the region is closed,
//! its unused tails are unmapped however small), and
//! `allocates_zeroed_memory` answers no, so that rtdyld writes the zeros of
//! `.bss` itself. [`DefaultMemoryManager::without_recycling`] unmaps at drop.
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
/// The order of the parts in a region, lowest address first. Code, which
/// usually has the most room, comes last: once its unused tail is unmapped,
/// the next region is placed there.
const LAYOUT: [usize; 3] = [RW, RO, CODE];

/// Least room per part (code, read-only, read-write) of a region opened in
/// a manager's first batch, when nothing tells how much the batch needs.
/// Read-write data, usually the smallest part, gets the least: it lies
/// right below read-only data, and with 16 KiB of room the data and
/// read-only data of a small object that opens a region stay within reach
/// of 16-bit PC-relative references (tests/relocations.rs links
/// `R_X86_64_PC16` from `.data` to `.rodata`).
const FIRST_ROOM: [usize; 3] = [256 << 10, 64 << 10, 16 << 10];
/// Least room per part of a region opened in a later batch.
const MIN_ROOM: usize = 16 << 10;
/// Most room per part beyond what the object that opens a region needs.
const MAX_ROOM: usize = 32 << 20;
/// Largest unused tail of the read-write or read-only part that closing a
/// region keeps mapped rather than unmaps.
const KEEP_TAIL: usize = 64 << 10;

#[derive(Debug, Default)]
struct Part {
    /// Offset of the part from the region base (page-aligned).
    offset: usize,
    /// Capacity in bytes (whole pages), all mapped while the region is open.
    cap: usize,
    /// Bytes handed out so far.
    cursor: usize,
    /// Of an open region, the bytes from the part's start (whole pages)
    /// that a finalize gave their final protection; later objects go above.
    settled: usize,
    /// Allocations not yet released, as (offset from the region base, size),
    /// in address order.
    live: Vec<(usize, usize)>,
}

/// One mapping of a region: the local one or an alias.
#[derive(Debug)]
struct View {
    base: *mut u8,
    /// Bytes mapped from the start of each part (whole pages).
    mapped: [usize; 3],
}

#[derive(Debug)]
struct Region {
    local: View,
    aliases: Vec<View>,
    /// Bytes from the base to the end of the last mapped page of the local
    /// view (the whole capacity while the region is open).
    len: usize,
    /// memfd backing the region, or -1 for anonymous private memory.
    fd: i32,
    parts: [Part; 3],
    low: bool,
    /// Objects may still be placed here, above each part's `settled`
    /// pages: no finalize since it was opened, or the last finalize left it
    /// open ([`DefaultMemoryManager::continuing`]).
    open: bool,
    /// The local view is inaccessible ([`DefaultMemoryManager::seal_local_views`]).
    sealed: bool,
    /// Pages of the local view made read+write by `make_writable` since the
    /// last finalize, as (part, start, end), offsets from the base.
    writable: Vec<(usize, usize, usize)>,
    /// Mapped from a dropped manager's region ([`RECYCLED`]): its pages hold
    /// old bytes, so allocations are not zero-filled.
    recycled: bool,
    /// Of a recycled region, the spans (offset, length) whose pages the
    /// dropped manager used, and so are already faulted in.
    resident: Vec<(usize, usize)>,
    /// The largest alignment of an allocation in it: an alias keeps the
    /// base's address modulo this, so that every allocation stays aligned.
    max_align: usize,
}

impl Region {
    fn live(&self) -> usize {
        self.parts.iter().map(|p| p.live.len()).sum()
    }
}

/// A second mapping of one region: `alias_base + (p - local_base)` runs what
/// was written at `p`, for every live allocation `p` of the region.
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
    /// `current` was chosen by `reserve` (not for an allocation without a
    /// reservation).
    reserved: bool,
    page: usize,
    use_memfd: bool,
    /// Bytes handed out in each part since the last finalize.
    batch_used: [usize; 3],
    /// `batch_used` of the last batch that allocated anything.
    history: Option<[usize; 3]>,
    /// At drop, regions go to [`RECYCLED`] (when there is room) instead of
    /// being unmapped.
    recycle: bool,
    /// The open region that the last finalize left open for later objects.
    continuing: Option<usize>,
    /// The regions the next finalize has work in: those objects were placed
    /// in since the last one and those with pages made writable (may
    /// repeat). With many objects finalized one by
    /// one, a finalize then costs the same whatever came before.
    unsettled: Vec<usize>,
    /// The local views were sealed: every region needs the next finalize.
    sealed: bool,
    /// Where the regions' local views start and end.
    extents: Extents,
}

/// The lowest start and the highest end of a manager's regions, kept up to
/// date as regions come, shrink and go (finding them by going over every
/// region would make each new region cost more than the one before).
#[derive(Debug, Default)]
struct Extents {
    starts: std::collections::BTreeMap<u64, u32>,
    ends: std::collections::BTreeMap<u64, u32>,
}

impl Extents {
    fn of(r: &Region) -> (u64, u64) {
        (r.local.base as u64, r.local.base as u64 + r.len as u64)
    }

    fn add(&mut self, (start, end): (u64, u64)) {
        *self.starts.entry(start).or_default() += 1;
        *self.ends.entry(end).or_default() += 1;
    }

    fn remove(&mut self, (start, end): (u64, u64)) {
        for (map, key) in [(&mut self.starts, start), (&mut self.ends, end)] {
            if let std::collections::btree_map::Entry::Occupied(mut e) = map.entry(key) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }

    /// (lowest start, highest end), if there is a region.
    fn bounds(&self) -> Option<(u64, u64)> {
        Some((*self.starts.keys().next()?, *self.ends.keys().next_back()?))
    }
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

fn align_down(v: usize, a: usize) -> usize {
    v / a * a
}

fn part_index(kind: SectionKind) -> usize {
    match kind {
        SectionKind::Code => CODE,
        SectionKind::ReadOnlyData => RO,
        _ => RW,
    }
}

fn final_protection(part: usize) -> i32 {
    match part {
        CODE => libc::PROT_READ | libc::PROT_EXEC,
        RO => libc::PROT_READ,
        _ => PROT_RW,
    }
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// `mprotect` of `len` bytes at `addr`, which must lie in a mapping of the
/// manager's.
fn protect(addr: usize, len: usize, prot: i32) -> Result<(), String> {
    // SAFETY: the callers pass page-aligned ranges that this manager mapped;
    // changing their protection affects no memory of anyone else's.
    if len > 0 && unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } != 0 {
        return Err(os_error("mprotect failed"));
    }
    Ok(())
}

/// The mapped ranges of a view as (offset from the base, length), adjacent
/// parts merged.
fn mapped_spans(parts: &[Part; 3], mapped: &[usize; 3]) -> impl Iterator<Item = (usize, usize)> {
    let mut spans = [(0usize, 0usize); 3];
    let mut n = 0;
    for i in LAYOUT {
        let (offset, len) = (parts[i].offset, mapped[i]);
        if len == 0 {
            continue;
        }
        if n > 0 && spans[n - 1].0 + spans[n - 1].1 == offset {
            spans[n - 1].1 += len;
        } else {
            spans[n] = (offset, len);
            n += 1;
        }
    }
    spans.into_iter().take(n)
}

/// The bytes from the start of part `i` of `r` that have their final
/// protection in a view that maps `mapped` bytes of it: all of a closed
/// region, the settled pages of an open one.
fn final_len(r: &Region, i: usize, mapped: usize) -> usize {
    if r.open {
        r.parts[i].settled.min(mapped)
    } else {
        mapped
    }
}

/// Whether `sizes` ((size, alignment) per part, placed one after another by
/// a bump allocator) fit in the room left in the open region `r`.
fn fits(r: &Region, sizes: &[(usize, usize); 3]) -> bool {
    let base = r.local.base as usize;
    sizes.iter().zip(&r.parts).all(|(&(size, align), p)| {
        let start = base + p.offset;
        (start + p.cursor).checked_next_multiple_of(align.max(1)).and_then(|a| a.checked_add(size)).is_some_and(|end| end <= start + p.cap)
    })
}

/// Whether every byte of `r` lies below 2 GiB (when `low`) and within reach
/// of `near`.
fn satisfies(r: &Region, low: bool, near: Option<u64>) -> bool {
    let (start, end) = (r.local.base as u64, r.local.base as u64 + r.len as u64);
    (!low || end <= 1 << 31) && near.is_none_or(|x| start.abs_diff(x) < REACH && end.abs_diff(x) < REACH)
}

impl DefaultMemoryManager {
    /// A manager over anonymous private memory.
    pub fn new() -> Self {
        DefaultMemoryManager {
            regions: Vec::new(),
            current: None,
            reserved: false,
            page: region::page::size(),
            use_memfd: false,
            batch_used: [0; 3],
            history: None,
            recycle: true,
            continuing: None,
            unsettled: Vec::new(),
            sealed: false,
            extents: Extents::default(),
        }
    }

    /// A manager that unmaps its regions when dropped instead of leaving
    /// them (up to 16 MiB in all, process-wide) for the next manager.
    pub fn without_recycling() -> Self {
        let mut m = Self::new();
        m.recycle = false;
        m
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

    /// Number of regions: a new one when an object does not fit in the open
    /// ones (or needs another placement), fewer once every object of a
    /// region has been removed.
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    /// Maps the region holding `local` a second time at another address,
    /// with the same protections it has now (and gets at each finalize);
    /// the alias has the same holes as the local view. Fails unless the
    /// manager was made [`Self::with_dual_mapping`].
    pub fn alias(&mut self, local: *const u8) -> Result<RegionAlias, String> {
        let (idx, _) = self.locate(local as usize).ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let r = &self.regions[idx];
        if r.fd < 0 {
            return Err("the region is not backed by a memfd and cannot be mapped twice".into());
        }
        let low = r.low || (r.local.base as u64) < (1 << 31);
        // The alias lies at the same address modulo the region's largest
        // alignment, so that a section aligned beyond a page stays aligned.
        let modulo = r.max_align.max(self.page) as u64;
        let residue = r.local.base as u64 % modulo;
        let congruent = |x: u64| x + (residue.wrapping_sub(x) & (modulo - 1));
        let fits_low = |a: u64| !low || a + r.len as u64 <= 1 << 31;
        let hint =
            self.regions.iter().flat_map(|r| std::iter::once(&r.local).chain(&r.aliases).map(move |v| v.base as u64 + r.len as u64)).max();
        let mut candidates: Vec<u64> = hint.map(congruent).into_iter().filter(|&a| fits_low(a)).collect();
        if low {
            candidates.extend(low_candidates(r.len).map(congruent).filter(|&a| fits_low(a)));
        }
        let r = &self.regions[idx];
        let alias = match try_candidates(r.len, r.fd, libc::MAP_SHARED, &candidates) {
            Some(a) => a,
            None => map_congruent(r.len, r.fd, low, modulo, residue)?,
        };
        // The memfd was mapped over the whole length: unmap the holes the
        // local view has (unused tails of a closed region).
        let mut view = View { base: alias, mapped: [0; 3] };
        for (i, p) in r.parts.iter().enumerate() {
            let whole = p.cap.min(r.len.saturating_sub(p.offset));
            let want = r.local.mapped[i].min(whole);
            view.mapped[i] = whole;
            // SAFETY: the hole lies inside the alias just mapped, which
            // nothing else uses yet.
            if want < whole && unsafe { libc::munmap(alias.add(p.offset + want) as *mut libc::c_void, whole - want) } == 0 {
                view.mapped[i] = want;
            }
        }
        for i in [CODE, RO] {
            protect(alias as usize + r.parts[i].offset, final_len(r, i, view.mapped[i]), final_protection(i))?;
        }
        let r = &mut self.regions[idx];
        r.aliases.push(view);
        Ok(RegionAlias { local_base: r.local.base, alias_base: alias, len: r.len })
    }

    /// Makes every local view inaccessible, so that code can only run (and
    /// data only be reached) through aliases made by [`Self::alias`]. Used
    /// to prove that nothing still refers to the local addresses after a
    /// remap. The next finalize makes the local views accessible again.
    pub fn seal_local_views(&mut self) -> Result<(), String> {
        for r in &mut self.regions {
            for (offset, len) in mapped_spans(&r.parts, &r.local.mapped) {
                protect(r.local.base as usize + offset, len, libc::PROT_NONE)?;
            }
            r.sealed = true;
        }
        self.sealed = true;
        Ok(())
    }

    /// The region and part whose local view maps `a`.
    fn locate(&self, a: usize) -> Option<(usize, usize)> {
        self.regions.iter().enumerate().find_map(|(ri, r)| {
            let base = r.local.base as usize;
            (0..3).find(|&i| a >= base + r.parts[i].offset && a < base + r.parts[i].offset + r.local.mapped[i]).map(|i| (ri, i))
        })
    }

    /// The region, part and index in the part's live list of the allocation
    /// of `size` bytes at `a` (of any size if none has this one).
    fn find_allocation(&self, a: usize, size: usize) -> Option<(usize, usize, usize)> {
        let mut any_size = None;
        for (ri, r) in self.regions.iter().enumerate() {
            let base = r.local.base as usize;
            for (pi, p) in r.parts.iter().enumerate() {
                let start = base + p.offset;
                if a < start || a > start + p.cursor {
                    continue;
                }
                let off = a - base;
                let first = p.live.partition_point(|&(o, _)| o < off);
                let same = p.live[first..].iter().take_while(|&&(o, _)| o == off);
                if let Some(k) = same.clone().position(|&(_, s)| s == size) {
                    return Some((ri, pi, first + k));
                }
                if any_size.is_none() && same.count() > 0 {
                    any_size = Some((ri, pi, first));
                }
            }
        }
        any_size
    }

    /// Gives the local view's protections back after a seal: read+write
    /// while the region is open; after, each part's final protection and
    /// read+write for the pages made writable since the last finalize.
    fn restore_local(r: &Region) -> Result<(), String> {
        let base = r.local.base as usize;
        if r.open && r.parts.iter().all(|p| p.settled == 0) {
            for (offset, len) in mapped_spans(&r.parts, &r.local.mapped) {
                protect(base + offset, len, PROT_RW)?;
            }
            return Ok(());
        }
        for i in LAYOUT {
            let (start, mapped) = (base + r.parts[i].offset, r.local.mapped[i]);
            let done = final_len(r, i, mapped);
            protect(start, done, final_protection(i))?;
            protect(start + done, mapped - done, PROT_RW)?;
        }
        for &(_, start, end) in &r.writable {
            protect(base + start, end - start, PROT_RW)?;
        }
        Ok(())
    }

    /// Gives region `r` its final protections: an open one is closed, or
    /// with `keep_open` left open above the pages just protected; pages
    /// made writable get their protection back; a seal is undone.
    fn settle(r: &mut Region, page: usize, keep_open: bool) -> Result<(), String> {
        if r.sealed {
            Self::restore_local(r)?;
            r.sealed = false;
        }
        if r.open && !keep_open {
            Self::close(r, page)?;
        } else {
            for &(pi, start, end) in &r.writable {
                protect(r.local.base as usize + start, end - start, final_protection(pi))?;
            }
            if r.open {
                Self::advance(r, page)?;
            }
        }
        r.writable.clear();
        Ok(())
    }

    /// Gives the pages of the code and read-only parts of open region `r`
    /// that objects were placed in since the last finalize their final
    /// protection, in every view, and moves those parts' cursors to the
    /// next page: a protected page is never written again, and later
    /// objects go above. (Read-write data needs no call: its protection is
    /// final already.)
    fn advance(r: &mut Region, page: usize) -> Result<(), String> {
        for i in [CODE, RO] {
            let p = &r.parts[i];
            let end = align_up(p.cursor, page);
            if end <= p.settled {
                continue;
            }
            if r.recycled {
                // Old bytes after the last allocation would stay readable,
                // or executable, on the part's last page.
                // SAFETY: the region is open, so its local view is
                // read+write above `settled`, and nothing was handed out
                // beyond the cursor.
                unsafe { ptr::write_bytes(r.local.base.add(p.offset + p.cursor), 0, end - p.cursor) };
            }
            for view in std::iter::once(&r.local).chain(&r.aliases) {
                protect(view.base as usize + p.offset + p.settled, end - p.settled, final_protection(i))?;
            }
            let p = &mut r.parts[i];
            (p.settled, p.cursor) = (end, end);
        }
        Ok(())
    }

    /// Closes an open region: unmaps the unused tail of each part in every
    /// view and applies the final protections.
    fn close(r: &mut Region, page: usize) -> Result<(), String> {
        r.open = false;
        let mut used = [0; 3];
        for (u, p) in used.iter_mut().zip(&r.parts) {
            *u = align_up(p.cursor, page);
        }
        if used == [0; 3] {
            // Keep one page, so that the region is not empty.
            if let Some(&i) = LAYOUT.iter().find(|&&i| r.parts[i].cap > 0) {
                used[i] = page;
            }
        }
        if r.recycled {
            // Old bytes from the region's last life must not stay after the
            // last allocation of each part's last page (old code would stay
            // executable there). Anonymous regions have no aliases.
            for p in &r.parts {
                let end = align_up(p.cursor, page).min(p.cap);
                // SAFETY: the region is open, so its local view is
                // read+write, and nothing was handed out beyond the cursor.
                unsafe { ptr::write_bytes(r.local.base.add(p.offset + p.cursor), 0, end.saturating_sub(p.cursor)) };
            }
        }
        for view in std::iter::once(&mut r.local).chain(&mut r.aliases) {
            for (i, p) in r.parts.iter().enumerate() {
                let (keep, mapped) = (used[i], view.mapped[i]);
                // A small tail below the code part, after used pages, is
                // kept (with the part's protection, one mapping with them):
                // unmapping it would cost a call and leave a hole, and no
                // later region could use it anyway. An unused part goes
                // whole (kept, it would be a mapping of its own), and so
                // do the tails of a recycled region, which hold old bytes.
                if i != CODE && keep > 0 && !r.recycled && mapped - keep.min(mapped) <= KEEP_TAIL {
                    continue;
                }
                // SAFETY: the tail lies in this view's mapping and holds no
                // allocation (it is beyond the part's cursor). On failure the
                // view keeps it, and the bookkeeping says so.
                if keep < mapped && unsafe { libc::munmap(view.base.add(p.offset + keep) as *mut libc::c_void, mapped - keep) } == 0 {
                    view.mapped[i] = keep;
                }
            }
        }
        r.len = LAYOUT.iter().filter(|&&i| r.local.mapped[i] > 0).map(|&i| r.parts[i].offset + r.local.mapped[i]).max().unwrap_or(0);
        for view in std::iter::once(&r.local).chain(&r.aliases) {
            for i in [CODE, RO] {
                protect(view.base as usize + r.parts[i].offset, view.mapped[i], final_protection(i))?;
            }
        }
        Ok(())
    }

    /// Gives the pages [start, end) (offsets from the base) of a live region
    /// back to the system; they read as zero afterwards, in every view.
    fn give_back(r: &Region, start: usize, end: usize) {
        if r.fd >= 0 {
            // SAFETY: a plain syscall on the region's own memfd; every view
            // of these pages sees zeros afterwards, and nothing live is in
            // them.
            unsafe {
                libc::fallocate(
                    r.fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    start as libc::off_t,
                    (end - start) as libc::off_t,
                )
            };
        } else {
            // SAFETY: the pages lie in the local view's mapping (anonymous,
            // private) and no live allocation is in them: dropping their
            // contents loses nothing, and they read as zero afterwards.
            unsafe { libc::madvise(r.local.base.add(start) as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
        // Failures are ignored: the memory then returns with the region.
    }

    /// The capacity of each part of a region for `sizes`, with room for the
    /// rest of the batch when `room`.
    fn capacities(&self, sizes: &[(usize, usize); 3], room: bool) -> Result<[usize; 3], String> {
        let mut caps = [0; 3];
        for i in 0..3 {
            let (size, align) = sizes[i];
            // Alignment beyond a page needs slack: the part starts page-aligned.
            let need = size.checked_add(align.saturating_sub(self.page));
            let want = if room {
                // A region that replaces the one left open grows
                // geometrically, so that a JIT finalizing module after
                // module opens few regions.
                let outgrown = self.continuing.map_or(0, |c| self.regions[c].parts[i].cursor);
                let hint = self.history.map_or(0, |h| h[i]).max(self.batch_used[i]).max(outgrown);
                let floor = if self.history.is_some() { MIN_ROOM } else { FIRST_ROOM[i] };
                need.map(|n| n.max(hint.saturating_mul(2).clamp(floor, MAX_ROOM)))
            } else {
                need
            };
            caps[i] = want.and_then(|w| w.checked_next_multiple_of(self.page)).ok_or_else(|| format!("{size} bytes are too many"))?;
        }
        if caps == [0; 3] {
            caps[LAYOUT[0]] = self.page;
        }
        Ok(caps)
    }

    /// An open region where `sizes` fit and the constraints hold: the
    /// newest open one that has room, or a new one.
    fn place(&mut self, sizes: [(usize, usize); 3], low: bool, near: Option<u64>) -> Result<usize, String> {
        // The newest open region it fits in (open regions are unsettled, or
        // the one the last finalize left open).
        if let Some(idx) = self
            .unsettled
            .iter()
            .chain(&self.continuing)
            .copied()
            .filter(|&i| {
                let r = &self.regions[i];
                r.open && fits(r, &sizes) && satisfies(r, low, near)
            })
            .max()
        {
            if !self.unsettled.contains(&idx) {
                self.unsettled.push(idx);
            }
            return Ok(idx);
        }
        let exact = self.capacities(&sizes, false)?;
        let roomy = self.capacities(&sizes, true)?;
        let idx = self.new_region(roomy, low, near)?;
        if roomy != exact && !satisfies(&self.regions[idx], low, near) {
            // Where the object must go, there is no space for the room:
            // try again without.
            if let Some(r) = self.regions.pop() {
                self.unsettled.retain(|&i| i != idx);
                self.extents.remove(Extents::of(&r));
                Self::unmap(&r);
            }
            return self.new_region(exact, low, near);
        }
        Ok(idx)
    }

    /// Addresses to try for a new region of `len` bytes, best first.
    fn candidates(&self, len: u64, low: bool, near: Option<u64>) -> Vec<u64> {
        let page = self.page as u64;
        let mut c = Vec::new();
        let bounds = self.extents.bounds();
        if let Some((lo, hi)) = bounds {
            // Right after the highest region, or right before it (regions
            // placed near host data lie high, where the kernel maps top
            // down and the room above is taken), or right before the lowest.
            c.push(hi);
            let top = self.extents.starts.keys().next_back().copied().unwrap_or(lo);
            for start in [top, lo] {
                if let Some(below) = start.checked_sub(len) {
                    c.push(below & !(page - 1));
                }
            }
            c.dedup();
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
            if let Some((lo, hi)) = bounds {
                c.retain(|&a| reaches(a, lo) && reaches(a, hi));
            }
        }
        if low {
            c.retain(|&a| a + len <= 1 << 31);
        }
        c
    }

    /// Faults in the pages of the next `size` bytes of part `pi` of region
    /// `r`, where the object being reserved goes. Only a hint: on kernels
    /// before 5.14 (no `MADV_POPULATE_WRITE`) the pages fault in as they
    /// are written.
    fn populate(r: &Region, pi: usize, size: usize, page: usize) {
        let part = &r.parts[pi];
        let base = r.local.base as usize + part.offset;
        let start = (base + part.cursor) & !(page - 1);
        let end = (base + part.cursor + size).next_multiple_of(page).min(base + part.cap);
        // In a recycled region the pages are most often in already.
        let (from, to) = (start - r.local.base as usize, end - r.local.base as usize);
        if r.resident.iter().any(|&(offset, n)| offset <= from && to <= offset + n) {
            return;
        }
        if end > start {
            // SAFETY: the range lies within the region's read+write mapping
            // (the part's capacity); populating changes no contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
        }
    }

    /// Maps a new open region whose parts have the capacities `caps`.
    fn new_region(&mut self, caps: [usize; 3], low: bool, near: Option<u64>) -> Result<usize, String> {
        let mut parts: [Part; 3] = Default::default();
        let mut offset = 0usize;
        for i in LAYOUT {
            parts[i].offset = offset;
            parts[i].cap = caps[i];
            offset = offset.checked_add(caps[i]).ok_or("the region would be larger than the address space")?;
        }
        let len = offset;
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
        let recycled = if fd < 0 { self.reuse_region(len, low, near) } else { None };
        let is_recycled = recycled.is_some();
        let (base, resident) = match recycled {
            Some(reused) => reused,
            None => (self.map_region(len, fd, low, near)?, Vec::new()),
        };
        self.regions.push(Region {
            local: View { base, mapped: caps },
            aliases: Vec::new(),
            len,
            fd,
            parts,
            low,
            max_align: self.page,
            open: true,
            sealed: false,
            writable: Vec::new(),
            recycled: is_recycled,
            resident,
        });
        self.unsettled.push(self.regions.len() - 1);
        self.extents.add(Extents::of(&self.regions[self.regions.len() - 1]));
        Ok(self.regions.len() - 1)
    }

    /// Maps `len` fresh bytes (of `fd` when it is a memfd) where the
    /// placement rules want them; closes `fd` on failure.
    fn map_region(&self, len: usize, fd: i32, low: bool, near: Option<u64>) -> Result<*mut u8, String> {
        let flags = if fd >= 0 { libc::MAP_SHARED } else { libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE };
        // Placement: all regions of a manager are packed next to each other,
        // so that references between objects reach; an object with 32-bit
        // absolute references goes in the low 2 GiB; an object that refers
        // to host data with 32-bit PC-relative references goes within reach
        // of it. The first region goes low when it can, so that later
        // -fno-pic objects can reach it.
        let candidates = self.candidates(len as u64, low, near);
        let placed = try_candidates(len, fd, flags, &candidates).ok_or(()).or_else(|_| {
            if low || self.regions.is_empty() {
                map_anywhere(len, fd, flags | libc::MAP_32BIT).or_else(|e| {
                    // MAP_32BIT searches only 0x40000000 to 0x80000000: a
                    // region of 1 GiB or more, or a crowded window, is
                    // placed by address anywhere in the low 2 GiB.
                    try_candidates(len, fd, flags, &low_candidates(len).collect::<Vec<_>>()).ok_or(e)
                })
            } else {
                Err(String::new())
            }
        });
        placed.or_else(|_| map_anywhere(len, fd, flags)).inspect_err(|_| {
            if fd >= 0 {
                // SAFETY: closing the fd we opened.
                unsafe { libc::close(fd) };
            }
        })
    }

    /// A region of `len` bytes made from a recycled one (see [`RECYCLED`])
    /// that meets the placement constraints, if any fits, and the spans of
    /// it already faulted in.
    fn reuse_region(&self, len: usize, low: bool, near: Option<u64>) -> Option<(*mut u8, Vec<(usize, usize)>)> {
        let mut cache = RECYCLED.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |r: &Recycled| {
            // Not for regions beyond the recycling limit: in a recycled
            // region rtdyld writes the zeros of .bss itself, which for a
            // huge one would cost what fresh pages give for free.
            if len > RECYCLE_LIMIT.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            let (start, end) = (r.base as u64, r.base as u64 + len as u64);
            let reach = |x: u64| start.abs_diff(x) < REACH && end.abs_diff(x) < REACH;
            // Like a new mapping: low when asked (and, for a manager's first
            // region, low when it can be), near what it must reach, and
            // within reach of the manager's other regions.
            (end <= 1 << 31 || (!low && !self.regions.is_empty()))
                && near.is_none_or(reach)
                && self.extents.bounds().is_none_or(|(lo, hi)| reach(lo) && reach(hi))
        };
        let k = cache.iter().position(fits)?;
        let r = cache.swap_remove(k);
        drop(cache);
        r.revive(len, self.page)
    }
}

/// Regions of dropped managers, kept mapped (with their pages) for the next
/// manager: a JIT that links each query or module with a fresh linker then
/// reuses warm pages instead of faulting in fresh zeroed ones. Anonymous
/// regions only, at most [`RECYCLE_LIMIT`] bytes in all.
static RECYCLED: std::sync::Mutex<Vec<Recycled>> = std::sync::Mutex::new(Vec::new());
/// The most address range [`RECYCLED`] may hold (16 MiB unless set).
static RECYCLE_LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(RECYCLE_MAX);
const RECYCLE_MAX: usize = 16 << 20;

/// Sets how many bytes of address range dropped managers may leave for
/// reuse, process-wide (16 MiB by default; 0 turns recycling off), and
/// gives back what is kept beyond the new limit. Returns the bytes given
/// back.
pub fn set_recycled_memory_limit(bytes: usize) -> usize {
    RECYCLE_LIMIT.store(bytes, std::sync::atomic::Ordering::Relaxed);
    let mut cache = RECYCLED.lock().unwrap_or_else(|e| e.into_inner());
    let mut held: usize = cache.iter().map(Recycled::bytes).sum();
    let mut given = 0;
    while held > bytes {
        let Some(r) = cache.pop() else { break };
        held -= r.bytes();
        given += r.give_back();
    }
    given
}

/// A released region: its address and the spans (offset, length) still
/// mapped, and of those the ones whose pages were used (faulted in).
#[derive(Debug)]
struct Recycled {
    base: usize,
    spans: Vec<(usize, usize)>,
    resident: Vec<(usize, usize)>,
}

impl Recycled {
    fn bytes(&self) -> usize {
        self.spans.iter().map(|s| s.1).sum()
    }

    /// Unmaps the region; returns its bytes.
    fn give_back(self) -> usize {
        for &(offset, len) in &self.spans {
            unmap_span(self.base + offset, len);
        }
        self.bytes()
    }

    /// Keeps the local view of `r` for reuse when there is room; false when
    /// it must be unmapped instead.
    fn keep(r: &Region, page: usize) -> bool {
        if r.fd >= 0 || !r.aliases.is_empty() {
            return false;
        }
        let base = r.local.base as usize;
        let spans: Vec<(usize, usize)> = mapped_spans(&r.parts, &r.local.mapped).collect();
        let extent = spans.last().map_or(0, |&(offset, len)| offset + len);
        let mut cache = RECYCLED.lock().unwrap_or_else(|e| e.into_inner());
        if cache.iter().map(Recycled::bytes).sum::<usize>() + extent > RECYCLE_LIMIT.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        // The holes that closing left are mapped again now, where nothing
        // else took them (untouched, they cost no memory): the next manager
        // then switches the region with one call.
        // Pages up to each part's cursor were handed out, and so written
        // (code and read-only data) or at least mostly touched.
        let resident = LAYOUT
            .iter()
            .map(|&i| (r.parts[i].offset, r.local.mapped[i].min(r.parts[i].cursor.next_multiple_of(page))))
            .filter(|s| s.1 > 0)
            .collect();
        let mut entry = Recycled { base, spans: Vec::with_capacity(spans.len() * 2), resident };
        let mut at = 0;
        for (offset, len) in spans {
            if offset > at && map_hole(base + at, offset - at) {
                entry.spans.push((at, offset - at));
            }
            entry.spans.push((offset, len));
            at = offset + len;
        }
        entry.merge();
        // Inaccessible while kept: old code must not run, nor old data be
        // read, through a stale pointer.
        if entry.spans.iter().any(|&(offset, len)| protect(base + offset, len, libc::PROT_NONE).is_err()) {
            // Given back whole (the holes just mapped with the rest).
            entry.give_back();
            return true;
        }
        cache.push(entry);
        true
    }

    /// Merges adjacent spans.
    fn merge(&mut self) {
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.spans.len());
        for &(offset, len) in &self.spans {
            match merged.last_mut() {
                Some(last) if last.0 + last.1 == offset => last.1 += len,
                _ => merged.push((offset, len)),
            }
        }
        self.spans = merged;
    }

    /// Makes `base..base + len` one read+write mapping: the spans are kept
    /// (those beyond `len` unmapped) and the holes between them mapped
    /// anew, where nothing else has been mapped meanwhile. Gives everything
    /// back and returns `None` when a hole is taken. Returns the base and
    /// the spans of it whose pages are faulted in.
    fn revive(self, len: usize, page: usize) -> Option<(*mut u8, Vec<(usize, usize)>)> {
        let base = self.base;
        let mut kept = Vec::new();
        let mut at = 0;
        let mut ok = true;
        for &(offset, span) in &self.spans {
            if !ok || offset >= len {
                unmap_span(base + offset, span);
                continue;
            }
            if offset > at {
                ok = map_hole(base + at, offset - at);
                if ok {
                    kept.push((at, offset - at));
                }
            }
            let keep = span.min(len - offset);
            if keep < span {
                unmap_span(base + offset + keep, span - keep);
            }
            if ok {
                kept.push((offset, keep));
                at = offset + keep;
            } else {
                unmap_span(base + offset, keep);
            }
        }
        if ok && at < len {
            ok = map_hole(base + at, len - at);
            if ok {
                kept.push((at, len - at));
            }
        }
        if !ok {
            for (offset, span) in kept {
                unmap_span(base + offset, span);
            }
            return None;
        }
        debug_assert!(len % page == 0);
        let resident = self.resident.iter().filter(|s| s.0 < len).map(|&(offset, n)| (offset, n.min(len - offset))).collect();
        protect(base, len, PROT_RW).ok().map(|_| (base as *mut u8, resident)).or_else(|| {
            unmap_span(base, len);
            None
        })
    }
}

/// Unmaps the regions that dropped managers left for reuse (see
/// "Recycling" in the module documentation) and returns how many bytes
/// they held. Also frees the section list a dropped linker left for the
/// next one (at most 1 MiB of heap, not counted).
pub fn release_recycled_memory() -> usize {
    crate::linker::release_spare_sections();
    let kept: Vec<Recycled> = RECYCLED.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    kept.into_iter().map(Recycled::give_back).sum()
}

/// Unmaps a span this manager mapped.
fn unmap_span(addr: usize, len: usize) {
    // SAFETY: the span is a mapping of the manager's (a recycled region's),
    // which nothing refers to any more.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// Maps `len` bytes read+write exactly at `addr`, if nothing is there.
fn map_hole(addr: usize, len: usize) -> bool {
    try_candidates(len, -1, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, &[addr as u64]).is_some()
}

impl DefaultMemoryManager {}

const PROT_RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
/// Parts larger than this are left to fault in page by page (a huge
/// read-only zero-fill section would otherwise take its memory at once).
const POPULATE_MAX: usize = 64 << 20;
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
/// Addresses in the low 2 GiB for a region of `len` bytes, every 64 MiB
/// from 64 MiB up.
fn low_candidates(len: usize) -> impl Iterator<Item = u64> {
    const STEP: u64 = 64 << 20;
    (1..).map(|k| k * STEP).take_while(move |&a| a + len as u64 <= 1 << 31)
}

/// Maps `len` bytes of memfd `fd` at an address equal to `residue` modulo
/// `modulo` (a power of two), in the low 2 GiB when `low`: a reservation
/// `modulo` bytes larger is mapped where the kernel likes, the memfd over
/// the right part of it, and the rest given back.
fn map_congruent(len: usize, fd: i32, low: bool, modulo: u64, residue: u64) -> Result<*mut u8, String> {
    let span = len + modulo as usize;
    let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    let reserved = if low {
        map_anywhere(span, -1, anon | libc::MAP_32BIT)
            .or_else(|e| try_candidates(span, -1, anon, &low_candidates(span).collect::<Vec<_>>()).ok_or(e))?
    } else {
        map_anywhere(span, -1, anon)?
    };
    let base = reserved as u64;
    let at = base + (residue.wrapping_sub(base) & (modulo - 1));
    // SAFETY: `at..at + len` lies inside the reservation just made, which
    // nothing else uses: replacing it is what MAP_FIXED is for here.
    let p = unsafe { libc::mmap(at as *mut libc::c_void, len, PROT_RW, libc::MAP_SHARED | libc::MAP_FIXED, fd, 0) };
    let failed = p == libc::MAP_FAILED;
    let error = if failed { Some(os_error(&format!("mmap of {len} bytes failed"))) } else { None };
    // SAFETY: giving back the parts of our own reservation the memfd does
    // not cover (all of it when mapping failed).
    unsafe {
        if failed {
            libc::munmap(reserved as *mut libc::c_void, span);
        } else {
            if at > base {
                libc::munmap(reserved as *mut libc::c_void, (at - base) as usize);
            }
            let end = at + len as u64;
            if base + (span as u64) > end {
                libc::munmap(end as *mut libc::c_void, (base + span as u64 - end) as usize);
            }
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(at as *mut u8),
    }
}

fn map_anywhere(len: usize, fd: i32, flags: i32) -> Result<*mut u8, String> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing.
    let p = unsafe { libc::mmap(ptr::null_mut(), len, PROT_RW, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(os_error(&format!("mmap of {len} bytes failed")));
    }
    Ok(p as *mut u8)
}

// SAFETY: allocations come from the regions' own read+write mappings, each
// range handed out once, kept mapped until the manager is dropped;
// make_writable reopens exactly the pages of the sections named.
unsafe impl MemoryManager for DefaultMemoryManager {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        // Each object's code starts on a page of its own: re-patching an
        // object's code makes its pages read+write for a moment, which must
        // not stop another object's code from running.
        let code_align = if r.code_size > 0 { r.code_align.max(self.page) } else { r.code_align };
        let sizes = [(r.code_size, code_align), (r.ro_size, r.ro_align), (r.rw_size, r.rw_align)];
        let idx = self.place(sizes, r.wants_low_memory, r.near)?;
        if r.code_size > 0 {
            let part = &mut self.regions[idx].parts[CODE];
            let aligned = align_up(part.cursor, self.page);
            self.batch_used[CODE] += aligned - part.cursor;
            part.cursor = aligned;
        }
        self.current = Some(idx);
        self.reserved = true;
        // The object's code and read-only data are written in full right
        // away (copied; GOT and stubs filled at finalize): their pages are
        // faulted in with one call per part rather than one fault per page.
        // Writable data is left to fault, as it may be mostly zero-fill.
        // (A single page faults in for less than the call would cost.)
        for (pi, size) in [(CODE, r.code_size), (RO, r.ro_size)] {
            if size > self.page && size <= POPULATE_MAX {
                Self::populate(&self.regions[idx], pi, size, self.page);
            }
        }
        Ok(())
    }

    fn allocates_zeroed_memory(&self) -> bool {
        // Fresh pages, never handed out twice; released pages are given back
        // to the system, not reused. A recycled region's pages hold old bytes.
        self.current.is_none_or(|i| !self.regions[i].recycled)
    }

    fn allocate(&mut self, req: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        let pi = part_index(req.kind);
        let align = req.align.max(1);
        let mut sizes = [(0, 1); 3];
        sizes[pi] = (req.size, align);
        let idx = match self.current {
            Some(i) if self.reserved || fits(&self.regions[i], &sizes) => i,
            _ => {
                // Used without a reservation: each allocation goes where it
                // fits, like an object of its own.
                let i = self.place(sizes, false, None)?;
                self.current = Some(i);
                self.reserved = false;
                i
            }
        };
        let r = &mut self.regions[idx];
        let base = r.local.base as usize;
        let part = &mut r.parts[pi];
        let start = base + part.offset;
        let end = (start + part.cursor).checked_next_multiple_of(align).and_then(|a| a.checked_add(req.size));
        let Some(end) = end.filter(|&e| e <= start + part.cap) else {
            return Err(format!(
                "section {} ({} bytes, align {}) does not fit in the reserved {} part of {} bytes",
                req.name,
                req.size,
                align,
                req.kind.name(),
                part.cap
            ));
        };
        let addr = end - req.size;
        if r.recycled {
            // Old bytes in the alignment padding; in the allocation too when
            // there was no reservation (allocates_zeroed_memory, asked after
            // one, is what tells the linker to write the rest itself).
            let clear = if self.reserved { addr } else { end } - (start + part.cursor);
            if clear > 0 {
                // SAFETY: the range lies in the part's read+write room, where
                // nothing live was handed out before.
                unsafe { ptr::write_bytes((start + part.cursor) as *mut u8, 0, clear) };
            }
        }
        self.batch_used[pi] += end - (start + part.cursor);
        part.cursor = end - start;
        part.live.push((addr - base, req.size));
        r.max_align = r.max_align.max(align);
        Ok(addr as *mut u8)
    }

    fn begin_finalize(&mut self) -> Result<(), String> {
        if !self.sealed {
            return Ok(());
        }
        for r in self.regions.iter_mut().filter(|r| r.sealed) {
            Self::restore_local(r)?;
            r.sealed = false;
        }
        Ok(())
    }

    fn make_writable(&mut self, local: *mut u8, size: usize, section_id: u32) -> Result<(), String> {
        self.make_writable_many(&[(local, size, section_id)])
    }

    /// Switches the pages of all the sections at once, one `mprotect` per
    /// run of adjacent pages (a re-finalize that touches the code of many
    /// objects of one batch then costs a few system calls, not one per
    /// section).
    fn make_writable_many(&mut self, sections: &[(*mut u8, usize, u32)]) -> Result<(), String> {
        let mut spans = Vec::with_capacity(sections.len());
        for &(local, size, _) in sections {
            if let Some(span) = self.pages_to_open(local, size)? {
                spans.push(span);
            }
        }
        spans.sort_unstable();
        let mut k = 0;
        while k < spans.len() {
            let (idx, pi, start, mut end) = spans[k];
            k += 1;
            while k < spans.len() && spans[k].0 == idx && spans[k].1 == pi && spans[k].2 <= end {
                end = end.max(spans[k].3);
                k += 1;
            }
            let r = &mut self.regions[idx];
            if r.writable.iter().any(|&(p, s, e)| p == pi && s <= start && end <= e) {
                continue;
            }
            // Not executable until the next finalize.
            protect(r.local.base as usize + start, end - start, PROT_RW)?;
            let (mut start, mut end) = (start, end);
            r.writable.retain(|&(p, s, e)| {
                let merge = p == pi && s <= end && start <= e;
                if merge {
                    (start, end) = (start.min(s), end.max(e));
                }
                !merge
            });
            r.writable.push((pi, start, end));
            self.unsettled.push(idx);
        }
        Ok(())
    }

    fn release(&mut self, local: *mut u8, size: usize, _section_id: u32) -> Result<(), String> {
        let (idx, pi, k) = self
            .find_allocation(local as usize, size)
            .ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let page = self.page;
        let r = &mut self.regions[idx];
        let (off, size) = r.parts[pi].live.remove(k);
        if r.live() == 0 {
            let r = self.regions.swap_remove(idx);
            self.extents.remove(Extents::of(&r));
            let moved = self.regions.len();
            let follow = |c: Option<usize>| match c {
                Some(c) if c == idx => None,
                Some(c) if c == moved => Some(idx),
                c => c,
            };
            self.current = follow(self.current);
            self.continuing = follow(self.continuing);
            self.unsettled.retain(|&i| i != idx);
            for i in &mut self.unsettled {
                if *i == moved {
                    *i = idx;
                }
            }
            Self::unmap(&r);
            return Ok(());
        }
        if size > 0 {
            // The whole pages that this allocation touched and no live one
            // does.
            let part = &r.parts[pi];
            let prev_end = part.live[..k].iter().rev().find(|a| a.1 > 0).map_or(part.offset, |a| a.0 + a.1);
            let next_start = part.live[k..].iter().find(|a| a.1 > 0).map_or(usize::MAX, |a| a.0);
            let start = align_down(off, page).max(align_up(prev_end, page));
            let end = align_up(off + size, page).min(align_down(next_start, page)).min(part.offset + r.local.mapped[pi]);
            if start < end {
                Self::give_back(r, start, end);
            }
        }
        Ok(())
    }

    fn finalize(&mut self) -> Result<(), String> {
        self.reserved = false;
        if self.batch_used != [0; 3] {
            self.history = Some(self.batch_used);
            self.batch_used = [0; 3];
        }
        let page = self.page;
        let mut unsettled = std::mem::take(&mut self.unsettled);
        if self.sealed {
            unsettled = (0..self.regions.len()).collect();
        }
        // The region of the last object placed stays open for later ones;
        // the region left open before, if another, is closed.
        let keep = self.current.take().filter(|&i| self.regions[i].open).or(self.continuing);
        unsettled.extend(self.continuing.filter(|&c| Some(c) != keep));
        self.continuing = keep;
        unsettled.sort_unstable();
        unsettled.dedup();
        for (k, &i) in unsettled.iter().enumerate() {
            let before = Extents::of(&self.regions[i]);
            let settled = Self::settle(&mut self.regions[i], page, Some(i) == keep);
            // (Closing trims the region.)
            self.extents.remove(before);
            self.extents.add(Extents::of(&self.regions[i]));
            if let Err(e) = settled {
                // The regions not done yet are left for the next finalize.
                self.unsettled = unsettled[k..].to_vec();
                return Err(e);
            }
        }
        self.sealed = false;
        Ok(())
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

impl DefaultMemoryManager {
    /// The region, part and page span (offsets from the region base) that
    /// must become writable for `size` bytes at `local`; `None` when they
    /// are writable already.
    fn pages_to_open(&self, local: *mut u8, size: usize) -> Result<Option<(usize, usize, usize, usize)>, String> {
        let a = local as usize;
        if size == 0 {
            return Ok(None);
        }
        let (idx, pi) = self.locate(a).ok_or_else(|| format!("{local:p} is not in memory of the default memory manager"))?;
        let r = &self.regions[idx];
        if !r.sealed && final_protection(pi) == PROT_RW {
            return Ok(None);
        }
        let base = r.local.base as usize;
        let part = &r.parts[pi];
        let start = align_down(a - base, self.page);
        // The room of an open region above its settled pages is read+write
        // (given back so at `begin_finalize` after a seal).
        let end = align_up((a - base).saturating_add(size), self.page).min(part.offset + final_len(r, pi, r.local.mapped[pi]));
        Ok((start < end).then_some((idx, pi, start, end)))
    }

    /// Unmaps what a region's views map and closes its memfd.
    fn unmap(r: &Region) {
        for view in std::iter::once(&r.local).chain(&r.aliases) {
            for (offset, len) in mapped_spans(&r.parts, &view.mapped) {
                // SAFETY: unmapping what this view maps (never a hole, where
                // someone else's mapping may be), once nothing refers to it
                // any more (the objects were removed, or the linker that
                // owns the manager is gone).
                unsafe { libc::munmap(view.base.add(offset) as *mut libc::c_void, len) };
            }
        }
        if r.fd >= 0 {
            // SAFETY: closing the region's own memfd.
            unsafe { libc::close(r.fd) };
        }
    }
}

impl Drop for DefaultMemoryManager {
    fn drop(&mut self) {
        for r in &self.regions {
            if !(self.recycle && Recycled::keep(r, self.page)) {
                Self::unmap(r);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use region::Protection;
    use std::sync::Mutex;

    /// The tests look at the address space (holes, unmapped ranges), where
    /// another test's first region could land: one at a time.
    static ADDRESS_SPACE: Mutex<()> = Mutex::new(());

    /// Also taken by other modules' tests that depend on what
    /// [`release_recycled_memory`] releases.
    pub(crate) fn lock() -> std::sync::MutexGuard<'static, ()> {
        ADDRESS_SPACE.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request(code: usize, ro: usize, rw: usize) -> ReserveRequest {
        ReserveRequest { code_size: code, code_align: 16, ro_size: ro, ro_align: 16, rw_size: rw, rw_align: 16, ..Default::default() }
    }

    fn alloc(m: &mut DefaultMemoryManager, size: usize, align: usize, kind: SectionKind) -> *mut u8 {
        let p = m.allocate(&AllocationRequest { size, align, section_id: 0, name: "s", kind }).unwrap();
        assert_eq!(p as usize % align, 0);
        p
    }

    /// Reserves and allocates one object with one section per part.
    fn object(m: &mut DefaultMemoryManager, code: usize, ro: usize, rw: usize) -> [*mut u8; 3] {
        m.reserve(&request(code, ro, rw)).unwrap();
        [alloc(m, code, 16, SectionKind::Code), alloc(m, ro, 16, SectionKind::ReadOnlyData), alloc(m, rw, 16, SectionKind::ReadWriteData)]
    }

    fn protection(p: *const u8) -> Option<Protection> {
        region::query(p).ok().map(|r| r.protection())
    }

    /// No page of the manager's is writable and executable.
    fn assert_no_wx(m: &DefaultMemoryManager) {
        for r in &m.regions {
            for view in std::iter::once(&r.local).chain(&r.aliases) {
                for (offset, len) in mapped_spans(&r.parts, &view.mapped) {
                    for page in (offset..offset + len).step_by(m.page) {
                        let prot = protection(view.base.wrapping_add(page)).expect("mapped");
                        assert!(!prot.contains(Protection::WRITE_EXECUTE), "page {page:#x} is {prot:?}");
                    }
                }
            }
        }
    }

    /// A finalize that leaves no region open, as when the next object
    /// does not fit in the region the last one left open.
    fn finalize_closing(m: &mut DefaultMemoryManager) {
        m.unsettled.extend(m.continuing.take());
        m.unsettled.extend(m.current.take());
        m.finalize().unwrap();
        assert!(m.regions.iter().all(|r| !r.open));
    }

    fn region_bounds(m: &DefaultMemoryManager, i: usize) -> (usize, usize) {
        let r = &m.regions[i];
        (r.local.base as usize, r.local.base as usize + r.len)
    }

    #[test]
    fn a_finalize_settles_the_region_that_a_removal_moved_in_the_list() {
        let _g = lock();
        let mut m = DefaultMemoryManager::without_recycling();
        let first = object(&mut m, 1000, 200, 100);
        finalize_closing(&mut m);
        object(&mut m, 1000, 200, 100);
        finalize_closing(&mut m);
        let third = object(&mut m, 1000, 200, 100);
        m.finalize().unwrap();
        assert_eq!(m.region_count(), 3);
        assert_eq!(m.continuing, Some(2));
        m.make_writable(third[0], 100, 0).unwrap();
        assert_eq!(protection(third[0]), Some(Protection::READ_WRITE));
        // The first region goes; the last one takes its place in the list.
        for (&p, size) in first.iter().zip([1000, 200, 100]) {
            m.release(p, size, 0).unwrap();
        }
        assert_eq!(m.region_count(), 2);
        assert_eq!(m.continuing, Some(0), "the region left open follows its move in the list");
        m.finalize().unwrap();
        assert_eq!(protection(third[0]), Some(Protection::READ_EXECUTE));
        assert_no_wx(&m);
        // The next small object goes into the region left open.
        let fourth = object(&mut m, 1000, 200, 100);
        assert_eq!(m.region_count(), 2);
        assert!((region_bounds(&m, 0).0..region_bounds(&m, 0).1).contains(&(fourth[0] as usize)));
        // The extents follow the regions: a region for an object too large
        // for the open one goes right after the highest region, within
        // reach of both.
        let (lo, hi) = m.extents.bounds().unwrap();
        assert_eq!(lo as usize, (0..2).map(|i| region_bounds(&m, i).0).min().unwrap());
        assert_eq!(hi as usize, (0..2).map(|i| region_bounds(&m, i).1).max().unwrap());
        object(&mut m, 4 << 20, 0, 0);
        assert_eq!(region_bounds(&m, 2).0, hi as usize);
    }

    #[test]
    fn objects_of_one_batch_share_a_region_and_closing_it_trims_it() {
        let _g = lock();
        // A fresh region (a recycled one has its tails unmapped whatever
        // their size).
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let page = m.page;
        let objects: Vec<[*mut u8; 3]> = (0..5).map(|_| object(&mut m, 1000, 200, 100)).collect();
        assert_eq!(m.region_count(), 1);
        let (start, end) = region_bounds(&m, 0);
        for o in &objects {
            for &p in o {
                assert!((start..end).contains(&(p as usize)));
                assert!((p as u64).abs_diff(objects[0][0] as u64) < REACH);
            }
        }
        // Bump allocation: one object after the other in each part, and
        // each object's code on pages of its own.
        assert!(objects.windows(2).all(|w| (0..3).all(|i| w[1][i] as usize >= w[0][i] as usize + 100)));
        assert!(objects.iter().all(|o| o[CODE] as usize % page == 0));
        for o in &objects {
            // SAFETY: each section is writable and at least 100 bytes long.
            unsafe { ptr::write_bytes(o[0], 0xc3, 100) };
        }

        finalize_closing(&mut m);
        let r = &m.regions[0];
        assert!(!r.open);
        // The code part's unused tail, at the end of the region, is
        // unmapped (the next region goes there); the small tails of the
        // other parts stay mapped, with their part's protection.
        assert_eq!(r.local.mapped[CODE], align_up(r.parts[CODE].cursor, page));
        assert!(r.local.mapped[CODE] < r.parts[CODE].cap);
        let tail = r.local.base.wrapping_add(r.parts[CODE].offset + r.local.mapped[CODE]);
        assert_eq!(protection(tail), None, "the unused tail of the code part is unmapped");
        assert_eq!(r.len, r.parts[CODE].offset + r.local.mapped[CODE]);
        for (i, prot) in [(RO, Protection::READ), (RW, Protection::READ_WRITE)] {
            assert_eq!(r.local.mapped[i], r.parts[i].cap, "part {i}");
            assert!(r.parts[i].cap - align_up(r.parts[i].cursor, page) <= KEEP_TAIL);
            let last = r.local.base.wrapping_add(r.parts[i].offset + r.parts[i].cap - page);
            assert_eq!(protection(last), Some(prot), "the unused tail of part {i}");
        }
        assert_eq!(protection(objects[0][0]), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(objects[0][1]), Some(Protection::READ));
        assert_eq!(protection(objects[0][2]), Some(Protection::READ_WRITE));
        assert_no_wx(&m);

        // The next object opens a new region: the first one is closed for good.
        let (start, end) = region_bounds(&m, 0);
        let later = object(&mut m, 1000, 200, 100);
        assert_eq!(m.region_count(), 2);
        assert!(later.iter().all(|&p| !(start..end).contains(&(p as usize))));
        assert!((later[0] as u64).abs_diff(start as u64) < REACH);
        assert_eq!(protection(later[0]), Some(Protection::READ_WRITE));
        m.finalize().unwrap();
        assert_eq!(protection(later[0]), Some(Protection::READ_EXECUTE));
        // Capacity now follows the previous batch (five small objects, whose
        // code took a page each), not the first batch's generous room.
        let cap = m.regions[1].parts[CODE].cap;
        assert!(cap >= 4 * page + 1000 && cap < FIRST_ROOM[CODE], "code room {cap}");
        assert_no_wx(&m);
    }

    #[test]
    fn a_finalize_leaves_the_region_open_for_later_objects_above_its_protected_pages() {
        let _g = lock();
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let page = m.page;
        let first = object(&mut m, 1000, 200, 100);
        put_ret_42(first[0]);
        m.finalize().unwrap();
        assert_eq!(m.continuing, Some(0));
        let r = &m.regions[0];
        assert!(r.open);
        assert_eq!(protection(first[0]), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(first[1]), Some(Protection::READ));
        assert_eq!(protection(first[2]), Some(Protection::READ_WRITE));
        // Above the protected pages, the room stays read+write, mapped.
        for i in [CODE, RO] {
            assert_eq!(r.parts[i].settled, page);
            assert_eq!(r.parts[i].cursor, page, "later objects start on the next page");
            let room = r.local.base.wrapping_add(r.parts[i].offset + page);
            assert_eq!(protection(room), Some(Protection::READ_WRITE), "part {i}");
        }
        assert_no_wx(&m);
        assert_eq!(call(first[0]), 42);

        // The next object goes into the same region, on fresh pages; the
        // first one's code runs meanwhile.
        let second = object(&mut m, 1000, 200, 100);
        assert_eq!(m.region_count(), 1);
        assert_eq!(second[0] as usize, first[0] as usize + page);
        assert_eq!(second[1] as usize, align_up(first[1] as usize + 200, page));
        assert!(second[2] as usize >= first[2] as usize + 100 && (second[2] as usize) < first[2] as usize + page);
        put_ret_42(second[0]);
        assert_eq!(call(first[0]), 42);
        assert_eq!(protection(first[0]), Some(Protection::READ_EXECUTE));
        m.finalize().unwrap();
        assert_eq!(protection(second[0]), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(second[1]), Some(Protection::READ));
        assert_eq!(call(second[0]), 42);
        assert_no_wx(&m);

        // Re-patching the first object opens only its pages, and the next
        // finalize gives them back their protection; the region stays open.
        m.make_writable(first[0], 1000, 0).unwrap();
        assert_eq!(protection(first[0]), Some(Protection::READ_WRITE));
        assert_eq!(protection(second[0]), Some(Protection::READ_EXECUTE));
        assert_no_wx(&m);
        m.finalize().unwrap();
        assert_eq!(protection(first[0]), Some(Protection::READ_EXECUTE));
        assert!(m.regions[0].open && m.regions[0].writable.is_empty());
        let third = object(&mut m, 1000, 200, 100);
        assert_eq!(third[0] as usize, second[0] as usize + page);
        m.finalize().unwrap();
        assert_no_wx(&m);

        // Module after module: regions that replace an outgrown one grow
        // geometrically, and only the newest stays open. (Each object's
        // read-only data takes a page: 16 of them fill the first region's
        // 64 KiB, then 32, 64 and 128 the next ones.)
        for _ in 0..200 {
            object(&mut m, 1000, 200, 100);
            m.finalize().unwrap();
        }
        assert!(m.region_count() <= 4, "{} regions", m.region_count());
        assert_eq!(m.regions.iter().filter(|r| r.open).count(), 1);
        assert_eq!(m.continuing.map(|c| m.regions[c].open), Some(true));
        assert_no_wx(&m);
    }

    #[test]
    fn aliases_and_sealed_views_of_a_region_left_open_follow_its_protected_pages() {
        let _g = lock();
        let mut m = DefaultMemoryManager::with_dual_mapping();
        let page = m.page;
        let first = object(&mut m, 100, 100, 100);
        put_ret_42(first[0]);
        m.finalize().unwrap();
        assert!(m.regions[0].open && m.regions[0].fd >= 0);
        let a = m.alias(first[0]).unwrap();
        let at = |p: *mut u8| a.alias_base.wrapping_add(p as usize - a.local_base as usize);
        assert_eq!(protection(at(first[0])), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(at(first[0]).wrapping_add(page)), Some(Protection::READ_WRITE), "the open room");
        assert_eq!(call(at(first[0])), 42);

        let second = object(&mut m, 100, 100, 100);
        put_ret_42(second[0]);
        m.finalize().unwrap();
        assert_eq!(protection(at(second[0])), Some(Protection::READ_EXECUTE));
        assert_eq!(call(at(second[0])), 42);

        // Sealed, then finalized: the local view gets back the protected
        // pages' protections, and read+write for the room.
        m.seal_local_views().unwrap();
        assert_eq!(protection(first[0]), Some(Protection::NONE));
        assert_eq!(call(at(first[0])), 42);
        m.finalize().unwrap();
        assert_eq!(protection(first[0]), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(second[1]), Some(Protection::READ));
        assert_eq!(protection(second[0].wrapping_add(page)), Some(Protection::READ_WRITE));
        let third = object(&mut m, 100, 100, 100);
        assert_eq!(m.region_count(), 1);
        put_ret_42(third[0]);
        m.finalize().unwrap();
        assert_eq!(call(at(third[0])), 42);
        assert_eq!(call(third[0]), 42);
        assert_no_wx(&m);
    }

    #[test]
    fn closing_unmaps_an_unused_part_whole_and_keeps_the_small_tail_of_a_used_one() {
        let _g = lock();
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let page = m.page;
        // Code and read-write data, no read-only data: the first region
        // still gives each part room.
        m.reserve(&request(1000, 0, 100)).unwrap();
        let code = alloc(&mut m, 1000, 16, SectionKind::Code);
        let data = alloc(&mut m, 100, 16, SectionKind::ReadWriteData);
        finalize_closing(&mut m);
        let r = &m.regions[0];
        assert!(r.parts[RO].cap > 0 && r.parts[RO].cursor == 0);
        // Kept, the unused part would be a mapping of its own.
        assert_eq!(r.local.mapped[RO], 0);
        assert_eq!(protection(r.local.base.wrapping_add(r.parts[RO].offset)), None);
        // The read-write tail stays, one mapping with the used page.
        assert_eq!(r.local.mapped[RW], r.parts[RW].cap);
        assert_eq!(protection(data.wrapping_add(r.parts[RW].cap - page)), Some(Protection::READ_WRITE));
        assert_eq!(protection(code), Some(Protection::READ_EXECUTE));
        assert_no_wx(&m);
    }

    #[test]
    fn an_object_that_does_not_fit_opens_a_larger_region() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let big = FIRST_ROOM[CODE] * 3 / 4;
        object(&mut m, big, 0, 0);
        assert_eq!(m.region_count(), 1);
        let second = object(&mut m, big, 0, 0);
        assert_eq!(m.region_count(), 2);
        assert!(m.regions[1].parts[CODE].cap >= 2 * big);
        // Smaller objects go into the newest open region with room.
        let third = object(&mut m, 1000, 0, 0);
        assert_eq!(m.region_count(), 2);
        assert!(third[0] as usize > second[0] as usize);
        m.finalize().unwrap();
        // The region of the last object stays open for later ones; the
        // other is closed.
        assert!(!m.regions[0].open && m.regions[1].open);
        assert_no_wx(&m);
    }

    /// Which of the `pages` pages from `p` are resident.
    fn resident(p: *mut u8, pages: usize) -> Vec<bool> {
        let mut v = vec![0u8; pages];
        // SAFETY: `p` is page-aligned and the range is mapped (mincore only reads page tables).
        assert_eq!(unsafe { libc::mincore(p.cast(), pages * page_size(), v.as_mut_ptr()) }, 0);
        v.iter().map(|b| b & 1 != 0).collect()
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
    }

    #[test]
    fn code_and_read_only_data_are_faulted_in_at_reserve_and_writable_data_is_not() {
        let _g = lock();
        release_recycled_memory();
        // Kernels before 5.14 have no MADV_POPULATE_WRITE: nothing to check there.
        let page = page_size();
        // SAFETY: a scratch anonymous mapping, unmapped below.
        let probe = unsafe { libc::mmap(ptr::null_mut(), page, PROT_RW, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        assert_ne!(probe, libc::MAP_FAILED);
        // SAFETY: the mapping just made.
        let supported = unsafe { libc::madvise(probe, page, libc::MADV_POPULATE_WRITE) } == 0;
        // SAFETY: as above.
        unsafe { libc::munmap(probe, page) };
        if !supported {
            eprintln!("MADV_POPULATE_WRITE unsupported by this kernel: skipped");
            return;
        }
        let mut m = DefaultMemoryManager::new();
        m.reserve(&ReserveRequest { code_size: 8 * page, code_align: page, ro_size: 3 * page, ro_align: page, ..request(0, 0, 0) })
            .unwrap();
        let code = alloc(&mut m, 8 * page, page, SectionKind::Code);
        let ro = alloc(&mut m, 3 * page, page, SectionKind::ReadOnlyData);
        assert_eq!(resident(code, 8), vec![true; 8]);
        assert_eq!(resident(ro, 3), vec![true; 3]);
        // Zero-fill data may be huge and mostly untouched: not faulted in.
        m.reserve(&ReserveRequest { rw_size: 16 * page, rw_align: page, ..request(0, 0, 0) }).unwrap();
        let bss = alloc(&mut m, 16 * page, page, SectionKind::ZeroFill);
        assert_eq!(resident(bss, 16), vec![false; 16]);
    }

    /// One object in a manager that is finalized and dropped (so its region
    /// is kept, within the limit); its allocations.
    fn dropped_object() -> [*mut u8; 3] {
        let mut m = DefaultMemoryManager::new();
        let o = object(&mut m, 1000, 200, 100);
        m.finalize().unwrap();
        o
    }

    #[test]
    fn a_dropped_managers_region_serves_the_next_manager_with_old_bytes_cleared() {
        let _g = lock();
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let first = object(&mut m, 1000, 200, 100);
        for &p in &first {
            // SAFETY: allocations of at least 100 bytes, writable before finalize.
            unsafe { ptr::write_bytes(p, 0xab, 100) };
        }
        m.finalize().unwrap();
        let (start, end) = region_bounds(&m, 0);
        drop(m);
        // Kept mapped, inaccessible, as one mapping (the region was left
        // open, with all its room).
        assert_eq!(protection(first[0]), Some(Protection::NONE));
        assert_eq!(RECYCLED.lock().unwrap().len(), 1);
        assert_eq!(RECYCLED.lock().unwrap()[0].spans, vec![(0, end - start)]);

        let mut m = DefaultMemoryManager::new();
        m.reserve(&request(1000, 200, 100)).unwrap();
        assert_eq!(region_bounds(&m, 0).0, start, "the recycled region is reused");
        assert!(RECYCLED.lock().unwrap().is_empty());
        assert!(!m.allocates_zeroed_memory(), "old bytes: rtdyld must write the zeros");
        // It knows which pages the first manager used, and does not fault
        // them in again: they are in.
        let r = &m.regions[0];
        assert_eq!(r.resident.iter().map(|s| s.1).sum::<usize>(), 3 * page_size(), "{:?}", r.resident);
        for &(offset, len) in &r.resident {
            // SAFETY: the span lies within the region (offset + len <= len of the region).
            let p = unsafe { r.local.base.add(offset) };
            assert_eq!(resident(p, len / page_size()), vec![true; len / page_size()]);
        }
        // Alignment padding before an allocation is cleared; the allocation
        // itself is the linker's to fill.
        let a = alloc(&mut m, 10, 16, SectionKind::Code);
        let b = alloc(&mut m, 10, 64, SectionKind::Code);
        assert_eq!(a, first[0]);
        // SAFETY: a and b lie in the open region's code part (read+write).
        let padding = unsafe { std::slice::from_raw_parts(a.add(10), b as usize - a as usize - 10) };
        assert!(padding.iter().all(|&x| x == 0), "{padding:?}");
        assert_eq!(protection(a), Some(Protection::READ_WRITE));
        m.finalize().unwrap();
        assert_no_wx(&m);
        assert_eq!(protection(a), Some(Protection::READ_EXECUTE));
        // Past the last allocation the page holds no old code either.
        let page_end = (b as usize + 10).next_multiple_of(page_size());
        // SAFETY: the rest of b's page, readable (read+execute).
        let rest = unsafe { std::slice::from_raw_parts(b.add(10), page_end - b as usize - 10) };
        assert!(rest.iter().all(|&x| x == 0), "old bytes after the last allocation");

        // A manager that does not recycle unmaps at drop.
        let mut n = DefaultMemoryManager::without_recycling();
        let other = object(&mut n, 1000, 200, 100);
        n.finalize().unwrap();
        drop(n);
        assert_eq!(protection(other[0]), None);
        drop(m);
        assert_eq!(protection(a), Some(Protection::NONE));
        assert!(release_recycled_memory() >= page_size());
        assert_eq!(protection(a), None);
        assert_eq!(release_recycled_memory(), 0);
    }

    #[test]
    fn without_a_reservation_allocations_from_a_recycled_region_are_zero_filled() {
        let _g = lock();
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let old = alloc(&mut m, 4000, 16, SectionKind::Code);
        // SAFETY: 4000 writable bytes, before finalize.
        unsafe { ptr::write_bytes(old, 0xab, 4000) };
        m.finalize().unwrap();
        drop(m);
        let mut m = DefaultMemoryManager::new();
        let new = alloc(&mut m, 4000, 16, SectionKind::Code);
        assert!(m.regions[0].recycled);
        assert_eq!(new, old);
        // SAFETY: 4000 bytes just allocated.
        assert!(unsafe { std::slice::from_raw_parts(new, 4000) }.iter().all(|&b| b == 0));
        drop(m);
        release_recycled_memory();
    }

    #[test]
    fn a_recycled_region_whose_hole_was_taken_is_given_back_and_a_fresh_one_mapped() {
        let _g = lock();
        release_recycled_memory();
        let page = page_size();
        let mut m = DefaultMemoryManager::new();
        // Room for 256 KiB of read-write data, of which 100 bytes are used.
        m.reserve(&request(1000, 200, 256 << 10)).unwrap();
        let first = [(1000, SectionKind::Code), (200, SectionKind::ReadOnlyData), (100, SectionKind::ReadWriteData)]
            .map(|(size, kind)| alloc(&mut m, size, 16, kind));
        finalize_closing(&mut m);
        let (start, _) = region_bounds(&m, 0);
        // Closing unmapped the large unused tail of the read-write part:
        // its second page is a hole.
        let hole = first[2] as usize + page;
        assert_eq!(protection(hole as *const u8), None);
        // Someone else maps there before the manager is dropped (the drop
        // maps the holes again where it can).
        assert!(map_hole(hole, page));
        drop(m);
        let mut m = DefaultMemoryManager::new();
        m.reserve(&request(1000, 200, 100)).unwrap();
        assert!(!m.regions[0].recycled);
        assert!(m.allocates_zeroed_memory());
        assert!(RECYCLED.lock().unwrap().is_empty());
        // The old spans were unmapped; the other mapping is untouched.
        assert_eq!(protection(start as *const u8), None);
        assert_eq!(protection(hole as *const u8), Some(Protection::READ_WRITE));
        unmap_span(hole, page);
        drop(m);
        release_recycled_memory();
    }

    #[test]
    fn the_recycling_limit_can_be_lowered_to_nothing_and_raised_again() {
        let _g = lock();
        release_recycled_memory();
        let kept = dropped_object();
        assert_eq!(protection(kept[0]), Some(Protection::NONE));
        // Lowering the limit gives back what lies beyond it...
        assert!(set_recycled_memory_limit(0) >= page_size());
        assert_eq!(protection(kept[0]), None);
        // ...and at 0 nothing is kept.
        let unmapped = dropped_object();
        assert_eq!(protection(unmapped[0]), None);
        assert!(RECYCLED.lock().unwrap().is_empty());
        assert_eq!(set_recycled_memory_limit(RECYCLE_MAX), 0);
        let kept = dropped_object();
        assert_eq!(protection(kept[0]), Some(Protection::NONE));
        release_recycled_memory();
    }

    #[test]
    fn a_region_beyond_the_recycling_limit_is_mapped_fresh_so_its_zero_fill_costs_nothing() {
        let _g = lock();
        release_recycled_memory();
        dropped_object();
        assert_eq!(RECYCLED.lock().unwrap().len(), 1);
        // A .bss of twice the limit: fresh zero pages, which rtdyld need
        // not write.
        let mut m = DefaultMemoryManager::new();
        m.reserve(&request(100, 0, 2 * RECYCLE_MAX)).unwrap();
        assert!(!m.regions[0].recycled);
        assert!(m.allocates_zeroed_memory());
        // The small kept region is still there for a small object.
        assert_eq!(RECYCLED.lock().unwrap().len(), 1);
        drop(m);
        release_recycled_memory();
    }

    #[test]
    fn regions_beyond_the_recycling_budget_are_unmapped() {
        let _g = lock();
        release_recycled_memory();
        let mut m = DefaultMemoryManager::new();
        let big = object(&mut m, RECYCLE_MAX + (1 << 20), 0, 0);
        m.finalize().unwrap();
        drop(m);
        assert_eq!(protection(big[0]), None);
        assert!(RECYCLED.lock().unwrap().is_empty());
    }

    #[test]
    fn make_writable_switches_only_the_pages_of_the_section() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let page = m.page;
        m.reserve(&ReserveRequest { code_size: 4 * page, code_align: page, ro_size: 3 * page, ro_align: page, ..Default::default() })
            .unwrap();
        let a = alloc(&mut m, 100, 16, SectionKind::Code);
        let b = alloc(&mut m, 2 * page, page, SectionKind::Code);
        let c = alloc(&mut m, 100, 16, SectionKind::Code);
        let ro = alloc(&mut m, 3 * page, page, SectionKind::ReadOnlyData);
        assert_eq!((b as usize - a as usize, c as usize - b as usize), (page, 2 * page));
        m.finalize().unwrap();
        assert!([a, b, b.wrapping_add(page), c].iter().all(|&p| protection(p) == Some(Protection::READ_EXECUTE)));

        m.begin_finalize().unwrap();
        m.make_writable(b, 2 * page, 1).unwrap();
        assert_eq!(protection(a), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(b), Some(Protection::READ_WRITE));
        assert_eq!(protection(b.wrapping_add(page)), Some(Protection::READ_WRITE));
        assert_eq!(protection(c), Some(Protection::READ_EXECUTE));
        m.make_writable(ro.wrapping_add(page), 1, 3).unwrap();
        assert_eq!(protection(ro), Some(Protection::READ));
        assert_eq!(protection(ro.wrapping_add(page)), Some(Protection::READ_WRITE));
        assert_eq!(protection(ro.wrapping_add(2 * page)), Some(Protection::READ));
        assert_no_wx(&m);
        // A second call for the same pages changes nothing; adjacent pages
        // join the recorded range.
        m.make_writable(b, 2 * page, 1).unwrap();
        m.make_writable(c, 100, 2).unwrap();
        assert_eq!(m.regions[0].writable.len(), 2);
        // SAFETY: `b` is writable now.
        unsafe { ptr::write_bytes(b, 0xcc, 2 * page) };

        m.finalize().unwrap();
        assert!(m.regions[0].writable.is_empty());
        assert!([a, b, b.wrapping_add(page), c].iter().all(|&p| protection(p) == Some(Protection::READ_EXECUTE)));
        assert!((0..3).all(|i| protection(ro.wrapping_add(i * page)) == Some(Protection::READ)));
        // SAFETY: `b` is readable.
        assert_eq!(unsafe { *b.add(page) }, 0xcc);
        assert_no_wx(&m);
    }

    #[test]
    fn releasing_every_allocation_unmaps_the_region() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let one = object(&mut m, 1000, 200, 100);
        let two = object(&mut m, 1000, 200, 100);
        finalize_closing(&mut m);
        let three = object(&mut m, 1000, 200, 100);
        m.finalize().unwrap();
        assert_eq!(m.region_count(), 2);
        let (start, end) = region_bounds(&m, 0);
        for p in one {
            m.release(p, [1000, 200, 100][part_index(kind_of(&one, p))], 0).unwrap();
        }
        assert_eq!(m.region_count(), 2, "two.o still lives in the first region");
        assert_eq!(protection(two[0]), Some(Protection::READ_EXECUTE));
        for p in two {
            m.release(p, [1000, 200, 100][part_index(kind_of(&two, p))], 0).unwrap();
        }
        assert_eq!(m.region_count(), 1);
        assert!((start..end).step_by(m.page).all(|a| protection(a as *const u8).is_none()), "the first region is unmapped");
        assert_eq!(protection(three[0]), Some(Protection::READ_EXECUTE));
        // The same address range is not released twice.
        assert!(m.release(one[0], 1000, 0).is_err());
        for p in three {
            m.release(p, [1000, 200, 100][part_index(kind_of(&three, p))], 0).unwrap();
        }
        assert_eq!(m.region_count(), 0);
    }

    fn kind_of(o: &[*mut u8; 3], p: *mut u8) -> SectionKind {
        [SectionKind::Code, SectionKind::ReadOnlyData, SectionKind::ReadWriteData][o.iter().position(|&q| q == p).unwrap()]
    }

    /// Releasing one allocation of a shared region gives back the pages only
    /// it touched: they read as zero, the neighbours' bytes stay.
    fn release_gives_back_whole_pages(mut m: DefaultMemoryManager) {
        let page = m.page;
        m.reserve(&request(0, 0, 4 * page)).unwrap();
        let a = alloc(&mut m, 100, 16, SectionKind::ReadWriteData);
        let b = alloc(&mut m, 3 * page, 16, SectionKind::ReadWriteData);
        let c = alloc(&mut m, 100, 16, SectionKind::ReadWriteData);
        let start = a as usize;
        assert_eq!(start % page, 0);
        assert_eq!((b as usize - start, c as usize - start), (112, 3 * page + 112));
        // SAFETY: the three allocations are contiguous up to c + 100.
        unsafe { ptr::write_bytes(a, 0xaa, 3 * page + 212) };
        m.finalize().unwrap();
        let alias = (m.regions[0].fd >= 0).then(|| m.alias(a).unwrap());
        let byte = |p: usize| {
            // SAFETY: every page of the three allocations stays mapped while
            // one of them lives.
            unsafe { *(p as *const u8) }
        };
        let through_alias = |p: usize| alias.map(|al| byte(al.alias_base as usize + (p - al.local_base as usize)));

        m.release(b, 3 * page, 1).unwrap();
        // Pages 1 and 2 lie entirely inside b.
        for p in [start + page, start + 2 * page, start + 3 * page - 1] {
            assert_eq!(byte(p), 0, "{:#x}", p - start);
            assert!(through_alias(p).is_none_or(|v| v == 0));
        }
        // Pages 0 and 3 are shared with a and c.
        for p in [start, start + 99, start + 112, start + page - 1, start + 3 * page, start + 3 * page + 211] {
            assert_eq!(byte(p), 0xaa, "{:#x}", p - start);
            assert!(through_alias(p).is_none_or(|v| v == 0xaa));
        }

        m.release(a, 100, 0).unwrap();
        // Page 0 is nobody's now; page 3 is still c's.
        assert_eq!(byte(start), 0);
        assert_eq!(byte(start + page - 1), 0);
        assert_eq!(byte(start + 3 * page + 211), 0xaa);
        assert_eq!(m.region_count(), 1);
        m.release(c, 100, 2).unwrap();
        assert_eq!(m.region_count(), 0);
    }

    #[test]
    fn releasing_one_allocation_gives_back_its_whole_pages() {
        let _g = lock();
        release_gives_back_whole_pages(DefaultMemoryManager::new());
        release_gives_back_whole_pages(DefaultMemoryManager::with_dual_mapping());
    }

    #[test]
    fn low_memory_requests_go_below_2_gib_even_when_the_open_batch_is_high() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let x = &m as *const _ as u64; // on the stack, far above 2 GiB
        assert!(x > 1 << 32);
        m.reserve(&ReserveRequest { near: Some(x), ..request(100, 100, 100) }).unwrap();
        let high = alloc(&mut m, 100, 16, SectionKind::Code);
        assert!(high as u64 > 1 << 31 && (high as u64).abs_diff(x) < REACH);
        assert!(satisfies(&m.regions[0], false, Some(x)));

        m.reserve(&ReserveRequest { wants_low_memory: true, ..request(100, 100, 100) }).unwrap();
        let low = alloc(&mut m, 100, 16, SectionKind::Code);
        assert_eq!(m.region_count(), 2);
        assert!(region_bounds(&m, 1).1 <= 1 << 31);
        assert!((low as u64) < 1 << 31);
        // An object without constraints goes into the newest open region.
        let any = object(&mut m, 100, 100, 100);
        assert_eq!(m.region_count(), 2);
        assert!((any[0] as u64) < 1 << 31);
        m.finalize().unwrap();
        assert_no_wx(&m);
    }

    #[test]
    fn near_requests_out_of_reach_of_the_open_batch_open_a_region_within_reach() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let first = object(&mut m, 100, 100, 100);
        let (start, end) = region_bounds(&m, 0);
        let x = end as u64 + REACH - (128 << 10);
        assert!(start as u64 + REACH <= x, "the open region is not entirely within reach of x");
        m.reserve(&ReserveRequest { near: Some(x), ..request(100, 100, 100) }).unwrap();
        let near = alloc(&mut m, 100, 16, SectionKind::Code);
        assert_eq!(m.region_count(), 2);
        assert!(satisfies(&m.regions[1], false, Some(x)));
        assert!((near as u64).abs_diff(x) < REACH);
        assert!((near as u64).abs_diff(first[0] as u64) < REACH, "regions stay within reach of each other");
        // Another object that wants to be near x goes there too.
        m.reserve(&ReserveRequest { near: Some(x), ..request(100, 100, 100) }).unwrap();
        assert_eq!(m.region_count(), 2);
        m.finalize().unwrap();
    }

    #[test]
    fn allocations_without_a_reservation_work() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        let a = alloc(&mut m, 100, 16, SectionKind::Code);
        let b = alloc(&mut m, 100, 16, SectionKind::ReadWriteData);
        let big = alloc(&mut m, 4 << 20, 64, SectionKind::ReadOnlyData);
        assert!(!a.is_null() && !b.is_null() && !big.is_null());
        // SAFETY: freshly allocated, writable, 4 MiB long.
        unsafe {
            assert_eq!(*big.add((4 << 20) - 1), 0);
            ptr::write_bytes(big, 1, 4 << 20);
        }
        assert_eq!(m.region_count(), 2);
        m.finalize().unwrap();
        assert_eq!(protection(a), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(big), Some(Protection::READ));
        // The region of the last allocation stays open: a later one goes
        // there, on a page of its own.
        let c = alloc(&mut m, 100, 16, SectionKind::Code);
        assert_eq!(m.region_count(), 2);
        assert!((region_bounds(&m, 1).0..region_bounds(&m, 1).1).contains(&(c as usize)));
        assert_eq!(protection(c), Some(Protection::READ_WRITE));
        assert_eq!(c as usize % m.page, 0);
        m.finalize().unwrap();
        assert_eq!(protection(c), Some(Protection::READ_EXECUTE));
        assert_no_wx(&m);
    }

    #[test]
    fn a_reserving_client_gets_an_error_beyond_its_reservation_and_room() {
        let _g = lock();
        let mut m = DefaultMemoryManager::new();
        m.reserve(&request(100, 0, 0)).unwrap();
        let too_big = FIRST_ROOM[CODE] + 1;
        let e = m.allocate(&AllocationRequest { size: too_big, align: 16, section_id: 0, name: "s", kind: SectionKind::Code }).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
        // Absurd sizes are refused, not wrapped around.
        assert!(m.reserve(&ReserveRequest { code_size: usize::MAX - 10, code_align: 1 << 20, ..Default::default() }).is_err());
    }

    /// `mov eax, 42; ret`
    const RET_42: [u8; 6] = [0xb8, 42, 0, 0, 0, 0xc3];

    /// Writes RET_42 at `p`, the start of a code allocation of at least
    /// its size whose pages are still read+write.
    fn put_ret_42(p: *mut u8) {
        // SAFETY: see above; the callers pass code sections of 100 bytes or
        // more allocated since the last finalize.
        unsafe { ptr::copy_nonoverlapping(RET_42.as_ptr(), p, RET_42.len()) };
    }

    fn call(p: *const u8) -> i32 {
        // SAFETY: the callers pass read+execute memory holding RET_42.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(p) };
        f()
    }

    #[test]
    fn aliases_and_sealed_local_views_work_with_holes() {
        let _g = lock();
        let mut m = DefaultMemoryManager::with_dual_mapping();
        let o = object(&mut m, 100, 100, 100);
        let early = object(&mut m, 100, 100, 100);
        // SAFETY: the sections are writable and 100 bytes long.
        unsafe {
            ptr::copy_nonoverlapping(RET_42.as_ptr(), o[0], RET_42.len());
            *o[1] = 7;
            *o[2] = 8;
            *early[2] = 9;
        }
        // An alias made while the region is open is trimmed with it.
        let open_alias = m.alias(early[0]).unwrap();
        finalize_closing(&mut m);
        let r = &m.regions[0];
        assert!(r.fd >= 0);
        assert!((0..3).any(|i| r.local.mapped[i] < r.parts[i].cap), "the region has holes");
        assert_eq!(r.aliases[0].mapped, r.local.mapped);
        let alias = m.alias(o[2]).unwrap();
        assert_eq!(m.regions[0].aliases[1].mapped, m.regions[0].local.mapped);
        for a in [open_alias, alias] {
            assert_eq!(a.local_base, m.regions[0].local.base);
            let at = |p: *mut u8| a.alias_base.wrapping_add(p as usize - a.local_base as usize);
            assert_eq!(protection(at(o[0])), Some(Protection::READ_EXECUTE));
            assert_eq!(call(at(o[0])), 42);
            // SAFETY: the alias maps these pages readable.
            unsafe {
                assert_eq!(*at(o[1]), 7);
                assert_eq!(*at(o[2]), 8);
                assert_eq!(*at(early[2]), 9);
            }
            // The alias has the local view's holes.
            let r = &m.regions[0];
            for i in 0..3 {
                if r.local.mapped[i] < r.parts[i].cap && r.parts[i].offset + r.local.mapped[i] < r.len {
                    assert_eq!(protection(a.alias_base.wrapping_add(r.parts[i].offset + r.local.mapped[i])), None);
                }
            }
        }
        assert_no_wx(&m);

        m.seal_local_views().unwrap();
        assert_eq!(protection(o[0]), Some(Protection::NONE));
        assert_eq!(protection(o[2]), Some(Protection::NONE));
        assert_eq!(call(alias.alias_base.wrapping_add(o[0] as usize - alias.local_base as usize)), 42);
        m.begin_finalize().unwrap();
        m.finalize().unwrap();
        assert_eq!(protection(o[0]), Some(Protection::READ_EXECUTE));
        assert_eq!(protection(o[2]), Some(Protection::READ_WRITE));
        assert_eq!(call(o[0]), 42);
        assert_no_wx(&m);

        for (obj, sizes) in [(o, [100; 3]), (early, [100; 3])] {
            for (i, p) in obj.into_iter().enumerate() {
                m.release(p, sizes[i], 0).unwrap();
            }
        }
        assert_eq!(m.region_count(), 0);
        assert_eq!(protection(alias.alias_base), None);
    }
}
