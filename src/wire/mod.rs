//! The protocol a host and an scnn firmware speak over a serial link (UART), so that both
//! sides share one definition. All integers are little-endian.
//!
//! Every message crosses the link in [`frame`]s (COBS, a sequence number, a CRC-32), so a
//! receiver that lost its place is back in step at the next frame and noise cannot pass for a
//! command.
//!
//! ```text
//! host → firmware: one frame a request, kind = the request, seq chosen by the host
//!   PREDICT      payload: the sequence's bytes                          → one answer
//!                (items: the side token u16, 0xFFFF for none, then the item tokens u16)
//!   HELLO_AGAIN  no payload → the hello again (a host that opened the port late)
//!   STATS        no payload → the link's counters (LinkStats)
//!   EXIT         no payload → the firmware stops (exit code 0), after an empty answer
//! firmware → host: first an ACCEPTED frame (no payload) as soon as a request arrives
//!   intact, then the answer in one or more frames, all carrying the request's seq;
//!   kind PART for all but the last, LAST_PART for the last; payload: part number (u16,
//!   from 0) | up to PART_LEN message bytes. The parts joined are the message:
//!   hello (also sent unasked at start, seq 0):
//!     HELLO (4) | VERSION (1) | unit (1: 0 instructions, 1 cycles) | pair_len L (u16)
//!         | model CRC (u32: the CRC-32 stored in the embedded blob's last 4 bytes)
//!         | app (1: the blob's application tag)
//!   per PREDICT:
//!     OK (1) | len (u16) | count (u64) | stack bytes (u32), then by app:
//!       RNA:      logits: tri_len(len) int8, pairs (i ≤ j < len) row by row
//!                 | structure: len dot-bracket bytes (decoded from the logits)
//!       protein:  logits CRC-32 (u32, the same logits in the same order, never held whole)
//!                 | contacts (u16) | contacts × (i u16, j u16, logit i8), best first
//!       items:    scores CRC-32 (u32, every item's i32 score in item order)
//!                 | items (u16) | items × (item u16, score i32), best first, history left out
//!       others:   logits: tri_len(len) int8
//!     ERROR (1) | message length (u8) | message (UTF-8)
//!   per STATS: STATS (1) | LinkStats (6 × u32)
//! ```
//!
//! A frame that fails its checks is dropped without an answer; so is a frame whose bytes
//! stop arriving for longer than the firmware's inter-byte timeout (counted when the next
//! byte arrives; the opening zero of the next frame resynchronises the receiver anyway). A
//! host whose request is not accepted within a short time, or whose answer has a missing
//! part (a gap in the part numbers, or silence after a damaged frame), sends the request
//! again under a new seq, so that what is left of an earlier attempt is ignored.

pub mod frame;

/// First bytes a firmware sends.
pub const HELLO: [u8; 4] = *b"SCNH";
/// Protocol version; bump on any change to the messages above. Version 2: the hello carries
/// the blob's stored CRC (version 1 sent the CRC of the whole blob, the same for every
/// model), and answers carry no f32 probabilities. Version 3: items requests and answers.
/// Version 4: every message in checked frames; requests accepted, then answered; link
/// counters; EXIT answered. Version 5: the hello names the firmware's RNA decoder. Version
/// 6: the nested decoder (code 1) scores each helix less a penalty, so a version 5 firmware's
/// nested structures differ from this host's.
pub const VERSION: u8 = 6;
/// Bytes of the hello message.
pub const HELLO_LEN: usize = 14;
/// Bytes of one contact in a protein answer.
pub const CONTACT_LEN: usize = 5;
/// Bytes of one item in an items answer.
pub const ITEM_LEN: usize = 6;
/// The side token of an items request without one.
pub const NO_SIDE: u16 = 0xFFFF;
/// Items an items answer lists.
pub const TOP_ITEMS: usize = 10;
/// Request: predict one sequence.
pub const PREDICT: u8 = b'Q';
/// Request: stop the firmware.
pub const EXIT: u8 = b'X';
/// Request: send the hello again.
pub const HELLO_AGAIN: u8 = b'H';
/// Request: send the link's counters; also the first byte of their answer.
pub const STATS: u8 = b'T';
/// Answer frame kind: the request arrived intact and its work begins (no payload). Sent
/// before the work, so a host tells a lost request (no acceptance) from a long one.
pub const ACCEPTED: u8 = b'A';
/// Answer frame kind: a part with more to follow.
pub const PART: u8 = b'+';
/// Answer frame kind: the answer's last part.
pub const LAST_PART: u8 = b'.';
/// Message bytes in one answer frame (after the part number).
pub const PART_LEN: usize = 240;
/// Encoded bytes of the longest answer frame.
pub const PART_FRAME_LEN: usize = frame::encoded_len(2 + PART_LEN);
/// Response: a prediction follows.
pub const OK: u8 = b'R';
/// Response: an error message follows.
pub const ERROR: u8 = b'E';
/// Bytes of an OK response before the logits.
pub const OK_HEADER_LEN: usize = 1 + 2 + 8 + 4;

/// What a firmware counted of the frames it received (wrapping counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkStats {
    /// Frames that passed every check.
    pub frames: u32,
    /// Frames that failed their CRC.
    pub crc: u32,
    /// Frames that were not valid COBS or were too short for a header and CRC.
    pub malformed: u32,
    /// Frames longer than the receive buffer.
    pub too_long: u32,
    /// Partial frames dropped after the inter-byte timeout.
    pub timed_out: u32,
    /// Checked frames with an unknown request kind.
    pub unknown: u32,
}

/// Bytes of a [`STATS`] answer.
pub const STATS_LEN: usize = 1 + 6 * 4;

impl LinkStats {
    /// Counts one received frame or the reason it was dropped.
    pub fn count(&mut self, result: Result<(), frame::FrameError>) {
        use frame::FrameError::*;
        let counter = match result {
            Ok(()) => &mut self.frames,
            Err(Crc) => &mut self.crc,
            Err(Stuffing | Short) => &mut self.malformed,
            Err(TooLong) => &mut self.too_long,
            Err(TimedOut) => &mut self.timed_out,
        };
        *counter = counter.wrapping_add(1);
    }

    fn fields(&self) -> [u32; 6] {
        [
            self.frames,
            self.crc,
            self.malformed,
            self.too_long,
            self.timed_out,
            self.unknown,
        ]
    }

    /// The [`STATS`] answer.
    pub fn to_bytes(&self) -> [u8; STATS_LEN] {
        let mut out = [0u8; STATS_LEN];
        let (kind, values) = out.split_at_mut(1);
        kind.fill(STATS);
        for (chunk, value) in values.chunks_exact_mut(4).zip(self.fields()) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Reads a [`STATS`] answer.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let [STATS, rest @ ..] = bytes else {
            return None;
        };
        let (values, []) = rest.as_chunks::<4>() else {
            return None;
        };
        let [frames, crc, malformed, too_long, timed_out, unknown] = *values else {
            return None;
        };
        Some(LinkStats {
            frames: u32::from_le_bytes(frames),
            crc: u32::from_le_bytes(crc),
            malformed: u32::from_le_bytes(malformed),
            too_long: u32::from_le_bytes(too_long),
            timed_out: u32::from_le_bytes(timed_out),
            unknown: u32::from_le_bytes(unknown),
        })
    }
}

/// What a firmware's counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CountUnit {
    /// Executed instructions (SysTick under QEMU's `-icount`).
    Instructions,
    /// Core clock cycles (DWT CYCCNT, or SysTick at the core clock, on hardware).
    Cycles,
}

impl CountUnit {
    /// The hello code.
    pub const fn code(self) -> u8 {
        match self {
            CountUnit::Instructions => 0,
            CountUnit::Cycles => 1,
        }
    }

    /// Reads a hello code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CountUnit::Instructions),
            1 => Some(CountUnit::Cycles),
            _ => None,
        }
    }

    /// The unit's name.
    pub const fn name(self) -> &'static str {
        match self {
            CountUnit::Instructions => "instructions",
            CountUnit::Cycles => "cycles",
        }
    }
}

/// The hello a firmware sends at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    /// What the firmware's counter counts.
    pub unit: CountUnit,
    /// The firmware's pair length `L`.
    pub pair_len: u16,
    /// The CRC-32 stored in the embedded blob: tells models apart.
    pub model_crc: u32,
    /// What the model is for: what the answers carry.
    pub app: crate::blob::App,
    /// How an RNA firmware decodes its structures.
    pub decoder: crate::decode::Decoder,
}

/// Why a hello was not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HelloError {
    /// The first four bytes are not [`HELLO`].
    NotAHello,
    /// The firmware speaks another protocol version.
    Version(u8),
    /// The count unit code is unknown.
    Unit(u8),
    /// The application code is unknown.
    App(u8),
    /// The decoder code is unknown.
    Decoder(u8),
}

impl core::fmt::Display for HelloError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HelloError::NotAHello => f.write_str("not an scnn hello"),
            HelloError::Version(v) => write!(
                f,
                "the firmware speaks protocol version {v}, this host {VERSION}: rebuild the firmware"
            ),
            HelloError::Unit(u) => write!(f, "unknown count unit {u}"),
            HelloError::App(a) => write!(f, "unknown application {a}"),
            HelloError::Decoder(d) => write!(f, "unknown decoder {d}"),
        }
    }
}

impl Hello {
    /// The message's bytes.
    pub fn to_bytes(&self) -> [u8; HELLO_LEN] {
        let [a, b, c, d] = HELLO;
        let [l0, l1] = self.pair_len.to_le_bytes();
        let [c0, c1, c2, c3] = self.model_crc.to_le_bytes();
        [
            a,
            b,
            c,
            d,
            VERSION,
            self.unit.code(),
            l0,
            l1,
            c0,
            c1,
            c2,
            c3,
            self.app.code(),
            self.decoder.code(),
        ]
    }

    /// Reads a hello.
    pub fn from_bytes(bytes: &[u8; HELLO_LEN]) -> Result<Self, HelloError> {
        let [a, b, c, d, version, unit, l0, l1, c0, c1, c2, c3, app, decoder] = *bytes;
        if [a, b, c, d] != HELLO {
            return Err(HelloError::NotAHello);
        }
        if version != VERSION {
            return Err(HelloError::Version(version));
        }
        Ok(Hello {
            unit: CountUnit::from_code(unit).ok_or(HelloError::Unit(unit))?,
            pair_len: u16::from_le_bytes([l0, l1]),
            model_crc: u32::from_le_bytes([c0, c1, c2, c3]),
            app: crate::blob::App::from_code(app).map_err(|_| HelloError::App(app))?,
            decoder: crate::decode::Decoder::from_code(decoder)
                .ok_or(HelloError::Decoder(decoder))?,
        })
    }
}

/// The fixed part of an OK answer (its first [`OK_HEADER_LEN`] bytes, `OK` included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnswerHeader {
    /// Sequence length: `tri_len(len)` logits and `len` structure bytes follow.
    pub len: u16,
    /// Instructions or cycles of the inference.
    pub count: u64,
    /// Peak stack of the inference, bytes.
    pub stack_bytes: u32,
}

impl AnswerHeader {
    /// The header's bytes, starting with [`OK`].
    pub fn to_bytes(&self) -> [u8; OK_HEADER_LEN] {
        let mut out = [0u8; OK_HEADER_LEN];
        let (kind, rest) = out.split_at_mut(1);
        kind.copy_from_slice(&[OK]);
        let (len, rest) = rest.split_at_mut(2);
        len.copy_from_slice(&self.len.to_le_bytes());
        let (count, stack) = rest.split_at_mut(8);
        count.copy_from_slice(&self.count.to_le_bytes());
        stack.copy_from_slice(&self.stack_bytes.to_le_bytes());
        out
    }

    /// Reads the header after its [`OK`] byte.
    pub fn from_bytes(bytes: &[u8; OK_HEADER_LEN - 1]) -> Self {
        let [l0, l1, c0, c1, c2, c3, c4, c5, c6, c7, s0, s1, s2, s3] = *bytes;
        AnswerHeader {
            len: u16::from_le_bytes([l0, l1]),
            count: u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
            stack_bytes: u32::from_le_bytes([s0, s1, s2, s3]),
        }
    }
}

/// A contact's bytes in a protein answer: `i`, `j` (u16) and the logit.
pub fn contact_bytes(contact: &crate::apps::protein::Contact) -> [u8; CONTACT_LEN] {
    let [i0, i1] = contact.i.to_le_bytes();
    let [j0, j1] = contact.j.to_le_bytes();
    [i0, i1, j0, j1, contact.logit as u8]
}

/// Reads a contact of a protein answer.
pub fn contact_from_bytes(bytes: &[u8; CONTACT_LEN]) -> crate::apps::protein::Contact {
    let [i0, i1, j0, j1, logit] = *bytes;
    crate::apps::protein::Contact {
        i: u16::from_le_bytes([i0, i1]),
        j: u16::from_le_bytes([j0, j1]),
        logit: logit as i8,
    }
}

/// The wire bytes of a recommended item.
pub fn item_bytes(item: &crate::apps::items::ItemScore) -> [u8; ITEM_LEN] {
    let [a, b] = item.item.to_le_bytes();
    let [c, d, e, f] = item.score.to_le_bytes();
    [a, b, c, d, e, f]
}

/// A recommended item from its wire bytes.
pub fn item_from_bytes(bytes: &[u8; ITEM_LEN]) -> crate::apps::items::ItemScore {
    let [a, b, c, d, e, f] = *bytes;
    crate::apps::items::ItemScore {
        item: u16::from_le_bytes([a, b]),
        score: i32::from_le_bytes([c, d, e, f]),
    }
}
