// The example model on the target gives the same outputs as on the host: for each sequence
// of tools/data/golden.txt (written by `scnn example` from the host runtime), the CRC-32 of
// the int8 logits and f32 probabilities of the active pairs, and the decoded structure.
// Included by each QEMU board's tests/golden.rs, which defines `board`.

use cortex_m as _;

#[cortex_m_rt::exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}

const GOLDEN: &str = include_str!("../../tools/data/golden.txt");

#[embedded_test::tests]
mod tests {
    use super::*;
    use scnn::decode::{decode_logits, DEFAULT_THRESHOLD};
    use scnn::model::Buffers;
    use scnn::seq::{encode, Base};
    use scnn::tri::tri_index;
    use scnn::Model;
    use scnn_board::example::{self, L};

    #[test]
    fn example_model_matches_host_outputs() {
        let model = Model::<L>::from_bytes(&example::BLOB.0).unwrap();
        let arena = example::ARENA.take();
        let scratch = example::SCRATCH.take();
        let probs = example::PROBS.take();
        let logits = example::LOGITS.take();
        let mut buffers = Buffers { arena: &mut arena[..], scratch: &mut scratch[..], probs: &mut probs[..] };
        let last = model.layer_count() - 1;
        let mut checked = 0;
        for line in GOLDEN.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut fields = line.split('\t');
            let (Some(_name), Some(sequence), Some(crc), Some(structure)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                panic!("malformed golden line");
            };
            // Row streaming on target; the golden values come from the host's whole-map run.
            let len = model
                .predict_i8_streaming(sequence.as_bytes(), &mut buffers, |t, i, row| {
                    if t == last {
                        let at = tri_index(L, i, i);
                        logits[at..at + row.len()].copy_from_slice(row);
                    }
                })
                .unwrap();
            let mut digest = scnn::blob::CRC32.digest();
            for i in 0..len {
                let row = tri_index(L, i, i);
                for &q in &logits[row..row + len - i] {
                    digest.update(&[q as u8]);
                }
            }
            for i in 0..len {
                let row = tri_index(L, i, i);
                for p in &buffers.probs[row..row + len - i] {
                    digest.update(&p.to_le_bytes());
                }
            }
            assert_eq!(digest.finalize(), u32::from_str_radix(crc, 16).unwrap());
            let mut bases = [Base::N; L];
            encode(sequence.as_bytes(), &mut bases).unwrap();
            // As the serving firmware decodes: from the int8 logits, no f32 map needed.
            let (scale, zero_point) = model.logit_quant();
            let s = decode_logits::<L>(&logits[..], &bases[..len], DEFAULT_THRESHOLD, scale, zero_point)
                .unwrap();
            assert_eq!(s.dot_bracket_str(), structure);
            checked += 1;
        }
        assert!(checked >= 5);
    }

    #[test]
    fn corrupted_blob_copy_is_rejected() {
        // A RAM copy with one flipped byte: the loader's CRC check refuses it.
        static COPY: static_cell::ConstStaticCell<scnn::blob::AlignedBlob<[u8; 16384]>> =
            static_cell::ConstStaticCell::new(scnn::blob::AlignedBlob([0; 16384]));
        let copy = COPY.take();
        let n = example::BLOB.0.len();
        assert!(n <= copy.0.len(), "the example blob outgrew the test's copy buffer");
        copy.0[..n].copy_from_slice(&example::BLOB.0);
        assert!(Model::<L>::from_bytes(&copy.0[..n]).is_ok());
        copy.0[n / 2] ^= 0x04;
        assert_eq!(Model::<L>::from_bytes(&copy.0[..n]).unwrap_err(), scnn::Error::BadChecksum);
    }
}
