//! `scnn train --task contacts`: a protein contact-map SCNN on a chains file, split by
//! sequence-identity clusters so that no chain in validation or test is close kin to one in
//! training.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{check_fractions, finish, loop_options, progress_events, separation, TrainArgs};
use crate::output::Staged;
use crate::protein::{self, Chain};
use crate::train::contacts::{self, ContactExample, Contacts};

/// The default residual layers: dilations 1, 2, 4, 8 twice (a radius of 30 residues).
const BLOCKS: [(usize, usize); 8] = [
    (3, 1),
    (3, 2),
    (3, 4),
    (3, 8),
    (3, 1),
    (3, 2),
    (3, 4),
    (3, 8),
];

/// Cluster numbers as cached beside a checkpoint: clustering 20k chains takes minutes.
#[derive(Serialize, Deserialize)]
struct CachedClusters {
    identity: f64,
    sequences_hash: u64,
    cluster_of: Vec<usize>,
}

fn sequences_hash(chains: &[Chain]) -> u64 {
    let mut hash = 0xCBF2_9CE4_8422_2325u64;
    for chain in chains {
        for b in chain
            .name
            .bytes()
            .chain([0])
            .chain(chain.sequence.bytes())
            .chain([0])
        {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    hash
}

/// Identity clusters of `chains`, from the cache in `dir` when it holds this very set.
fn clusters(chains: &[Chain], identity: f64, dir: Option<&Path>) -> Result<Vec<usize>> {
    let hash = sequences_hash(chains);
    let cache = dir.map(|d| d.join("clusters.json"));
    if let Some(path) = cache.as_ref().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let cached: CachedClusters = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a cluster cache", path.display()))?;
        if cached.identity == identity
            && cached.sequences_hash == hash
            && cached.cluster_of.len() == chains.len()
        {
            eprintln!("clusters: read from {}", path.display());
            return Ok(cached.cluster_of);
        }
    }
    eprintln!(
        "clustering {} chains at {:.0} % identity (about 10 minutes for 20k chains on one core)",
        chains.len(),
        identity * 100.0
    );
    let sequences: Vec<&str> = chains.iter().map(|c| c.sequence.as_str()).collect();
    let cluster_of = protein::clusters(&sequences, identity);
    if let (Some(path), Some(dir)) = (cache, dir) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let cached = CachedClusters {
            identity,
            sequences_hash: hash,
            cluster_of: cluster_of.clone(),
        };
        crate::output::write_atomic(&path, serde_json::to_string(&cached)?.as_bytes())?;
    }
    Ok(cluster_of)
}

/// A split as JSON lines in the chains file's own format, so `scnn evaluate` reads it (and
/// beside it as FASTA).
fn to_jsonl(chains: &[&Chain]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for chain in chains {
        let (id, letter) = chain.name.rsplit_once('_').unwrap_or((&chain.name, ""));
        let line = serde_json::json!({
            "id": id,
            "chain": letter,
            "seq": chain.sequence,
            "cb": chain.cb.iter().flatten().collect::<Vec<_>>(),
        });
        out.extend(serde_json::to_vec(&line)?);
        out.push(b'\n');
    }
    Ok(out)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    check_fractions(args)?;
    let [path] = &args.data[..] else {
        bail!("--task contacts reads one chains file (--data FILE.jsonl or FILE.jsonl.gz)");
    };
    let pair_len = args.pair_len.unwrap_or(256);
    let crop = args.crop.unwrap_or(128);
    if crop < 2 * protein::MIN_SEPARATION || crop > pair_len {
        bail!(
            "--crop {crop} must be between {} and the pair length {pair_len}",
            2 * protein::MIN_SEPARATION
        );
    }
    let identity = args.identity.unwrap_or(0.4);
    if !(0.0..=1.0).contains(&identity) || identity == 0.0 {
        bail!("--identity {identity} must be a fraction in (0, 1]");
    }
    let blocks = if args.blocks.is_empty() {
        BLOCKS.to_vec()
    } else {
        args.blocks.clone()
    };
    let mut config = contacts::config(
        pair_len,
        args.dim.unwrap_or(8),
        args.width.unwrap_or(16),
        &blocks,
    );
    config.add_separation(args.separation);
    config.validate()?;
    let chains = protein::read(path)?;
    if chains.is_empty() {
        bail!("{}: no chains", path.display());
    }
    let cluster_of = clusters(&chains, identity, args.checkpoint.as_deref())?;
    let cluster_count = cluster_of.iter().max().map_or(0, |m| m + 1);
    let (train_i, validation_i, test_i) = protein::split_by_cluster(
        &cluster_of,
        args.validation,
        args.test,
        args.seed_of_split(),
    );
    // Validation and test run whole chains, so they hold chains the model can take whole.
    let fits = |i: &usize| chains[*i].sequence.len() <= pair_len;
    let held_out_too_long = validation_i
        .iter()
        .chain(&test_i)
        .filter(|i| !fits(i))
        .count();
    let validation_i: Vec<usize> = validation_i.into_iter().filter(fits).collect();
    let test_i: Vec<usize> = test_i.into_iter().filter(fits).collect();
    let examples = |indices: &[usize]| -> Vec<ContactExample> {
        indices
            .iter()
            .map(|&i| ContactExample::new(&chains[i]))
            .collect()
    };
    let (train_set, validation_set, test_set) = (
        examples(&train_i),
        examples(&validation_i),
        examples(&test_i),
    );
    if train_set.is_empty() {
        bail!("no training chains left after the split");
    }
    let longest = train_i.iter().map(|&i| chains[i].sequence.len()).max();
    let window = longest.map_or(0, |n| n.min(crop));
    let remedy = match longest {
        Some(n) if n > crop => format!("--crop {} trains them", n.min(pair_len)),
        _ => "train on longer chains, or lower --pair-len".into(),
    };
    separation::warn_unseen(window, pair_len, args.separation, &remedy);
    let count = |indices: &[usize]| {
        let mut clusters: Vec<usize> = indices.iter().map(|&i| cluster_of[i]).collect();
        clusters.sort_unstable();
        clusters.dedup();
        serde_json::json!({ "chains": indices.len(), "clusters": clusters.len() })
    };
    let split = serde_json::json!({
        "kind": "identity clusters",
        "identity": identity,
        "seed": args.seed_of_split(),
        "train": count(&train_i),
        "validation": count(&validation_i),
        "test": count(&test_i),
        "held_out_longer_than_pair_len": held_out_too_long,
    });
    eprintln!(
        "data: {} chains in {cluster_count} clusters at {:.0} % identity; train {} chains, validation {}, test {} ({held_out_too_long} held-out chains longer than {pair_len} left out)",
        chains.len(),
        identity * 100.0,
        train_set.len(),
        validation_set.len(),
        test_set.len()
    );
    let mut outputs = Staged::default();
    if let Some(dir) = &args.splits {
        for (name, indices) in [
            ("train", &train_i),
            ("validation", &validation_i),
            ("test", &test_i),
        ] {
            let chosen: Vec<&Chain> = indices.iter().map(|&i| &chains[i]).collect();
            outputs.add(&dir.join(format!("{name}.jsonl")), to_jsonl(&chosen)?)?;
            // The sequences alone, for `scnn convert --calibrate` and `scnn predict`.
            let fasta: String = chosen
                .iter()
                .map(|c| format!(">{}\n{}\n", c.name, c.sequence))
                .collect();
            outputs.add(&dir.join(format!("{name}.fa")), fasta.into_bytes())?;
        }
    }
    let mut options = loop_options(args);
    options.batch = args.batch.unwrap_or(4);
    let task = Contacts { crop };
    let trained = crate::train::train_task(
        &task,
        &config,
        &train_set,
        &validation_set,
        &test_set,
        &options,
        progress_events("top-L/5 precision"),
    )?;
    let mut extra = serde_json::Map::new();
    extra.insert(
        "data".into(),
        serde_json::json!({
            "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "chains": chains.len(),
            "clusters": cluster_count,
            "crop": crop,
            "contact": "C-beta < 8 Å, |i - j| >= 6",
        }),
    );
    extra.insert("split".into(), split);
    finish(args, trained, extra, outputs, "chains")
}
