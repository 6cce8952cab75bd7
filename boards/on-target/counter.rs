// The instruction counter under QEMU: SysTick with `-icount shift=0` counts executed
// instructions. Included by each QEMU board's tests/counter.rs, which defines `board`. With
// the board's `runner-self-test` feature it also holds a test that fails on purpose.

use cortex_m as _;

#[cortex_m_rt::exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}

#[embedded_test::tests]
mod tests {
    #[init]
    fn init() -> cortex_m::Peripherals {
        cortex_m::Peripherals::take().unwrap()
    }

    /// Only in the runner's self-test build (feature `runner-self-test`): a failing
    /// on-target test must make the whole run fail.
    #[test]
    #[cfg(feature = "runner-self-test")]
    fn deliberately_failing_test() {
        assert_eq!(1 + 1, 3, "this test fails on purpose");
    }

    #[test]
    fn systick_counts_executed_instructions(p: cortex_m::Peripherals) {
        use scnn_board::Counter;
        let mut counter = super::board::Instructions::start(p.SYST);
        const N: u32 = 200_000;
        let start = counter.now();
        // SAFETY: a register-only countdown loop, two instructions per iteration.
        unsafe {
            core::arch::asm!("1:", "subs {0}, {0}, #1", "bne 1b", inout(reg) N => _, options(nomem, nostack));
        }
        let count = counter.now() - start;
        let expected = 2 * N as u64;
        assert!(count.abs_diff(expected) < 200, "counted {} for {} instructions", count, expected);
    }
}
