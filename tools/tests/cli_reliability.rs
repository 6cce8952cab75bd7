//! The CLI's promises when the world misbehaves: a closed pipe or a full disk on standard
//! output, weights that describe another network, outputs over files that are not ours to
//! replace. Every failure is one `error:` line and exit 1, never a panic (exit 101).

use std::process::{Command, Stdio};

mod common;

use common::{assert_fails, manifest, scnn, stderr, Dir};

/// Random weights of the RNA shape: `scnn random` with these flags, at `name` in `dir`.
fn random_weights(dir: &Dir, name: &str, flags: &[&str]) -> String {
    let path = dir.s(name);
    let mut args = vec!["random", "--pair-len", "32", "-o", &path];
    args.extend_from_slice(flags);
    let out = scnn(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let blob = manifest("models/example.scnn");
    let fasta = manifest("data/example.fa");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(["predict", &blob, "--fasta", &fasta, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the pipe before the first line is written, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(141),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_full_disk_on_standard_output_is_one_error_line() {
    let blob = manifest("models/example.scnn");
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(["inspect", &blob])
        .stdout(full)
        .output()
        .unwrap();
    assert_fails(&out, &["cannot write to standard output", "No space left"]);
}

#[test]
fn weights_of_another_network_are_refused_before_use() {
    let dir = Dir::new();
    let seqs = dir.s("s.fa");
    let few = random_weights(
        &dir,
        "few.safetensors",
        &["--dilations", "1,2", "--sequences", &seqs],
    );
    let many = random_weights(&dir, "many.safetensors", &["--dilations", "1,2,4,8"]);
    let wide = random_weights(
        &dir,
        "wide.safetensors",
        &["--dilations", "1,2", "--width", "16"],
    );
    let blob = dir.s("few.scnn");
    let out = scnn(&["convert", &few, "--calibrate", &seqs, "-o", &blob]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (weights, fragment) in [
        (&many, "the weights describe 6 conv layers, the blob 4"),
        (&wide, "layer 0: the weights have 16 channels"),
    ] {
        let dump = dir.s("dump");
        let out = scnn(&[
            "verify",
            &blob,
            "--weights",
            weights,
            "--inputs",
            &seqs,
            "--dump",
            &dump,
        ]);
        assert_fails(&out, &[fragment, "not the same network"]);
        assert!(!dir.path("dump").exists(), "a failed verify left its dump");
    }
}

#[test]
fn only_regular_files_are_replaced() {
    let dir = Dir::new();
    let blob = manifest("models/example.scnn");
    let fifo = dir.path("fifo.png");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let target = dir.path("kept.txt");
    std::fs::write(&target, "kept").unwrap();
    let link = dir.path("link.png");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for (path, kind) in [(&fifo, "FIFO"), (&link, "symbolic link")] {
        let out = scnn(&[
            "predict",
            &blob,
            "--seq",
            "GGGAAACCC",
            "--png",
            &path.to_string_lossy(),
        ]);
        assert_fails(&out, &["replaces only regular files", kind]);
        assert!(out.stdout.is_empty(), "a failed predict printed its output");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");
}

#[test]
fn new_files_get_the_mode_the_umask_allows() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let blob = manifest("models/example.scnn");
    for (umask, mode) in [("022", 0o644), ("027", 0o640), ("077", 0o600)] {
        let png = dir.s(&format!("m{umask}.png"));
        let script =
            format!("umask {umask} && exec \"$0\" predict \"$1\" --seq GGGAAACCC --png \"$2\"");
        let out = Command::new("sh")
            .args(["-c", &script, env!("CARGO_BIN_EXE_scnn"), &blob, &png])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let got = std::fs::metadata(&png).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "umask {umask}: mode {got:o}");
    }
}

#[test]
fn records_whose_names_clean_up_alike_get_files_of_their_own() {
    let dir = Dir::new();
    let fasta = dir.path("dup.fa");
    std::fs::write(
        &fasta,
        ">x.1\nGGGAAACCC\n>x_1\nGGGAAACCCA\n>x/1\nGGGGAAACCCC\n>x.1\nGCGCAAAGCGC\n",
    )
    .unwrap();
    let blob = manifest("models/example.scnn");
    let out = scnn(&[
        "predict",
        &blob,
        "--fasta",
        &fasta.to_string_lossy(),
        "--png",
        &dir.s("map.png"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        dir.files(),
        [
            "dup.fa",
            "map_x_1.png",
            "map_x_1_2.png",
            "map_x_1_3.png",
            "map_x_1_4.png"
        ]
    );
}

/// The example's weights with batch norm after layer 1 (γ, β, μ, σ² as given) and `bn_eps`.
fn batch_norm_weights(dir: &Dir, eps: f64, gamma: f32, var: f32) -> String {
    use scnn_tools::commands::example;
    let mut config = example::config();
    config.layers[1].batch_norm = true;
    config.bn_eps = eps;
    let o = config.layers[1].out_channels;
    let mut tensors = example::tensors();
    for (name, value) in [
        ("weight", gamma),
        ("bias", 0.0),
        ("running_mean", 0.0),
        ("running_var", var),
    ] {
        tensors.insert(format!("layers.1.bn.{name}"), (vec![o], vec![value; o]));
    }
    let path = dir.s("bn.safetensors");
    std::fs::write(
        &path,
        scnn_tools::weights::to_bytes(&config, &tensors).unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn batch_norm_that_folds_to_nan_or_infinity_never_reaches_a_blob() {
    let calibration = manifest("data/calibration.fa");
    for (eps, gamma, var, fragments) in [
        (
            -1e-5,
            1.0,
            0.0,
            &["bn_eps -0.00001 must be a positive number"][..],
        ),
        (0.0, 1.0, 0.0, &["bn_eps 0 must be a positive number"][..]),
        (
            1e-5,
            3e38,
            0.0,
            &[
                "batch norm `layers.1.bn`",
                "output channel 0 folds to a non-finite value",
            ][..],
        ),
    ] {
        for precision in ["int8", "f32"] {
            let dir = Dir::new();
            let weights = batch_norm_weights(&dir, eps, gamma, var);
            let blob = dir.s("m.scnn");
            let out = scnn(&[
                "convert",
                &weights,
                "--calibrate",
                &calibration,
                "--precision",
                precision,
                "-o",
                &blob,
            ]);
            assert_fails(&out, fragments);
            assert_eq!(
                dir.files(),
                ["bn.safetensors"],
                "{precision}: output left behind"
            );
        }
    }
    // A sound batch norm still converts.
    let dir = Dir::new();
    let weights = batch_norm_weights(&dir, 1e-5, 1.0, 1.0);
    let out = scnn(&[
        "convert",
        &weights,
        "--calibrate",
        &calibration,
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn memory_follows_the_sequence_not_the_blob_and_running_out_is_an_error() {
    let dir = Dir::new();
    // A wide model built for 1,024 positions: its whole-map arena at that length is ~1 GB.
    let weights = dir.s("big.safetensors");
    let out = scnn(&[
        "random",
        "--pair-len",
        "1024",
        "--width",
        "256",
        "--dilations",
        "1",
        "-o",
        &weights,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob = dir.s("big.scnn");
    let out = scnn(&["convert", &weights, "--precision", "f32", "-o", &blob]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Under a 400 MB address-space limit, a 12-nt sequence runs …
    let limited = |sequence: &str| {
        Command::new("sh")
            .args([
                "-c",
                "ulimit -v 400000 && exec \"$0\" predict \"$1\" --seq \"$2\"",
                env!("CARGO_BIN_EXE_scnn"),
                &blob,
                sequence,
            ])
            .output()
            .unwrap()
    };
    let out = limited("GGGAAACCCUUU");
    assert!(out.status.success(), "{}", stderr(&out));
    // … and a 1,000-nt one is refused with an error, not killed by a failed allocation.
    let out = limited(&"GCAU".repeat(250));
    assert_fails(&out, &["cannot allocate the activation arena"]);
}

#[test]
fn calibrating_on_a_long_sequence_keeps_a_few_maps_not_every_layer() {
    let dir = Dir::new();
    // A random model at pair length 1,024, and one calibration record that long.
    let long = dir.s("long.safetensors");
    let out = scnn(&["random", "--pair-len", "1024", "-o", &long]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fasta = dir.path("long.fa");
    std::fs::write(&fasta, format!(">long\n{}\n", "GCAU".repeat(256))).unwrap();
    // Every layer's f64 maps at once would be ~8 GB; a 1.5 GB address space is plenty now.
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 1500000 && exec \"$0\" convert \"$1\" --calibrate \"$2\" -o \"$3\"",
            env!("CARGO_BIN_EXE_scnn"),
            &long,
            &fasta.to_string_lossy(),
            &dir.s("long.scnn"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_byte_order_mark_and_any_line_ending_read_as_text() {
    let dir = Dir::new();
    let blob = manifest("models/example.scnn");
    for (name, text) in [
        ("bom.fa", "\u{feff}>a\nGGGAAACCC\n>b\nGCGCAAAGCGC\n"),
        ("mac.fa", ">a\rGGGAAACCC\r>b\rGCGCAAAGCGC\r"),
        ("dos.fa", "\u{feff}>a\r\nGGGAAACCC\r\n>b\r\nGCGCAAAGCGC\r\n"),
    ] {
        std::fs::write(dir.path(name), text).unwrap();
        let out = scnn(&["predict", &blob, "--fasta", &dir.s(name), "--json"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
            .collect();
        assert_eq!(names, ["\"a\"", "\"b\""], "{name}");
    }
}

#[test]
fn tolerances_must_be_numbers_that_can_fail_a_check() {
    let blob = manifest("models/example.scnn");
    let weights = manifest("models/example.safetensors");
    let inputs = manifest("data/example.fa");
    for (flag, value) in [
        ("--min-f1", "NaN"),
        ("--max-p999-error", "inf"),
        ("--max-mean-error=-0.1", ""),
        ("--threshold", "1.5"),
    ] {
        let out = scnn(&[
            "verify",
            &blob,
            "--weights",
            &weights,
            "--inputs",
            &inputs,
            flag,
            value,
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(value), "{}", stderr(&out));
    }
}

/// A minimal 32-bit little-endian Arm ELF with one `.bss` of `size` bytes at `address`.
fn arm_elf(address: u32, size: u32) -> Vec<u8> {
    let strings = b"\0.bss\0.shstrtab\0";
    let (header_len, section_len) = (52u32, 40u32);
    let strings_at = header_len + 3 * section_len;
    let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 1, 1];
    elf.resize(16, 0);
    let u16s = |v: &mut Vec<u8>, xs: &[u16]| xs.iter().for_each(|x| v.extend(x.to_le_bytes()));
    let u32s = |v: &mut Vec<u8>, xs: &[u32]| xs.iter().for_each(|x| v.extend(x.to_le_bytes()));
    u16s(&mut elf, &[2, 40]); // executable, Arm
    u32s(&mut elf, &[1, 0, 0, header_len, 0x0500_0400]); // version, entry, phoff, shoff, flags
    u16s(&mut elf, &[52, 32, 0, 40, 3, 2]); // sizes, no program headers, 3 sections, names in 2
    elf.resize((header_len + section_len) as usize, 0); // section 0: none
                                                        // name, type, flags, address, offset, size, link, info, align, entry size
    u32s(&mut elf, &[1, 8, 3, address, 0, size, 0, 0, 4, 0]); // .bss: NOBITS, WRITE | ALLOC
    u32s(
        &mut elf,
        &[6, 3, 0, 0, strings_at, strings.len() as u32, 0, 0, 1, 0],
    );
    elf.extend_from_slice(strings);
    elf
}

#[test]
fn footprint_measures_arm_firmware_only() {
    let dir = Dir::new();
    // This very binary is an ELF, but not for an Arm part.
    let out = scnn(&["footprint", env!("CARGO_BIN_EXE_scnn")]);
    assert_fails(&out, &["not an Arm Cortex-M firmware"]);
    // A section past the end of a 32-bit address space.
    std::fs::write(dir.path("absurd.elf"), arm_elf(0x2000_0000, 0xFFFF_FFF0)).unwrap();
    let out = scnn(&["footprint", &dir.s("absurd.elf")]);
    assert_fails(
        &out,
        &["section .bss", "does not fit a 32-bit address space"],
    );
    // The same file with a sane .bss is measured.
    std::fs::write(dir.path("sane.elf"), arm_elf(0x2000_0000, 4096)).unwrap();
    let out = scnn(&["footprint", &dir.s("sane.elf"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // One object, the stack unmeasured without --inputs.
    assert_eq!(report["static_ram_bytes"], 4096, "{report}");
    assert!(report["stack_bytes"].is_null(), "{report}");
    assert!(report["flash_bytes"].is_number(), "{report}");
}

#[test]
fn an_f32_blob_must_carry_the_identity_quantization_the_format_fixes() {
    use scnn::blob::{self, header as h};
    let dir = Dir::new();
    let blob = dir.s("f32.scnn");
    let out = scnn(&[
        "convert",
        &manifest("models/example.safetensors"),
        "--precision",
        "f32",
        "-o",
        &blob,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&blob).unwrap();
    let load = |bytes: &[u8]| {
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let aligned: &[u8] = bytemuck::cast_slice(&words);
        scnn::Model::<128>::from_bytes(aligned).map(|_| ())
    };
    assert_eq!(load(&bytes), Ok(()));
    for (field, value) in [
        (h::INPUT_SCALE, 2.0f32.to_le_bytes()),
        (h::INPUT_ZERO_POINT, 3i32.to_le_bytes()),
        (h::LOGIT_SCALE, 0.5f32.to_le_bytes()),
        (h::LOGIT_ZERO_POINT, (-1i32).to_le_bytes()),
    ] {
        let mut patched = bytes.clone();
        patched[field..field + 4].copy_from_slice(&value);
        let end = patched.len() - blob::CRC_LEN;
        let crc = blob::checksum(&patched[..end]);
        patched[end..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            load(&patched),
            Err(scnn::Error::BadQuantRange),
            "field {field}"
        );
    }
}

#[test]
fn a_batch_streams_from_standard_input_and_skips_what_it_cannot_predict() {
    use std::io::Write;
    let blob = manifest("models/example.scnn");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scnn"))
        .args(["predict", &blob, "--fasta", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let long = "A".repeat(129);
    let input = format!(">a first\rGGGAAACCC\r>long\r{long}\r>b\rGCGCAAAGCGC\r");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
        .collect();
    assert_eq!(names, ["\"a\"", "\"b\""]);
    let err = stderr(&out);
    assert!(err.contains("skipped: record `long`"), "{err}");
    assert!(err.contains("error: 1 of 3 records skipped"), "{err}");
}

#[test]
fn errors_name_the_file_and_a_weights_file_given_as_a_blob_is_recognised() {
    let dir = Dir::new();
    let weights = manifest("models/example.safetensors");
    for command in ["inspect", "predict"] {
        let mut args = vec![command, weights.as_str()];
        if command == "predict" {
            args.extend(["--seq", "ACGU"]);
        }
        let out = scnn(&args);
        assert_fails(
            &out,
            &[
                "example.safetensors: a safetensors weights file, not an scnn blob",
                "scnn convert",
            ],
        );
    }
    std::fs::write(dir.path("junk.scnn"), b"not a blob at all").unwrap();
    let out = scnn(&["inspect", &dir.s("junk.scnn")]);
    assert_fails(&out, &["junk.scnn: invalid model blob"]);
    std::fs::write(
        dir.path("few.inter"),
        "user_id:token\titem_id:token\nu1\t1\n",
    )
    .unwrap();
    let out = scnn(&[
        "evaluate",
        &manifest("models/recsys.scnn"),
        "--data",
        &dir.s("few.inter"),
    ]);
    assert_fails(&out, &["few.inter: 0 users with more than 5 interactions"]);
}

#[test]
fn a_batch_larger_than_the_memory_allowed_streams_through() {
    use std::io::Write;
    let blob = manifest("models/example.scnn");
    // 300 MB of input under a 100 MB address-space limit: only a reader that never holds
    // the file, a record longer than the pair length, nor a line, gets through.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 100000 && exec \"$0\" predict \"$1\" --fasta -",
            env!("CARGO_BIN_EXE_scnn"),
            &blob,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(b">short\nGGGAAACCC\n>huge\n").unwrap();
        let line = format!("{}\n", "ACGU".repeat(25));
        let block = line.repeat(10_000);
        for _ in 0..200 {
            stdin.write_all(block.as_bytes()).unwrap();
        }
        // 100 MB on a single line: the unwrapped FASTA many tools write.
        stdin.write_all(b">oneline\n").unwrap();
        let chunk = "ACGU".repeat(250_000);
        for _ in 0..100 {
            stdin.write_all(chunk.as_bytes()).unwrap();
        }
        stdin.write_all(b"\n>after\nGCGCAAAGCGC\n").unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with('>'))
            .collect::<Vec<_>>(),
        [">short", ">after"]
    );
    for (name, length) in [("huge", 200_000_000), ("oneline", 100_000_000)] {
        assert!(
            stderr(&out).contains(&format!(
                "record `{name}`: sequence of length {length} is longer"
            )),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_tiny_calibration_set_is_warned_about() {
    let dir = Dir::new();
    std::fs::write(dir.path("five.fa"), ">a\nGGGAC\n").unwrap();
    let weights = manifest("models/example.safetensors");
    let out = scnn(&[
        "convert",
        &weights,
        "--calibrate",
        &dir.s("five.fa"),
        "-o",
        &dir.s("m.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: calibrating on 1 input(s), 5 positions in all"),
        "{}",
        stderr(&out)
    );
    // The example's own calibration set is plenty.
    let calibration = manifest("data/calibration.fa");
    let out = scnn(&[
        "convert",
        &weights,
        "--calibrate",
        &calibration,
        "-o",
        &dir.s("n.scnn"),
    ]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
