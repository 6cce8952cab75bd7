//! Load then predict: arbitrary sequences on the example model (even first byte), or an
//! arbitrary CRC-fixed blob with an arbitrary sequence (odd first byte). Every outcome is a
//! result or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scnn::decode::{decode, DEFAULT_THRESHOLD};
use scnn::model::Buffers;
use scnn::seq::{encode, Base};
use scnn::tri::tri_len;
use scnn::Model;

mod common;

const L: usize = 128;
static EXAMPLE: &[u8] = include_bytes!("../../../tools/models/example.scnn");

/// Largest arena the harness hands out, so that a fuzzed model can't ask for gigabytes.
const MAX_ARENA: usize = 1 << 22;

fn run(model: &Model<'_, L>, sequence: &[u8]) {
    if model.arena_len() > MAX_ARENA || model.scratch_len() > MAX_ARENA {
        return;
    }
    let mut arena = vec![0i8; model.arena_len()];
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut probs = vec![0f32; tri_len(L)];
    let mut buffers = Buffers {
        arena: &mut arena,
        scratch: &mut scratch,
        probs: &mut probs,
    };
    let result = model.predict_i8_with(sequence, &mut buffers, |_, _| {});
    if let Ok(len) = result {
        assert_eq!(len, sequence.len());
        // Every symbol was in the model's alphabet.
        assert!(sequence
            .iter()
            .all(|&symbol| model.alphabet().token(symbol).is_some()));
        // RNA letters (a fuzzed blob's alphabet may hold other symbols) decode to a structure.
        let mut bases = [Base::N; L];
        if let Ok(n) = encode(sequence, &mut bases) {
            let structure = decode::<L>(buffers.probs, &bases[..n], DEFAULT_THRESHOLD)
                .expect("decoding a predicted map");
            assert_eq!(structure.dot_bracket_str().len(), len);
        }
        assert!(buffers.probs[..tri_len(L)]
            .iter()
            .all(|p| (0.0..=1.0).contains(p)));
    } else {
        let mut f32_arena = vec![0f32; 16];
        let mut f32_scratch = vec![0f32; 16];
        let mut buffers = Buffers {
            arena: &mut f32_arena,
            scratch: &mut f32_scratch,
            probs: &mut probs,
        };
        let _ = model.predict_f32_with(sequence, &mut buffers, |_, _| {});
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let words = common::aligned(EXAMPLE);
        let model = Model::<L>::from_bytes(common::as_bytes(&words, EXAMPLE.len()))
            .expect("the shipped example loads");
        run(&model, rest);
        return;
    }
    let Some((&seq_len, rest)) = rest.split_first() else {
        return;
    };
    let (sequence, blob) = rest.split_at((seq_len as usize).min(rest.len()));
    let mut bytes = blob.to_vec();
    common::fix_up(&mut bytes);
    let words = common::aligned(&bytes);
    if let Ok(model) = Model::<L>::from_bytes(common::as_bytes(&words, bytes.len())) {
        run(&model, sequence);
    }
});
