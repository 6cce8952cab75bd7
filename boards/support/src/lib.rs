//! What every scnn firmware shares: the example model in flash with its buffers, the serial
//! protocol loop ([`serve`]), counters for instructions or cycles ([`counter`]), stack
//! painting ([`stack`]), and the CMSDK UART of Arm's MPS2/MPS3 boards ([`cmsdk_uart`]).
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "cmsdk-uart")]
pub mod cmsdk_uart;
pub mod counter;
pub mod example;
#[cfg(feature = "cmsdk-uart")]
pub mod qemu;
pub mod serve;
pub mod stack;

pub use counter::Counter;
pub use serve::serve;
