//! A firmware that speaks [`scnn::wire`] over its serial port, here under QEMU.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use scnn::wire::{self, CountUnit};

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
    pending: Vec<u8>,
    pub unit: CountUnit,
    pub pair_len: usize,
    /// The CRC-32 stored in the blob the firmware embeds.
    pub model_crc: u32,
    /// What the embedded model is for: what its answers carry.
    pub app: scnn::blob::App,
    /// Holds the UART socket and the firmware's defmt log (QEMU's stdout: semihosting).
    dir: tempfile::TempDir,
}

const TIMEOUT: Duration = Duration::from_secs(120);

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
            pending: Vec::new(),
            unit: CountUnit::Instructions,
            pair_len: 0,
            model_crc: 0,
            app: scnn::blob::App::Rna,
            dir,
        };
        if ask_again {
            device.stdin.write_all(&[wire::HELLO_AGAIN])?;
            device.stdin.flush()?;
            // Skip whatever came before the greeting.
            let mut window = Vec::new();
            while window.len() < 4 || window[window.len() - 4..] != wire::HELLO {
                window.extend(device.read_exact(1)?);
                if window.len() > 4096 {
                    bail!("no scnn hello from the board");
                }
            }
            device.pending.splice(0..0, wire::HELLO);
        }
        let first = device.read_exact(1)?;
        if first[0] == wire::ERROR {
            bail!("firmware refused to start: {}", device.read_error()?);
        }
        let mut hello = first;
        hello.extend(device.read_exact(wire::HELLO_LEN - 1)?);
        let hello: [u8; wire::HELLO_LEN] = hello.try_into().map_err(|_| anyhow!("short hello"))?;
        let hello = wire::Hello::from_bytes(&hello).map_err(|e| anyhow!("firmware hello: {e}"))?;
        device.unit = hello.unit;
        device.pair_len = usize::from(hello.pair_len);
        device.model_crc = hello.model_crc;
        device.app = hello.app;
        Ok(device)
    }

    fn read_exact(&mut self, n: usize) -> Result<Vec<u8>> {
        while self.pending.len() < n {
            match self.bytes.recv_timeout(TIMEOUT) {
                Ok(chunk) => self.pending.extend(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    bail!("firmware sent nothing for {} s", TIMEOUT.as_secs())
                }
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
        let rest = self.pending.split_off(n);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    fn read_error(&mut self) -> Result<String> {
        let len = self.read_exact(1)?[0] as usize;
        Ok(String::from_utf8_lossy(&self.read_exact(len)?).into_owned())
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
        let mut request = vec![wire::PREDICT];
        request.extend((payload.len() as u16).to_le_bytes());
        request.extend(payload);
        self.stdin.write_all(&request)?;
        self.stdin.flush()?;
        let kind = self.read_exact(1)?[0];
        if kind == wire::ERROR {
            bail!("device: {}", self.read_error()?);
        }
        if kind != wire::OK {
            bail!("device sent an unknown response {kind:#04x}");
        }
        let head: [u8; wire::OK_HEADER_LEN - 1] = self
            .read_exact(wire::OK_HEADER_LEN - 1)?
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
        if self.app == scnn::blob::App::Items {
            let crc = self.read_exact(4)?;
            out.scores_crc = Some(u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]));
            let count = self.read_exact(2)?;
            let count = u16::from_le_bytes([count[0], count[1]]) as usize;
            let bytes = self.read_exact(count * wire::ITEM_LEN)?;
            out.items = bytes
                .chunks_exact(wire::ITEM_LEN)
                .map(|c| wire::item_from_bytes(&[c[0], c[1], c[2], c[3], c[4], c[5]]))
                .collect();
            return Ok(out);
        }
        if self.app == scnn::blob::App::Protein {
            let crc = self.read_exact(4)?;
            out.logits_crc = Some(u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]));
            let count = self.read_exact(2)?;
            let count = u16::from_le_bytes([count[0], count[1]]) as usize;
            let bytes = self.read_exact(count * wire::CONTACT_LEN)?;
            out.contacts = bytes
                .chunks_exact(wire::CONTACT_LEN)
                .map(|c| wire::contact_from_bytes(&[c[0], c[1], c[2], c[3], c[4]]))
                .collect();
            return Ok(out);
        }
        out.logits = self
            .read_exact(scnn::tri::tri_len(len))?
            .into_iter()
            .map(|b| b as i8)
            .collect();
        if self.app == scnn::blob::App::Rna {
            out.structure = String::from_utf8_lossy(&self.read_exact(len)?).into_owned();
        }
        Ok(out)
    }

    /// Asks the firmware to stop and waits for QEMU to exit.
    pub fn close(mut self) -> Result<()> {
        self.stdin.write_all(&[wire::EXIT])?;
        self.stdin.flush()?;
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

impl Drop for Device {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
