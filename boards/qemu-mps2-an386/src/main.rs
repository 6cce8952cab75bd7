//! The example model on QEMU's mps2-an386: answers prediction requests on UART0 (see
//! `scnn::wire`), counting executed instructions with SysTick; logs go to semihosting.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use defmt_semihosting as _;
use qemu_mps2_an386 as board;

#[entry]
fn main() -> ! {
    // SAFETY: UART0 of this machine; nothing else in the firmware touches it.
    let code = unsafe {
        scnn_board::qemu::run(
            board::UART0,
            board::UART0_RX_IRQ,
            board::Instructions::start,
        )
    };
    semihosting::process::exit(code)
}

#[exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}

/// The one device interrupt enabled: UART0's receive, which only wakes the core from WFI.
#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    // SAFETY: UART0 is this machine's CMSDK UART.
    unsafe { scnn_board::cmsdk_uart::clear_rx_interrupt(board::UART0) }
}
