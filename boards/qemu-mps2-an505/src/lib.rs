//! What differs between QEMU machines: the UART address and interrupt, and the SysTick rate.
#![no_std]

/// QEMU's name for the machine.
pub const MACHINE: &str = "mps2-an505";
/// UART0 through its Secure alias (the firmware runs Secure).
pub const UART0: usize = 0x5020_0000;
/// UART0 receive interrupt: NVIC line 32 (transmit 33, overflow 42).
pub const UART0_RX_IRQ: u16 = 32;
/// SysTick runs at the 20 MHz system clock: one tick every 50 ns, which is 50 executed
/// instructions under `-icount shift=0` (1 ns an instruction).
pub type Instructions = scnn_board::counter::QemuInstructions<50>;
