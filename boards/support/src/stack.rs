//! Measuring stack use by painting: fill the unused stack with a pattern, run, and find the
//! deepest word that changed.

const PAINT: u32 = 0x5CA1_AB1E;
/// Bytes below the current stack pointer left unpainted (the painting code's own frame).
const MARGIN: usize = 256;

extern "C" {
    // Provided by cortex-m-rt's link.x: the end of static data and the initial stack pointer.
    static mut __sheap: u32;
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of these linker symbols are taken, never their contents.
    let bottom = core::ptr::addr_of_mut!(__sheap) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    ((bottom + 3) & !3, top)
}

/// Paints the free stack (from the end of static data up to just below the current stack
/// pointer). Call right before the code to measure.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = bottom;
    while at + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: [bottom, sp − MARGIN) is RAM between the static data and the live stack:
        // nothing lives there (there is no heap), and it is word aligned.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Bytes of stack used since the last [`paint`] (from the top of the stack to the deepest
/// changed word).
pub fn used() -> usize {
    let (bottom, top) = bounds();
    let mut at = bottom;
    while at + 4 <= top {
        // SAFETY: [bottom, top) is this core's RAM between static data and the stack top,
        // word aligned; reading it has no side effects.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            break;
        }
        at += 4;
    }
    top - at
}
