//! The whole firmware of a QEMU MPS2/MPS3 board, which differ only in addresses and clocks.

use cortex_m::peripheral::SYST;

use crate::cmsdk_uart::CmsdkUart;
use crate::Counter;

/// Serves the embedded model on the CMSDK UART at `uart_base`, counting with the counter
/// `start` makes from SysTick, and returns the process exit code (0 when the host ended the
/// session).
///
/// # Safety
/// `uart_base` must be the address of the machine's CMSDK UART, used by nothing else.
pub unsafe fn run<C: Counter>(uart_base: usize, start: impl FnOnce(SYST) -> C) -> i32 {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        return 1;
    };
    let mut counter = start(peripherals.SYST);
    // SAFETY: the caller guarantees `uart_base` is our UART and nothing else uses it.
    let mut uart = unsafe { CmsdkUart::new(uart_base) };
    match crate::serve(&mut uart, &mut counter) {
        Ok(()) => 0,
        Err(stop) => {
            defmt::error!("stopped: {}", stop);
            1
        }
    }
}
