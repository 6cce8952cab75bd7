//! # scnn: Symmetry-Structured CNNs on microcontrollers
//!
//! A `no_std`, allocation-free runtime for convolutional networks over symmetric *pair maps*:
//! one feature vector for every pair `(i, j)` of positions of a sequence, with
//! `X[i][j] = X[j][i]` (RNA base pairing, contact maps). Only the upper triangle of every map
//! and of every kernel is stored or computed (Maduranga, Zadorozhnyy and Ye, arXiv 2203.02056).
//!
//! ## The triangle layout
//!
//! A map of `L×L` pairs with `C` channels is stored row by row as its upper triangle with the
//! diagonal, channel-last ([`tri`]): `offset(i, j, c) = tri_index(L, i, j)·C + c` with
//! `tri_index(L, i, j) = i(2L − i + 1)/2 + (j − i)` for `i <= j`. For `L = 4`:
//!
//! ```text
//!        j=0 j=1 j=2 j=3
//! i=0  [  0   1   2   3 ]
//! i=1  [  ·   4   5   6 ]      10 pairs instead of 16;
//! i=2  [  ·   ·   7   8 ]      (2, 1) reads pair 5, mirrored
//! i=3  [  ·   ·   ·   9 ]
//! ```
//!
//! ## The involution rule
//!
//! One conv ([`ConvF32`], [`ConvI8`]) covers both layers of the paper. Its input obeys
//! `X[j][i][c] = X[i][j][π(c)]` for a channel [`Involution`] `π`, and its kernels obey
//! `W[o][π(c)] = W[o][c]ᵀ`, which makes every output symmetric:
//!
//! - `π` = identity: the symmetry-preserving layer; each kernel is symmetric and stored as its
//!   upper triangle (6 values for 3×3).
//! - `π` pairing channels: the symmetry-generating layer. For the outer concatenation
//!   `[e_i ; e_j]` of one-hot bases (4 features, 8 channels) `π` swaps the halves: channel 0
//!   (`A` at `i`) mirrors to channel 4 (`A` at `j`). The kernel of channel 4 is the transpose
//!   of the kernel of channel 0, so only channel 0's `k×k` kernel is stored.
//!
//! ```
//! use scnn::{generate::PairFeaturesF32, seq, Activation, ConvF32, ConvGeom, Involution, Segment};
//!
//! const L: usize = 8;
//! // Pair features [e_i ; e_j] from one-hot bases: 8 channels, π swaps the halves.
//! let layout = [Segment::SwapHalves(4)];
//! let mut bases = [seq::Base::N; L];
//! let len = seq::encode(b"GGGAAA", &mut bases)?;
//! let mut features = [0.0f32; L * 4];
//! seq::Embedding::new(&seq::ONE_HOT, 4)?.fill(&bases[..len], &mut features)?;
//! let input = PairFeaturesF32::new(&features, 4, len, &layout)?;
//!
//! // One output channel, 3×3: channels 0..4 each store a full kernel (their partners 4..8
//! // use its transpose), so 4 × 9 = 36 weights instead of 8 × 9 = 72.
//! let geom = ConvGeom::new(8, 1, 3, 1, Involution::Segments(&layout))?;
//! assert_eq!(geom.weight_len(), 36);
//! let weights = [0.5f32; 36];
//! let conv = ConvF32::new(geom, &weights, &[0.0], Activation::None)?;
//!
//! let mut scratch = [0.0f32; scnn::plan::conv_scratch_len(8, 3)];
//! let mut out = [0.0f32; scnn::tri::map_len(L, 1)];
//! conv.run::<_, L>(&input, &mut scratch, &mut out)?;
//! // Pair (0, 1): the window's rows are positions -1, 0, 1 (one is padding), its columns
//! // 0, 1, 2. Each of the 6 in-range taps adds 0.5 for e_i and 0.5 for e_j.
//! assert_eq!(out[scnn::tri::tri_index(L, 0, 1)], 6.0);
//! # Ok::<(), scnn::Error>(())
//! ```
//!
//! ## Numbers
//!
//! Two paths share every layer: f32, and int8 per the TFLite quantization spec with CMSIS-NN's
//! default double-rounding requantization ([`quant`]). The caller owns every buffer; each size
//! is a `const fn` in [`plan`]. Nothing allocates, recurses or panics: every failure is an
//! [`Error`].
#![no_std]
// Unsafe code is confined to `conv::dsp` (inline SMLAD/SXTB16, behind the `dsp` feature on Arm).
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod alphabet;
pub mod apps;
pub mod blob;
pub mod conv;
pub mod decode;
mod error;
pub mod generate;
pub mod involution;
pub mod layers;
pub mod model;
pub mod ops;
pub mod params;
pub mod plan;
pub mod quant;
pub mod seq;
pub mod stream;
pub mod top;
pub mod tri;
pub mod wire;

// The README's runtime snippet is compiled and run as a doctest, so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeSnippet;

pub use conv::{
    ConvF32, ConvGeom, ConvI8, DenseConvI8, OutputQuant, PairSource, PatchOrder, QuantMap,
};
pub use error::{Buffer, Error};
pub use involution::{Involution, Segment};
pub use model::{Buffers, Model};
pub use quant::{Activation, Requant};
pub use tri::TriMap;

/// Largest channel count of any map or layer.
pub const MAX_CHANNELS: usize = 1024;

/// Largest number of layers in a model.
pub const MAX_LAYERS: usize = 32;
