//! The example model on Nordic's nRF52840-DK (nRF52840, Cortex-M4F at 64 MHz): answers
//! prediction requests (see `scnn::wire`) on UARTE0 at 115200 baud, 8N1, no flow control, on
//! the pins of the on-board J-Link's virtual COM port (TX P0.06, RX P0.08), and counts core
//! cycles with the DWT. Logs and panics go out over RTT with defmt.
//!
//! Flash and run through the on-board J-Link (probe-rs, see `.cargo/config.toml`):
//!
//! ```text
//! cd boards/nrf52840-dk && cargo run --release
//! ```
//!
//! Host/device parity goes through `scnn verify --target probe-rs --chip nRF52840_xxAA
//! --port <the J-Link's serial port> --firmware target/thumbv7em-none-eabihf/release/nrf52840-dk`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use defmt_rtt as _;
use nrf52840_hal::gpio::{p0, Level};
use nrf52840_hal::pac::{self, UARTE0};
use nrf52840_hal::uarte::{self, Baudrate, Parity, Pins, Uarte, UarteRx, UarteTx};
use nrf52840_hal::Clocks;
use panic_probe as _;
use scnn_board::counter::DwtCycles;
use static_cell::ConstStaticCell;

/// EasyDMA reads and writes RAM only: the UARTE's buffers live here.
static TX_BUF: ConstStaticCell<[u8; 64]> = ConstStaticCell::new([0; 64]);
static RX_BUF: ConstStaticCell<[u8; 1]> = ConstStaticCell::new([0; 1]);

/// UARTE0's two halves as one byte stream. Every write is sent at once: the HAL's transmitter
/// otherwise holds bytes until its buffer fills.
struct Vcom {
    tx: UarteTx<UARTE0>,
    rx: UarteRx<UARTE0>,
}

impl embedded_io::ErrorType for Vcom {
    type Error = uarte::Error;
}

impl embedded_io::Read for Vcom {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.rx.read(buf)
    }
}

impl embedded_io::Write for Vcom {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let n = self.tx.write(buf)?;
        self.tx.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.tx.flush()
    }
}

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().unwrap();
    let p = pac::Peripherals::take().unwrap();
    // The baud rate is only as good as HFCLK: run it from the 32 MHz crystal.
    let _clocks = Clocks::new(p.CLOCK).enable_ext_hfosc();
    let port0 = p0::Parts::new(p.P0);
    let pins = Pins {
        txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
        rxd: port0.p0_08.into_floating_input().degrade(),
        cts: None,
        rts: None,
    };
    let (tx, rx) = Uarte::new(p.UARTE0, pins, Parity::EXCLUDED, Baudrate::BAUD115200)
        .split(TX_BUF.take(), RX_BUF.take())
        .unwrap();
    let mut uart = Vcom { tx, rx };
    let mut counter = DwtCycles::start(core.DCB, core.DWT);
    match scnn_board::serve(&mut uart, &mut counter) {
        Ok(()) => defmt::info!("the host ended the session"),
        Err(stop) => defmt::error!("stopped: {}", defmt::Debug2Format(&stop)),
    }
    loop {
        cortex_m::asm::bkpt();
    }
}
