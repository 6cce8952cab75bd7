//! Any byte string is a valid model or an error, never a panic. The first byte picks whether
//! the length and CRC fields are fixed up first (to reach the structural checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scnn::Model;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        common::fix_up(&mut bytes);
    }
    let words = common::aligned(&bytes);
    let blob = common::as_bytes(&words, bytes.len());
    if let Ok(model) = Model::<128>::from_bytes(blob) {
        // A model that loads describes itself consistently.
        for t in 0..model.layer_count() {
            assert!(
                model.layer(t).is_ok(),
                "layer {t} of a validated model fails to parse"
            );
        }
        let _ = (model.arena_len(), model.scratch_len(), model.slots());
    }
    if let Ok(model) = Model::<32>::from_bytes(blob) {
        assert!(model.pair_len() <= 32);
    }
});
