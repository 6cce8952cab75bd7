//! Host tools for scnn: the library behind the `scnn` command.
//!
//! Weights come in as safetensors ([`weights`], named as documented there, with the model
//! description of [`config`] in the metadata), go through post-training quantization
//! ([`quantize`]) into a blob ([`blobwrite`]), and run on the host with the very runtime a
//! firmware uses ([`runtime`]), checked against an independent float reference
//! ([`reference`]).

// First, so that its `outln!` and `out!` reach every module below.
#[macro_use]
pub mod output;
pub mod parallel;

pub mod blobwrite;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod formats;
pub mod heatmap;
pub mod nested;
pub mod progress;
pub mod protein;
pub mod pytorch_names;
pub mod quantize;
pub mod ranking_chart;
pub mod recsys;
pub mod reference;
pub mod runtime;
pub mod target;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;
