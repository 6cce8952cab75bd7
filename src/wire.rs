//! The byte protocol a host and an scnn firmware speak over a serial link (UART), so that
//! both sides share one definition. All integers are little-endian.
//!
//! ```text
//! firmware → host, once at start:
//!   HELLO (4) | VERSION (1) | unit (1: 0 instructions, 1 cycles) | pair_len L (u16) | blob CRC-32 (u32)
//! host → firmware:
//!   PREDICT (1) | len (u16) | len sequence bytes          → one response
//!   EXIT (1)                                              → the firmware stops (exit code 0)
//!   HELLO_AGAIN (1)                                       → the hello again (a host that
//!                                                           opened the port late)
//! firmware → host, per PREDICT:
//!   OK (1) | len (u16) | count (u64) | stack bytes (u32)
//!          | logits: tri_len(len) int8, pairs (i ≤ j < len) row by row
//!          | probabilities: tri_len(len) f32, same order
//!          | structure: len dot-bracket bytes
//!   ERROR (1) | message length (u8) | message (UTF-8)
//! ```

/// First bytes a firmware sends.
pub const HELLO: [u8; 4] = *b"SCNH";
/// Protocol version; bump on any change to the messages above.
pub const VERSION: u8 = 1;
/// Bytes of the hello message.
pub const HELLO_LEN: usize = 12;
/// Request: predict one sequence.
pub const PREDICT: u8 = b'Q';
/// Request: stop the firmware.
pub const EXIT: u8 = b'X';
/// Request: send the hello again.
pub const HELLO_AGAIN: u8 = b'H';
/// Response: a prediction follows.
pub const OK: u8 = b'R';
/// Response: an error message follows.
pub const ERROR: u8 = b'E';
/// Bytes of an OK response before the logits.
pub const OK_HEADER_LEN: usize = 1 + 2 + 8 + 4;

/// What a firmware's counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CountUnit {
    /// Executed instructions (SysTick under QEMU's `-icount`).
    Instructions,
    /// Core clock cycles (DWT CYCCNT, or SysTick at the core clock, on hardware).
    Cycles,
}

impl CountUnit {
    /// The hello code.
    pub const fn code(self) -> u8 {
        match self {
            CountUnit::Instructions => 0,
            CountUnit::Cycles => 1,
        }
    }

    /// Reads a hello code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CountUnit::Instructions),
            1 => Some(CountUnit::Cycles),
            _ => None,
        }
    }

    /// The unit's name.
    pub const fn name(self) -> &'static str {
        match self {
            CountUnit::Instructions => "instructions",
            CountUnit::Cycles => "cycles",
        }
    }
}
