//! Row-streaming execution equals whole-map execution bit for bit (logits and probabilities)
//! on the shipped trained model and on the fixture model (a 5×5 layer, a dilated layer and a
//! skip connection), in a fraction of the activation memory.

use std::path::Path;

use scnn::model::Buffers;
use scnn::tri::{tri_index, tri_len};
use scnn::Model;
use scnn_tools::commands::example;
use scnn_tools::formats::fasta;
use scnn_tools::quantize;
use scnn_tools::runtime::Blob;
use scnn_tools::weights::{self, FloatModel};

const L: usize = 128;

fn manifest(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture_blob() -> Blob {
    let bytes = weights::to_bytes(&example::config(), &example::tensors()).unwrap();
    let float = FloatModel::from_bytes(&bytes, false).unwrap();
    let sequences: Vec<_> = fasta::read(&manifest("data/calibration.fa"))
        .unwrap()
        .iter()
        .map(|r| fasta::tokens(&r.name, &r.sequence, scnn::apps::rna::ALPHABET).unwrap())
        .collect();
    let ranges = quantize::calibrate(&float, &sequences, || {});
    Blob::new(&quantize::int8_blob(&float, &ranges).unwrap().to_bytes())
}

fn sequences() -> Vec<String> {
    let mut out: Vec<String> = fasta::read(&manifest("data/example.fa"))
        .unwrap()
        .into_iter()
        .take(12)
        .map(|r| r.sequence)
        .collect();
    let mut rng = example::Rng(99);
    out.push((0..L).map(|_| b"ACGU"[rng.below(4)] as char).collect());
    out.extend([
        "A".into(),
        "N".repeat(L),
        "gggaaauccc".into(),
        "GGGTTTCCC".into(),
    ]);
    out
}

fn check(blob: &Blob) -> usize {
    check_with(blob, &[])
}

/// [`check`] on `sequences()` and `extra`.
fn check_with(blob: &Blob, extra: &[String]) -> usize {
    let model = Model::<L>::from_bytes(blob.bytes()).unwrap();
    let last = model.layer_count() - 1;
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut full_arena = vec![0i8; model.arena_len()];
    let mut stream_arena = vec![0i8; model.stream_arena_len().unwrap()];
    assert!(
        stream_arena.len() < full_arena.len() / 2,
        "streaming should need far less"
    );
    for sequence in sequences().into_iter().chain(extra.iter().cloned()) {
        let text = sequence.as_bytes();
        let mut full_probs = vec![0f32; tri_len(L)];
        let mut full_logits = vec![0i8; tri_len(L)];
        let mut buffers = Buffers {
            arena: &mut full_arena,
            scratch: &mut scratch,
            probs: &mut full_probs,
        };
        model
            .predict_i8_with(text, &mut buffers, |t, map| {
                if t == last {
                    full_logits.copy_from_slice(&map[..tri_len(L)]);
                }
            })
            .unwrap();

        let mut stream_probs = vec![1f32; tri_len(L)];
        let mut stream_logits = vec![0i8; tri_len(L)];
        let mut rows_seen = vec![0usize; model.layer_count()];
        let mut buffers = Buffers {
            arena: &mut stream_arena,
            scratch: &mut scratch,
            probs: &mut stream_probs,
        };
        let len = model
            .predict_i8_streaming(text, &mut buffers, |t, i, row| {
                assert_eq!(i, rows_seen[t], "layer {t} rows out of order");
                rows_seen[t] += 1;
                if t == last {
                    let at = tri_index(L, i, i);
                    stream_logits[at..at + row.len()].copy_from_slice(row);
                }
            })
            .unwrap();
        assert_eq!(len, text.len());
        assert!(
            rows_seen.iter().all(|&n| n == len),
            "every layer makes every row"
        );
        for i in 0..len {
            for j in i..len {
                let at = tri_index(L, i, j);
                assert_eq!(
                    stream_logits[at], full_logits[at],
                    "logit ({i}, {j}) of {sequence}"
                );
            }
        }
        let bits = |p: &[f32]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&stream_probs),
            bits(&full_probs),
            "probabilities of {sequence}"
        );
    }
    stream_arena.len()
}

#[test]
fn streaming_equals_the_whole_map_on_the_trained_model() {
    let arena = check(&Blob::read(&manifest("models/example.scnn")).unwrap());
    assert!(
        arena <= 64 * 1024,
        "streaming arena {arena} B is over 64 KiB"
    );
}

#[test]
fn streaming_equals_the_whole_map_on_the_fixture_model() {
    check(&fixture_blob());
}

/// A random protein-shaped model (21 tokens, one-hot, `[e_i ; e_j]`, a 1×1 first layer of
/// `width` channels, and a separation pair feature of `separation` bins unless 0), made and
/// converted by the CLI.
fn protein_blob_with(width: usize, separation: u16) -> (Blob, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scnn"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let width = width.to_string();
    let separation = separation.to_string();
    run(&[
        "random",
        "--separation",
        &separation,
        "--app",
        "protein",
        "--pair-len",
        "128",
        "--width",
        &width,
        "--dilations",
        "1,2",
        "-o",
        &path("p.safetensors"),
        "--sequences",
        &path("p.fa"),
        "--count",
        "8",
    ]);
    run(&[
        "convert",
        &path("p.safetensors"),
        "--calibrate",
        &path("p.fa"),
        "-o",
        &path("p.scnn"),
    ]);
    (Blob::read(&dir.path().join("p.scnn")).unwrap(), dir)
}

#[test]
fn a_first_layer_read_from_its_token_pair_table_equals_the_conv() {
    // 21 × 21 tokens × 8 channels fit the table; × 24 do not, and layer 0 stays a conv; with
    // the separation feature layer 0 reads more than the two tokens, and stays a conv too.
    for (width, separation, table) in [(8, 0, 21 * 21 * 8), (24, 0, 0), (8, 16, 0)] {
        let (blob, _dir) = protein_blob_with(width, separation);
        let info = scnn::model::ModelInfo::try_parse(blob.bytes()).unwrap();
        assert_eq!(info.pair_table_len(), table);
        // Every residue, in many orders.
        let mut rng = example::Rng(5);
        let proteins: Vec<String> = (0..6)
            .map(|n| {
                (0..40 + 17 * n)
                    .map(|_| b"ACDEFGHIKLMNPQRSTVWYX"[rng.below(21)] as char)
                    .collect()
            })
            .collect();
        check_with(&blob, &proteins);
    }
    // The RNA models read theirs: 5 × 5 tokens × 8 channels.
    let example = Blob::read(&manifest("models/example.scnn")).unwrap();
    let info = scnn::model::ModelInfo::try_parse(example.bytes()).unwrap();
    assert_eq!(info.pair_table_len(), 5 * 5 * 8);
}
