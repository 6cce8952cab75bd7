//! The firmware side of [`scnn::wire`]: load the example model, then answer prediction
//! requests from the host over a serial link.

use core::fmt::Write as _;

use embedded_io::{Read, ReadExactError, Write};
use scnn::decode::{decode, DEFAULT_THRESHOLD};
use scnn::model::Buffers;
use scnn::seq::{encode, Base};
use scnn::tri::tri_index;
use scnn::{wire, Model};

use crate::example::{self, L};
use crate::{stack, Counter};

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

/// Serves predictions of the example model until the host sends [`wire::EXIT`].
pub fn serve<U: Read + Write, C: Counter>(
    uart: &mut U,
    counter: &mut C,
) -> Result<(), Stop<U::Error>> {
    let blob = &example::BLOB.0;
    let model = match Model::<L>::from_bytes(blob) {
        Ok(model) => model,
        Err(e) => {
            defmt::error!("example model rejected: {}", e);
            send_error(uart, e).map_err(Stop::Link)?;
            return Err(Stop::Model(e));
        }
    };
    let (Some(arena), Some(scratch), Some(probs), Some(logits)) = (
        example::ARENA.try_take(),
        example::SCRATCH.try_take(),
        example::PROBS.try_take(),
        example::LOGITS.try_take(),
    ) else {
        return Err(Stop::Buffers);
    };
    let mut buffers = Buffers {
        arena: &mut arena[..],
        scratch: &mut scratch[..],
        probs: &mut probs[..],
    };
    let last = model.layer_count() - 1;

    let mut hello = [0u8; wire::HELLO_LEN];
    hello[..4].copy_from_slice(&wire::HELLO);
    hello[4] = wire::VERSION;
    hello[5] = C::UNIT.code();
    hello[6..8].copy_from_slice(&(L as u16).to_le_bytes());
    hello[8..12].copy_from_slice(&scnn::blob::checksum(blob).to_le_bytes());
    uart.write_all(&hello).map_err(Stop::Link)?;
    uart.flush().map_err(Stop::Link)?;
    defmt::info!("serving the example model, L = {}", L);

    let mut sequence = [0u8; L];
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
        if len > L {
            let mut left = len;
            while left > 0 {
                let n = left.min(L);
                uart.read_exact(&mut sequence[..n])?;
                left -= n;
            }
            send_error(uart, scnn::Error::SequenceTooLong).map_err(Stop::Link)?;
            continue;
        }
        let text = &mut sequence[..len];
        uart.read_exact(text)?;

        stack::paint();
        let start = counter.now();
        let result = model.predict_i8_streaming(text, &mut buffers, |t, i, row| {
            if t == last {
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
        reply(uart, text, len, &buffers.probs[..], &logits[..], measured).map_err(Stop::Link)?;
    }
}

/// What one prediction cost.
struct Measured {
    count: u64,
    stack_bytes: usize,
    unit: &'static str,
}

/// Decodes the structure and sends the reply: header, int8 logits, f32 probabilities and the
/// dot-bracket. Out of line, so the structure's buffers are not in the serve loop's frame
/// while the model runs.
#[inline(never)]
fn reply<U: Write>(
    uart: &mut U,
    text: &[u8],
    len: usize,
    probs: &[f32],
    logits: &[i8],
    measured: Measured,
) -> Result<(), U::Error> {
    let mut bases = [Base::N; L];
    let structure = encode(text, &mut bases)
        .and_then(|n| decode::<L>(probs, bases.get(..n).unwrap_or(&[]), DEFAULT_THRESHOLD));
    let structure = match structure {
        Ok(s) => s,
        Err(e) => return send_error(uart, e),
    };
    defmt::info!(
        "predicted {} nt: {} {}, stack {} B",
        len,
        measured.count,
        measured.unit,
        measured.stack_bytes
    );
    let mut header = [0u8; wire::OK_HEADER_LEN];
    header[0] = wire::OK;
    header[1..3].copy_from_slice(&(len as u16).to_le_bytes());
    header[3..11].copy_from_slice(&measured.count.to_le_bytes());
    header[11..15].copy_from_slice(&(measured.stack_bytes as u32).to_le_bytes());
    uart.write_all(&header)?;
    for i in 0..len {
        let row = tri_index(L, i, i);
        // int8 logits go out as their two's-complement bytes.
        for &q in &logits[row..row + (len - i)] {
            uart.write_all(&[q as u8])?;
        }
    }
    for i in 0..len {
        let row = tri_index(L, i, i);
        for p in &probs[row..row + (len - i)] {
            uart.write_all(&p.to_le_bytes())?;
        }
    }
    uart.write_all(&structure.dot_bracket)?;
    uart.flush()
}
