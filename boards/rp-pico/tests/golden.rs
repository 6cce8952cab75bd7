//! On-target tests on the board, run by `probe-rs run` (`cargo test --release`): see
//! `boards/on-target/golden.rs`.
#![no_std]
#![no_main]
// The naive references index dense arrays by position, as the formulas read.
#![allow(clippy::needless_range_loop)]

use defmt_rtt as _;
use panic_probe as _;

// The HAL's device crate provides the interrupt vectors cortex-m-rt links.
use rp2040_hal as _;

/// The second-stage bootloader for the Pico's flash chip, as the firmware has it.
#[link_section = ".boot2"]
#[used]
static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

include!("../../on-target/golden.rs");
