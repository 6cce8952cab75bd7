//! A firmware that speaks [`scnn::wire`] over its serial port, here under QEMU.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use scnn::wire::frame::{self, Frame, FrameError};
use scnn::wire::{self, CountUnit, LinkStats};

use super::qemu::{self, Machine};

/// What the device returns for one sequence.
#[derive(Clone, Debug)]
pub struct DeviceOutput {
    pub len: usize,
    /// Instructions or cycles of the inference (see [`Device::unit`]).
    pub count: u64,
    /// Peak stack of inference and decoding, bytes.
    pub stack: u32,
    /// int8 logits of the pairs `i ≤ j < len`, row by row (empty for protein models, which
    /// send their CRC instead).
    pub logits: Vec<i8>,
    /// The structure the device decoded from them (RNA models).
    pub structure: String,
    /// CRC-32 of the logits (protein models).
    pub logits_crc: Option<u32>,
    /// The best contacts, best first (protein models).
    pub contacts: Vec<scnn::apps::protein::Contact>,
    /// CRC-32 of every item's score (items models).
    pub scores_crc: Option<u32>,
    /// The best items, best first, the history left out (items models).
    pub items: Vec<scnn::apps::items::ItemScore>,
}

/// A running firmware.
pub struct Device {
    child: Child,
    stdin: Box<dyn Write + Send>,
    bytes: Receiver<Vec<u8>>,
    /// Received bytes not yet looked at.
    pending: VecDeque<u8>,
    /// The encoded bytes of the frame being received.
    encoded: Vec<u8>,
    /// The last request's sequence number (0 is the unasked hello's).
    seq: u8,
    retries: u64,
    damage_next: bool,
    pub unit: CountUnit,
    pub pair_len: usize,
    /// The CRC-32 stored in the blob the firmware embeds.
    pub model_crc: u32,
    /// What the embedded model is for: what its answers carry.
    pub app: scnn::blob::App,
    /// How an RNA firmware decodes its structures (`SCNN_DECODER` when it was built).
    pub decoder: scnn::decode::Decoder,
    /// Holds the UART socket and the firmware's defmt log (QEMU's stdout: semihosting).
    dir: tempfile::TempDir,
}

/// How long to wait for the hello.
const TIMEOUT: Duration = Duration::from_secs(120);
/// How long a request waits to be accepted before it is sent again.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an accepted request may take to answer (the firmware computes meanwhile).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// How long after a damaged frame the rest of an answer may take to come.
const GAP_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a request is sent before the firmware is given up on.
const ATTEMPTS: usize = 3;

impl Device {
    /// Starts `elf` on `machine` with its serial port on QEMU's stdio and reads its hello.
    pub fn start_qemu(machine: Machine, elf: &Path) -> Result<Self> {
        qemu::check_installed()?;
        if !elf.exists() {
            bail!(
                "firmware {} not found: build it with `cargo build --release` in boards/qemu-{}",
                elf.display(),
                machine.name
            );
        }
        // The UART is a Unix socket QEMU serves and waits on before starting the core, so no
        // byte is lost; semihosting (the defmt log) goes to a file.
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("uart.sock");
        let log = std::fs::File::create(dir.path().join("defmt.log"))?;
        let mut child = qemu::command(machine, elf, &[])
            .arg("-chardev")
            .arg(format!(
                "socket,id=uart,path={},server=on,wait=on",
                socket.display()
            ))
            .args(["-serial", "chardev:uart"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(std::fs::File::create(dir.path().join("qemu.log"))?)
            .spawn()
            .with_context(|| format!("cannot start {}", qemu::QEMU))?;
        let started = std::time::Instant::now();
        let stdin = loop {
            match UnixStream::connect(&socket) {
                Ok(stream) => break stream,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    if let Some(status) = child.try_wait()? {
                        bail!("{} exited before serving the UART ({status})", qemu::QEMU);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => bail!("cannot connect to the firmware's UART: {e}"),
            }
        };
        let stdout = stdin.try_clone()?;
        Self::connect(child, Box::new(stdin), Box::new(stdout), dir, false)
    }

    /// Flashes and starts `elf` on a real board with `probe-rs run --chip CHIP` (which keeps
    /// streaming its defmt log into a file), and talks to it over the serial port `port`
    /// (115200 baud, set with `stty`).
    pub fn start_probe_rs(chip: &str, elf: &Path, port: &Path) -> Result<Self> {
        if !elf.exists() {
            bail!(
                "firmware {} not found: build it with `cargo build --release` in its boards/ crate",
                elf.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let log = std::fs::File::create(dir.path().join("defmt.log"))?;
        let child = std::process::Command::new("probe-rs")
            .args(["run", "--chip", chip])
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(
                "cannot start probe-rs (install it with `cargo install probe-rs-tools --locked`)",
            )?;
        let stty = std::process::Command::new("stty")
            .arg("-F")
            .arg(port)
            .args(["115200", "raw", "-echo"])
            .status()
            .context("cannot run stty")?;
        if !stty.success() {
            bail!("cannot configure serial port {}", port.display());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(port)
            .with_context(|| format!("cannot open serial port {}", port.display()))?;
        let reader = file.try_clone()?;
        Self::connect(child, Box::new(file), Box::new(reader), dir, true)
    }

    /// Starts the reader thread and reads the hello (asking for it again when the board may
    /// have sent it before the port was open).
    fn connect(
        child: Child,
        stdin: Box<dyn Write + Send>,
        mut stdout: Box<dyn Read + Send>,
        dir: tempfile::TempDir,
        ask_again: bool,
    ) -> Result<Self> {
        // A reader thread, so that a silent or dead firmware becomes a timeout, not a hang.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut device = Device {
            child,
            stdin,
            bytes: rx,
            pending: VecDeque::new(),
            encoded: Vec::new(),
            seq: 0,
            retries: 0,
            damage_next: false,
            unit: CountUnit::Instructions,
            pair_len: 0,
            model_crc: 0,
            app: scnn::blob::App::Rna,
            decoder: scnn::decode::Decoder::Greedy,
            dir,
        };
        let hello = if ask_again {
            device.exchange(wire::HELLO_AGAIN, &[])?
        } else {
            device.unasked_hello()?
        };
        if hello.first() == Some(&wire::ERROR) {
            bail!(
                "firmware refused to start: {}",
                Message(&hello[1..]).error_text()
            );
        }
        let hello: [u8; wire::HELLO_LEN] = hello
            .try_into()
            .map_err(|_| anyhow!("firmware hello: not an scnn hello"))?;
        let hello = wire::Hello::from_bytes(&hello).map_err(|e| anyhow!("firmware hello: {e}"))?;
        device.unit = hello.unit;
        device.pair_len = usize::from(hello.pair_len);
        device.model_crc = hello.model_crc;
        device.app = hello.app;
        device.decoder = hello.decoder;
        Ok(device)
    }

    /// The hello a firmware sends at start: the first answer under sequence number 0.
    fn unasked_hello(&mut self) -> Result<Vec<u8>> {
        let mut answer = Answer::default();
        loop {
            match self.next_frame(TIMEOUT)? {
                None => bail!("firmware sent no hello for {} s", TIMEOUT.as_secs()),
                Some(Ok(frame)) if frame.seq == 0 => match answer.take(&frame)? {
                    Taken::Message(message) => return Ok(message),
                    Taken::More => {}
                    Taken::Gap => bail!("the firmware's hello came with a part missing"),
                },
                Some(_) => {}
            }
        }
    }

    /// The next frame from the firmware, or why its bytes were not one; `None` after `wait`
    /// without a byte.
    fn next_frame(&mut self, wait: Duration) -> Result<Option<Result<OwnedFrame, FrameError>>> {
        loop {
            while let Some(byte) = self.pending.pop_front() {
                if byte != frame::DELIMITER {
                    self.encoded.push(byte);
                    continue;
                }
                if self.encoded.is_empty() {
                    continue;
                }
                let mut encoded = std::mem::take(&mut self.encoded);
                return Ok(Some(frame::decode(&mut encoded).map(|f| OwnedFrame {
                    seq: f.seq,
                    kind: f.kind,
                    payload: f.payload.to_vec(),
                })));
            }
            match self.bytes.recv_timeout(wait) {
                Ok(chunk) => self.pending.extend(chunk),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self
                        .child
                        .wait()
                        .ok()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    let qemu = std::fs::read_to_string(self.dir.path().join("qemu.log"))
                        .unwrap_or_default();
                    bail!("firmware stopped ({status}): {}", qemu.trim());
                }
            }
        }
    }

    /// Sends a request and returns its answer's message. Each attempt goes under a new
    /// sequence number, so what is left of an earlier one is ignored. A request not accepted
    /// within [`ACCEPT_TIMEOUT`] (lost on the way), or whose answer has a missing part (a gap
    /// in the part numbers, or silence after a damaged frame), is sent again, up to
    /// [`ATTEMPTS`] times; an accepted request may take up to [`ANSWER_TIMEOUT`] to answer.
    fn exchange(&mut self, kind: u8, payload: &[u8]) -> Result<Vec<u8>> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retries += 1;
            }
            if let Some(message) = self.attempt(kind, payload)? {
                return Ok(message);
            }
        }
        bail!("the firmware did not answer after {ATTEMPTS} attempts")
    }

    /// One attempt of [`exchange`](Self::exchange): the message, or `None` to try again.
    fn attempt(&mut self, kind: u8, payload: &[u8]) -> Result<Option<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let mut encoded = vec![0u8; frame::encoded_len(payload.len())];
        let n = Frame { seq, kind, payload }
            .encode(&mut encoded)
            .map_err(|e| anyhow!("cannot frame the request: {e}"))?;
        if std::mem::take(&mut self.damage_next) {
            // A flipped bit inside the frame: the firmware drops it.
            encoded[n / 2] ^= 0x10;
        }
        self.send_raw(&encoded[..n])?;
        let mut answer = Answer::default();
        let (mut accepted, mut damaged) = (false, false);
        loop {
            // Parts follow one another closely: once one has come, a damaged frame followed
            // by silence is a lost part.
            let wait = match (accepted, damaged && answer.next_part > 0) {
                (_, true) => GAP_TIMEOUT,
                (true, false) => ANSWER_TIMEOUT,
                (false, false) => ACCEPT_TIMEOUT,
            };
            match self.next_frame(wait)? {
                None => return Ok(None),
                // Noise, or a frame of any request: whose cannot be told.
                Some(Err(_)) => damaged = true,
                Some(Ok(frame)) if frame.seq != seq => {}
                Some(Ok(frame)) if frame.kind == wire::ACCEPTED => accepted = true,
                Some(Ok(frame)) => match answer.take(&frame)? {
                    Taken::Message(message) => return Ok(Some(message)),
                    Taken::More => {}
                    Taken::Gap => return Ok(None),
                },
            }
        }
    }

    /// Writes bytes to the firmware as they are (tests use it to inject noise).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stdin.write_all(bytes)?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Damages the next request on its way, as line noise would (for tests of the retry).
    pub fn damage_next_request(&mut self) {
        self.damage_next = true;
    }

    /// Requests sent again because an answer did not come or came damaged.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// What the firmware counted of the frames it received.
    pub fn link_stats(&mut self) -> Result<LinkStats> {
        let message = self.exchange(wire::STATS, &[])?;
        LinkStats::from_bytes(&message).ok_or_else(|| anyhow!("firmware sent malformed counters"))
    }

    /// Sends one sequence and reads the device's answer.
    pub fn predict(&mut self, sequence: &str) -> Result<DeviceOutput> {
        self.request(sequence.as_bytes())
    }

    /// Sends one history (item tokens, oldest first, and the user) to an items firmware and
    /// reads its answer.
    pub fn recommend(&mut self, items: &[u16], user: Option<u16>) -> Result<DeviceOutput> {
        let mut payload = user.unwrap_or(wire::NO_SIDE).to_le_bytes().to_vec();
        for item in items {
            payload.extend(item.to_le_bytes());
        }
        self.request(&payload)
    }

    fn request(&mut self, payload: &[u8]) -> Result<DeviceOutput> {
        // The firmware's receive buffer holds its longest request; a longer frame would be
        // dropped unanswered.
        let limit = if self.app == scnn::blob::App::Items {
            2 + 2 * self.pair_len
        } else {
            self.pair_len
        };
        if payload.len() > limit {
            bail!(
                "request of {} bytes is longer than the firmware takes ({limit})",
                payload.len()
            );
        }
        let message = self.exchange(wire::PREDICT, payload)?;
        let mut m = Message(&message);
        let kind = m.take(1)?[0];
        if kind == wire::ERROR {
            bail!("device: {}", m.error_text());
        }
        if kind != wire::OK {
            bail!("device sent an unknown response {kind:#04x}");
        }
        let head: [u8; wire::OK_HEADER_LEN - 1] = m
            .take(wire::OK_HEADER_LEN - 1)?
            .try_into()
            .map_err(|_| anyhow!("short answer"))?;
        let head = wire::AnswerHeader::from_bytes(&head);
        let len = usize::from(head.len);
        let mut out = DeviceOutput {
            len,
            count: head.count,
            stack: head.stack_bytes,
            logits: Vec::new(),
            structure: String::new(),
            logits_crc: None,
            contacts: Vec::new(),
            scores_crc: None,
            items: Vec::new(),
        };
        match self.app {
            scnn::blob::App::Items => {
                out.scores_crc = Some(m.u32()?);
                let count = usize::from(m.u16()?);
                out.items = m
                    .take(count * wire::ITEM_LEN)?
                    .chunks_exact(wire::ITEM_LEN)
                    .map(|c| wire::item_from_bytes(&[c[0], c[1], c[2], c[3], c[4], c[5]]))
                    .collect();
            }
            scnn::blob::App::Protein => {
                out.logits_crc = Some(m.u32()?);
                let count = usize::from(m.u16()?);
                out.contacts = m
                    .take(count * wire::CONTACT_LEN)?
                    .chunks_exact(wire::CONTACT_LEN)
                    .map(|c| wire::contact_from_bytes(&[c[0], c[1], c[2], c[3], c[4]]))
                    .collect();
            }
            app => {
                out.logits = m
                    .take(scnn::tri::tri_len(len))?
                    .iter()
                    .map(|&b| b as i8)
                    .collect();
                if app == scnn::blob::App::Rna {
                    out.structure = String::from_utf8_lossy(m.take(len)?).into_owned();
                }
            }
        }
        if !m.0.is_empty() {
            bail!("device answer has {} bytes too many", m.0.len());
        }
        Ok(out)
    }

    /// Asks the firmware to stop and waits for QEMU to exit. EXIT is sent once: a firmware
    /// that stopped after it has nothing left to answer a second one.
    pub fn close(mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            // Its answer may come damaged or not at all; the exit status tells.
            let _ = self.attempt(wire::EXIT, &[]);
        }
        // QEMU exits with the firmware; probe-rs keeps attached to a board, so stop it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("firmware exited with {status}");
                }
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A checked frame, owned.
struct OwnedFrame {
    seq: u8,
    kind: u8,
    payload: Vec<u8>,
}

/// An answer being put together from its parts.
#[derive(Default)]
struct Answer {
    message: Vec<u8>,
    next_part: u16,
}

/// What a part did to its answer.
#[derive(Debug, PartialEq, Eq)]
enum Taken {
    /// The last part: the whole message.
    Message(Vec<u8>),
    /// More parts to come.
    More,
    /// Not the next part: one was lost.
    Gap,
}

impl Answer {
    /// Takes the next frame of this answer.
    fn take(&mut self, frame: &OwnedFrame) -> Result<Taken> {
        let Some((number, bytes)) = frame.payload.split_first_chunk::<2>() else {
            bail!("device sent an answer frame without a part number");
        };
        if u16::from_le_bytes(*number) != self.next_part {
            return Ok(Taken::Gap);
        }
        self.message.extend_from_slice(bytes);
        self.next_part = self.next_part.wrapping_add(1);
        match frame.kind {
            wire::LAST_PART => Ok(Taken::Message(std::mem::take(&mut self.message))),
            wire::PART => Ok(Taken::More),
            other => bail!("device sent an unknown frame kind {other:#04x}"),
        }
    }
}

/// The rest of an answer's message, read front to back.
struct Message<'a>(&'a [u8]);

impl<'a> Message<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            bail!("device answer is {} bytes short", n - self.0.len());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An ERROR message's text (after its kind byte).
    fn error_text(mut self) -> String {
        let len = self.take(1).map_or(0, |b| usize::from(b[0]));
        let text = self.take(len).unwrap_or(self.0);
        String::from_utf8_lossy(text).into_owned()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u16, last: bool, bytes: &[u8]) -> OwnedFrame {
        let mut payload = number.to_le_bytes().to_vec();
        payload.extend_from_slice(bytes);
        OwnedFrame {
            seq: 1,
            kind: if last { wire::LAST_PART } else { wire::PART },
            payload,
        }
    }

    #[test]
    fn parts_join_in_order() {
        let mut answer = Answer::default();
        assert_eq!(answer.take(&part(0, false, b"ab")).unwrap(), Taken::More);
        assert_eq!(answer.take(&part(1, false, b"cd")).unwrap(), Taken::More);
        assert_eq!(
            answer.take(&part(2, true, b"e")).unwrap(),
            Taken::Message(b"abcde".to_vec())
        );
    }

    #[test]
    fn a_missing_part_is_a_gap() {
        let mut answer = Answer::default();
        assert_eq!(answer.take(&part(0, false, b"ab")).unwrap(), Taken::More);
        // Part 1 was lost to noise: part 2 is not the next one.
        assert_eq!(answer.take(&part(2, true, b"e")).unwrap(), Taken::Gap);
        // An answer that starts past its first part is one too.
        assert_eq!(
            Answer::default().take(&part(1, true, b"x")).unwrap(),
            Taken::Gap
        );
    }

    #[test]
    fn a_frame_without_a_part_number_or_of_an_unknown_kind_is_an_error() {
        let mut answer = Answer::default();
        let short = OwnedFrame {
            seq: 1,
            kind: wire::LAST_PART,
            payload: vec![0],
        };
        assert!(answer.take(&short).is_err());
        let mut odd = part(0, true, b"x");
        odd.kind = b'?';
        assert!(answer.take(&odd).is_err());
    }
}
