//! memory.x and the linker scripts.
fn main() {
    scnn_board_link::configure_binaries();
}
