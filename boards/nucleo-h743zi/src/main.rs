//! The example model on ST's NUCLEO-H743ZI (STM32H743ZI, Cortex-M7F at 400 MHz from the
//! HSI, instruction cache on, data cache off): answers prediction requests (see `scnn::wire`)
//! on USART3 at 115200 baud, 8N1, on PD8 (TX) and PD9 (RX), which the on-board ST-LINK bridges
//! to its virtual COM port, and counts core cycles with the DWT. Logs and panics go out over
//! RTT with defmt.
//!
//! Flash and run through the on-board ST-LINK (probe-rs, see `.cargo/config.toml`):
//!
//! ```text
//! cd boards/nucleo-h743zi && cargo run --release
//! ```
//!
//! Host/device parity goes through `scnn verify --target probe-rs --chip STM32H743ZITx
//! --port <the ST-LINK's serial port> --firmware target/thumbv7em-none-eabihf/release/nucleo-h743zi`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use panic_probe as _;
use scnn_board::counter::DwtCycles;
use stm32h7xx_hal::hal::serial as nb_serial;
use stm32h7xx_hal::nb;
use stm32h7xx_hal::pac::{self, USART3};
use stm32h7xx_hal::prelude::*;
use stm32h7xx_hal::serial::{self, Serial};

/// USART3 as an `embedded-io` byte stream: the HAL speaks embedded-hal 0.2's `nb` serial only.
struct Vcp(Serial<USART3>);

/// A receive error (transmitting cannot fail).
#[derive(Debug)]
struct RxError(serial::Error);

impl core::fmt::Display for RxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "USART3 receive error: {:?}", self.0)
    }
}

impl core::error::Error for RxError {}

impl embedded_io::Error for RxError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl embedded_io::ErrorType for Vcp {
    type Error = RxError;
}

impl embedded_io::Read for Vcp {
    /// Blocks for one byte and returns it: a byte at a time, so that an error never drops
    /// bytes already taken from the UART.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some(first) = buf.first_mut() else {
            return Ok(0);
        };
        *first = nb::block!(nb_serial::Read::read(&mut self.0)).map_err(RxError)?;
        Ok(1)
    }
}

impl embedded_io::Write for Vcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        for &byte in buf {
            let Ok(()) = nb::block!(nb_serial::Write::write(&mut self.0, byte));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        let Ok(()) = nb::block!(nb_serial::Write::flush(&mut self.0));
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap();
    let dp = pac::Peripherals::take().unwrap();
    // The instruction cache only: the probe reads the RTT buffer from (and moves its read
    // pointer in) SRAM, which a write-back data cache would hide. Turning the data cache on
    // needs that buffer in non-cacheable memory (an MPU region) first.
    core.SCB.enable_icache();
    // The LDO at voltage scale 1 allows 400 MHz on every silicon revision.
    let pwrcfg = dp.PWR.constrain().freeze();
    let ccdr = dp
        .RCC
        .constrain()
        .sys_ck(400.MHz())
        .freeze(pwrcfg, &dp.SYSCFG);
    let gpiod = dp.GPIOD.split(ccdr.peripheral.GPIOD);
    let pins = (gpiod.pd8.into_alternate(), gpiod.pd9.into_alternate());
    let serial = dp
        .USART3
        .serial(pins, 115_200.bps(), ccdr.peripheral.USART3, &ccdr.clocks)
        .unwrap();
    let mut uart = Vcp(serial);
    let mut counter = DwtCycles::start(core.DCB, core.DWT);
    match scnn_board::serve(&mut uart, &mut counter) {
        Ok(()) => defmt::info!("the host ended the session"),
        Err(stop) => defmt::error!("stopped: {}", defmt::Debug2Format(&stop)),
    }
    loop {
        cortex_m::asm::bkpt();
    }
}
