//! The CMSDK APB UART of Arm's MPS2/MPS3 FPGA boards and their QEMU models, as an
//! `embedded-io` byte stream that sleeps (WFI) while it waits for a byte.

use core::convert::Infallible;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// An interrupt line of the NVIC, by number.
#[derive(Clone, Copy)]
struct Line(u16);

// SAFETY: the number is a device interrupt line the board's documentation gives.
unsafe impl cortex_m::interrupt::InterruptNumber for Line {
    fn number(self) -> u16 {
        self.0
    }
}

/// One CMSDK UART at a fixed base address.
pub struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    /// Enables transmit and receive of the UART at `base`, and its receive interrupt (line
    /// `rx_irq` of the NVIC), which wakes the core from the WFI a read waits in. The
    /// firmware's interrupt handler for that line must call [`clear_rx_interrupt`].
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK APB UART that nothing else uses, and `rx_irq`
    /// its receive interrupt.
    pub unsafe fn new(base: usize, rx_irq: u16) -> Self {
        let uart = Self { base };
        uart.write_reg(BAUDDIV, 16);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        // SAFETY: the handler only clears the UART's interrupt; no critical section relies
        // on this line being masked.
        unsafe { cortex_m::peripheral::NVIC::unmask(Line(rx_irq)) };
        uart
    }

    fn rx_full(&self) -> bool {
        self.read_reg(STATE) & STATE_RX_FULL != 0
    }

    /// Sleeps until a byte may have arrived. Interrupts are masked between the check and the
    /// WFI, so a byte that arrives in between still wakes the core (a pending interrupt ends
    /// WFI even while masked; its handler runs once they are unmasked).
    fn wait_for_byte(&self) {
        cortex_m::interrupt::free(|_| {
            if !self.rx_full() {
                cortex_m::asm::wfi();
            }
        });
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract makes `base + offset` a register of our UART.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write_reg(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_reg`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

impl embedded_io::ErrorType for CmsdkUart {
    type Error = Infallible;
}

impl embedded_io::Read for CmsdkUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        // Sleep until the first byte, then take whatever else is already there.
        while n < buf.len() {
            if !self.rx_full() {
                if n > 0 {
                    break;
                }
                self.wait_for_byte();
                continue;
            }
            buf[n] = self.read_reg(DATA) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::Write for CmsdkUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        for &byte in buf {
            while self.read_reg(STATE) & STATE_TX_FULL != 0 {}
            self.write_reg(DATA, byte as u32);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Clears the receive interrupt of the CMSDK UART at `base`: call from its interrupt handler
/// (the byte itself stays for the next read).
///
/// # Safety
/// `base` must be the address of a CMSDK APB UART.
pub unsafe fn clear_rx_interrupt(base: usize) {
    // SAFETY: the caller guarantees `base` is a CMSDK UART; INTCLEAR is write-one-to-clear.
    unsafe { core::ptr::write_volatile((base + INTCLEAR) as *mut u32, INT_RX) }
}
