//! What differs between QEMU machines: the UART address and interrupt, and the SysTick rate.
#![no_std]

/// QEMU's name for the machine.
pub const MACHINE: &str = "mps2-an386";
/// UART0 of the MPS2 APB subsystem.
pub const UART0: usize = 0x4000_4000;
/// UART0 receive interrupt: NVIC line 0 (transmit is 1).
pub const UART0_RX_IRQ: u16 = 0;
/// SysTick runs at the 25 MHz system clock: one tick every 40 ns, which is 40 executed
/// instructions under `-icount shift=0` (1 ns an instruction).
pub type Instructions = scnn_board::counter::QemuInstructions<40>;
