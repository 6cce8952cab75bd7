//! The example model on QEMU's mps2-an386: answers prediction requests on UART0 (see
//! `scnn::wire`), counting executed instructions with SysTick; logs go to semihosting.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use defmt_semihosting as _;
use qemu_mps2_an386 as board;
use scnn_board::cmsdk_uart::CmsdkUart;

#[entry]
fn main() -> ! {
    let code = match cortex_m::Peripherals::take() {
        Some(peripherals) => {
            let mut counter = board::Instructions::start(peripherals.SYST);
            // SAFETY: UART0 of this machine; nothing else in the firmware touches it.
            let mut uart = unsafe { CmsdkUart::new(board::UART0) };
            match scnn_board::serve(&mut uart, &mut counter) {
                Ok(()) => 0,
                Err(stop) => {
                    defmt::error!("stopped: {}", stop);
                    1
                }
            }
        }
        None => 1,
    };
    semihosting::process::exit(code)
}

#[exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}
