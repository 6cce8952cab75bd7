//! The serial link under noise: garbage, truncated frames, flipped bits and stray EXIT bytes
//! between valid requests, 10,000 frames in all, and every valid request answered bit-exactly
//! by the firmware under QEMU; a frame cut short is dropped after the firmware's inter-byte
//! timeout (counted in its own clock), and the next request is answered. Also: `--target
//! qemu` finds the firmware from any directory.
//!
//! Needs qemu-system-arm and the release firmware (`cargo build --release` in
//! boards/qemu-mps2-an386), so `cargo test` leaves this target out (`test = false` in
//! Cargo.toml); `.ci/test` runs it by name: `cargo test --release -p scnn-tools --test
//! serial_noise`.

use std::path::Path;
use std::time::Duration;

use scnn::wire::{self, frame};
use scnn_tools::commands::example::Rng;
use scnn_tools::runtime::Blob;
use scnn_tools::target::device::Device;
use scnn_tools::target::{parity, qemu};

const FRAMES: usize = 10_000;

fn start() -> (Blob, Device) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let blob = Blob::read(&root.join("tools/models/example.scnn")).unwrap();
    let firmware = root.join("target/thumbv7em-none-eabihf/release/qemu-mps2-an386");
    let device = Device::start_qemu(qemu::machine("mps2-an386").unwrap(), &firmware).unwrap();
    assert_eq!(device.model_crc, blob.stored_crc());
    (blob, device)
}

fn sequence(rng: &mut Rng) -> String {
    let len = 1 + rng.below(12);
    (0..len).map(|_| b"ACGU"[rng.below(4)] as char).collect()
}

/// A request frame as the host would send it, with a sequence number of its own.
fn request_frame(seq: u8, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; frame::encoded_len(payload.len())];
    let n = frame::Frame { seq, kind, payload }
        .encode(&mut out)
        .unwrap();
    out.truncate(n);
    out
}

/// One bad frame of a random sort; returns it and what it is.
fn noise(rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let seq = rng.below(256) as u8;
    let valid = |rng: &mut Rng| {
        let kind = [wire::PREDICT, wire::EXIT, wire::STATS][rng.below(3)];
        let payload = sequence(rng);
        request_frame(seq, kind, payload.as_bytes())
    };
    match rng.below(5) {
        0 => {
            let len = 1 + rng.below(64);
            ((0..len).map(|_| rng.below(256) as u8).collect(), "garbage")
        }
        1 => {
            let bytes = valid(rng);
            let cut = 1 + rng.below(bytes.len() - 2);
            (bytes[..cut].to_vec(), "truncated")
        }
        2 => {
            let mut bytes = valid(rng);
            let at = 1 + rng.below(bytes.len() - 2);
            bytes[at] ^= 1 << rng.below(8);
            (bytes, "flipped bit")
        }
        3 => {
            // An EXIT with a flipped bit must not stop the firmware.
            let mut bytes = request_frame(seq, wire::EXIT, &[]);
            let at = 1 + rng.below(bytes.len() - 2);
            bytes[at] ^= 1 << rng.below(8);
            (bytes, "flipped EXIT")
        }
        _ => (vec![wire::EXIT; 1 + rng.below(4)], "raw EXIT bytes"),
    }
}

#[test]
fn ten_thousand_frames_of_noise_and_every_request_answered_bit_exactly() {
    let (blob, mut device) = start();
    let mut rng = Rng(0x5E71_A1_2026);
    let (mut frames, mut requests) = (0, 0);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    while frames < FRAMES {
        for _ in 0..1 + rng.below(4) {
            let (bytes, kind) = noise(&mut rng);
            device.send_raw(&bytes).unwrap();
            *kinds.entry(kind).or_default() += 1;
            frames += 1;
        }
        let seq = sequence(&mut rng);
        let name = format!("request {requests}");
        parity::compare(&blob, &mut device, &name, &seq)
            .unwrap_or_else(|e| panic!("{name} ({seq}) after noise: {e:#}"));
        requests += 1;
        frames += 1;
    }
    let stats = device.link_stats().unwrap();
    println!(
        "{frames} frames: {requests} requests answered bit-exactly, noise {kinds:?}; firmware counted {stats:?}; host retries {}",
        device.retries()
    );
    // Every valid request (and the stats request) reached the firmware intact; the noise was
    // dropped as frames that fail their checks, never acted on.
    assert_eq!(stats.frames as usize, requests + 1);
    assert_eq!(stats.unknown, 0);
    assert!(stats.crc > 0 && stats.malformed > 0);
    assert_eq!(device.retries(), 0, "the host to firmware link was clean");
    device.close().unwrap();
}

#[test]
fn a_frame_cut_short_times_out_and_the_next_request_is_answered() {
    let (blob, mut device) = start();
    let before = device.link_stats().unwrap();
    // Half a frame, then silence: longer than the firmware's timeout in QEMU's virtual time,
    // which runs on while the firmware sleeps in WFI.
    let bytes = request_frame(200, wire::PREDICT, b"GGGAAACCC");
    device.send_raw(&bytes[..bytes.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The next request, without the delimiter that would end the partial frame anyway: only
    // the timeout can have dropped it.
    let next = request_frame(201, wire::STATS, &[]);
    device.send_raw(&next[1..]).unwrap();
    let after = device.link_stats().unwrap();
    assert_eq!(
        after.timed_out,
        before.timed_out + 1,
        "{before:?} → {after:?}"
    );
    // The STATS frame sent raw was read as a frame of its own (its answer went unread), and
    // the host's own STATS request after it.
    assert_eq!(after.frames, before.frames + 2, "{before:?} → {after:?}");
    parity::compare(&blob, &mut device, "after the timeout", "GGGGAAAACCCC").unwrap();
    device.close().unwrap();
}

#[test]
fn a_request_lost_on_the_way_is_sent_again() {
    let (blob, mut device) = start();
    device.damage_next_request();
    parity::compare(&blob, &mut device, "after a lost request", "GGGGAAAACCCC").unwrap();
    assert_eq!(device.retries(), 1);
    let stats = device.link_stats().unwrap();
    assert_eq!(stats.crc + stats.malformed, 1, "{stats:?}");
    device.close().unwrap();
}

#[test]
fn the_firmware_is_found_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let blob = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/example.scnn");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scnn"))
        .current_dir(elsewhere.path())
        .arg("predict")
        .arg(&blob)
        .args(["--seq", "GGGGAAAACCCC", "--target", "qemu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("# decoded on mps2-an386"));
}
