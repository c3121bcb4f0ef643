//! A datagram stored as the difference from a reference datagram (the same part of an
//! earlier cycle): consecutive cycles of a node repeat their header layout, every label
//! string and most values byte for byte, so the ring keeps a cycle in about a third of
//! its wire size. Decoding gives the original bytes back exactly (a resend is the
//! identical datagram).
//!
//! ```text
//! op = 0x00..=0x7f  literal: the next (op + 1) bytes (1–128) are output as they are
//!    | 0x80..=0xff  copy: (op - 0x80 + 4) bytes (4–131) of the reference from the
//!                   offset in the next two bytes (u16 LE)
//! ```
//!
//! The encoder is greedy and linear: it follows the reference at the position where
//! the last copy ended and, where a byte differs, looks a few bytes either side for
//! the place the two continue alike (a varint that grew or shrank shifts the rest of
//! the datagram by a byte or two). About 16 instructions per byte of a cycle
//! (`docs/BENCHMARKS.md` §2.11). No allocation, no panics.

const MIN_COPY: usize = 4;
const MAX_COPY: usize = 0x7f + MIN_COPY;
const MAX_LITERAL: usize = 0x80;
/// How far either side of the expected position a lost alignment is looked for.
const SEARCH: usize = 2;
/// Literal bytes in a row before (and between) looking for the alignment either side.
const RESYNC_AFTER: usize = 4;

/// How many leading bytes `a` and `b` share, compared eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    if a.first() != b.first() || a.is_empty() {
        return 0; // the usual answer for a candidate, so the cheapest
    }
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (mut xa, mut ya) = ([0u8; 8], [0u8; 8]);
        xa.copy_from_slice(x);
        ya.copy_from_slice(y);
        let diff = u64::from_le_bytes(xa) ^ u64::from_le_bytes(ya);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

struct Out<'o> {
    buf: &'o mut [u8],
    len: usize,
}

impl Out<'_> {
    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    fn literals(&mut self, mut lit: &[u8]) -> Option<()> {
        while !lit.is_empty() {
            let n = lit.len().min(MAX_LITERAL);
            self.push(&[(n - 1) as u8])?;
            self.push(&lit[..n])?;
            lit = &lit[n..];
        }
        Some(())
    }

    /// Copies `n` (at least [`MIN_COPY`]) bytes of the reference from `at`, in chunks
    /// of [`MIN_COPY`]..=[`MAX_COPY`].
    fn copy(&mut self, mut at: usize, mut n: usize) -> Option<()> {
        while n > 0 {
            let k = if n > MAX_COPY && n - MAX_COPY < MIN_COPY {
                n - MIN_COPY
            } else {
                n.min(MAX_COPY)
            };
            if k < MIN_COPY {
                return None;
            }
            let pos = u16::try_from(at).ok()?.to_le_bytes();
            self.push(&[0x80 | (k - MIN_COPY) as u8, pos[0], pos[1]])?;
            at += k;
            n -= k;
        }
        Some(())
    }
}

/// Encodes `new` against `reference` into `out`. Returns the encoded length, or `None`
/// when it would not be shorter than `new` itself (or does not fit `out`): then the
/// datagram is better stored as it is.
pub fn encode(new: &[u8], reference: &[u8], out: &mut [u8]) -> Option<usize> {
    let limit = new.len().min(out.len());
    let mut o = Out {
        buf: out.get_mut(..limit)?,
        len: 0,
    };
    let mut i = 0; // position in new
    let mut j = 0; // expected position in reference
    let mut lit = 0; // start of the pending literal run in new
    while i < new.len() {
        let here = &new[i..];
        let mut best = (0, 0);
        if let Some(r) = reference.get(j..) {
            best = (common_prefix(here, r), j);
        }
        // Look either side only once a few bytes in a row differed, and then every few
        // bytes: most differences are a value that changed in place, and the bytes
        // after it line up again.
        let run = i - lit;
        if best.0 < MIN_COPY
            && run >= RESYNC_AFTER
            && (run - RESYNC_AFTER).is_multiple_of(RESYNC_AFTER)
        {
            for d in 1..=SEARCH {
                for jj in [j.checked_sub(d), j.checked_add(d)].into_iter().flatten() {
                    if let Some(r) = reference.get(jj..) {
                        let m = common_prefix(here, r);
                        if m > best.0 {
                            best = (m, jj);
                        }
                    }
                }
                if best.0 >= MIN_COPY {
                    break;
                }
            }
        }
        let (m, at) = best;
        if m >= MIN_COPY {
            o.literals(&new[lit..i])?;
            o.copy(at, m)?;
            i += m;
            j = at + m;
            lit = i;
        } else {
            i += 1;
            j += 1;
        }
    }
    o.literals(&new[lit..])?;
    (o.len < new.len()).then_some(o.len)
}

/// Decodes `enc` against `reference` into `out`; returns the decoded length, or `None`
/// when `enc` is malformed or does not fit `out`.
pub fn decode(enc: &[u8], reference: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut o = Out { buf: out, len: 0 };
    let mut k = 0;
    while k < enc.len() {
        let op = usize::from(enc[k]);
        k += 1;
        if op < 0x80 {
            let n = op + 1;
            o.push(enc.get(k..k + n)?)?;
            k += n;
        } else {
            let n = op - 0x80 + MIN_COPY;
            let at = usize::from(u16::from_le_bytes([*enc.get(k)?, *enc.get(k + 1)?]));
            k += 2;
            o.push(reference.get(at..at.checked_add(n)?)?)?;
        }
    }
    Some(o.len)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn roundtrip(new: &[u8], reference: &[u8]) -> Option<usize> {
        let mut enc = [0u8; 4096];
        let n = encode(new, reference, &mut enc)?;
        let mut dec = [0u8; 4096];
        let d = decode(&enc[..n], reference, &mut dec).expect("decodes");
        assert_eq!(&dec[..d], new);
        Some(n)
    }

    #[test]
    fn a_datagram_like_its_reference_is_stored_in_a_fraction_of_its_bytes() {
        let reference: Vec<u8> = (0..1200u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut new = reference.clone();
        for k in (0..new.len()).step_by(40) {
            new[k] ^= 0x55;
        }
        let n = roundtrip(&new, &reference).expect("shorter");
        assert!(n < new.len() / 4, "{n}");
    }

    #[test]
    fn bytes_inserted_or_removed_shift_the_reference_without_losing_the_rest() {
        let reference: Vec<u8> = (0..1000u32).map(|i| (i * 13 % 241) as u8).collect();
        let mut new = reference.clone();
        new.insert(100, 0xee);
        new.insert(500, 0xee);
        new.remove(800);
        let n = roundtrip(&new, &reference).expect("shorter");
        assert!(n < 60, "{n}");
        // Long identical stretches cut into copies of every length.
        for len in [4, 5, 130, 131, 132, 133, 134, 135, 262, 263, 264, 265, 266] {
            let r: Vec<u8> = (0..len as u32).map(|i| (i * 31 % 253) as u8).collect();
            roundtrip(&r, &r).expect("shorter");
        }
    }

    #[test]
    fn unrelated_or_empty_input_is_left_as_it_is() {
        let reference: Vec<u8> = (0..600u32).map(|i| (i % 256) as u8).collect();
        let new: Vec<u8> = (0..600u32).map(|i| (i * 97 % 7 + 200) as u8).collect();
        assert_eq!(roundtrip(&new, &reference), None);
        assert_eq!(roundtrip(&[], &reference), None);
        assert_eq!(roundtrip(&reference[..3], &reference), None);
    }

    #[test]
    fn malformed_encodings_are_refused_not_misread() {
        let reference = [1u8, 2, 3, 4, 5, 6];
        let mut out = [0u8; 16];
        assert_eq!(decode(&[0x05, 1, 2], &reference, &mut out), None);
        assert_eq!(decode(&[0x80, 4, 0], &reference, &mut out), None);
        assert_eq!(decode(&[0x80, 2], &reference, &mut out), None);
        assert_eq!(decode(&[0xff, 0, 0], &reference, &mut out), None);
        assert_eq!(decode(&[0x80, 0, 0], &reference, &mut [0u8; 3]), None);
        assert_eq!(decode(&[0x80, 2, 0], &reference, &mut out), Some(4));
    }
}
