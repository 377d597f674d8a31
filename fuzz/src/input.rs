//! The fuzz input read as a stream of small choices. Reading past the end yields
//! zeros (and marks the input exhausted), so every byte string is a valid program.

/// The largest length the harness ever passes: "huge but bounded", so one input
/// cannot exhaust memory or time by length alone.
pub const MAX_LEN: usize = 1 << 20;

pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, pos: 0 }
    }

    /// True once every byte has been read.
    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// True one time in `n` (for choices between a common and a rare shape).
    pub fn one_in(&mut self, n: u8) -> bool {
        self.byte().is_multiple_of(n)
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A length: mostly small, sometimes up to a few KiB, rarely up to [`MAX_LEN`].
    pub fn size(&mut self) -> usize {
        let b = self.byte();
        match b {
            0..=0xBF => usize::from(b),
            0xC0..=0xEF => (usize::from(b - 0xC0) << 8) | usize::from(self.byte()),
            0xF0..=0xFE => usize::from(b - 0xEF) << 16,
            0xFF => (self.u32() as usize) % MAX_LEN + 1,
        }
    }

    /// `n` bytes taken from the input (zeros once it runs out).
    pub fn data(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(MAX_LEN);
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        let mut v = self
            .data
            .get(start..end)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.pos = self.pos.saturating_add(v.len());
        v.resize(n, 0);
        v
    }

    /// A length, then that many bytes.
    pub fn blob(&mut self) -> Vec<u8> {
        let n = self.size();
        self.data(n)
    }
}

/// Writes programs in the format [`Input`] reads: the seed corpus is built with it.
#[derive(Default, Clone)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn b(mut self, b: u8) -> Writer {
        self.0.push(b);
        self
    }

    pub fn bytes(mut self, v: &[u8]) -> Writer {
        self.0.extend_from_slice(v);
        self
    }

    pub fn u32(self, v: u32) -> Writer {
        self.bytes(&v.to_le_bytes())
    }

    /// A length as [`Input::len`] reads it (up to 12287 here).
    pub fn len(self, n: usize) -> Writer {
        if n < 0xC0 {
            self.b(n as u8)
        } else {
            let n = n.min(0x2FFF);
            self.b(0xC0 + (n >> 8) as u8).b((n & 0xFF) as u8)
        }
    }

    pub fn blob(self, v: &[u8]) -> Writer {
        self.len(v.len()).bytes(v)
    }
}
