//! memory.x and the linker scripts.
fn main() {
    // QEMU's mps2-an386 has 4 MiB of SRAM at 0x2000_0000 behind memory.x's small-part cap.
    scnn_board_link::configure_with_ram_up_to(4096);
}
