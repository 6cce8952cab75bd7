//! `scnn footprint`: flash and static RAM of firmware ELF files, and the peak stack of the
//! example inputs measured on the device.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use object::{Object, ObjectSection, SectionFlags};
use serde::Serialize;

use crate::formats::fasta;
use crate::runtime::Blob;
use crate::target::parity::{self, TargetArgs};

#[derive(Args, Debug)]
pub struct FootprintArgs {
    /// Firmware ELF files.
    #[arg(required = true)]
    pub elf: Vec<PathBuf>,
    /// Measure the peak stack of these sequences on the device (with --target; every ELF
    /// must then be a firmware for --machine).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// The blob the firmware embeds (for the parity check while measuring).
    #[arg(long, default_value = "tools/models/example.scnn")]
    pub model: PathBuf,
    #[command(flatten)]
    pub device: TargetArgs,
    /// Print one JSON object a firmware (a line each).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize, Debug, Default)]
pub struct Footprint {
    pub elf: String,
    /// Bytes stored in flash: vector table, code, read-only data and the initial values of .data.
    pub flash_bytes: u64,
    /// Bytes of RAM taken by static data (.data, .bss, .uninit).
    pub static_ram_bytes: u64,
    /// Peak stack measured by painting, over the inputs (when measured).
    pub stack_bytes: Option<u32>,
}

pub fn measure(elf: &std::path::Path) -> Result<Footprint> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes)
        .with_context(|| format!("{}: not an ELF file", elf.display()))?;
    if file.format() != object::BinaryFormat::Elf
        || file.architecture() != object::Architecture::Arm
    {
        bail!(
            "{}: not an Arm Cortex-M firmware (a {:?} {:?} file)",
            elf.display(),
            file.format(),
            file.architecture()
        );
    }
    let mut f = Footprint {
        elf: elf.display().to_string(),
        ..Default::default()
    };
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            continue;
        };
        let alloc = sh_flags & u64::from(object::elf::SHF_ALLOC) != 0;
        if !alloc || section.size() == 0 {
            continue;
        }
        let name = section.name().unwrap_or("");
        // A 32-bit part's sections lie in its 4 GiB address space; anything else is a broken
        // or crafted file, and its sizes mean nothing.
        if section.address().saturating_add(section.size()) > 1 << 32 {
            bail!(
                "{}: section {name} ({} bytes at {:#x}) does not fit a 32-bit address space",
                elf.display(),
                section.size(),
                section.address()
            );
        }
        // Sections without file contents (.bss, .uninit) take RAM only.
        let nobits = section.file_range().is_none();
        if name == ".data" {
            f.flash_bytes += section.size();
            f.static_ram_bytes += section.size();
        } else if nobits || name == ".uninit" {
            f.static_ram_bytes += section.size();
        } else {
            f.flash_bytes += section.size();
        }
    }
    Ok(f)
}

pub fn run(args: &FootprintArgs) -> Result<()> {
    let mut reports = Vec::new();
    for elf in &args.elf {
        let mut f = measure(elf)?;
        if let Some(inputs) = &args.inputs {
            let blob = Blob::read(&args.model)?;
            let mut target = args.device.clone();
            target.firmware = Some(elf.clone());
            if let Some(mut device) = target.start(&blob)? {
                let mut peak = 0;
                for record in fasta::read(inputs)? {
                    let out = parity::compare(&blob, &mut device, &record.name, &record.sequence)?;
                    peak = peak.max(out.stack);
                }
                device.close()?;
                f.stack_bytes = Some(peak);
            }
        }
        reports.push(f);
    }
    if args.json {
        // One object a firmware, one a line: `flash_bytes`, `static_ram_bytes`, and
        // `stack_bytes` (null unless measured with --inputs and --target).
        for f in &reports {
            outln!("{}", serde_json::to_string(f)?)?;
        }
        return Ok(());
    }
    outln!("| firmware | flash bytes | static RAM bytes | peak stack bytes |")?;
    outln!("|---|---|---|---|")?;
    for f in &reports {
        let name = std::path::Path::new(&f.elf)
            .file_name()
            .map_or(f.elf.clone(), |n| n.to_string_lossy().into_owned());
        let stack = f.stack_bytes.map_or("-".to_string(), |s| s.to_string());
        outln!(
            "| {name} | {} | {} | {stack} |",
            f.flash_bytes,
            f.static_ram_bytes
        )?;
    }
    Ok(())
}
