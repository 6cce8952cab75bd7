//! What every scnn firmware shares: the served model ([`model`]: `SCNN_MODEL` or the example)
//! and the example ([`example`]) in flash with their buffers, the serial
//! protocol loop ([`serve`]), counters for instructions or cycles ([`counter`]), stack
//! painting ([`stack`]), and the CMSDK UART of Arm's MPS2/MPS3 boards ([`cmsdk_uart`]).
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "cmsdk-uart")]
pub mod cmsdk_uart;
pub mod counter;
pub mod example;
pub mod model;
#[cfg(feature = "cmsdk-uart")]
pub mod qemu;
pub mod serve;
pub mod stack;

pub use counter::Counter;
pub use serve::serve;
