//! Frames: how the messages of [`crate::wire`] cross a serial link that may drop, add or flip
//! bytes.
//!
//! ```text
//! on the wire:  0x00 | COBS(body) | 0x00
//! body:         seq (u8) | kind (u8) | payload | CRC-32 (u32, of seq, kind and payload)
//! ```
//!
//! COBS byte stuffing keeps zero bytes out of the encoded body, so a zero always ends a frame:
//! a receiver that lost its place (noise, a truncated frame, a host that died mid-request)
//! is back in step at the next zero, and every frame opens with one. The CRC rejects what the
//! noise changed; the sequence number ties an answer to its request, so a host that retried
//! can tell a stale answer from the one it waits for.

use crate::blob::CRC32;

/// The byte that ends (and opens) every frame.
pub const DELIMITER: u8 = 0;
/// Body bytes around the payload: sequence number, kind and CRC-32.
pub const OVERHEAD: usize = 2 + 4;

/// Encoded bytes of a frame carrying `payload_len` payload bytes, both delimiters included.
pub const fn encoded_len(payload_len: usize) -> usize {
    cobs::max_encoding_length(payload_len + OVERHEAD) + 2
}

/// Why received bytes are not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// More bytes than the receiver's buffer holds before the delimiter.
    TooLong,
    /// Not valid COBS (a length byte that points past the delimiter).
    Stuffing,
    /// Fewer bytes than a sequence number, a kind and a CRC.
    Short,
    /// The CRC-32 does not match: the bytes changed on the way.
    Crc,
    /// The frame was still incomplete when the link went quiet for longer than the
    /// receiver's timeout.
    TimedOut,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::TooLong => "frame longer than the receive buffer",
            FrameError::Stuffing => "frame is not valid COBS",
            FrameError::Short => "frame shorter than its header and CRC",
            FrameError::Crc => "frame failed its CRC",
            FrameError::TimedOut => "frame timed out before its end",
        })
    }
}

/// One checked frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The sequence number: a request's own, echoed by every frame of its answer.
    pub seq: u8,
    /// What the frame carries (a request code, or a part of an answer).
    pub kind: u8,
    /// The bytes it carries.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Reads a decoded body, checking its CRC.
    pub fn parse(body: &'a [u8]) -> Result<Self, FrameError> {
        let Some((content, crc)) = body.split_last_chunk::<4>() else {
            return Err(FrameError::Short);
        };
        let [seq, kind, payload @ ..] = content else {
            return Err(FrameError::Short);
        };
        if CRC32.checksum(content) != u32::from_le_bytes(*crc) {
            return Err(FrameError::Crc);
        }
        Ok(Frame {
            seq: *seq,
            kind: *kind,
            payload,
        })
    }

    /// Writes the frame, both delimiters included, into `out` (at least
    /// [`encoded_len`]`(payload.len())` bytes) and returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        let head = [self.seq, self.kind];
        let mut digest = CRC32.digest();
        digest.update(&head);
        digest.update(self.payload);
        let crc = digest.finalize().to_le_bytes();
        let [open, inner @ ..] = out else {
            return Err(FrameError::TooLong);
        };
        *open = DELIMITER;
        let mut encoder = cobs::CobsEncoder::new(inner);
        for part in [&head[..], self.payload, &crc[..]] {
            encoder.push(part).map_err(|_| FrameError::TooLong)?;
        }
        let n = encoder.finalize();
        let close = inner.get_mut(n).ok_or(FrameError::TooLong)?;
        *close = DELIMITER;
        Ok(n + 2)
    }
}

/// Reads one frame's encoded bytes (without its delimiters), decoding them in place.
pub fn decode(encoded: &mut [u8]) -> Result<Frame<'_>, FrameError> {
    match cobs::decode_in_place(encoded) {
        Ok(n) => Frame::parse(encoded.get(..n).unwrap_or_default()),
        Err(_) => Err(FrameError::Stuffing),
    }
}

/// Gathers received bytes into frames, in a caller's buffer (at least
/// [`encoded_len`] of the longest payload expected; a longer frame is dropped whole).
#[derive(Debug)]
pub struct Deframer<'b> {
    buf: &'b mut [u8],
    len: usize,
    overflowed: bool,
}

impl<'b> Deframer<'b> {
    /// A receiver between frames.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Deframer {
            buf,
            len: 0,
            overflowed: false,
        }
    }

    /// True while part of a frame has arrived and its end has not.
    pub fn in_frame(&self) -> bool {
        self.len > 0 || self.overflowed
    }

    /// Drops a partial frame (the link went quiet in its middle): the error to count, if a
    /// frame was in progress.
    pub fn time_out(&mut self) -> Option<FrameError> {
        let dropped = self.in_frame();
        self.len = 0;
        self.overflowed = false;
        dropped.then_some(FrameError::TimedOut)
    }

    /// Takes one received byte: `None` until a delimiter ends a non-empty frame, then the
    /// frame or why it is not one. Two delimiters in a row end nothing.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame<'_>, FrameError>> {
        if byte != DELIMITER {
            match self.buf.get_mut(self.len) {
                Some(slot) if !self.overflowed => {
                    *slot = byte;
                    self.len += 1;
                }
                _ => self.overflowed = true,
            }
            return None;
        }
        let (len, overflowed) = (self.len, self.overflowed);
        self.len = 0;
        self.overflowed = false;
        if overflowed {
            return Some(Err(FrameError::TooLong));
        }
        if len == 0 {
            return None;
        }
        Some(decode(self.buf.get_mut(..len).unwrap_or_default()))
    }
}

// Tests may panic: that is how they fail.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    fn encode(frame: &Frame<'_>) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        let n = frame.encode(&mut out).unwrap();
        (out, n)
    }

    fn feed(deframer: &mut Deframer<'_>, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut got = Vec::new();
        for &b in bytes {
            if let Some(r) = deframer.push(b) {
                got.push(r.map(|f| [&[f.seq, f.kind][..], f.payload].concat()));
            }
        }
        got
    }

    #[test]
    fn a_frame_with_zeros_round_trips() {
        let frame = Frame {
            seq: 7,
            kind: b'Q',
            payload: &[0, 1, 0, 0, 255, 0],
        };
        let (bytes, n) = encode(&frame);
        assert!(n <= encoded_len(frame.payload.len()));
        assert_eq!(bytes[0], DELIMITER);
        assert_eq!(bytes[n - 1], DELIMITER);
        assert!(!bytes[1..n - 1].contains(&DELIMITER));
        let mut buf = [0u8; 64];
        let mut deframer = Deframer::new(&mut buf);
        let got = feed(&mut deframer, &bytes[..n]);
        assert_eq!(got, vec![Ok(vec![7, b'Q', 0, 1, 0, 0, 255, 0])]);
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let frame = Frame {
            seq: 1,
            kind: b'Q',
            payload: b"GGGAAACCC",
        };
        let (bytes, n) = encode(&frame);
        for at in 1..n - 1 {
            for bit in 0..8 {
                let mut noisy = bytes;
                noisy[at] ^= 1 << bit;
                let mut buf = [0u8; 64];
                let mut deframer = Deframer::new(&mut buf);
                let got = feed(&mut deframer, &noisy[..n]);
                assert!(
                    got.iter().all(|r| r.is_err()),
                    "byte {at} bit {bit}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn a_truncated_frame_costs_only_itself() {
        let frame = Frame {
            seq: 2,
            kind: b'Q',
            payload: b"ACGU",
        };
        let (bytes, n) = encode(&frame);
        let mut stream = bytes[..n / 2].to_vec();
        stream.extend_from_slice(&bytes[..n]);
        let mut buf = [0u8; 64];
        let mut deframer = Deframer::new(&mut buf);
        let got = feed(&mut deframer, &stream);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].is_err());
        assert_eq!(got[1], Ok([&[2, b'Q'][..], b"ACGU"].concat()));
    }

    #[test]
    fn an_overlong_frame_is_dropped_and_the_next_one_read() {
        let mut buf = [0u8; 8];
        let mut deframer = Deframer::new(&mut buf);
        let got = feed(&mut deframer, &[0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0]);
        assert_eq!(got, vec![Err(FrameError::TooLong)]);
        let frame = Frame {
            seq: 3,
            kind: b'H',
            payload: &[],
        };
        let (bytes, n) = encode(&frame);
        assert_eq!(feed(&mut deframer, &bytes[..n]), vec![Ok(vec![3, b'H'])]);
    }

    #[test]
    fn a_timeout_drops_the_partial_frame() {
        let frame = Frame {
            seq: 4,
            kind: b'Q',
            payload: b"A",
        };
        let (bytes, n) = encode(&frame);
        let mut buf = [0u8; 64];
        let mut deframer = Deframer::new(&mut buf);
        assert!(feed(&mut deframer, &[0, 5, 6, 7]).is_empty());
        assert!(deframer.in_frame());
        assert_eq!(deframer.time_out(), Some(FrameError::TimedOut));
        assert_eq!(deframer.time_out(), None);
        // Without its opening delimiter, the frame still reads after the timeout.
        let got = feed(&mut deframer, &bytes[1..n]);
        assert_eq!(got, vec![Ok(vec![4, b'Q', b'A'])]);
    }

    #[test]
    fn short_frames_are_refused() {
        assert_eq!(Frame::parse(&[1, 2, 3, 4, 5]), Err(FrameError::Short));
        assert_eq!(Frame::parse(&[]), Err(FrameError::Short));
    }
}
