//! Counting what a computation costs: instructions under QEMU, cycles on hardware.

use core::cell::Cell;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
#[cfg(feature = "dwt")]
use cortex_m::peripheral::{DCB, DWT};
use critical_section::Mutex;
use scnn::wire::CountUnit;

/// A free-running 64-bit counter.
pub trait Counter {
    /// What it counts.
    const UNIT: CountUnit;
    /// The current count.
    fn now(&mut self) -> u64;
}

/// SysTick wraps, counted by [`on_systick`].
static WRAPS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));
const RELOAD: u32 = 0x00FF_FFFF;

/// Call from the firmware's `SysTick` exception handler.
pub fn on_systick() {
    critical_section::with(|cs| {
        let wraps = WRAPS.borrow(cs);
        wraps.set(wraps.get().wrapping_add(1));
    });
}

/// SysTick at the core clock, extended to 64 bits by counting wraps in its interrupt.
///
/// Under QEMU with `-icount shift=0` every instruction advances virtual time by 1 ns, and
/// SysTick ticks every `1e9 / core_hz` ns, so `ticks · per_tick` counts executed
/// instructions exactly to within one tick. On hardware it counts cycles.
pub struct SysTickCounter<const UNITS_PER_TICK: u64, const INSTRUCTIONS: bool> {
    _syst: SYST,
}

/// SysTick counting instructions under QEMU, `N` instructions a tick.
pub type QemuInstructions<const N: u64> = SysTickCounter<N, true>;
/// SysTick counting core cycles.
pub type SysTickCycles = SysTickCounter<1, false>;

impl<const N: u64, const I: bool> SysTickCounter<N, I> {
    /// Starts SysTick free-running at the core clock with its wrap interrupt enabled.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        // The current value reads 0 until the first reload: wait for it, so that a count of
        // ticks never starts from the wrong side of a wrap.
        while SYST::get_current() == 0 {}
        critical_section::with(|cs| WRAPS.borrow(cs).set(0));
        syst.enable_interrupt();
        Self { _syst: syst }
    }

    /// Ticks since start. Call with interrupts enabled: a wrap is counted by the SysTick
    /// interrupt, which runs before the next instruction.
    fn ticks(&mut self) -> u64 {
        loop {
            let before = critical_section::with(|cs| WRAPS.borrow(cs).get());
            let current = SYST::get_current();
            let after = critical_section::with(|cs| WRAPS.borrow(cs).get());
            // A wrap between the two reads would make `current` ambiguous: read again.
            if before == after {
                return before as u64 * (RELOAD as u64 + 1) + (RELOAD - current) as u64;
            }
        }
    }
}

impl<const N: u64, const I: bool> Counter for SysTickCounter<N, I> {
    const UNIT: CountUnit = if I {
        CountUnit::Instructions
    } else {
        CountUnit::Cycles
    };

    fn now(&mut self) -> u64 {
        self.ticks() * N
    }
}

/// The DWT cycle counter (Cortex-M3 and up; enable the `dwt` feature), extended to 64 bits
/// on each read. Read it at least once every 2^32 cycles.
#[cfg(feature = "dwt")]
pub struct DwtCycles {
    last: u32,
    high: u64,
}

#[cfg(feature = "dwt")]
impl DwtCycles {
    /// Enables tracing and the cycle counter.
    pub fn start(mut dcb: DCB, mut dwt: DWT) -> Self {
        dcb.enable_trace();
        DWT::unlock();
        dwt.enable_cycle_counter();
        Self {
            last: DWT::cycle_count(),
            high: 0,
        }
    }
}

#[cfg(feature = "dwt")]
impl Counter for DwtCycles {
    const UNIT: CountUnit = CountUnit::Cycles;

    fn now(&mut self) -> u64 {
        let now = DWT::cycle_count();
        if now < self.last {
            self.high += 1 << 32;
        }
        self.last = now;
        self.high | now as u64
    }
}
