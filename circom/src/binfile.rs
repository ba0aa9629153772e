//! iden3's binary container, shared by `.r1cs`, `.wtns` and `.zkey`: a
//! 4-byte magic, a u32 version, a u32 section count, then sections of
//! `u32 type, u64 length, bytes`. All integers little-endian.

use crate::error::{Result, malformed};

/// More sections than any circom or snarkjs file has; bounds the work a
/// hostile header can cause.
const MAX_SECTIONS: u32 = 64;

/// A parsed container: the sections in file order, borrowed from the input.
pub(crate) struct BinFile<'a> {
    file: &'a str,
    sections: Vec<(u32, &'a [u8])>,
}

impl<'a> BinFile<'a> {
    /// Splits `data` into sections, checking the magic, the version and that
    /// the sections exactly fill the file.
    pub(crate) fn parse(
        data: &'a [u8],
        magic: &[u8; 4],
        version: u32,
        file: &'a str,
    ) -> Result<Self> {
        let mut r = Reader::new(data, file, "file header");
        if r.bytes(4)? != magic {
            return Err(malformed(
                file,
                "file header",
                format!("not a {} file (bad magic)", String::from_utf8_lossy(magic)),
            ));
        }
        let v = r.u32()?;
        if v != version {
            return Err(malformed(
                file,
                "file header",
                format!("version {v}, expected {version}"),
            ));
        }
        let n = r.u32()?;
        if n > MAX_SECTIONS {
            return Err(malformed(file, "file header", format!("{n} sections")));
        }
        let mut sections = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let id = r.u32()?;
            let len = r.u64()?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= r.remaining())
                .ok_or_else(|| {
                    malformed(
                        file,
                        "file header",
                        format!("section {id} claims {len} bytes, more than the file holds"),
                    )
                })?;
            sections.push((id, r.bytes(len)?));
        }
        if r.remaining() != 0 {
            return Err(malformed(
                file,
                "file header",
                format!("{} bytes after the last section", r.remaining()),
            ));
        }
        Ok(Self { file, sections })
    }

    /// The one section of type `id`; missing or repeated is an error.
    pub(crate) fn section(&self, id: u32, name: &'static str) -> Result<Reader<'a>> {
        self.optional(id, name)?
            .ok_or_else(|| malformed(self.file, name, format!("section {id} is missing")))
    }

    /// The section of type `id` if there is one; repeated is an error.
    pub(crate) fn optional(&self, id: u32, name: &'static str) -> Result<Option<Reader<'a>>> {
        let mut found = self.sections.iter().filter(|(t, _)| *t == id);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed(
                self.file,
                name,
                format!("section {id} appears twice"),
            ));
        }
        Ok(first.map(|(_, b)| Reader::new(b, self.file, name)))
    }

    /// Whether any section has a type outside `known`.
    pub(crate) fn unknown_section(&self, known: &[u32]) -> Option<u32> {
        self.sections
            .iter()
            .map(|(t, _)| *t)
            .find(|t| !known.contains(t))
    }
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

    /// Checks that the section holds exactly `n` more bytes.
    pub(crate) fn expect_len(&self, n: usize, what: &str) -> Result<()> {
        if self.remaining() != n {
            return Err(self.err(format!("{} bytes where {what} needs {n}", self.remaining())));
        }
        Ok(())
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
