//! Panic-freedom proof for the runtime's load and predict paths, checked by the linker.
//!
//! The panic handler calls `scnn_panic_path_remains`, which no object defines. A release
//! build (fat LTO) links only if no reachable code can panic, i.e. the optimizer proved
//! every bounds check, unwrap and division in `Model::from_bytes`, `predict_i8_streaming`,
//! `predict_i8_with`, `predict_f32_with`, `predict_scores_i8`, `predict_scores_f32` and the
//! decoders (greedy and nested) can't fail. Inputs come through `black_box` so nothing
//! is folded away: the blob, the sequence and its length are opaque to the compiler.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use scnn::decode::{
    decode, decode_logits, decode_logits_nested, decode_nested, NestedScoring, DEFAULT_THRESHOLD,
};
use scnn::model::Buffers;
use scnn::seq::{encode, Base};
use scnn::Model;
use scnn_board::example::{self, L};
use static_cell::ConstStaticCell;

/// Stands in for data arriving at run time (a UART, a flash partition).
static mut INPUT: [u8; L] = [b'G'; L];

/// Small f32 buffers: the f32 path is linked (and so checked) without the RAM a real f32
/// model would need; with them it returns `BufferTooSmall` at run time.
static F32_ARENA: ConstStaticCell<[f32; 64]> = ConstStaticCell::new([0.0; 64]);
static F32_SCRATCH: ConstStaticCell<[f32; 64]> = ConstStaticCell::new([0.0; 64]);
static CONTACTS: ConstStaticCell<scnn::apps::protein::TopContacts<L>> =
    ConstStaticCell::new(scnn::apps::protein::TopContacts::new());
/// A small nested-decoder table, made opaque below: the decoder is linked (and checked)
/// without its full-size table; with this one it returns `BufferTooSmall` at run time.
static NESTED_TABLE: ConstStaticCell<[u16; 64]> = ConstStaticCell::new([0; 64]);
static TOP_ITEMS: ConstStaticCell<scnn::apps::items::TopItems<10>> =
    ConstStaticCell::new(scnn::apps::items::TopItems::new());

#[entry]
fn main() -> ! {
    // An opaque blob: the linker can't assume its contents.
    let blob: &[u8] = black_box(&example::BLOB.0);
    // SAFETY: single-threaded start-up code; nothing else refers to INPUT.
    let input: &[u8] = unsafe { &*core::ptr::addr_of!(INPUT) };
    let len = black_box(input.len());
    let text = input.get(..len).unwrap_or(&[]);

    if let (Some(arena), Some(scratch), Some(probs)) = (
        example::ARENA.try_take(),
        example::SCRATCH.try_take(),
        example::PROBS.try_take(),
    ) {
        if let Ok(model) = Model::<L>::from_bytes(blob) {
            let mut buffers = Buffers {
                arena: &mut arena[..],
                scratch: &mut scratch[..],
                probs: &mut probs[..],
            };
            let result = model.predict_i8_streaming(text, &mut buffers, |t, i, row| {
                black_box((t, i, row));
            });
            // The whole-map path is linked too (the arena is too small for it: an error).
            black_box(&model.predict_i8_with(text, &mut buffers, |t, map| {
                black_box((t, map));
            }));
            let mut bases = [Base::N; L];
            let structure = result
                .and_then(|n| encode(text, &mut bases).map(|_| n))
                .and_then(|n| {
                    let bases = bases.get(..n).unwrap_or(&[]);
                    decode::<L>(buffers.probs, bases, DEFAULT_THRESHOLD)
                });
            black_box(&structure);
            // The firmware's own path: structure from the int8 logits, and the blob read by
            // the const-fn parser at run time.
            if let Some(logits) = example::LOGITS.try_take() {
                let (scale, zero_point) = model.logit_quant();
                let bases = bases.get(..black_box(len).min(L)).unwrap_or(&[]);
                black_box(&decode_logits::<L>(
                    &logits[..],
                    bases,
                    DEFAULT_THRESHOLD,
                    scale,
                    zero_point,
                ));
                if let Some(table) = NESTED_TABLE.try_take() {
                    let table: &mut [u16] = black_box(&mut table[..]);
                    black_box(&decode_logits_nested::<L>(
                        &logits[..],
                        bases,
                        black_box(NestedScoring::DEFAULT),
                        (scale, zero_point),
                        table,
                    ));
                    black_box(&decode_nested::<L>(
                        buffers.probs,
                        bases,
                        black_box(NestedScoring::DEFAULT),
                        table,
                    ));
                }
            }
            black_box(&scnn::model::ModelInfo::try_parse(blob));
            // Tokens instead of text, and a protein firmware's streamed top-L contacts.
            if let Some(top) = CONTACTS.try_take() {
                let tokens: &[u16] = black_box(&[2, 2, 1, 0, 3, 3, 1, 1]);
                black_box(&model.predict_i8_rows(
                    tokens,
                    &mut buffers.arena[..],
                    &mut buffers.scratch[..],
                    |_, i, row| top.offer_row(i, row, black_box(len)),
                ));
                black_box(top.contacts());
            }
            // A recommendation firmware's path: a pooled head's scores and the best items.
            if let Some(top) = TOP_ITEMS.try_take() {
                let history: &[u16] = black_box(&[1, 2, 3, 4, 0]);
                black_box(&model.predict_scores_i8(
                    history,
                    black_box(Some(3)),
                    &mut buffers.arena[..],
                    &mut buffers.scratch[..],
                    |item, score| top.offer(scnn::apps::items::ItemScore { item, score }),
                ));
                black_box(top.as_slice());
            }
            if let (Some(arena), Some(scratch)) = (F32_ARENA.try_take(), F32_SCRATCH.try_take()) {
                let mut buffers = Buffers {
                    arena: &mut arena[..],
                    scratch: &mut scratch[..],
                    probs: &mut buffers.probs[..],
                };
                black_box(&model.predict_f32_with(text, &mut buffers, |t, map| {
                    black_box((t, map));
                }));
                black_box(&model.predict_scores_f32(
                    text,
                    black_box(None),
                    &mut buffers.arena[..],
                    &mut buffers.scratch[..],
                    |item, score| {
                        black_box((item, score));
                    },
                ));
            }
            #[cfg(feature = "self-test")]
            {
                // An index the optimizer can't prove: this must break the link.
                black_box(buffers.probs[black_box(usize::MAX)]);
            }
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    extern "Rust" {
        // Defined nowhere: any reachable call to the panic handler fails the link.
        fn scnn_panic_path_remains() -> !;
    }
    // SAFETY: never executed in a build that links; the missing symbol is the check.
    unsafe { scnn_panic_path_remains() }
}
