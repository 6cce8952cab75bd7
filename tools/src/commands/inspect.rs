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
    /// `same` or `valid` for convs; empty for the layers after the pool.
    pub padding: &'static str,
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
    /// What the last layer gives: `pair_map` (one logit per pair) or `scores` (one score per
    /// item, after a pool over the triangle).
    pub head_kind: &'static str,
    /// Scores per inference (`scores` heads).
    pub items: Option<usize>,
    /// Rows of the side table (a user embedding), when the model has one.
    pub side_rows: Option<usize>,
    /// Shortest sequence the model takes (more than 1 when valid convs shrink the map).
    pub min_len: usize,
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
            Segment::Separation(n) => format!("separation({n})"),
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
    let mut layers = runtime::with_model(blob, |model| {
        let segments = model.segments().to_vec();
        // The map each conv writes: L, less what valid convs take off.
        let mut n = l;
        model
            .layers()
            .enumerate()
            .map(|(t, layer)| {
                let shrink = match layer.padding {
                    scnn::conv::Padding::Same => 0,
                    scnn::conv::Padding::Valid => (layer.kernel - 1) * layer.dilation,
                };
                n = n.saturating_sub(shrink);
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
                    padding: match layer.padding {
                        scnn::conv::Padding::Same => "same",
                        scnn::conv::Padding::Valid => "valid",
                    },
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
                    macs_sym: (tri_len(n) * packed) as u64,
                    macs_dense: (n * n * o * c * k * k) as u64,
                }
            })
            .collect::<Vec<_>>()
    })?;
    layers.extend(head_layers(blob, layers.len())?);
    let info = scnn::model::ModelInfo::try_parse(blob.bytes()).map_err(|e| blob.load_error(e))?;
    let features = l * summary.feature_dim;
    let vectors = 2 * info.vector_len();
    let arena_dense = (features + summary.slots * l * l * summary.max_channels + vectors) * elem;
    debug_assert_eq!(
        summary.arena_len,
        features + summary.slots * map_len(l, summary.max_channels) + vectors
    );
    let scores = matches!(info.head(), scnn::model::Head::Scores { .. });
    let (value, scratch) = match summary.precision {
        Precision::Int8 => ("i8", "i16"),
        Precision::F32 => ("f32", "f32"),
    };
    let mut buffers = Vec::new();
    if summary.precision == Precision::Int8 && !scores {
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
            holds: if scores {
                "per-position features, whole packed maps and two vectors (predict_scores_i8 / predict_scores_f32)"
            } else {
                "per-position features and whole packed maps (predict_i8_with / predict_f32_with)"
            },
        },
        BufferReport {
            name: "scratch",
            element: scratch,
            len: info.scratch_len(),
            rust: "INFO.scratch_len()",
            holds: "the widest layer's patch (and, int8, its weights widened for SMLAD)",
        },
    ]);
    if !scores {
        buffers.extend([
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
    }
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
        head_kind: if scores { "scores" } else { "pair_map" },
        items: match info.head() {
            scnn::model::Head::Scores { items } => Some(items),
            scnn::model::Head::PairMap => None,
        },
        side_rows: (info.side_rows() > 0).then_some(info.side_rows()),
        min_len: info.min_len(),
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

/// The layers after the convs of a pooled model: pool, dense, side table, scores.
fn head_layers(blob: &Blob, first: usize) -> Result<Vec<LayerReport>> {
    use scnn::model::{DenseActivation, PoolKind, VectorLayer, VectorParams};
    runtime::with_model(blob, |model| {
        (first..model.layer_count())
            .map(|t| {
                let layer = model
                    .vector_layer(t, false)
                    .map_err(|e| anyhow::anyhow!("layer {t}: {e}"))?;
                let weights = match layer.params() {
                    VectorParams::DenseI8(d) => d.weights.len(),
                    VectorParams::DenseF32(w, _) => w.len(),
                    VectorParams::SideI8(s) => s.table.len(),
                    VectorParams::SideF32(t) => t.len(),
                    VectorParams::ScoresI8(s) => s.weights.len(),
                    VectorParams::ScoresF32(w, _) => w.len(),
                    VectorParams::None => 0,
                };
                let (kind, c, o, activation, macs, bias) = match layer {
                    VectorLayer::Pool { kind, width } => {
                        let name = match kind {
                            PoolKind::Average => "pool_avg",
                            PoolKind::Max => "pool_max",
                        };
                        (name, width, width, "none", 0, 0)
                    }
                    VectorLayer::Dense {
                        in_width,
                        out_width,
                        activation,
                        ..
                    } => {
                        let name = match activation {
                            DenseActivation::Clamp(a) => activation_name(a),
                            DenseActivation::Curve(scnn::ops::activation::Curve::Tanh) => "tanh",
                            DenseActivation::Curve(_) => "sigmoid",
                        };
                        ("dense", in_width, out_width, name, weights, out_width)
                    }
                    VectorLayer::Side { in_width, dim, .. } => {
                        ("side", in_width, in_width + dim, "none", 0, 0)
                    }
                    VectorLayer::Scores {
                        in_width, items, ..
                    } => ("scores", in_width, items, "none", weights, items),
                };
                let elem = match model.precision() {
                    Precision::Int8 => 1,
                    Precision::F32 => 4,
                };
                Ok(LayerReport {
                    index: t,
                    kind,
                    in_channels: c,
                    out_channels: o,
                    kernel: 0,
                    dilation: 0,
                    padding: "",
                    involution: String::new(),
                    activation,
                    residual: None,
                    params_packed: weights + bias,
                    params_dense: weights + bias,
                    weight_bytes: weights * elem + 4 * bias,
                    macs_sym: macs as u64,
                    macs_dense: macs as u64,
                })
            })
            .collect()
    })?
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let blob = Blob::read(&args.model)?;
    let r = report(&blob)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(());
    }
    outln!(
        "{}: scnn blob v{}, {}, {} model, pair length {}, {} bytes",
        args.model.display(),
        r.format_version,
        r.precision,
        r.app,
        r.pair_len,
        r.blob_bytes
    )?;
    outln!("tokens     {} (alphabet {})", r.vocab_size, r.alphabet)?;
    if let Some(items) = r.items {
        let side = r.side_rows.map_or(String::new(), |rows| {
            format!(", a side table of {rows} rows")
        });
        outln!(
            "head       scores for {items} items{side}; sequences of {} to {} tokens",
            r.min_len,
            r.pair_len
        )?;
    }
    outln!()?;
    outln!("| # | kind | in→out | k | dil | input involution | act | residual | params packed / dense | MACs sym / dense |")?;
    outln!("|---|---|---|---|---|---|---|---|---|---|")?;
    for l in &r.layers {
        let kind = match l.padding {
            "" => l.kind.to_string(),
            padding => format!("conv ({padding})"),
        };
        outln!(
            "| {} | {kind} | {}→{} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
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
        )?;
    }
    outln!()?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    outln!(
        "params     {} packed, {} dense ({:.2}×)",
        r.params_packed,
        r.params_dense,
        ratio(r.params_packed as f64, r.params_dense as f64)
    )?;
    outln!("weights    {} bytes", r.weight_bytes)?;
    outln!(
        "MACs       {} symmetric, {} dense ({:.3}×)",
        r.macs_sym,
        r.macs_dense,
        ratio(r.macs_sym as f64, r.macs_dense as f64)
    )?;
    outln!(
        "arena      {} bytes triangular, {} dense ({:.3}×)",
        r.arena_bytes,
        r.arena_bytes_dense,
        ratio(r.arena_bytes as f64, r.arena_bytes_dense as f64)
    )?;
    if r.items.is_some() {
        outln!("scratch    {} bytes", r.scratch_bytes)?;
    } else {
        outln!(
            "scratch    {} bytes; probabilities {} bytes",
            r.scratch_bytes,
            r.probs_bytes
        )?;
    }
    if let Some(bytes) = r.stream_arena_bytes {
        outln!(
            "streaming  {bytes} bytes of activation rings ({:.3}× the triangular arena)",
            ratio(bytes as f64, r.arena_bytes as f64)
        )?;
    }
    outln!()?;
    outln!("buffers, sized at compile time with")?;
    outln!("  const INFO: scnn::model::ModelInfo = scnn::model::ModelInfo::parse(&BLOB.0);")?;
    for b in &r.buffers {
        outln!(
            "  {:<13} [{}; {}] = {} values: {}",
            b.name,
            b.element,
            b.rust,
            b.len,
            b.holds
        )?;
    }
    outln!(
        "model CRC  {} (stored in the blob; firmware hellos report it)",
        r.stored_crc
    )?;
    Ok(())
}
