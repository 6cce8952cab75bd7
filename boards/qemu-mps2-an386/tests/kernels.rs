//! On-target tests, shared by every QEMU board: see `boards/on-target/kernels.rs`.
#![no_std]
#![no_main]
// The naive references index dense arrays by position, as the formulas read.
#![allow(clippy::needless_range_loop)]

use qemu_mps2_an386 as _;

include!("../../on-target/kernels.rs");
