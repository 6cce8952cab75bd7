//! `scnn random`: a model with random weights and random sequences for it, to size a board,
//! try the tool chain on an application before a trained model exists, and test parity.
//! Not a model to predict with.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::example::{random_symmetric, Rng};
use crate::config::{ActivationName, AppName, LayerConfig, ModelConfig, PairFeature, VectorConfig};
use crate::output::Staged;
use crate::weights;

#[derive(Args, Debug)]
pub struct RandomArgs {
    /// What the model is for: `rna` (5 tokens, one-hot D = 4), `protein` (21 tokens,
    /// one-hot D = 21) or `items` (SCosRec's shape: `--items` item ids embedded in D = width,
    /// L = 5, valid 3×3 convs, average pool, tanh dense layer, a `--users` side table, scores).
    #[arg(long, default_value = "rna")]
    pub app: String,
    /// Pair length L.
    #[arg(long, default_value_t = 128)]
    pub pair_len: usize,
    /// Channels of the hidden layers.
    #[arg(long, default_value_t = 8)]
    pub width: usize,
    /// Dilations of the 3×3 layers, in order (a residual add every second layer).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub dilations: Vec<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output weights (safetensors, the format `scnn convert` reads).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write random sequences of the model's alphabet here (FASTA), one of them
    /// exactly L long.
    #[arg(long)]
    pub sequences: Option<PathBuf>,
    /// How many sequences.
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// `items`: the item vocabulary.
    #[arg(long, default_value_t = 300)]
    pub items: usize,
    /// `items`: rows of the user (side) table.
    #[arg(long, default_value_t = 40)]
    pub users: usize,
    /// RNA and protein: also a sequence-separation pair feature of this many bins (0: none).
    #[arg(long, default_value_t = 0)]
    pub separation: u16,
}

/// The architecture: one-hot features, `[e_i ; e_j]`, a 1×1 generating layer, 3×3 layers
/// with the given dilations and residual adds, a 1×1 head.
fn config(app: AppName, pair_len: usize, width: usize, dilations: &[usize]) -> ModelConfig {
    let embedding_dim = match app {
        AppName::Rna => 4,
        AppName::Protein | AppName::Items => app.vocab_size().unwrap_or(width),
    };
    let layer = LayerConfig::new;
    let mut layers = vec![layer(width, 1, 1, ActivationName::Relu, None)];
    for (n, &dilation) in dilations.iter().enumerate() {
        // Every second 3×3 layer adds the output from two layers back.
        let residual = (n % 2 == 1).then(|| layers.len() - 2);
        layers.push(layer(width, 3, dilation, ActivationName::Relu, residual));
    }
    layers.push(layer(1, 1, 1, ActivationName::None, None));
    ModelConfig {
        app,
        pair_len,
        embedding_dim,
        pair_features: vec![PairFeature::Concat],
        layers,
        bn_eps: 1e-5,
        vocab_size: None,
        head: None,
    }
}

fn tensors(config: &ModelConfig, rng: &mut Rng) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut t = BTreeMap::new();
    let d = config.embedding_dim;
    for (n, layer) in config.layers.iter().enumerate() {
        let (o, c, k) = (layer.out_channels, config.in_channels(n), layer.kernel);
        let amplitude = 1.0 / ((c * k * k) as f32).sqrt();
        let weight = if n == 0 {
            // The generating layer: the kernel of e_j's channel mirrors e_i's (1×1: equal).
            let mut w = vec![0f32; o * c];
            for out in 0..o {
                for f in 0..d {
                    let value = 2.0 * amplitude * rng.unit();
                    w[out * c + f] = value;
                    w[out * c + d + f] = value;
                }
                // Separation channels (after [e_i ; e_j]) mirror to themselves.
                for s in 2 * d..c {
                    w[out * c + s] = 2.0 * amplitude * rng.unit();
                }
            }
            w
        } else {
            random_symmetric(rng, o, c, k, 2.0 * amplitude)
        };
        let bias: Vec<f32> = (0..o).map(|_| 0.1 * rng.unit()).collect();
        t.insert(format!("layers.{n}.weight"), (vec![o, c, k, k], weight));
        t.insert(format!("layers.{n}.bias"), (vec![o], bias));
    }
    if config.app == AppName::Items {
        let v = config.vocab_size();
        let table = (0..v * d).map(|_| rng.unit()).collect();
        t.insert("embedding.weight".into(), (vec![v, d], table));
    }
    if let Some(head) = &config.head {
        let pooled = config.conv_out_channels();
        for (n, layer) in head.layers.iter().enumerate() {
            let (c, o) = (head.width_before(n, pooled), head.width_after(n, pooled));
            let amplitude = 2.0 / (c as f32).sqrt();
            let (shape, len) = match *layer {
                VectorConfig::Side { rows, dim } => (vec![rows, dim], rows * dim),
                _ => (vec![o, c], o * c),
            };
            let weight = (0..len).map(|_| amplitude * rng.unit()).collect();
            t.insert(format!("head.{n}.weight"), (shape, weight));
            if !matches!(layer, VectorConfig::Side { .. }) {
                let bias = (0..o).map(|_| 0.1 * rng.unit()).collect();
                t.insert(format!("head.{n}.bias"), (vec![o], bias));
            }
        }
    }
    t
}

/// Random histories for an items model (see [`crate::formats::histories`]): five distinct
/// items and a user each.
fn histories(config: &ModelConfig, count: usize, rng: &mut Rng) -> String {
    let items = config.vocab_size();
    let users = config
        .head
        .as_ref()
        .and_then(|h| h.side_rows())
        .unwrap_or(0);
    let mut text = String::from("name\tuser\titems\n");
    for n in 0..count {
        let mut history: Vec<usize> = Vec::new();
        while history.len() < config.pair_len.min(items) {
            let item = rng.below(items);
            if !history.contains(&item) {
                history.push(item);
            }
        }
        let user = if users > 0 {
            rng.below(users).to_string()
        } else {
            String::new()
        };
        let history: Vec<String> = history.iter().map(|i| i.to_string()).collect();
        text.push_str(&format!("random{}\t{user}\t{}\n", n + 1, history.join(" ")));
    }
    text
}

/// Random sequences of the app's letters: lengths between L/4 and L, the first exactly L.
fn sequences(app: AppName, pair_len: usize, count: usize, rng: &mut Rng) -> String {
    let letters: &[u8] = match app {
        AppName::Rna => b"ACGU",
        AppName::Protein => b"ACDEFGHIKLMNPQRSTVWY",
        AppName::Items => unreachable!("items models get histories"),
    };
    let mut fasta = String::new();
    for n in 0..count {
        let len = if n == 0 {
            pair_len
        } else {
            (pair_len / 4).max(1) + rng.below(pair_len - (pair_len / 4).max(1) + 1)
        };
        let sequence: String = (0..len)
            .map(|_| letters[rng.below(letters.len())] as char)
            .collect();
        fasta.push_str(&format!(">random{}\n{sequence}\n", n + 1));
    }
    fasta
}

pub fn run(args: &RandomArgs) -> Result<()> {
    let app = match args.app.as_str() {
        "rna" => AppName::Rna,
        "protein" => AppName::Protein,
        "items" => AppName::Items,
        other => bail!("--app {other}: must be rna, protein or items"),
    };
    if app == AppName::Items && args.separation > 0 {
        bail!("--separation is a pair-map feature; an items model has none");
    }
    let mut config = match app {
        AppName::Items => ModelConfig::scosrec(
            args.width,
            args.width,
            3 * args.width,
            args.items,
            args.users,
        ),
        _ => config(app, args.pair_len, args.width, &args.dilations),
    };
    config.add_separation(args.separation);
    config.validate()?;
    let mut rng = Rng(args.seed);
    let tensors = tensors(&config, &mut rng);
    let weights = weights::to_bytes(&config, &tensors)?;
    let fasta = args.sequences.as_ref().map(|_| match app {
        AppName::Items => histories(&config, args.count.max(1), &mut rng),
        _ => sequences(app, args.pair_len, args.count.max(1), &mut rng),
    });
    // Both files, or neither.
    let mut outputs = Staged::default();
    outputs.add(&args.output, weights)?;
    if let (Some(path), Some(fasta)) = (&args.sequences, fasta) {
        outputs.add(path, fasta.into_bytes())?;
    }
    outputs.commit()?;
    eprintln!("wrote {} (random weights)", args.output.display());
    if let Some(path) = &args.sequences {
        eprintln!(
            "wrote {} ({} random sequences)",
            path.display(),
            args.count.max(1)
        );
    }
    Ok(())
}
