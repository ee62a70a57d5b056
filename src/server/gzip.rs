//! A gzip body made of a large prefix compressed once and a small tail
//! added per request, so the dashboard's shared bytes are compressed once
//! per seq while each caller's own part (seq, server, user) stays cheap.
//!
//! The prefix is a raw deflate stream ended with a sync flush (byte
//! aligned, not final); the tail follows as stored (uncompressed) final
//! blocks, and the CRC-32 of the prefix is kept so the tail only extends
//! it. The result is one ordinary gzip member (RFC 1951/1952), which every
//! client can read. Built on `miniz_oxide`, already in the dependency tree,
//! rather than pulling in an async compression stack for one route.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress_to_output, create_comp_flags_from_zip_params,
};

/// Level 1: the dashboard is repetitive JSON, so even the fastest level
/// shrinks it several times over, and it is compressed once per seq on the
/// request path.
const LEVEL: i32 = 1;

/// The compressed prefix, its CRC-32 register and its length.
pub(crate) struct Prefix {
    /// The gzip header and the deflate stream of the prefix: shared by
    /// every reply, never copied.
    head: axum::body::Bytes,
    crc: u32,
    len: u64,
}

impl Prefix {
    /// Compress `data`, leaving the deflate stream open for a tail.
    pub fn new(data: &[u8]) -> Prefix {
        let flags = create_comp_flags_from_zip_params(LEVEL, -15, 0);
        let mut c = CompressorOxide::new(flags);
        let mut deflate = Vec::with_capacity(data.len() / 4 + 64);
        // Magic, deflate, no flags, no mtime, no extra flags, unknown OS.
        deflate.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        let mut rest = data;
        loop {
            let (status, used) = compress_to_output(&mut c, rest, TDEFLFlush::Sync, |out| {
                deflate.extend_from_slice(out);
                true
            });
            rest = &rest[used.min(rest.len())..];
            // Okay with all input taken and flushed; a callback that always
            // accepts output cannot make it fail, but never loop on a failure.
            if status != TDEFLStatus::Okay || rest.is_empty() {
                break;
            }
        }
        Prefix {
            head: deflate.into(),
            crc: crc32_update(!0, data),
            len: data.len() as u64,
        }
    }

    /// Compressed size of the prefix.
    #[cfg(test)]
    pub fn compressed_len(&self) -> usize {
        self.head.len() - 10
    }

    /// A complete gzip member: the prefix followed by `tail`.
    #[cfg(test)]
    pub fn finish(&self, tail: &[u8]) -> Vec<u8> {
        let mut out = self.head.to_vec();
        out.extend_from_slice(&self.end(tail));
        out
    }

    /// The member as two parts: the shared compressed prefix (with the gzip
    /// header), then `tail` in stored blocks and the trailer.
    pub fn parts(&self, tail: &[u8]) -> (axum::body::Bytes, Vec<u8>) {
        (self.head.clone(), self.end(tail))
    }

    /// What follows the shared prefix: `tail` as stored blocks, then the
    /// CRC-32 and size of the whole.
    fn end(&self, tail: &[u8]) -> Vec<u8> {
        // Stored blocks cost 5 bytes per 64 KiB of tail.
        let mut out = Vec::with_capacity(tail.len() + 32);
        let mut chunks = tail.chunks(u16::MAX as usize).peekable();
        if chunks.peek().is_none() {
            out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        while let Some(chunk) = chunks.next() {
            // After a sync flush the stream is byte aligned: BFINAL in bit 0,
            // BTYPE 00 (stored), padding, then LEN and its complement.
            let last = chunks.peek().is_none();
            out.push(u8::from(last));
            let n = chunk.len() as u16;
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        let crc = !crc32_update(self.crc, tail);
        out.extend_from_slice(&crc.to_le_bytes());
        // ISIZE is the length modulo 2^32 by definition.
        let size = (self.len + tail.len() as u64) as u32;
        out.extend_from_slice(&size.to_le_bytes());
        out
    }
}

/// Whether an `Accept-Encoding` value accepts gzip (by name or `*`, with a
/// q-value other than 0).
pub(crate) fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
    })
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// The CRC-32 register after `data` (start from `!0`, invert at the end).
fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC_TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse a single gzip member as written by `finish` and check it.
    fn gunzip(gz: &[u8]) -> Vec<u8> {
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        let body = &gz[10..gz.len() - 8];
        let out = miniz_oxide::inflate::decompress_to_vec(body).unwrap();
        let crc = u32::from_le_bytes(gz[gz.len() - 8..gz.len() - 4].try_into().unwrap());
        let size = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
        assert_eq!(crc, !crc32_update(!0, &out));
        assert_eq!(size as usize, out.len());
        out
    }

    #[test]
    fn prefix_and_tail_make_one_valid_member() {
        let prefix: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}},").into_bytes())
            .collect();
        let p = Prefix::new(&prefix);
        assert!(p.compressed_len() < prefix.len() / 3);
        for tail in [&b""[..], b"\"user\":1}", &vec![b'x'; 200_000]] {
            let mut whole = prefix.clone();
            whole.extend_from_slice(tail);
            assert_eq!(gunzip(&p.finish(tail)), whole);
        }
        assert_eq!(gunzip(&Prefix::new(b"").finish(b"{}")), b"{}");
    }

    #[test]
    fn crc_matches_the_reference_value() {
        assert_eq!(!crc32_update(!0, b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("br, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br, identity"));
        assert!(!accepts_gzip(""));
    }
}
