//! The serial link's receiver on arbitrary bytes: gathering frames, COBS, CRC checks and
//! timeouts at arbitrary points must never panic, and every frame that passes its checks must
//! encode back to bytes that read as the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scnn::wire::frame::{self, Deframer};
use scnn::wire::LinkStats;

const BUF: usize = 96;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the receive buffer's size and whether the link goes quiet.
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let mut buf = [0u8; BUF];
    let mut deframer = Deframer::new(&mut buf[..control as usize % BUF]);
    let mut stats = LinkStats::default();
    for (k, &byte) in bytes.iter().enumerate() {
        if control & 0x80 != 0 && k % 17 == 16 {
            if let Some(e) = deframer.time_out() {
                stats.count(Err(e));
            }
        }
        match deframer.push(byte) {
            None => {}
            Some(Err(e)) => stats.count(Err(e)),
            Some(Ok(got)) => {
                stats.count(Ok(()));
                let mut out = [0u8; frame::encoded_len(BUF)];
                let n = got.encode(&mut out).expect("a received frame fits its own size");
                let inner = &mut out[1..n - 1];
                assert!(!inner.contains(&frame::DELIMITER));
                let back = frame::decode(inner).expect("an encoded frame reads back");
                assert_eq!(back, got);
            }
        }
    }
    if let Some(read) = LinkStats::from_bytes(bytes) {
        assert_eq!(LinkStats::from_bytes(&read.to_bytes()), Some(read));
    }
});
