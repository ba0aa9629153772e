//! iden3's binary container, shared by `.r1cs`, `.wtns` and `.zkey`: a
//! 4-byte magic, a u32 version, a u32 section count, then sections of
//! `u32 type, u64 length, bytes`. All integers little-endian.

use crate::error::{Result, malformed, unreadable};
use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// More sections than any circom or snarkjs file has; bounds the work a
/// hostile header can cause.
const MAX_SECTIONS: u32 = 64;
/// More than any header section of these formats holds, for any curve:
/// header sections are read whole before their sizes are known.
pub(crate) const MAX_HEADER_BYTES: u64 = 4096;
/// Magic, version and section count.
const FILE_HEADER: u64 = 12;
/// A section's type and length.
const SECTION_HEADER: u64 = 12;

/// One kind of container.
pub(crate) struct Format {
    pub(crate) magic: &'static [u8; 4],
    pub(crate) version: u32,
    /// Every section type of the format, with the name errors give it; any
    /// other type is refused.
    pub(crate) sections: &'static [(u32, &'static str)],
    /// Why another section type is refused.
    pub(crate) unknown: &'static str,
    /// The largest file [`BinFile::open`] reads.
    pub(crate) max_file_bytes: u64,
}

impl Format {
    fn name(&self, id: u32) -> Option<&'static str> {
        self.sections
            .iter()
            .find_map(|(t, n)| (*t == id).then_some(*n))
    }
}

/// Where a section's bytes are.
struct Entry {
    id: u32,
    name: &'static str,
    offset: u64,
    len: u64,
}

enum Source<'a> {
    Bytes(&'a [u8]),
    File(File),
}

impl Source<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Source::Bytes(d) => {
                let part = usize::try_from(offset)
                    .ok()
                    .and_then(|o| d.get(o..o.checked_add(buf.len())?))
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                buf.copy_from_slice(part);
                Ok(())
            }
            Source::File(f) => {
                let mut f = f;
                f.seek(SeekFrom::Start(offset))?;
                f.read_exact(buf)
            }
        }
    }
}

/// A container whose section table has been checked: every section is
/// known to the format, appears once and lies inside the file, and the
/// sections exactly fill it. Section bytes are read only when asked for,
/// so a reader can check each length against its header first.
pub(crate) struct BinFile<'a> {
    file: &'a str,
    source: Source<'a>,
    size: u64,
    entries: Vec<Entry>,
}

impl<'a> BinFile<'a> {
    /// The container in `data`.
    pub(crate) fn parse(data: &'a [u8], format: &Format, file: &'a str) -> Result<Self> {
        Self::new(Source::Bytes(data), data.len() as u64, format, file)
    }

    /// The container in the file at `path`, which must be a regular file
    /// no larger than the format's limit: a device or a pipe cannot be
    /// sized, so its section table cannot be checked before reading. Only
    /// the section table is read here.
    pub(crate) fn open(path: &Path, format: &Format, file: &'a str) -> Result<Self> {
        // Checked before opening too: opening a FIFO waits for a writer.
        let regular = |m: std::fs::Metadata| {
            if m.is_file() {
                Ok(m.len())
            } else {
                Err(unreadable(
                    file,
                    "not a regular file (a device or a pipe cannot be sized before reading)",
                ))
            }
        };
        let io = |e: std::io::Error| unreadable(file, e.to_string());
        regular(std::fs::metadata(path).map_err(io)?)?;
        let f = File::open(path).map_err(io)?;
        let size = regular(f.metadata().map_err(io)?)?;
        if size > format.max_file_bytes {
            return Err(unreadable(
                file,
                format!(
                    "{size} bytes, larger than the limit of {} bytes for a {} file",
                    format.max_file_bytes,
                    String::from_utf8_lossy(format.magic)
                ),
            ));
        }
        Self::new(Source::File(f), size, format, file)
    }

    fn new(source: Source<'a>, size: u64, format: &Format, file: &'a str) -> Result<Self> {
        let head = |offset: u64, what: &str| -> Result<[u8; 12]> {
            let mut b = [0u8; 12];
            match source.read_at(offset, &mut b) {
                Ok(()) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(malformed(
                    file,
                    "file header",
                    format!("truncated: the file ends inside {what}"),
                )),
                Err(e) => Err(unreadable(file, e.to_string())),
            }
        };
        let magic = format.magic;
        let h = head(0, "the file header")?;
        if &h[..4] != magic {
            return Err(malformed(
                file,
                "file header",
                format!("not a {} file (bad magic)", String::from_utf8_lossy(magic)),
            ));
        }
        let v = le_u32(&h[4..8]);
        if v != format.version {
            return Err(malformed(
                file,
                "file header",
                format!("version {v}, expected {}", format.version),
            ));
        }
        let n = le_u32(&h[8..12]);
        if n > MAX_SECTIONS {
            return Err(malformed(file, "file header", format!("{n} sections")));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(n as usize);
        let mut offset = FILE_HEADER;
        for i in 1..=n {
            let h = head(offset, &format!("the header of section {i} of {n}"))?;
            let id = le_u32(&h[..4]);
            let len = le_u64(&h[4..]);
            let name = format.name(id).ok_or_else(|| {
                malformed(
                    file,
                    "file header",
                    format!("section {id} {}", format.unknown),
                )
            })?;
            if entries.iter().any(|e| e.id == id) {
                return Err(malformed(file, name, format!("section {id} appears twice")));
            }
            let start = offset + SECTION_HEADER;
            let room = size.saturating_sub(start);
            if len > room {
                return Err(malformed(
                    file,
                    name,
                    format!(
                        "truncated: section {id} claims {len} bytes, the file holds {room} after its header"
                    ),
                ));
            }
            entries.push(Entry {
                id,
                name,
                offset: start,
                len,
            });
            offset = start + len;
        }
        if offset != size {
            return Err(malformed(
                file,
                "file header",
                format!("{} bytes after the last section", size - offset),
            ));
        }
        Ok(Self {
            file,
            source,
            size,
            entries,
        })
    }

    /// The file's name, as the caller gave it.
    pub(crate) fn file(&self) -> &'a str {
        self.file
    }

    fn entry(&self, id: u32, name: &'static str) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| malformed(self.file, name, format!("section {id} is missing")))
    }

    /// The length of the section of type `id` (named `name` in errors),
    /// which must be present, without reading it.
    pub(crate) fn len(&self, id: u32, name: &'static str) -> Result<u64> {
        self.entry(id, name).map(|e| e.len)
    }

    /// Checks that the section of type `id` holds exactly `n` bytes
    /// (`None`: a size that overflows), before anything is read of it.
    pub(crate) fn expect_len(
        &self,
        id: u32,
        name: &'static str,
        n: Option<u64>,
        what: &str,
    ) -> Result<()> {
        let len = self.len(id, name)?;
        if n != Some(len) {
            let n = n.map_or("more than 2^64".to_string(), |n| n.to_string());
            return Err(malformed(
                self.file,
                name,
                format!("{len} bytes where {what} needs {n}"),
            ));
        }
        Ok(())
    }

    /// Checks that the section of type `id`, if present, holds at most `n`
    /// bytes.
    pub(crate) fn expect_at_most(&self, id: u32, name: &'static str, n: u64) -> Result<()> {
        match self.entries.iter().find(|e| e.id == id) {
            Some(e) if e.len > n => Err(malformed(
                self.file,
                name,
                format!("{} bytes, more than the limit of {n}", e.len),
            )),
            _ => Ok(()),
        }
    }

    /// The one section of type `id`; missing is an error.
    pub(crate) fn section(&self, id: u32, name: &'static str) -> Result<Section<'a>> {
        let e = self.entry(id, name)?;
        self.read(e, e.len)
    }

    /// The first `n` bytes of the section of type `id`.
    pub(crate) fn prefix(&self, id: u32, name: &'static str, n: u64) -> Result<Section<'a>> {
        let e = self.entry(id, name)?;
        if e.len < n {
            return Err(malformed(
                self.file,
                name,
                format!("truncated: {} bytes, needs at least {n}", e.len),
            ));
        }
        self.read(e, n)
    }

    /// The section of type `id` if there is one.
    pub(crate) fn optional(&self, id: u32) -> Result<Option<Section<'a>>> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| self.read(e, e.len))
            .transpose()
    }

    /// The whole file (its size was checked against the limit).
    pub(crate) fn all(&self) -> Result<Cow<'a, [u8]>> {
        self.bytes(0, self.size, "file header")
    }

    fn read(&self, e: &Entry, len: u64) -> Result<Section<'a>> {
        Ok(Section {
            bytes: self.bytes(e.offset, len, e.name)?,
            file: self.file,
            name: e.name,
        })
    }

    fn bytes(&self, offset: u64, len: u64, name: &'static str) -> Result<Cow<'a, [u8]>> {
        if let Source::Bytes(d) = self.source {
            // Inside the data: the table was checked against its length.
            let range = usize::try_from(offset)
                .ok()
                .zip(usize::try_from(offset + len).ok());
            return range
                .and_then(|(a, b)| d.get(a..b))
                .map(Cow::Borrowed)
                .ok_or_else(|| malformed(self.file, name, "truncated"));
        }
        let len = usize::try_from(len)
            .map_err(|_| malformed(self.file, name, format!("{len} bytes do not fit in memory")))?;
        let mut buf = vec![0u8; len];
        match self.source.read_at(offset, &mut buf) {
            Ok(()) => Ok(Cow::Owned(buf)),
            // The file shrank after its table was checked.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(malformed(
                self.file,
                name,
                "truncated: the file ends inside the section",
            )),
            Err(e) => Err(unreadable(self.file, e.to_string())),
        }
    }
}

/// One section's bytes, borrowed from the input or read from the file.
pub(crate) struct Section<'a> {
    bytes: Cow<'a, [u8]>,
    file: &'a str,
    name: &'static str,
}

impl Section<'_> {
    /// A cursor over the section.
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader::new(&self.bytes, self.file, self.name)
    }

    /// The section's bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes.into_owned()
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// A cursor over one section; every read is bounds-checked and names the
/// section when it runs out.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    file: &'a str,
    pub(crate) section: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], file: &'a str, section: &'static str) -> Self {
        Self {
            data,
            pos: 0,
            file,
            section,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(format!(
                "truncated: needs {n} more bytes at offset {}, has {}",
                self.pos,
                self.remaining()
            )));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A u32 that is used as a count or index.
    pub(crate) fn usize(&mut self) -> Result<usize> {
        Ok(self.u32()? as usize)
    }

    /// Checks that the section has been read to its end.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.err(format!("{} unexpected trailing bytes", self.remaining())));
        }
        Ok(())
    }

    pub(crate) fn err(&self, reason: impl Into<String>) -> crate::Error {
        malformed(self.file, self.section, reason)
    }
}

/// Writes a container: call [`Writer::section`] per section, then
/// [`Writer::finish`].
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 4], version: u32, sections: u32) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(magic);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&sections.to_le_bytes());
        Self { out }
    }

    pub(crate) fn section(&mut self, id: u32, body: &[u8]) {
        self.out.extend_from_slice(&id.to_le_bytes());
        self.out
            .extend_from_slice(&(body.len() as u64).to_le_bytes());
        self.out.extend_from_slice(body);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Appends a little-endian u32.
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length or index as the format's u32, or an error if it does not fit.
pub(crate) fn to_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| crate::Error::Mismatch(format!("{what} {v} does not fit in 32 bits")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const FORMAT: Format = Format {
        magic: b"test",
        version: 1,
        sections: &[(1, "one"), (2, "two")],
        unknown: "is not known",
        max_file_bytes: 1 << 20,
    };

    fn file(sections: &[(u32, &[u8])]) -> Vec<u8> {
        let mut w = Writer::new(b"test", 1, sections.len() as u32);
        sections.iter().for_each(|(id, b)| w.section(*id, b));
        w.finish()
    }

    fn refused(data: &[u8]) -> (&'static str, String) {
        match BinFile::parse(data, &FORMAT, "t") {
            Err(Error::Malformed {
                section, reason, ..
            }) => (section, reason),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn sections_are_read_by_type_in_any_order() {
        let data = file(&[(2, b"bb"), (1, b"a")]);
        let bin = BinFile::parse(&data, &FORMAT, "t").unwrap();
        assert_eq!(bin.len(1, "one").unwrap(), 1);
        assert_eq!(bin.section(2, "two").unwrap().into_bytes(), b"bb");
        assert!(bin.expect_len(2, "two", Some(3), "three bytes").is_err());
        assert!(bin.expect_at_most(2, "two", 1).is_err());
        assert_eq!(bin.prefix(2, "two", 1).unwrap().into_bytes(), b"b");
    }

    #[test]
    fn the_table_is_checked_before_any_section_is_read() {
        assert_eq!(refused(&file(&[(1, b"a"), (1, b"b")])).0, "one");
        assert!(refused(&file(&[(3, b"")])).1.contains("is not known"));
        // a length past the end names the section
        let mut data = file(&[(1, b"a"), (2, b"bb")]);
        data.pop();
        let (section, reason) = refused(&data);
        assert_eq!(section, "two");
        assert!(reason.starts_with("truncated"), "{reason}");
        let mut data = file(&[(1, b"a")]);
        data.push(0);
        assert_eq!(refused(&data).0, "file header");
        let bin_missing = file(&[(1, b"a")]);
        let bin = BinFile::parse(&bin_missing, &FORMAT, "t").unwrap();
        assert!(bin.section(2, "two").is_err());
        assert!(bin.optional(2).unwrap().is_none());
    }
}
