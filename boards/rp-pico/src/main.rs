//! The example model on the Raspberry Pi Pico (RP2040, Cortex-M0+ at 125 MHz from the 12 MHz
//! crystal): answers prediction requests (see `scnn::wire`) on UART0 at 115200 baud, 8N1, on
//! GP0 (TX, pin 1) and GP1 (RX, pin 2), and counts core cycles with SysTick (the M0+ has no
//! DWT cycle counter). Only core 0 runs. Logs and panics go out over RTT with defmt.
//!
//! Flash and run through an SWD probe on the Pico's debug pins (probe-rs, see
//! `.cargo/config.toml`); wire a 3.3 V USB-serial adapter to GP0/GP1 for the UART:
//!
//! ```text
//! cd boards/rp-pico && cargo run --release
//! ```
//!
//! Host/device parity goes through `scnn verify --target probe-rs --chip RP2040
//! --port <the adapter's serial port> --firmware target/thumbv6m-none-eabi/release/rp-pico`.
#![no_std]
#![no_main]

use cortex_m_rt::exception;
use defmt_rtt as _;
use panic_probe as _;
use rp2040_hal::clocks::{init_clocks_and_plls, Clock};
use rp2040_hal::fugit::RateExtU32;
use rp2040_hal::gpio::{FunctionUart, Pins};
use rp2040_hal::uart::{DataBits, StopBits, UartConfig, UartPeripheral};
use rp2040_hal::{entry, pac, Sio, Watchdog};
use scnn_board::counter::SysTickCycles;

/// The second-stage bootloader, for the Pico's W25Q16JV flash.
#[link_section = ".boot2"]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_HZ: u32 = 12_000_000;

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().unwrap();
    let mut p = pac::Peripherals::take().unwrap();
    let mut watchdog = Watchdog::new(p.WATCHDOG);
    // The SDK's defaults: the system PLL at 125 MHz, the USB PLL at 48 MHz.
    let clocks = init_clocks_and_plls(
        XTAL_HZ,
        p.XOSC,
        p.CLOCKS,
        p.PLL_SYS,
        p.PLL_USB,
        &mut p.RESETS,
        &mut watchdog,
    )
    .unwrap();
    let sio = Sio::new(p.SIO);
    let pins = Pins::new(p.IO_BANK0, p.PADS_BANK0, sio.gpio_bank0, &mut p.RESETS);
    let uart_pins = (
        pins.gpio0.into_function::<FunctionUart>(),
        pins.gpio1.into_function::<FunctionUart>(),
    );
    // The HAL's UART is an `embedded-io` byte stream already.
    let mut uart = UartPeripheral::new(p.UART0, uart_pins, &mut p.RESETS)
        .enable(
            UartConfig::new(115_200.Hz(), DataBits::Eight, None, StopBits::One),
            clocks.peripheral_clock.freq(),
        )
        .unwrap();
    let mut counter = SysTickCycles::start(core.SYST);
    match scnn_board::serve(&mut uart, &mut counter) {
        Ok(()) => defmt::info!("the host ended the session"),
        Err(stop) => defmt::error!("stopped: {}", defmt::Debug2Format(&stop)),
    }
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}
