//! `scnn inspect`: what a blob holds and what it costs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use scnn::blob::Precision;
use scnn::model::LayerParams;
use scnn::tri::{map_len, tri_len};
use scnn::{Activation, Segment};
use serde::Serialize;

use crate::runtime::{self, Blob};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The blob.
    pub model: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct LayerReport {
    pub index: usize,
    pub kind: &'static str,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub involution: String,
    pub activation: &'static str,
    pub residual: Option<usize>,
    pub params_packed: usize,
    pub params_dense: usize,
    pub weight_bytes: usize,
    pub macs_sym: u64,
    pub macs_dense: u64,
}

/// One buffer a firmware declares to run the model.
#[derive(Serialize)]
pub struct BufferReport {
    pub name: &'static str,
    /// Element type.
    pub element: &'static str,
    /// Elements it needs.
    pub len: usize,
    /// The constant expression giving `len`, with
    /// `const INFO: scnn::model::ModelInfo = scnn::model::ModelInfo::parse(&BLOB.0);`.
    pub rust: &'static str,
    /// What it holds.
    pub holds: &'static str,
}

#[derive(Serialize)]
pub struct Report {
    /// The blob's own format version.
    pub format_version: u16,
    pub precision: &'static str,
    pub pair_len: usize,
    /// What the model is for: `rna`, `protein`, `items` or `generic`.
    pub app: &'static str,
    /// What the runtime takes: `tokens` (one symbol id per position).
    pub input_kind: &'static str,
    /// Rows of the embedding table (A, C, G, U, N for format 1).
    pub vocab_size: usize,
    /// The symbols the model reads, in token order of their first entry (empty: the caller
    /// supplies tokens).
    pub alphabet: String,
    /// What the last layer gives: `pair_map` (one logit per pair).
    pub head_kind: &'static str,
    /// The CRC-32 stored in the blob: what a firmware embedding it reports in its hello.
    pub stored_crc: String,
    pub feature_dim: usize,
    pub blob_bytes: usize,
    pub layers: Vec<LayerReport>,
    pub params_packed: usize,
    pub params_dense: usize,
    pub weight_bytes: usize,
    pub macs_sym: u64,
    pub macs_dense: u64,
    pub arena_bytes: usize,
    pub arena_bytes_dense: usize,
    pub scratch_bytes: usize,
    pub probs_bytes: usize,
    pub firmware_arena_len: String,
    /// Activation arena of row-streaming execution (int8), bytes.
    pub stream_arena_bytes: Option<usize>,
    pub firmware_stream_arena_len: Option<String>,
    /// Every buffer of inference, with the constant to size it at compile time.
    pub buffers: Vec<BufferReport>,
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::None => "none",
        Activation::Relu => "relu",
        Activation::Relu6 => "relu6",
    }
}

fn involution_name(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::SwapHalves(d) => format!("concat({d})"),
            Segment::Transpose(d) => format!("outer({d})"),
            Segment::Fixed(n) => format!("fixed({n})"),
        })
        .collect::<Vec<_>>()
        .join("+")
}

pub fn report(blob: &Blob) -> Result<Report> {
    let summary = runtime::summary(blob)?;
    let l = summary.pair_len;
    let elem = match summary.precision {
        Precision::Int8 => 1,
        Precision::F32 => 4,
    };
    let layers = runtime::with_model(blob, |model| {
        let segments = model.segments().to_vec();
        model
            .layers()
            .enumerate()
            .map(|(t, layer)| {
                let (o, c, k) = (layer.out_channels, layer.in_channels, layer.kernel);
                let (packed, weight_bytes) = match layer.params {
                    LayerParams::I8(p) => (
                        p.weights.len(),
                        p.weights.len() + 4 * (3 * o + 4 + if p.add.is_some() { 12 } else { 0 }),
                    ),
                    LayerParams::F32(p) => (p.weights.len(), 4 * (p.weights.len() + o)),
                };
                LayerReport {
                    index: t,
                    kind: "symmetric_conv",
                    in_channels: c,
                    out_channels: o,
                    kernel: k,
                    dilation: layer.dilation,
                    involution: if t == 0 {
                        involution_name(&segments)
                    } else {
                        "identity".into()
                    },
                    activation: activation_name(layer.activation),
                    residual: layer.residual,
                    params_packed: packed + o,
                    params_dense: o * c * k * k + o,
                    weight_bytes,
                    macs_sym: (tri_len(l) * packed) as u64,
                    macs_dense: (l * l * o * c * k * k) as u64,
                }
            })
            .collect::<Vec<_>>()
    })?;
    let features = l * summary.feature_dim;
    let arena_dense = (features + summary.slots * l * l * summary.max_channels) * elem;
    debug_assert_eq!(
        summary.arena_len,
        features + summary.slots * map_len(l, summary.max_channels)
    );
    let info = scnn::model::ModelInfo::try_parse(blob.bytes())
        .map_err(|e| anyhow::anyhow!("invalid model blob: {e}"))?;
    let (value, scratch) = match summary.precision {
        Precision::Int8 => ("i8", "i16"),
        Precision::F32 => ("f32", "f32"),
    };
    let mut buffers = Vec::new();
    if summary.precision == Precision::Int8 {
        buffers.push(BufferReport {
            name: "stream_arena",
            element: "i8",
            len: info.stream_arena_len(),
            rust: "INFO.stream_arena_len()",
            holds: "per-position features and each layer's ring of rows (Model::predict_i8_rows)",
        });
    }
    buffers.extend([
        BufferReport {
            name: "arena",
            element: value,
            len: info.arena_len(),
            rust: "INFO.arena_len()",
            holds:
                "per-position features and whole packed maps (predict_i8_with / predict_f32_with)",
        },
        BufferReport {
            name: "scratch",
            element: scratch,
            len: info.scratch_len(),
            rust: "INFO.scratch_len()",
            holds: "the widest layer's patch (and, int8, its weights widened for SMLAD)",
        },
        BufferReport {
            name: "logits",
            element: value,
            len: info.logits_len(),
            rust: "INFO.logits_len()",
            holds: "the pair logits over the packed triangle, for the decoder",
        },
        BufferReport {
            name: "probs",
            element: "f32",
            len: info.logits_len(),
            rust: "INFO.logits_len()",
            holds: "pair probabilities (Buffers::probs), when a caller wants them",
        },
    ]);
    Ok(Report {
        format_version: info.format_version(),
        input_kind: "tokens",
        app: info.app().name(),
        vocab_size: info.vocab_size(),
        alphabet: runtime::with_model(blob, |model| {
            model
                .alphabet()
                .entries()
                .map(|(symbol, _)| symbol as char)
                .collect()
        })?,
        head_kind: "pair_map",
        stored_crc: format!("{:08x}", info.stored_crc()),
        buffers,
        precision: match summary.precision {
            Precision::Int8 => "int8",
            Precision::F32 => "f32",
        },
        pair_len: l,
        feature_dim: summary.feature_dim,
        blob_bytes: blob.bytes().len(),
        params_packed: layers.iter().map(|r| r.params_packed).sum(),
        params_dense: layers.iter().map(|r| r.params_dense).sum(),
        weight_bytes: layers.iter().map(|r| r.weight_bytes).sum(),
        macs_sym: layers.iter().map(|r| r.macs_sym).sum(),
        macs_dense: layers.iter().map(|r| r.macs_dense).sum(),
        arena_bytes: summary.arena_len * elem,
        arena_bytes_dense: arena_dense,
        scratch_bytes: summary.scratch_len * if elem == 1 { 2 } else { 4 },
        probs_bytes: 4 * tri_len(l),
        firmware_arena_len: format!(
            "scnn::plan::model_arena_len({l}, {}, {}, {})",
            summary.feature_dim, summary.max_channels, summary.slots
        ),
        stream_arena_bytes: summary
            .stream_ring_len
            .map(|ring| scnn::plan::stream_arena_len(l, summary.feature_dim, ring)),
        firmware_stream_arena_len: summary.stream_ring_len.map(|ring| {
            format!(
                "scnn::plan::stream_arena_len({l}, {}, {ring})",
                summary.feature_dim
            )
        }),
        layers,
    })
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let blob = Blob::read(&args.model)?;
    let r = report(&blob)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}: scnn blob v{}, {}, {} model, pair length {}, {} bytes",
        args.model.display(),
        r.format_version,
        r.precision,
        r.app,
        r.pair_len,
        r.blob_bytes
    );
    println!("tokens     {} (alphabet {})", r.vocab_size, r.alphabet);
    println!();
    println!("| # | in→out | k | dil | input involution | act | residual | params packed / dense | MACs sym / dense |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for l in &r.layers {
        println!(
            "| {} | {}→{} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            l.index,
            l.in_channels,
            l.out_channels,
            l.kernel,
            l.dilation,
            l.involution,
            l.activation,
            l.residual.map_or("-".to_string(), |s| s.to_string()),
            l.params_packed,
            l.params_dense,
            l.macs_sym,
            l.macs_dense
        );
    }
    println!();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!(
        "params     {} packed, {} dense ({:.2}×)",
        r.params_packed,
        r.params_dense,
        ratio(r.params_packed as f64, r.params_dense as f64)
    );
    println!("weights    {} bytes", r.weight_bytes);
    println!(
        "MACs       {} symmetric, {} dense ({:.3}×)",
        r.macs_sym,
        r.macs_dense,
        ratio(r.macs_sym as f64, r.macs_dense as f64)
    );
    println!(
        "arena      {} bytes triangular, {} dense ({:.3}×)",
        r.arena_bytes,
        r.arena_bytes_dense,
        ratio(r.arena_bytes as f64, r.arena_bytes_dense as f64)
    );
    println!(
        "scratch    {} bytes; probabilities {} bytes",
        r.scratch_bytes, r.probs_bytes
    );
    if let Some(bytes) = r.stream_arena_bytes {
        println!(
            "streaming  {bytes} bytes of activation rings ({:.3}× the triangular arena)",
            ratio(bytes as f64, r.arena_bytes as f64)
        );
    }
    println!();
    println!("buffers, sized at compile time with");
    println!("  const INFO: scnn::model::ModelInfo = scnn::model::ModelInfo::parse(&BLOB.0);");
    for b in &r.buffers {
        println!(
            "  {:<13} [{}; {}] = {} values: {}",
            b.name, b.element, b.rust, b.len, b.holds
        );
    }
    println!(
        "model CRC  {} (stored in the blob; firmware hellos report it)",
        r.stored_crc
    );
    Ok(())
}
