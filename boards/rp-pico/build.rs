//! memory.x (with the RP2040's `.boot2` section) and the linker scripts.
fn main() {
    scnn_board_link::configure();
}
