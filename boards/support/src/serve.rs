//! The firmware side of [`scnn::wire`]: load the embedded model ([`crate::model`]), then
//! answer prediction requests from the host over a serial link.

use core::fmt::Write as _;

use embedded_io::{Read, ReadExactError, Write};
use scnn::decode::{
    decode_logits, decode_logits_nested, Decoder, NestedScoring, DEFAULT_THRESHOLD,
};
use scnn::seq::{encode, Base};
use scnn::tri::tri_index;
use scnn::wire::frame::{Deframer, Frame};
use scnn::{wire, Model};

use crate::model::{self, INFO, ITEMS, L, PROTEIN};
use crate::{stack, Counter};
use scnn::apps::items::{ItemScore, TopItems};
use scnn::apps::protein::TopContacts;
use scnn::blob::App;

/// Why serving stopped.
#[derive(Debug, defmt::Format)]
pub enum Stop<E> {
    /// The link failed.
    Link(E),
    /// The link closed.
    Eof,
    /// The embedded model did not load (see the log).
    Model(scnn::Error),
    /// The buffers were already taken (serve runs once).
    Buffers,
}

impl<E> From<ReadExactError<E>> for Stop<E> {
    fn from(e: ReadExactError<E>) -> Self {
        match e {
            ReadExactError::UnexpectedEof => Stop::Eof,
            ReadExactError::Other(e) => Stop::Link(e),
        }
    }
}

/// An answer on its way out: its message bytes gathered into [`wire::PART`] frames under the
/// request's sequence number, the last one sent by [`Answer::finish`]. Made only in the
/// out-of-line reply functions, so its buffers are never on the stack while a model runs.
struct Answer<'u, U: Write> {
    uart: &'u mut U,
    seq: u8,
    part: u16,
    /// The part number, then up to [`wire::PART_LEN`] message bytes.
    buf: [u8; 2 + wire::PART_LEN],
    len: usize,
}

impl<'u, U: Write> Answer<'u, U> {
    fn new(uart: &'u mut U, seq: u8) -> Self {
        Answer {
            uart,
            seq,
            part: 0,
            buf: [0; 2 + wire::PART_LEN],
            len: 2,
        }
    }

    fn send(&mut self, kind: u8) -> Result<(), U::Error> {
        let [p0, p1] = self.part.to_le_bytes();
        self.buf[0] = p0;
        self.buf[1] = p1;
        let frame = Frame {
            seq: self.seq,
            kind,
            payload: self.buf.get(..self.len).unwrap_or_default(),
        };
        let mut out = [0u8; wire::PART_FRAME_LEN];
        // The buffer is sized for the longest part, so encoding cannot run out of room.
        if let Ok(n) = frame.encode(&mut out) {
            self.uart.write_all(out.get(..n).unwrap_or_default())?;
        }
        self.part = self.part.wrapping_add(1);
        self.len = 2;
        Ok(())
    }

    /// Sends the last part.
    fn finish(mut self) -> Result<(), U::Error> {
        self.send(wire::LAST_PART)?;
        self.uart.flush()
    }
}

impl<U: Write> embedded_io::ErrorType for Answer<'_, U> {
    type Error = U::Error;
}

impl<U: Write> Write for Answer<'_, U> {
    fn write(&mut self, data: &[u8]) -> Result<usize, Self::Error> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full part goes out only once more bytes follow: the last part is always LAST_PART.
        if self.len == self.buf.len() {
            self.send(wire::PART)?;
        }
        let room = &mut self.buf[self.len..];
        let n = room.len().min(data.len());
        room[..n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Tells the host its request `seq` arrived intact, before the work on it begins.
#[inline(never)]
fn accept<U: Write>(uart: &mut U, seq: u8) -> Result<(), U::Error> {
    let mut out = [0u8; scnn::wire::frame::encoded_len(0)];
    let frame = Frame {
        seq,
        kind: wire::ACCEPTED,
        payload: &[],
    };
    if let Ok(n) = frame.encode(&mut out) {
        uart.write_all(out.get(..n).unwrap_or_default())?;
    }
    uart.flush()
}

/// Sends a whole short message (the hello, the link counters, the EXIT acknowledgement).
#[inline(never)]
fn send_message<U: Write>(uart: &mut U, seq: u8, message: &[u8]) -> Result<(), U::Error> {
    let mut answer = Answer::new(uart, seq);
    answer.write_all(message)?;
    answer.finish()
}

#[inline(never)]
fn send_error<U: Write>(
    uart: &mut U,
    seq: u8,
    error: impl core::fmt::Display,
) -> Result<(), U::Error> {
    let mut text: heapless::String<128> = heapless::String::new();
    let _ = write!(text, "{error}");
    let mut answer = Answer::new(uart, seq);
    answer.write_all(&[wire::ERROR, text.len() as u8])?;
    answer.write_all(text.as_bytes())?;
    answer.finish()
}

/// Counter units of silence after which a partial frame is dropped: 50 ms at 1 GHz (50 M
/// instructions under QEMU's `-icount shift=0`); 0.78 s at 64 MHz. A UART byte takes 87 µs at
/// 115200 baud, so only a sender that stopped mid-frame waits that long.
pub const FRAME_TIMEOUT: u64 = 50_000_000;

/// Serves predictions of the embedded model until the host sends [`wire::EXIT`].
pub fn serve<U: Read + Write, C: Counter>(
    uart: &mut U,
    counter: &mut C,
) -> Result<(), Stop<U::Error>> {
    let model = match Model::<L>::from_bytes(&model::BLOB.0) {
        Ok(model) => model,
        Err(e) => {
            defmt::error!("model {} rejected: {}", model::NAME, e);
            send_error(uart, 0, e).map_err(Stop::Link)?;
            return Err(Stop::Model(e));
        }
    };
    let (Some(arena), Some(scratch), Some(frame_buf), Some(table)) = (
        model::ARENA.try_take(),
        model::SCRATCH.try_take(),
        model::FRAME.try_take(),
        model::NESTED_TABLE.try_take(),
    ) else {
        return Err(Stop::Buffers);
    };
    // A protein model keeps only its best contacts; the others keep the logit triangle.
    let (logits, mut top): (&mut [i8], Option<&mut TopContacts<L>>) = if PROTEIN {
        let Some(top) = model::CONTACTS.try_take() else {
            return Err(Stop::Buffers);
        };
        (&mut [], Some(top))
    } else {
        let Some(logits) = model::LOGITS.try_take() else {
            return Err(Stop::Buffers);
        };
        (&mut logits[..], None)
    };
    let last = model.layer_count() - 1;
    let mut top_items = if ITEMS {
        let Some(top) = model::TOP_ITEMS.try_take() else {
            return Err(Stop::Buffers);
        };
        Some(top)
    } else {
        None
    };

    let hello = wire::Hello {
        unit: C::UNIT,
        pair_len: L as u16,
        model_crc: INFO.stored_crc(),
        app: INFO.app(),
        decoder: model::DECODER,
    }
    .to_bytes();
    send_message(uart, 0, &hello).map_err(Stop::Link)?;
    defmt::info!("serving {}, L = {}", model::NAME, L);

    let mut deframer = Deframer::new(&mut frame_buf[..]);
    let mut stats = wire::LinkStats::default();
    let mut last_byte = counter.now();
    loop {
        let mut byte = [0u8; 1];
        uart.read_exact(&mut byte)?;
        // The gap is measured in the device's own clock, so a slow host cannot fake one.
        let now = counter.now();
        if now.wrapping_sub(last_byte) > FRAME_TIMEOUT {
            if let Some(e) = deframer.time_out() {
                stats.count(Err(e));
            }
        }
        last_byte = now;
        let frame = match deframer.push(byte[0]) {
            None => continue,
            Some(Err(e)) => {
                stats.count(Err(e));
                continue;
            }
            Some(Ok(frame)) => frame,
        };
        stats.count(Ok(()));
        let seq = frame.seq;
        accept(uart, seq).map_err(Stop::Link)?;
        match frame.kind {
            wire::EXIT => {
                send_message(uart, seq, &[]).map_err(Stop::Link)?;
                return Ok(());
            }
            wire::HELLO_AGAIN => {
                send_message(uart, seq, &hello).map_err(Stop::Link)?;
                continue;
            }
            wire::STATS => {
                send_message(uart, seq, &stats.to_bytes()).map_err(Stop::Link)?;
                continue;
            }
            wire::PREDICT => {}
            other => {
                stats.unknown = stats.unknown.wrapping_add(1);
                send_error(uart, seq, format_args!("unknown request {other:#04x}"))
                    .map_err(Stop::Link)?;
                continue;
            }
        }
        let text = frame.payload;
        if let Some(top) = top_items.as_deref_mut() {
            recommend(
                uart,
                seq,
                counter,
                &model,
                text,
                &mut arena[..],
                &mut scratch[..],
                top,
            )
            .map_err(Stop::Link)?;
            continue;
        }
        let len = text.len();

        stack::paint();
        if let Some(top) = top.as_deref_mut() {
            top.clear();
        }
        let mut digest = scnn::blob::CRC32.digest();
        let start = counter.now();
        let result = model.predict_i8_rows(text, &mut arena[..], &mut scratch[..], |t, i, row| {
            if t != last {
                return;
            }
            if let Some(top) = top.as_deref_mut() {
                // The row's pairs inside the sequence: their CRC, and the best contacts.
                let active = row.get(..len.saturating_sub(i)).unwrap_or(&[]);
                for chunk in active.chunks(32) {
                    let mut bytes = [0u8; 32];
                    for (b, &q) in bytes.iter_mut().zip(chunk) {
                        *b = q as u8;
                    }
                    digest.update(bytes.get(..chunk.len()).unwrap_or(&[]));
                }
                top.offer_row(i, row, len);
            } else {
                let at = tri_index(L, i, i);
                if let Some(out) = logits.get_mut(at..at + row.len()) {
                    out.copy_from_slice(row);
                }
            }
        });
        let count = counter.now() - start;
        // The stack of predicting (the serve loop's own frame included); decoding follows.
        let stack_bytes = stack::used();
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                send_error(uart, seq, e).map_err(Stop::Link)?;
                continue;
            }
        };
        let measured = Measured {
            count,
            stack_bytes,
            unit: C::UNIT.name(),
        };
        if let Some(top) = top.as_deref() {
            reply_contacts(uart, seq, len, digest.finalize(), top, measured).map_err(Stop::Link)?;
        } else {
            let quant = model.logit_quant();
            let decoded = Decoded {
                logits,
                quant,
                table: &mut table[..],
            };
            reply(uart, seq, text, len, decoded, measured).map_err(Stop::Link)?;
        }
    }
}

/// Answers one items request (the user token, then the history's item tokens): every item's
/// score into a CRC-32, the best ones (the history left out) into `top`, then the reply.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn recommend<U: Write, C: Counter>(
    uart: &mut U,
    seq: u8,
    counter: &mut C,
    model: &Model<'_, L>,
    request: &[u8],
    arena: &mut [i8],
    scratch: &mut [i16],
    top: &mut TopItems<{ wire::TOP_ITEMS }>,
) -> Result<(), U::Error> {
    let (Some((side, items)), true) = (
        request.split_first_chunk::<2>(),
        request.len().is_multiple_of(2),
    ) else {
        return send_error(uart, seq, "items request: a u16 user, then u16 item tokens");
    };
    let side = match u16::from_le_bytes(*side) {
        wire::NO_SIDE => None,
        user => Some(user),
    };
    let mut history = [0u16; L];
    if items.len() / 2 > L {
        return send_error(uart, seq, scnn::Error::SequenceTooLong);
    }
    for (slot, pair) in history.iter_mut().zip(items.chunks_exact(2)) {
        if let [a, b] = *pair {
            *slot = u16::from_le_bytes([a, b]);
        }
    }
    let history = history.get(..items.len() / 2).unwrap_or(&[]);

    stack::paint();
    top.clear();
    let mut digest = scnn::blob::CRC32.digest();
    let start = counter.now();
    let result = model.predict_scores_i8(history, side, arena, scratch, |item, score| {
        digest.update(&score.to_le_bytes());
        if !history.contains(&item) {
            top.offer(ItemScore { item, score });
        }
    });
    let count = counter.now() - start;
    let stack_bytes = stack::used();
    let len = match result {
        Ok(len) => len,
        Err(e) => return send_error(uart, seq, e),
    };
    let measured = Measured {
        count,
        stack_bytes,
        unit: C::UNIT.name(),
    };
    reply_items(uart, seq, len, digest.finalize(), top.as_slice(), measured)
}

/// Sends an items answer: header, the CRC-32 of every score, and the best items.
#[inline(never)]
fn reply_items<U: Write>(
    uart: &mut U,
    seq: u8,
    len: usize,
    scores_crc: u32,
    items: &[ItemScore],
    measured: Measured,
) -> Result<(), U::Error> {
    let mut answer = Answer::new(uart, seq);
    send_header(&mut answer, len, &measured)?;
    answer.write_all(&scores_crc.to_le_bytes())?;
    answer.write_all(&(items.len() as u16).to_le_bytes())?;
    for item in items {
        answer.write_all(&wire::item_bytes(item))?;
    }
    answer.finish()
}

/// Logs what a prediction cost and sends the answer's header.
fn send_header<W: Write>(out: &mut W, len: usize, measured: &Measured) -> Result<(), W::Error> {
    defmt::info!(
        "predicted {} positions: {} {}, stack {} B",
        len,
        measured.count,
        measured.unit,
        measured.stack_bytes
    );
    let header = wire::AnswerHeader {
        len: len as u16,
        count: measured.count,
        stack_bytes: measured.stack_bytes as u32,
    };
    out.write_all(&header.to_bytes())
}

/// What one prediction cost.
struct Measured {
    count: u64,
    stack_bytes: usize,
    unit: &'static str,
}

/// What an RNA structure is decoded from: the int8 logits, their scale and zero point, and
/// the nested decoder's table (empty for the greedy decoder).
struct Decoded<'a> {
    logits: &'a [i8],
    quant: (f32, i32),
    table: &'a mut [u16],
}

/// Decodes the structure from the int8 logits and sends the reply: header, logits and the
/// dot-bracket. Out of line, so the structure's buffers are not in the serve loop's frame
/// while the model runs.
#[inline(never)]
fn reply<U: Write>(
    uart: &mut U,
    seq: u8,
    text: &[u8],
    len: usize,
    decoded: Decoded<'_>,
    measured: Measured,
) -> Result<(), U::Error> {
    let Decoded {
        logits,
        quant: (scale, zero_point),
        table,
    } = decoded;
    // RNA models decode a structure; other pair-map models send their logits alone.
    let structure = if INFO.app() == App::Rna {
        let mut bases = [Base::N; L];
        let structure = encode(text, &mut bases).and_then(|n| {
            let bases = bases.get(..n).unwrap_or(&[]);
            match model::DECODER {
                Decoder::Greedy => {
                    decode_logits::<L>(logits, bases, DEFAULT_THRESHOLD, scale, zero_point)
                }
                Decoder::Nested => decode_logits_nested::<L>(
                    logits,
                    bases,
                    NestedScoring::DEFAULT,
                    (scale, zero_point),
                    table,
                ),
            }
        });
        match structure {
            Ok(s) => Some(s),
            Err(e) => return send_error(uart, seq, e),
        }
    } else {
        None
    };
    let mut answer = Answer::new(uart, seq);
    send_header(&mut answer, len, &measured)?;
    for i in 0..len {
        let row = tri_index(L, i, i);
        // int8 logits go out as their two's-complement bytes.
        for &q in &logits[row..row + (len - i)] {
            answer.write_all(&[q as u8])?;
        }
    }
    if let Some(structure) = structure {
        answer.write_all(&structure.dot_bracket)?;
    }
    answer.finish()
}

/// Sends a protein answer: header, the CRC-32 of the logits, and the best contacts.
#[inline(never)]
fn reply_contacts<U: Write>(
    uart: &mut U,
    seq: u8,
    len: usize,
    logits_crc: u32,
    top: &TopContacts<L>,
    measured: Measured,
) -> Result<(), U::Error> {
    let mut answer = Answer::new(uart, seq);
    send_header(&mut answer, len, &measured)?;
    answer.write_all(&logits_crc.to_le_bytes())?;
    let contacts = top.contacts();
    answer.write_all(&(contacts.len() as u16).to_le_bytes())?;
    for contact in contacts {
        answer.write_all(&wire::contact_bytes(contact))?;
    }
    answer.finish()
}
