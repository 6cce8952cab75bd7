//! The whole firmware of a QEMU MPS2/MPS3 board, which differ only in addresses and clocks.

use cortex_m::peripheral::SYST;

use crate::cmsdk_uart::CmsdkUart;
use crate::Counter;

/// Serves the embedded model on the CMSDK UART at `uart_base` (receive interrupt on NVIC
/// line `uart_rx_irq`), counting with the counter
/// `start` makes from SysTick, and returns the process exit code (0 when the host ended the
/// session).
///
/// # Safety
/// `uart_base` must be the address of the machine's CMSDK UART, used by nothing else, and
/// `uart_rx_irq` its receive interrupt, whose handler calls
/// [`crate::cmsdk_uart::clear_rx_interrupt`].
pub unsafe fn run<C: Counter>(
    uart_base: usize,
    uart_rx_irq: u16,
    start: impl FnOnce(SYST) -> C,
) -> i32 {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        return 1;
    };
    let mut counter = start(peripherals.SYST);
    // SAFETY: the caller guarantees `uart_base` is our UART and nothing else uses it.
    let mut uart = unsafe { CmsdkUart::new(uart_base, uart_rx_irq) };
    match crate::serve(&mut uart, &mut counter) {
        Ok(()) => 0,
        Err(stop) => {
            defmt::error!("stopped: {}", stop);
            1
        }
    }
}
