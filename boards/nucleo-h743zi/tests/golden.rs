//! On-target tests on the board, run by `probe-rs run` (`cargo test --release`): see
//! `boards/on-target/golden.rs`.
#![no_std]
#![no_main]
// The naive references index dense arrays by position, as the formulas read.
#![allow(clippy::needless_range_loop)]

use defmt_rtt as _;
use panic_probe as _;

// The HAL's device crate provides the interrupt vectors cortex-m-rt links.
use stm32h7xx_hal as _;

include!("../../on-target/golden.rs");
