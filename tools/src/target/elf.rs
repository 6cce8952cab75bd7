//! The test list of an embedded-test binary, read from its ELF file.
//!
//! embedded-test 0.7 exports each test as a symbol in the non-loaded `.embedded_test`
//! section. The symbol's *name* is JSON (`{"name":…,"ignored":…,"should_panic":…,"timeout":…}`)
//! and its data is `(fn() -> !, &'static str)`: the test entry's address and the module path.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use serde::Deserialize;

pub const SECTION: &str = ".embedded_test";

#[derive(Debug, Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    ignored: bool,
    #[serde(default)]
    should_panic: bool,
    #[serde(default)]
    timeout: Option<u64>,
}

/// One on-target test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// `module::name`, as libtest would print it.
    pub name: String,
    /// Address of the test entry (Thumb bit set), passed as `run_addr`.
    pub address: u32,
    pub ignored: bool,
    pub should_panic: bool,
    /// Seconds.
    pub timeout: u64,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads `len` bytes at virtual address `address` from the loaded sections.
fn read_at<'a>(file: &object::File<'a>, address: u64, len: usize) -> Option<&'a [u8]> {
    file.sections().find_map(|s| {
        let start = s.address();
        if address >= start && address + len as u64 <= start + s.size() {
            let data = s.data().ok()?;
            data.get((address - start) as usize..(address - start) as usize + len)
        } else {
            None
        }
    })
}

/// Whether the ELF holds embedded-test tests.
pub fn has_tests(elf: &Path) -> Result<bool> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes)
        .with_context(|| format!("{}: not an ELF file", elf.display()))?;
    Ok(file.section_by_name(SECTION).is_some())
}

/// The tests of an embedded-test binary, in address order.
pub fn tests(elf: &Path) -> Result<Vec<TestCase>> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes)
        .with_context(|| format!("{}: not an ELF file", elf.display()))?;
    let section = file.section_by_name(SECTION).ok_or_else(|| {
        anyhow!(
            "{}: no {SECTION} section (not an embedded-test binary)",
            elf.display()
        )
    })?;
    let data = section.data()?;
    let mut cases = Vec::new();
    for symbol in file.symbols() {
        if symbol.section_index() != Some(section.index()) {
            continue;
        }
        let Ok(raw) = symbol.name() else { continue };
        let Ok(meta) = serde_json::from_str::<Meta>(raw) else {
            continue;
        };
        let offset = (symbol.address() - section.address()) as usize;
        let address = u32_at(data, offset)
            .ok_or_else(|| anyhow!("test `{}`: entry address outside {SECTION}", meta.name))?;
        let module = match (u32_at(data, offset + 4), u32_at(data, offset + 8)) {
            (Some(ptr), Some(len)) => read_at(&file, ptr as u64, len as usize)
                .and_then(|b| std::str::from_utf8(b).ok())
                .map(str::to_string),
            _ => None,
        };
        // Drop the crate name, as libtest does.
        let path = module
            .as_deref()
            .and_then(|m| m.split_once("::").map(|(_, rest)| rest.to_string()));
        let name = match path {
            Some(p) if !p.is_empty() => format!("{p}::{}", meta.name),
            _ => meta.name.clone(),
        };
        cases.push(TestCase {
            name,
            address,
            ignored: meta.ignored,
            should_panic: meta.should_panic,
            timeout: meta.timeout.unwrap_or(60),
        });
    }
    cases.sort_by_key(|c| c.address);
    Ok(cases)
}
