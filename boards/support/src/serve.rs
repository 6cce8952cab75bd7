//! The firmware side of [`scnn::wire`]: load the embedded model ([`crate::model`]), then
//! answer prediction requests from the host over a serial link.

use core::fmt::Write as _;

use embedded_io::{Read, ReadExactError, Write};
use scnn::decode::{decode_logits, DEFAULT_THRESHOLD};
use scnn::seq::{encode, Base};
use scnn::tri::tri_index;
use scnn::{wire, Model};

use crate::model::{self, INFO, ITEMS, L, PROTEIN, REQUEST_LEN};
use crate::{stack, Counter};
use scnn::apps::items::{ItemScore, TopItems};
use scnn::apps::protein::TopContacts;
use scnn::blob::App;

/// Why serving stopped.
#[derive(Debug, defmt::Format)]
pub enum Stop<E> {
    /// The link failed.
    Link(E),
    /// The link closed in the middle of a message.
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

fn send_error<U: Write>(uart: &mut U, error: impl core::fmt::Display) -> Result<(), U::Error> {
    let mut text: heapless::String<128> = heapless::String::new();
    let _ = write!(text, "{error}");
    uart.write_all(&[wire::ERROR, text.len() as u8])?;
    uart.write_all(text.as_bytes())?;
    uart.flush()
}

/// Serves predictions of the embedded model until the host sends [`wire::EXIT`].
pub fn serve<U: Read + Write, C: Counter>(
    uart: &mut U,
    counter: &mut C,
) -> Result<(), Stop<U::Error>> {
    let model = match Model::<L>::from_bytes(&model::BLOB.0) {
        Ok(model) => model,
        Err(e) => {
            defmt::error!("model {} rejected: {}", model::NAME, e);
            send_error(uart, e).map_err(Stop::Link)?;
            return Err(Stop::Model(e));
        }
    };
    let (Some(arena), Some(scratch)) = (model::ARENA.try_take(), model::SCRATCH.try_take()) else {
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
    }
    .to_bytes();
    uart.write_all(&hello).map_err(Stop::Link)?;
    uart.flush().map_err(Stop::Link)?;
    defmt::info!("serving {}, L = {}", model::NAME, L);

    let mut sequence = [0u8; REQUEST_LEN];
    loop {
        let mut command = [0u8; 1];
        uart.read_exact(&mut command)?;
        match command[0] {
            wire::EXIT => return Ok(()),
            wire::HELLO_AGAIN => {
                uart.write_all(&hello).map_err(Stop::Link)?;
                uart.flush().map_err(Stop::Link)?;
                continue;
            }
            wire::PREDICT => {}
            other => {
                send_error(uart, format_args!("unknown request {other:#04x}"))
                    .map_err(Stop::Link)?;
                continue;
            }
        }
        let mut len = [0u8; 2];
        uart.read_exact(&mut len)?;
        let len = u16::from_le_bytes(len) as usize;
        if len > REQUEST_LEN {
            let mut left = len;
            while left > 0 {
                let n = left.min(REQUEST_LEN);
                uart.read_exact(&mut sequence[..n])?;
                left -= n;
            }
            send_error(uart, scnn::Error::SequenceTooLong).map_err(Stop::Link)?;
            continue;
        }
        let text = &mut sequence[..len];
        uart.read_exact(text)?;
        if let Some(top) = top_items.as_deref_mut() {
            recommend(
                uart,
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

        stack::paint();
        if let Some(top) = top.as_deref_mut() {
            top.clear();
        }
        let mut digest = scnn::blob::CRC32.digest();
        let start = counter.now();
        let text = &*text;
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
                send_error(uart, e).map_err(Stop::Link)?;
                continue;
            }
        };
        let measured = Measured {
            count,
            stack_bytes,
            unit: C::UNIT.name(),
        };
        if let Some(top) = top.as_deref() {
            reply_contacts(uart, len, digest.finalize(), top, measured).map_err(Stop::Link)?;
        } else {
            let quant = model.logit_quant();
            reply(uart, text, len, logits, quant, measured).map_err(Stop::Link)?;
        }
    }
}

/// Answers one items request (the user token, then the history's item tokens): every item's
/// score into a CRC-32, the best ones (the history left out) into `top`, then the reply.
#[inline(never)]
fn recommend<U: Write, C: Counter>(
    uart: &mut U,
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
        return send_error(uart, "items request: a u16 user, then u16 item tokens");
    };
    let side = match u16::from_le_bytes(*side) {
        wire::NO_SIDE => None,
        user => Some(user),
    };
    let mut history = [0u16; L];
    if items.len() / 2 > L {
        return send_error(uart, scnn::Error::SequenceTooLong);
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
        Err(e) => return send_error(uart, e),
    };
    let measured = Measured {
        count,
        stack_bytes,
        unit: C::UNIT.name(),
    };
    send_header(uart, len, &measured)?;
    uart.write_all(&digest.finalize().to_le_bytes())?;
    let items = top.as_slice();
    uart.write_all(&(items.len() as u16).to_le_bytes())?;
    for item in items {
        uart.write_all(&wire::item_bytes(item))?;
    }
    uart.flush()
}

/// Logs what a prediction cost and sends the answer's header.
fn send_header<U: Write>(uart: &mut U, len: usize, measured: &Measured) -> Result<(), U::Error> {
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
    uart.write_all(&header.to_bytes())
}

/// What one prediction cost.
struct Measured {
    count: u64,
    stack_bytes: usize,
    unit: &'static str,
}

/// Decodes the structure from the int8 logits and sends the reply: header, logits and the
/// dot-bracket. Out of line, so the structure's buffers are not in the serve loop's frame
/// while the model runs.
#[inline(never)]
fn reply<U: Write>(
    uart: &mut U,
    text: &[u8],
    len: usize,
    logits: &[i8],
    (scale, zero_point): (f32, i32),
    measured: Measured,
) -> Result<(), U::Error> {
    // RNA models decode a structure; other pair-map models send their logits alone.
    let structure = if INFO.app() == App::Rna {
        let mut bases = [Base::N; L];
        let structure = encode(text, &mut bases).and_then(|n| {
            let bases = bases.get(..n).unwrap_or(&[]);
            decode_logits::<L>(logits, bases, DEFAULT_THRESHOLD, scale, zero_point)
        });
        match structure {
            Ok(s) => Some(s),
            Err(e) => return send_error(uart, e),
        }
    } else {
        None
    };
    send_header(uart, len, &measured)?;
    for i in 0..len {
        let row = tri_index(L, i, i);
        // int8 logits go out as their two's-complement bytes.
        for &q in &logits[row..row + (len - i)] {
            uart.write_all(&[q as u8])?;
        }
    }
    if let Some(structure) = structure {
        uart.write_all(&structure.dot_bracket)?;
    }
    uart.flush()
}

/// Sends a protein answer: header, the CRC-32 of the logits, and the best contacts.
#[inline(never)]
fn reply_contacts<U: Write>(
    uart: &mut U,
    len: usize,
    logits_crc: u32,
    top: &TopContacts<L>,
    measured: Measured,
) -> Result<(), U::Error> {
    send_header(uart, len, &measured)?;
    uart.write_all(&logits_crc.to_le_bytes())?;
    let contacts = top.contacts();
    uart.write_all(&(contacts.len() as u16).to_le_bytes())?;
    for contact in contacts {
        uart.write_all(&wire::contact_bytes(contact))?;
    }
    uart.flush()
}
