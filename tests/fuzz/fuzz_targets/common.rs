// Shared by the fuzz targets.

use scnn::blob::{checksum, header, CRC_LEN};

/// Makes `bytes` pass the length and CRC checks, so the fuzzer reaches the structural checks
/// behind them instead of stopping at the checksum.
pub fn fix_up(bytes: &mut [u8]) {
    let len = bytes.len();
    if len < header::TOTAL_LEN + 4 + CRC_LEN {
        return;
    }
    bytes[header::TOTAL_LEN..header::TOTAL_LEN + 4].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = checksum(&bytes[..len - CRC_LEN]);
    bytes[len - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
}

/// A 4-byte aligned copy (the loader reads weights in place and needs the alignment).
pub fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    copy_into(&mut words, bytes);
    words
}

fn copy_into(words: &mut [u32], bytes: &[u8]) {
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        words[n] = u32::from_ne_bytes(word);
    }
}

/// The bytes of an aligned copy made by [`aligned`].
pub fn as_bytes(words: &[u32], len: usize) -> &[u8] {
    // SAFETY: u32 has no padding and any byte is a valid u8; `len <= 4 * words.len()`.
    unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), len) }
}
