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

#[cfg(test)]
mod tests {
    use super::*;

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
}
