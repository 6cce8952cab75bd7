//! Contact-map training smoke test: a few steps on synthetic chains through the shared loop.
//! The loss must fall, every kernel must stay exactly symmetric, crops must repeat with the
//! seed, and the CLI's weights must convert and verify against the int8 runtime.

mod common;

use common::{scnn, stderr, Dir};
use scnn_tools::commands::example::Rng;
use scnn_tools::protein::{self, Chain};
use scnn_tools::train::contacts::{self, ContactExample, Contacts};
use scnn_tools::train::{self, Options, Trained};

/// A compact random walk (3.8 Å steps kept inside a 12 Å ball), so chains have contacts.
fn chain(rng: &mut Rng, name: &str, len: usize) -> Chain {
    let letters = b"ACDEFGHIKLMNPQRSTVWY";
    let mut at = [0f32; 3];
    let mut cb = Vec::with_capacity(len);
    let mut sequence = String::new();
    for _ in 0..len {
        let mut step = [rng.unit(), rng.unit(), rng.unit()];
        let norm = step.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-3);
        for (k, s) in step.iter_mut().enumerate() {
            *s *= 3.8 / norm;
            if (at[k] + *s).abs() > 12.0 {
                *s = -*s;
            }
            at[k] += *s;
        }
        cb.push(at);
        sequence.push(letters[rng.below(20)] as char);
    }
    Chain {
        name: name.to_string(),
        sequence,
        cb,
    }
}

fn chains(count: usize, seed: u64) -> Vec<Chain> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|n| {
            let len = 30 + rng.below(40);
            chain(&mut rng, &format!("{n}SYN_A"), len)
        })
        .collect()
}

fn run(seed: u64) -> Trained {
    let config = contacts::config(64, 4, 4, &[(3, 1), (3, 2)]);
    let options = Options {
        epochs: 100,
        max_steps: 40,
        batch: 4,
        learning_rate: 0.01,
        pos_weight: 4.0,
        seed,
        ..Options::default()
    };
    let examples: Vec<ContactExample> = chains(24, 5).iter().map(ContactExample::new).collect();
    train::train_task(
        &Contacts { crop: 40 },
        &config,
        &examples[..16],
        &examples[16..20],
        &examples[20..],
        &options,
        |_| {},
    )
    .unwrap()
}

#[test]
fn contact_training_lowers_the_loss_keeps_kernels_symmetric_and_repeats() {
    let trained = run(3);
    let losses = &trained.report.losses;
    assert_eq!(losses.len(), 40);
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[35..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.8 * first, "loss did not fall: {first} -> {last}");
    for (t, layer) in trained.config.layers.iter().enumerate() {
        let (shape, w) = &trained.tensors[&format!("layers.{t}.weight")];
        let partners = trained.config.partners(t);
        let k = layer.kernel;
        let at = |o: usize, c: usize, u: usize, v: usize| w[((o * shape[1] + c) * k + u) * k + v];
        for o in 0..layer.out_channels {
            for (c, &p) in partners.iter().enumerate() {
                for u in 0..k {
                    for v in 0..k {
                        assert_eq!(
                            at(o, c, u, v),
                            at(o, p, v, u),
                            "layer {t} lost its symmetry"
                        );
                    }
                }
            }
        }
    }
    let (shape, _) = &trained.tensors["embedding.weight"];
    assert_eq!(shape, &[21, 4]);
    assert!(trained.report.score.contains("L/5"));
    // Crops come from the step and the chain: the same seed gives the same run.
    assert_eq!(run(3).report.losses, trained.report.losses);
}

fn jsonl(chains: &[Chain]) -> String {
    chains
        .iter()
        .map(|c| {
            let (id, letter) = c.name.split_once('_').unwrap();
            serde_json::json!({
                "id": id, "chain": letter, "seq": c.sequence,
                "cb": c.cb.iter().flatten().collect::<Vec<_>>(),
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn the_cli_trains_splits_by_identity_and_its_weights_verify_in_int8() {
    // With the sequence-separation pair feature (format 5).
    let dir = Dir::new();
    let mut set = chains(40, 9);
    // Near-copies of chain 0: one identity cluster, which no split may cut.
    for copy in 1..4 {
        let mut c = set[0].clone();
        c.name = format!("{copy}CPY_A");
        set.push(c);
    }
    std::fs::write(dir.path("chains.jsonl"), jsonl(&set)).unwrap();
    let train = |output: &str, blocks: &str, steps: &str, extra: &[&str]| {
        let (data, output) = (dir.s("chains.jsonl"), dir.s(output));
        let mut args = vec![
            "train",
            "--task",
            "contacts",
            "--data",
            &data,
            "-o",
            &output,
            "--pair-len",
            "96",
            "--crop",
            "48",
            "--dim",
            "4",
            "--blocks",
            blocks,
            "--separation",
            "8",
            "--max-steps",
            steps,
            "--validation",
            "0.2",
            "--test",
            "0.2",
        ];
        args.extend_from_slice(extra);
        if !extra.contains(&"--width") {
            args.extend_from_slice(&["--width", "4"]);
        }
        scnn(&args)
    };
    let splits = dir.s("splits");
    let out = train("c.safetensors", "3:1,3:2", "6", &["--splits", &splits]);
    assert!(out.status.success(), "{}", stderr(&out));
    let split: Vec<Vec<Chain>> = ["train", "validation", "test"]
        .iter()
        .map(|s| protein::read(&dir.path("splits").join(format!("{s}.jsonl"))).unwrap())
        .collect();
    assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 43);
    let holding = |name: &str| {
        split
            .iter()
            .position(|s| s.iter().any(|c| c.name == name))
            .unwrap()
    };
    let home = holding(&set[0].name);
    for copy in 1..4 {
        assert_eq!(holding(&format!("{copy}CPY_A")), home, "a cluster was cut");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("c.json")).unwrap()).unwrap();
    assert_eq!(report["split"]["kind"], "identity clusters");
    assert_eq!(report["data"]["chains"], 43);
    assert_eq!(report["split"]["seed"], 1);
    // Another seed on the same split holds out the same chains.
    let other = dir.s("reseeded-splits");
    let extra = ["--splits", &other, "--seed", "5", "--split-seed", "1"];
    let out = train("reseeded.safetensors", "3:1,3:2", "1", &extra);
    assert!(out.status.success(), "{}", stderr(&out));
    for held_out in ["validation.jsonl", "test.jsonl"] {
        let read = |dir: &str| std::fs::read(std::path::Path::new(dir).join(held_out)).unwrap();
        assert_eq!(read(&splits), read(&other), "{held_out}");
    }

    let out = scnn(&[
        "convert",
        &dir.s("c.safetensors"),
        "--calibrate",
        &dir.s("splits/train.fa"),
        "-o",
        &dir.s("c.scnn"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The separation bins make it a format 5 blob, layer 0 reading 4 + 4 + 16 + 8 channels.
    let out = scnn(&["inspect", &dir.s("c.scnn"), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("separation(8)"), "{text}");
    let out = scnn(&[
        "verify",
        &dir.s("c.scnn"),
        "--weights",
        &dir.s("c.safetensors"),
        "--inputs",
        &dir.s("splits/test.fa"),
        "--json",
        // Six steps on random walks leave the logits of one separation bin nearly level, so
        // the top L is decided among near-ties; the |Δp| limits are the arithmetic check.
        "--min-top-overlap",
        "0.6",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passed"], true);
    assert!(v["top_l_overlap"].as_f64().unwrap() >= 0.6, "{v}");
    assert!(v["p999_abs_error"].as_f64().unwrap() < 0.01, "{v}");

    // Grown by a block: the trained layers are taken, the new one starts at zero.
    let init = dir.s("c.safetensors");
    let says = |out: &std::process::Output, what: &str| {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(stderr(out).contains(what), "{}", stderr(out));
    };
    let refused = |out: &std::process::Output, reason: &str, output: &str| {
        assert!(!out.status.success());
        assert!(stderr(out).contains(reason), "{}", stderr(out));
        assert!(!dir.path(output).exists());
    };
    let grow = |blocks, output| train(output, blocks, "1", &["--init", &init]);
    says(
        &grow("3:1,3:2,3:4", "grown.safetensors"),
        "init: layer 3 (3×3, dilation 4, 4 channels) is new",
    );
    refused(
        &grow("3:1", "shrunk.safetensors"),
        "not removed",
        "shrunk.safetensors",
    );
    // Widened: the new channels start at random and feed no old one; narrowed: refused.
    let widen = |width, output| train(output, "3:1,3:2", "1", &["--init", &init, "--width", width]);
    says(
        &widen("6", "wider.safetensors"),
        "init: layer 1 is widened from 4 to 6 channels",
    );
    refused(
        &widen("2", "narrower.safetensors"),
        "widened, not narrowed",
        "narrower.safetensors",
    );
}
