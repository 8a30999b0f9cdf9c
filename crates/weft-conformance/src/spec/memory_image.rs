//! Sparse copies of linear memories: the size and the pages in use.
//!
//! A round trip happens at every yield, and a spec script keeps every
//! memory it ever grew (`memory_grow.wast` grows one to 804 pages of zeros).
//! Copying only the pages that hold a non-zero byte keeps each round trip
//! proportional to the data actually in use.

use anyhow::{Result, bail};
use wasmtime::{AsContextMut, Memory};

const PAGE: usize = 65536;
static ZERO_PAGE: [u8; PAGE] = [0; PAGE];

fn is_zero(bytes: &[u8]) -> bool {
    bytes == &ZERO_PAGE[..bytes.len()]
}

/// The contents of a linear memory: its size, and every page that is not
/// all zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryImage {
    pages: u64,
    data: Vec<(usize, Box<[u8]>)>,
}

impl MemoryImage {
    /// Copies the pages of `memory` that are in use.
    pub fn capture(mut store: impl AsContextMut, memory: &Memory) -> MemoryImage {
        let pages = memory.size(&store);
        let bytes = memory.data(store.as_context_mut());
        let data = bytes
            .chunks(PAGE)
            .enumerate()
            .filter(|(_, page)| !is_zero(page))
            .map(|(index, page)| (index, Box::from(page)))
            .collect();
        MemoryImage { pages, data }
    }

    /// Makes `memory`, which may have fewer pages, equal to the image:
    /// grows it, writes the pages in use and clears every page it had before
    /// growing that is not already zero (data segments of a fresh instance).
    pub fn restore(&self, mut store: impl AsContextMut, memory: &Memory) -> Result<()> {
        let have = memory.size(&store);
        if have > self.pages {
            bail!(
                "the memory has {have} pages, more than the {} captured",
                self.pages
            );
        }
        if have < self.pages {
            memory.grow(&mut store, self.pages - have)?;
        }
        let old_pages = usize::try_from(have)?;
        let bytes = memory.data_mut(&mut store);
        let mut next = 0;
        for (index, page) in bytes.chunks_mut(PAGE).enumerate() {
            match self.data.get(next) {
                Some((at, data)) if *at == index => {
                    page.copy_from_slice(data);
                    next += 1;
                }
                None if index >= old_pages => break,
                _ if index < old_pages && !is_zero(page) => page.fill(0),
                _ => {}
            }
        }
        Ok(())
    }
}
