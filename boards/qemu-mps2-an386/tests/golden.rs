//! On-target tests, shared by every QEMU board: see `boards/on-target/golden.rs`.
#![no_std]
#![no_main]

use qemu_mps2_an386 as _;

include!("../../on-target/golden.rs");
