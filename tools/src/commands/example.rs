//! `scnn example`: rebuilds the shipped example blob and the golden outputs from the trained
//! weights (`scnn train` made those; see the README), so a test can check they are current.
//!
//! Also home to a small deterministic fixture model for tests that need weights to edit: a
//! hand-built helix detector, not a trained one: layer 0 (1×1 over
//! `[e_i ; e_j] ⊕ e_i ⊗ e_j`) marks GC, AU and GU pairs; layer 1 (5×5) sums them along the
//! anti-diagonal, where stacked pairs of a helix lie; layer 2 (3×3, dilation 2) adds a small
//! residual refinement; the 1×1 head turns the stacking score into a logit. Small
//! pseudo-random symmetric weights fill the other channels so that every path of the runtime
//! carries signal.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::{ActivationName, LayerConfig, ModelConfig, PairFeature};
use crate::output::write_atomic;
use crate::runtime::Blob;

#[derive(Args, Debug)]
pub struct ExampleArgs {
    /// The trained weights of the example model.
    #[arg(long, default_value = "tools/models/example.safetensors")]
    pub weights: PathBuf,
    /// Calibration sequences for the int8 conversion (a sample of the training split).
    #[arg(long, default_value = "tools/data/calibration.fa")]
    pub calibration: PathBuf,
    /// Example sequences (the held-out test split); the first few go into the golden file.
    #[arg(long, default_value = "tools/data/example.fa")]
    pub sequences: PathBuf,
    /// Where to write the int8 blob converted from the weights.
    #[arg(long, default_value = "tools/models/example.scnn")]
    pub model: PathBuf,
    /// Where to write the golden outputs the on-target tests compare against.
    #[arg(long, default_value = "tools/data/golden.txt")]
    pub golden: PathBuf,
}

/// splitmix64: the same stream on every platform.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

pub const PAIR_LEN: usize = 128;

pub fn config() -> ModelConfig {
    let layer = LayerConfig::new;
    ModelConfig {
        app: crate::config::AppName::Rna,
        pair_len: PAIR_LEN,
        embedding_dim: 4,
        pair_features: vec![PairFeature::Concat, PairFeature::Outer],
        layers: vec![
            layer(4, 1, 1, ActivationName::Relu, None),
            layer(8, 5, 1, ActivationName::Relu, None),
            layer(8, 3, 2, ActivationName::Relu, Some(1)),
            layer(1, 1, 1, ActivationName::None, None),
        ],
        bn_eps: 1e-5,
        vocab_size: None,
        head: None,
    }
}

/// A dense `[O][C][k][k]` kernel with each `(o, c)` kernel symmetric and random.
/// Random `o × c × k × k` kernels, each symmetric (`K[u][v] = K[v][u]`), uniform in ±amplitude.
pub fn random_symmetric(rng: &mut Rng, o: usize, c: usize, k: usize, amplitude: f32) -> Vec<f32> {
    let mut w = vec![0f32; o * c * k * k];
    for oc in 0..o * c {
        for u in 0..k {
            for v in u..k {
                let value = amplitude * rng.unit();
                w[(oc * k + u) * k + v] = value;
                w[(oc * k + v) * k + u] = value;
            }
        }
    }
    w
}

/// The fixture's tensors.
pub fn tensors() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let (a, c, g, u) = (0usize, 1usize, 2usize, 3usize);
    let outer = |x: usize, y: usize| 8 + x * 4 + y;
    let mut rng = Rng(0x5C4E_2026);
    let mut t = BTreeMap::new();

    // Layer 0: 24 → 4, 1×1. Pair-type indicators and a "both bases known" channel.
    let mut w0 = vec![0f32; 4 * 24];
    for (o, (x, y)) in [(0, (g, c)), (1, (a, u)), (2, (g, u))] {
        w0[o * 24 + outer(x, y)] = 1.0;
        w0[o * 24 + outer(y, x)] = 1.0;
    }
    for ch in 0..8 {
        w0[3 * 24 + ch] = 0.5;
    }
    t.insert("layers.0.weight".into(), (vec![4, 24, 1, 1], w0));
    t.insert("layers.0.bias".into(), (vec![4], vec![0.0, 0.0, 0.0, -0.5]));

    // Layer 1: 4 → 8, 5×5. Channel 0 scores stacking along the anti-diagonal.
    let mut w1 = random_symmetric(&mut rng, 8, 4, 5, 0.15);
    for ch in 0..4 {
        for uv in 0..25 {
            w1[ch * 25 + uv] = 0.0;
        }
    }
    for (ch, weight) in [(0, 3.0f32), (1, 2.5), (2, 2.0)] {
        for uu in 0..5 {
            w1[(ch * 5 + uu) * 5 + (4 - uu)] = weight;
        }
    }
    let mut b1: Vec<f32> = (0..8).map(|_| 0.2 * rng.unit()).collect();
    b1[0] = -6.0;
    t.insert("layers.1.weight".into(), (vec![8, 4, 5, 5], w1));
    t.insert("layers.1.bias".into(), (vec![8], b1));

    // Layer 2: 8 → 8, 3×3 dilation 2, residual from layer 1.
    let w2 = random_symmetric(&mut rng, 8, 8, 3, 0.02);
    let b2: Vec<f32> = (0..8).map(|_| 0.05 * rng.unit()).collect();
    t.insert("layers.2.weight".into(), (vec![8, 8, 3, 3], w2));
    t.insert("layers.2.bias".into(), (vec![8], b2));

    // Head: 8 → 1, 1×1.
    let mut w3: Vec<f32> = (0..8).map(|_| 0.05 * rng.unit()).collect();
    w3[0] = 1.5;
    t.insert("layers.3.weight".into(), (vec![1, 8, 1, 1], w3));
    t.insert("layers.3.bias".into(), (vec![1], vec![-6.0]));
    t
}

const BASES: [char; 4] = ['A', 'C', 'G', 'U'];
const PAIRS: [(char, char); 6] = [
    ('G', 'C'),
    ('C', 'G'),
    ('A', 'U'),
    ('U', 'A'),
    ('G', 'U'),
    ('U', 'G'),
];

/// A random sequence of one or two hairpins with its designed structure.
pub fn hairpins(rng: &mut Rng, max_len: usize) -> (String, String) {
    let mut seq = String::new();
    let mut db = String::new();
    let flank = |rng: &mut Rng, seq: &mut String, db: &mut String, n: usize| {
        for _ in 0..n {
            seq.push(BASES[rng.below(4)]);
            db.push('.');
        }
    };
    let n = 2 + rng.below(8);
    flank(rng, &mut seq, &mut db, n);
    for _ in 0..1 + rng.below(2) {
        let stem = 4 + rng.below(6);
        let loop_len = 3 + rng.below(6);
        if seq.len() + 2 * stem + loop_len + 2 > max_len {
            break;
        }
        let pairs: Vec<(char, char)> = (0..stem)
            .map(|_| PAIRS[[0, 0, 1, 1, 2, 3, 4, 5][rng.below(8)]])
            .collect();
        for &(x, _) in &pairs {
            seq.push(x);
            db.push('(');
        }
        flank(rng, &mut seq, &mut db, loop_len);
        for &(_, y) in pairs.iter().rev() {
            seq.push(y);
            db.push(')');
        }
        let room = max_len.saturating_sub(seq.len()).min(10);
        let n = rng.below(room.max(1));
        flank(rng, &mut seq, &mut db, n);
    }
    (seq, db)
}

/// Sequences of the golden file: a few examples and the edge cases (length 1, all N,
/// lower case, T for U).
fn golden_sequences(examples: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = crate::formats::fasta::parse(examples)?
        .into_iter()
        .take(5)
        .map(|r| (r.name, r.sequence))
        .collect();
    for (name, seq) in [
        ("single", "A"),
        ("unknown", "NNNNNNNN"),
        ("lowercase", "ggggaaaaccccuuuu"),
        ("thymine", "GGGTTTACCCAAAGGGTTTACCC"),
    ] {
        out.push((name.to_string(), seq.to_string()));
    }
    Ok(out)
}

/// One golden line: name, sequence, CRC-32 of the int8 logits then the f32 probabilities of
/// the pairs `i <= j < len` (row by row), and the decoded structure.
pub fn golden_line(blob: &Blob, name: &str, sequence: &str) -> Result<String> {
    let p = crate::runtime::predict(blob, sequence, scnn::decode::DEFAULT_THRESHOLD, true)?;
    let logits = p
        .layers_i8
        .last()
        .ok_or_else(|| anyhow::anyhow!("golden outputs need an int8 blob"))?;
    let mut digest = scnn::blob::CRC32.digest();
    for i in 0..p.len {
        for j in i..p.len {
            digest.update(&[logits[scnn::tri::tri_index(p.l, i, j)] as u8]);
        }
    }
    for i in 0..p.len {
        for j in i..p.len {
            digest.update(&p.probs[i * p.len + j].to_le_bytes());
        }
    }
    Ok(format!(
        "{name}\t{sequence}\t{:08x}\t{}\n",
        digest.finalize(),
        p.structure
    ))
}

pub fn run(args: &ExampleArgs) -> Result<()> {
    super::convert::run(&super::convert::ConvertArgs {
        weights: args.weights.clone(),
        output: args.model.clone(),
        calibrate: Some(args.calibration.clone()),
        precision: super::convert::PrecisionArg::Int8,
        symmetrize: false,
    })?;
    let blob = Blob::read(&args.model)?;
    let examples = std::fs::read_to_string(&args.sequences)
        .with_context(|| format!("cannot read {}", args.sequences.display()))?;
    let mut golden = String::from("# name, sequence, crc32 of (logits, probabilities), structure; written by `scnn example`\n");
    for (name, sequence) in golden_sequences(&examples)? {
        golden.push_str(&golden_line(&blob, &name, &sequence)?);
    }
    write_atomic(&args.golden, golden.as_bytes())?;
    eprintln!("wrote {}, {}", args.model.display(), args.golden.display());
    Ok(())
}
