//! Running firmware: QEMU machines, the embedded-test protocol, and the serial link of
//! [`scnn::wire`].

pub mod device;
pub mod elf;
pub mod parity;
pub mod qemu;
pub mod tests;
