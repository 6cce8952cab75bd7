//! On-target tests, shared by every QEMU board: see `boards/on-target/kernels.rs`.
#![no_std]
#![no_main]

use qemu_mps2_an386 as board;

include!("../../on-target/kernels.rs");
