//! Finding the pages of a linear memory that were never touched, without
//! touching them.
//!
//! Capturing a memory reads every page to find the zero ones. Reading a
//! page the program never used makes the kernel map it (a page fault per
//! 4 KiB), which for a C program's mostly unused 8 MiB stack costs more
//! than everything else in a snapshot. On Linux, `/proc/self/pagemap`
//! says for each page of the process whether it is in memory or in swap;
//! a page of Wasmtime's anonymous linear-memory mapping that is neither
//! was never written since it was mapped (or was discarded, which Wasmtime
//! does only to reset it to zero), so it reads as zero.
//!
//! That holds for anonymous memory only. Wasmtime may map a module's data
//! segments copy-on-write from an image file, whose untouched pages read
//! as the image; the caller must treat those pages (the ones the module's
//! active data segments initialise) as possibly non-zero whatever this
//! says. Anywhere pagemap cannot be read, every page counts as possibly
//! non-zero.

use weft_snapshot::PAGE_SIZE;

/// For each 64 KiB page of `memory`, whether it may be non-zero (`false`:
/// none of its host pages is present or swapped, so it was never written).
/// `None` when the kernel does not say.
pub(crate) fn touched_pages(memory: &[u8]) -> Option<Vec<bool>> {
    #[cfg(target_os = "linux")]
    {
        linux::touched_pages(memory)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = memory;
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::PAGE_SIZE;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::sync::OnceLock;

    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;

    pub(super) fn touched_pages(memory: &[u8]) -> Option<Vec<bool>> {
        // Small memories are cheaper to read than to ask about.
        if memory.len() < 32 * PAGE_SIZE {
            return None;
        }
        let host_page = 4096usize;
        let start = memory.as_ptr() as usize;
        if !start.is_multiple_of(host_page) || !PAGE_SIZE.is_multiple_of(host_page) {
            return None;
        }
        let per_page = PAGE_SIZE / host_page;
        let host_pages = memory.len() / host_page;
        // Opened once: positioned reads of it are safe from any thread.
        static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
        let file = PAGEMAP
            .get_or_init(|| File::open("/proc/self/pagemap").ok())
            .as_ref()?;
        let mut entries = vec![0u8; host_pages * 8];
        let offset = (start / host_page * 8) as u64;
        file.read_exact_at(&mut entries, offset).ok()?;
        let touched = entries
            .chunks_exact(per_page * 8)
            .map(|page| {
                page.chunks_exact(8).any(|entry| {
                    let mut word = [0; 8];
                    word.copy_from_slice(entry);
                    u64::from_le_bytes(word) & (PRESENT | SWAPPED) != 0
                })
            })
            .collect();
        Some(touched)
    }
}
