//! Advice to the kernel about rtdyld's own large buffers.

/// Below this, a buffer is left to the kernel's default page handling.
const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Asks for transparent huge pages over the whole 2 MiB pages of a large
/// buffer that is about to be filled (relocations, symbol entries of a big
/// object): one fault per 2 MiB instead of one per 4 KiB page. Where the
/// kernel does huge pages only on request (`madvise` mode, the common
/// default) this is what enables them; elsewhere it changes nothing.
pub(crate) fn prefer_huge_pages<T>(buffer: &Vec<T>) {
    let bytes = buffer.capacity() * std::mem::size_of::<T>();
    if bytes < LARGE {
        return;
    }
    let start = (buffer.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
    let end = (buffer.as_ptr() as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: the range lies within the buffer's allocation; the advice
        // changes how its pages are backed, never their contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

/// Below this, spare room is left to fault in page by page.
const POPULATE_MIN: usize = 64 << 10;

/// Faults in, in one call, the pages of the next `count` elements of
/// `buffer`'s spare capacity, which are about to be written: on fresh
/// memory, one `MADV_POPULATE_WRITE` costs far less than a page fault per
/// 4 KiB page. Pages already present are left as they are; a kernel
/// without the advice (before 5.14) refuses it, and the pages fault in as
/// they are written.
pub(crate) fn populate_spare<T>(buffer: &Vec<T>, count: usize) {
    let size = std::mem::size_of::<T>();
    let bytes = count.min(buffer.capacity() - buffer.len()) * size;
    if bytes < POPULATE_MIN {
        return;
    }
    const PAGE: usize = 4096;
    let from = buffer.as_ptr() as usize + buffer.len() * size;
    let start = from.next_multiple_of(PAGE);
    let end = (from + bytes) / PAGE * PAGE;
    if end > start {
        // SAFETY: the range lies within the buffer's allocation, in its
        // spare capacity; populating writes nothing the program sees.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
    }
}

/// The mappings of this process (start, end, in address order) that
/// allow `access` (`b'r'` or `b'x'`), from `/proc/self/maps`; empty when
/// it cannot be read.
pub(crate) fn ranges_allowing(access: u8) -> Vec<(u64, u64)> {
    let column = if access == b'x' { 2 } else { 0 };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return Vec::new() };
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?);
            if perms.as_bytes().get(column) != Some(&access) {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some((u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?))
        })
        .collect()
}

/// Whether `ranges` (in address order) cover all of `[addr, addr + len)`.
pub(crate) fn covered(ranges: &[(u64, u64)], addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len.max(1)) else { return false };
    let mut at = addr;
    for &(s, e) in ranges {
        if s <= at && at < e {
            at = e;
            if at >= end {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_come_from_the_process_maps() {
        let executable = ranges_allowing(b'x');
        let here = ranges_allowing as *const () as u64;
        assert!(covered(&executable, here, 1), "{executable:x?}");
        let heap = vec![0u64; 4096];
        let at = heap.as_ptr() as u64;
        assert!(!covered(&executable, at, 1));
        let readable = ranges_allowing(b'r');
        assert!(covered(&readable, at, 4096 * 8));
        assert!(!covered(&readable, 0x5000_0000_0000, 1));
        // Adjacent ranges cover what spans them; a gap does not.
        assert!(covered(&[(0x1000, 0x2000), (0x2000, 0x3000)], 0x1800, 0x1000));
        assert!(!covered(&[(0x1000, 0x2000), (0x2400, 0x3000)], 0x1800, 0x1000));
        assert!(!covered(&[(0x1000, 0x2000)], u64::MAX - 1, 8));
    }

    /// The `THPeligible` line of the /proc/self/smaps entry that maps `addr`.
    fn thp_eligible(addr: usize) -> Option<bool> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ').filter(|(r, _)| r.contains('-') && !r.ends_with(':')) {
                let (lo, hi) = range.split_once('-')?;
                let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
                inside = (lo..hi).contains(&addr);
            } else if inside {
                if let Some(v) = line.strip_prefix("THPeligible:") {
                    return Some(v.trim() == "1");
                }
            }
        }
        None
    }

    #[test]
    fn a_large_buffer_becomes_eligible_for_huge_pages_and_a_small_one_is_left_alone() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if !mode.contains("[madvise]") {
            eprintln!("transparent huge pages are not in madvise mode here ({}): skipped", mode.trim());
            return;
        }
        // A buffer of its own mapping (the allocator maps large ones apart).
        let big: Vec<u64> = Vec::with_capacity(16 << 20 >> 3);
        let inner = (big.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
        assert_eq!(thp_eligible(inner), Some(false), "huge pages before any advice");
        prefer_huge_pages(&big);
        assert_eq!(thp_eligible(inner), Some(true));
        // The buffer is still an ordinary, usable vector.
        let mut big = big;
        big.extend(0..1000u64);
        assert_eq!(big.iter().sum::<u64>(), 999 * 1000 / 2);
        let small: Vec<u64> = Vec::with_capacity(1 << 10);
        prefer_huge_pages(&small);
        assert_eq!(thp_eligible(small.as_ptr() as usize), Some(false));
    }

    /// How many of the 4 KiB pages of `start..end` are resident.
    fn resident_pages(start: usize, end: usize) -> usize {
        let pages = (end - start) / 4096;
        let mut v = vec![0u8; pages];
        // SAFETY: `start..end` is page-aligned and mapped (part of a live
        // allocation); `v` has one byte per page.
        let r = unsafe { libc::mincore(start as *mut libc::c_void, end - start, v.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        v.iter().filter(|&&b| b & 1 != 0).count()
    }

    #[test]
    fn populating_spare_room_makes_its_pages_resident_and_keeps_the_contents() {
        // A mapping of its own, untouched: none of its pages is resident.
        let mut buf: Vec<u64> = Vec::with_capacity(8 << 20 >> 3);
        buf.extend(0..100u64);
        let spare = buf.as_ptr() as usize + 100 * 8;
        let (start, end) = (spare.next_multiple_of(4096), (spare + (1 << 20)) / 4096 * 4096);
        if resident_pages(start, end) != 0 {
            eprintln!("the allocator handed out memory already touched: skipped");
            return;
        }
        populate_spare(&buf, 1 << 17);
        let pages = (end - start) / 4096;
        let resident = resident_pages(start, end);
        if resident == 0 {
            // Kernels before 5.14 refuse the advice.
            eprintln!("MADV_POPULATE_WRITE unsupported here: skipped");
            return;
        }
        assert_eq!(resident, pages, "every page of the next 1 MiB of room");
        // Nothing beyond the count asked for (unless every anonymous
        // mapping gets huge pages, which fault in 2 MiB at a time).
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if !mode.contains("[always]") {
            let beyond = (spare + (1 << 20)).next_multiple_of(4096) + 4096;
            assert_eq!(resident_pages(beyond, beyond + (1 << 20)), 0);
        }
        assert_eq!(buf.iter().sum::<u64>(), 99 * 100 / 2);
        // Little room: left alone.
        let small: Vec<u64> = Vec::with_capacity(1 << 10);
        populate_spare(&small, 1 << 10);
    }
}
