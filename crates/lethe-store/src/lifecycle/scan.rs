//! Looking for erased values in database files, for the erasure receipt.
//!
//! Every value is at least [`MIN_LEN`] bytes long. The scan reads each file once, in
//! bounded chunks, and only at every [`STRIDE`]-th byte position: there it tests the 8 bytes
//! against a bit filter holding, for every value, its 8-byte windows at offsets
//! `0..STRIDE` (one multiply, one shift, one bit test). An occurrence of a value starting at
//! `p` covers a tested position `q` (the first multiple of the stride at or after `p`),
//! and the 8 bytes at `q` are the value's window at offset `q - p`, so no occurrence is
//! missed. Only filter hits look the window up and compare whole values. Measured on the
//! development machine: about 1 GB a second, where an Aho-Corasick automaton over 100,000
//! values read about 140 MB a second and a test at every byte about 590 MB a second.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Where a value was seen in a file: a combination of [`IN_USE`] and [`IN_FREE_SPACE`].
pub(crate) type Seen = u8;
/// Seen in a part of the file that holds live data (a page SQLite uses).
pub(crate) const IN_USE: Seen = 1;
/// Seen in free space: a page on SQLite's free list or past the database's end, or a file
/// that holds no live data at all (a write-ahead log after a truncating checkpoint).
pub(crate) const IN_FREE_SPACE: Seen = 2;

/// A buffer's position in its file.
#[derive(Clone, Copy)]
struct Place<'s> {
    base: u64,
    space: &'s FreeSpace,
}

/// Which bytes of a file are free space.
#[derive(Debug)]
pub(crate) struct FreeSpace {
    page_size: u64,
    /// Pages the database uses (page `n` covers bytes `(n - 1) * page_size ..`); beyond
    /// them everything is free.
    pages: u64,
    /// Bit `n - 1` set: page `n` is on the free list.
    free: Vec<u64>,
    everything: bool,
}

impl FreeSpace {
    /// No free space: everything found counts as held by live data.
    pub(crate) fn none() -> FreeSpace {
        FreeSpace {
            page_size: 1,
            pages: u64::MAX,
            free: Vec::new(),
            everything: false,
        }
    }

    /// A file whose every byte is free space.
    pub(crate) fn everything() -> FreeSpace {
        FreeSpace {
            everything: true,
            ..FreeSpace::none()
        }
    }

    /// The free space of a SQLite database file, from its header and free list (the
    /// file's format: <https://sqlite.org/fileformat2.html>). A header that cannot be read
    /// as SQLite's gives no free space (everything found counts as live), so the receipt
    /// never calls a value erased from live data on a guess.
    pub(crate) fn sqlite(path: &Path) -> std::io::Result<FreeSpace> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(path)?;
        let mut header = [0u8; 100];
        if file.read_exact(&mut header).is_err() || !header.starts_with(b"SQLite format 3\0") {
            return Ok(FreeSpace::none());
        }
        let be32 = |at: usize| {
            u64::from(u32::from_be_bytes([
                header[at],
                header[at + 1],
                header[at + 2],
                header[at + 3],
            ]))
        };
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65_536,
            size => u64::from(size),
        };
        let pages = be32(28);
        if page_size < 512 || pages == 0 {
            return Ok(FreeSpace::none());
        }
        let mut space = FreeSpace {
            page_size,
            pages,
            free: vec![0; usize::try_from(pages.div_ceil(64)).unwrap_or(0)],
            everything: false,
        };
        let mark = |page: u64, space: &mut FreeSpace| {
            if (1..=pages).contains(&page)
                && let Some(word) = space
                    .free
                    .get_mut(usize::try_from((page - 1) / 64).unwrap_or(usize::MAX))
            {
                *word |= 1 << ((page - 1) % 64);
            }
        };
        // The free list: a chain of trunk pages, each listing leaf pages. Bounded by the
        // header's count, so a damaged chain cannot loop.
        let mut trunk = be32(32);
        let mut left = be32(36).saturating_add(1);
        let mut page = vec![0u8; usize::try_from(page_size).unwrap_or(4096)];
        while trunk != 0 && trunk <= pages && left > 0 {
            left -= 1;
            mark(trunk, &mut space);
            file.seek(SeekFrom::Start((trunk - 1) * page_size))?;
            file.read_exact(&mut page)?;
            let word = |at: usize| {
                u64::from(u32::from_be_bytes([
                    page[at],
                    page[at + 1],
                    page[at + 2],
                    page[at + 3],
                ]))
            };
            let leaves = usize::try_from(word(4))
                .unwrap_or(0)
                .min(page.len() / 4 - 2);
            for leaf in 0..leaves {
                mark(word(8 + leaf * 4), &mut space);
            }
            trunk = word(0);
        }
        Ok(space)
    }

    fn is_free(&self, offset: u64) -> bool {
        if self.everything {
            return true;
        }
        let page = offset / self.page_size;
        if page >= self.pages {
            return true;
        }
        self.free
            .get(usize::try_from(page / 64).unwrap_or(usize::MAX))
            .is_some_and(|word| word & (1 << (page % 64)) != 0)
    }
}

/// Positions tested: every `STRIDE`-th byte of a file.
const STRIDE: usize = 4;

/// Bytes per tested window.
const WINDOW: usize = 8;

/// The shortest value the scanner accepts: long enough to hold a window at each offset
/// below the stride.
pub(crate) const MIN_LEN: usize = WINDOW + STRIDE - 1;

/// Bytes read per chunk (plus the bytes carried from the chunk before).
const CHUNK: usize = 4 << 20;

/// Bits of the window filter: 2^23 bits, 1 MiB.
const FILTER_BITS: u32 = 23;
const FILTER_WORDS: usize = 1 << (FILTER_BITS - 6);

/// What to look for: values by their windows.
pub(crate) struct Needles<'v> {
    values: Vec<&'v [u8]>,
    /// Window → (value, offset of the window in the value).
    by_window: HashMap<u64, Vec<(usize, usize)>, WindowHash>,
    filter: Box<[u64; FILTER_WORDS]>,
    longest: usize,
}

/// Hashing for windows, which are 8 bytes of text already: one multiply.
#[derive(Default, Clone, Copy)]
struct WindowHash;

struct WindowHasher(u64);

impl std::hash::BuildHasher for WindowHash {
    type Hasher = WindowHasher;
    fn build_hasher(&self) -> WindowHasher {
        WindowHasher(0)
    }
}

impl std::hash::Hasher for WindowHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8 | u64::from(byte)).rotate_left(5);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

fn slot(window: u64) -> usize {
    // Fibonacci hashing: the top bits of the product spread nearby windows apart.
    (window.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS)) as usize
}

fn window_at(bytes: &[u8], at: usize) -> Option<u64> {
    let window: [u8; WINDOW] = bytes.get(at..at + WINDOW)?.try_into().ok()?;
    Some(u64::from_le_bytes(window))
}

impl<'v> Needles<'v> {
    /// Values shorter than [`MIN_LEN`] are left out (they prove nothing when found).
    pub(crate) fn new(values: &'v [String]) -> Needles<'v> {
        let mut needles = Needles {
            values: Vec::with_capacity(values.len()),
            by_window: HashMap::with_capacity_and_hasher(values.len() * STRIDE, WindowHash),
            filter: Box::new([0; FILTER_WORDS]),
            longest: 0,
        };
        for (index, value) in values.iter().enumerate() {
            let bytes = value.as_bytes();
            needles.values.push(bytes);
            if bytes.len() < MIN_LEN {
                continue;
            }
            for offset in 0..STRIDE {
                let Some(window) = window_at(bytes, offset) else {
                    continue;
                };
                let bit = slot(window);
                needles.filter[(bit >> 6) & (FILTER_WORDS - 1)] |= 1 << (bit & 63);
                needles
                    .by_window
                    .entry(window)
                    .or_default()
                    .push((index, offset));
            }
            needles.longest = needles.longest.max(bytes.len());
        }
        needles
    }

    /// Marks in `found` every value occurring in `haystack` whose tested position (a
    /// multiple of the stride from the buffer's start; any grid will do, as long as every
    /// occurrence lies whole in the buffer it is tested in) lies below `to`: [`IN_USE`] or
    /// [`IN_FREE_SPACE`], by where the occurrence starts (`base` is the file offset of the
    /// haystack's first byte).
    fn search(&self, haystack: &[u8], at_file: Place<'_>, to: usize, found: &mut [Seen]) {
        let mut at = 0;
        let end = to.min(haystack.len().saturating_sub(WINDOW - 1));
        let filter: &[u64; FILTER_WORDS] = &self.filter;
        while at < end {
            let mut bytes = [0u8; WINDOW];
            if let Some(window) = haystack.get(at..at + WINDOW) {
                bytes.copy_from_slice(window);
            }
            let window = u64::from_le_bytes(bytes);
            let bit = slot(window);
            if filter[(bit >> 6) & (FILTER_WORDS - 1)] & (1 << (bit & 63)) != 0 {
                self.confirm(haystack, at_file, at, window, found);
            }
            at += STRIDE;
        }
    }

    #[cold]
    fn confirm(
        &self,
        haystack: &[u8],
        at_file: Place<'_>,
        at: usize,
        window: u64,
        found: &mut [Seen],
    ) {
        let Some(candidates) = self.by_window.get(&window) else {
            return;
        };
        for &(index, offset) in candidates {
            let (Some(start), Some(value)) = (at.checked_sub(offset), self.values.get(index))
            else {
                continue;
            };
            if haystack.get(start..start + value.len()) == Some(*value)
                && let Some(seen) = found.get_mut(index)
            {
                *seen |= if at_file.space.is_free(at_file.base + start as u64) {
                    IN_FREE_SPACE
                } else {
                    IN_USE
                };
            }
        }
    }

    /// Streams `reader` in bounded chunks and marks the values found in it (its first byte
    /// is at `origin` in a file whose free space is `space`); returns the bytes read.
    pub(crate) fn scan_reader(
        &self,
        reader: impl Read,
        origin: u64,
        space: &FreeSpace,
        found: &mut [Seen],
    ) -> std::io::Result<u64> {
        self.scan_chunks(reader, origin, space, found, CHUNK)
    }

    fn scan_chunks(
        &self,
        mut reader: impl Read,
        origin: u64,
        space: &FreeSpace,
        found: &mut [Seen],
        chunk: usize,
    ) -> std::io::Result<u64> {
        if self.by_window.is_empty() {
            return Ok(0);
        }
        // An occurrence needs its whole value and the window at its tested position in
        // the buffer: the last `longest - 1` bytes of a chunk (where occurrences may run on
        // into the next chunk) are carried over and searched again with it.
        let carry = self.longest - 1;
        let mut buffer = vec![0u8; chunk.max(1) + carry];
        let mut carried = 0;
        let mut total = 0u64;
        let mut base = origin;
        loop {
            let mut filled = carried;
            // Fill the chunk completely unless the reader ends.
            while filled < buffer.len() {
                let read = reader.read(&mut buffer[filled..])?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            total += (filled - carried) as u64;
            let haystack = &buffer[..filled];
            if filled < buffer.len() {
                self.search(haystack, Place { base, space }, filled, found);
                return Ok(total);
            }
            // Occurrences starting before `kept` end inside this chunk; their tested
            // positions lie below `kept + STRIDE - 1`.
            let kept = filled - carry;
            self.search(haystack, Place { base, space }, kept + STRIDE - 1, found);
            buffer.copy_within(kept..filled, 0);
            base += kept as u64;
            carried = carry;
        }
    }

    /// Scans a file; `Ok(None)` when it does not exist. A large file is cut into one part
    /// per core, scanned at once by threads of their own: each part is read on by
    /// `longest - 1` bytes, so an occurrence that starts in a part lies whole in what that
    /// part's thread reads (one that starts in the overlap is found twice, which is harmless).
    pub(crate) fn scan_file(
        &self,
        path: &Path,
        space: &FreeSpace,
        found: &mut [Seen],
    ) -> std::io::Result<Option<u64>> {
        let length = match std::fs::metadata(path) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_THREADS);
        let parts = if length < PARALLEL_FROM { 1 } else { threads };
        self.scan_parts(path, length, parts, space, found).map(Some)
    }

    /// Scans `path` (of `length` bytes) as `parts` ranges, each on a thread of its own.
    fn scan_parts(
        &self,
        path: &Path,
        length: u64,
        parts: usize,
        space: &FreeSpace,
        found: &mut [Seen],
    ) -> std::io::Result<u64> {
        use std::io::Seek as _;
        let parts = parts.max(1) as u64;
        let size = length.div_ceil(parts).max(1);
        let overlap = self.longest.saturating_sub(1) as u64;
        let results: Vec<std::io::Result<(Vec<Seen>, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..parts)
                .map(|part| part * size)
                .filter(|start| *start == 0 || *start < length)
                .map(|start| {
                    scope.spawn(move || {
                        let mut file = std::fs::File::open(path)?;
                        file.seek(std::io::SeekFrom::Start(start))?;
                        let mut mine = vec![0; self.values.len()];
                        self.scan_reader(file.take(size + overlap), start, space, &mut mine)?;
                        Ok((mine, (length - start).min(size)))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("a scanning thread stopped")))
                })
                .collect()
        });
        let mut total = 0;
        for result in results {
            let (mine, bytes) = result?;
            total += bytes;
            for (seen, hit) in found.iter_mut().zip(mine) {
                *seen |= hit;
            }
        }
        Ok(total)
    }
}

/// The most threads one file scan uses.
const MAX_THREADS: usize = 4;

/// Files smaller than this are scanned by one thread.
const PARALLEL_FROM: u64 = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Where each value occurs, found the slow way, with `free` telling free bytes.
    fn naive_in(values: &[String], haystack: &[u8], free: impl Fn(u64) -> bool) -> Vec<Seen> {
        values
            .iter()
            .map(|value| {
                let needle = value.as_bytes();
                if needle.len() < MIN_LEN {
                    return 0;
                }
                haystack
                    .windows(needle.len())
                    .enumerate()
                    .filter(|(_, window)| *window == needle)
                    .fold(0, |seen, (at, _)| {
                        seen | if free(at as u64) {
                            IN_FREE_SPACE
                        } else {
                            IN_USE
                        }
                    })
            })
            .collect()
    }

    fn naive(values: &[String], haystack: &[u8]) -> Vec<Seen> {
        naive_in(values, haystack, |_| false)
    }

    /// A reader that hands out at most `step` bytes per call, to cross chunk edges often.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let count = self.step.min(out.len()).min(self.bytes.len());
            out[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    #[test]
    fn finds_values_across_chunk_edges() {
        let values = vec![
            "anna.berg@example.org".to_owned(),
            "0470 12 34 56".to_owned(),
            "never present".to_owned(),
            "short".to_owned(),
        ];
        let needles = Needles::new(&values);
        // Place each present value so it straddles the first chunk's end.
        let mut haystack = vec![0u8; CHUNK - 10];
        haystack.extend_from_slice(b"anna.berg@example.org");
        haystack.extend(std::iter::repeat_n(7u8, CHUNK));
        haystack.extend_from_slice(b"0470 12 34 56");
        let mut found = vec![0; values.len()];
        let total = needles
            .scan_reader(
                Trickle {
                    bytes: &haystack,
                    step: 1 << 20,
                },
                0,
                &FreeSpace::none(),
                &mut found,
            )
            .expect("reading memory");
        assert_eq!(total, haystack.len() as u64);
        assert_eq!(found, vec![IN_USE, IN_USE, 0, 0]);
    }

    #[test]
    fn a_value_at_the_very_end_is_found() {
        let values = vec!["erased@example.org".to_owned()];
        let needles = Needles::new(&values);
        let mut found = vec![0];
        needles
            .scan_reader(
                &b"xxxxerased@example.org"[..],
                0,
                &FreeSpace::everything(),
                &mut found,
            )
            .expect("reading memory");
        assert_eq!(found, vec![IN_FREE_SPACE]);
    }

    proptest! {
        /// The scanner agrees with a naive search, whatever the chunking: the haystack is
        /// random bytes with some of the values (or their beginnings) planted in it.
        #[test]
        fn agrees_with_a_naive_search(
            values in proptest::collection::vec("[ab@.]{9,16}", 1..20),
            pieces in proptest::collection::vec(
                (
                    proptest::collection::vec(
                        prop_oneof![Just(b'a'), Just(b'b'), Just(b'@'), any::<u8>()],
                        0..24,
                    ),
                    any::<proptest::sample::Index>(),
                    0usize..20,
                ),
                0..30,
            ),
            step in 1usize..50,
            chunk in 1usize..64,
        ) {
            let mut haystack = Vec::new();
            for (noise, pick, cut) in &pieces {
                haystack.extend_from_slice(noise);
                let value = pick.get(&values).as_bytes();
                // Whole values mostly; sometimes only a beginning, which must not count.
                let keep = if *cut < 15 { value.len() } else { value.len().saturating_sub(*cut - 14) };
                haystack.extend_from_slice(&value[..keep]);
            }
            let needles = Needles::new(&values);
            let mut found = vec![0; values.len()];
            needles.scan_chunks(Trickle { bytes: &haystack, step }, 0, &FreeSpace::none(), &mut found, chunk).expect("reading memory");
            prop_assert_eq!(found, naive(&values, &haystack));
        }

        /// A file scanned in parts by several threads gives what a naive search gives, also
        /// in telling free space from space in use, and counts every byte once, whatever the
        /// number of parts (more parts than bytes too).
        #[test]
        fn a_file_scanned_in_parts_agrees_with_a_naive_search(
            values in proptest::collection::vec("[ab@.]{11,16}", 1..10),
            pieces in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..40), any::<proptest::sample::Index>()),
                0..20,
            ),
            parts in 1usize..9,
            page_size in 4u64..64,
            free_bits in any::<u64>(),
        ) {
            let mut haystack = Vec::new();
            for (noise, pick) in &pieces {
                haystack.extend_from_slice(noise);
                haystack.extend_from_slice(pick.get(&values).as_bytes());
            }
            let dir = tempfile::tempdir().expect("a temporary folder");
            let path = dir.path().join("db");
            std::fs::write(&path, &haystack).expect("write the file");
            // Up to 60 pages in use, some of them free; beyond them, free space.
            let space = FreeSpace { page_size, pages: 60, free: vec![free_bits], everything: false };
            let needles = Needles::new(&values);
            let mut found = vec![0; values.len()];
            let bytes = needles
                .scan_parts(&path, haystack.len() as u64, parts, &space, &mut found)
                .expect("reading the file");
            prop_assert_eq!(bytes, haystack.len() as u64);
            let free = |offset: u64| {
                let page = offset / page_size;
                page >= 60 || free_bits & (1 << page) != 0
            };
            prop_assert_eq!(found, naive_in(&values, &haystack, free));
        }
    }

    /// Page 2 is a free-list trunk page listing page 4; the database has 5 pages.
    #[test]
    fn free_pages_are_read_from_the_free_list() {
        let page = 512usize;
        let mut file = vec![0u8; page * 6];
        file[..16].copy_from_slice(b"SQLite format 3\0");
        file[16..18].copy_from_slice(&512u16.to_be_bytes());
        file[28..32].copy_from_slice(&5u32.to_be_bytes());
        file[32..36].copy_from_slice(&2u32.to_be_bytes());
        file[36..40].copy_from_slice(&2u32.to_be_bytes());
        let trunk = page;
        file[trunk + 4..trunk + 8].copy_from_slice(&1u32.to_be_bytes());
        file[trunk + 8..trunk + 12].copy_from_slice(&4u32.to_be_bytes());
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("db");
        std::fs::write(&path, &file).expect("write the file");
        let space = FreeSpace::sqlite(&path).expect("read the header");
        let free: Vec<bool> = (0..6).map(|n| space.is_free(n * 512 + 100)).collect();
        // Pages 1..=5 are bytes 0.., 512.., …; page 6 lies past the database's end.
        assert_eq!(free, vec![false, true, false, true, false, true]);
        let not_sqlite = dir.path().join("other");
        std::fs::write(&not_sqlite, b"not a database").expect("write the file");
        assert!(!FreeSpace::sqlite(&not_sqlite).expect("read").is_free(0));
    }
}
