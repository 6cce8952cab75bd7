//! The CMSDK APB UART of Arm's MPS2/MPS3 FPGA boards and their QEMU models, as an
//! `embedded-io` byte stream.

use core::convert::Infallible;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// One CMSDK UART at a fixed base address.
pub struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    /// Enables transmit and receive of the UART at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK APB UART that nothing else uses.
    pub unsafe fn new(base: usize) -> Self {
        let uart = Self { base };
        uart.write_reg(BAUDDIV, 16);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        uart
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
        // Block for the first byte, then take whatever else is already there.
        while n < buf.len() {
            if self.read_reg(STATE) & STATE_RX_FULL == 0 {
                if n > 0 {
                    break;
                }
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
