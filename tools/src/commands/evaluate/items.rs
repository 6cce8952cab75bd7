//! A recommendation blob's ranking metrics on a data file's validation and test splits (the
//! protocol of [`crate::recsys`]), from the host runtime: the same scores an int8 firmware
//! computes, ranked as it ranks them.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::EvaluateArgs;
use crate::recsys::{self, Evaluation, ItemsData, Metrics, Stage};
use crate::runtime::{self, Blob, Summary};

#[derive(Serialize)]
pub struct EvaluateReport {
    pub model: String,
    pub precision: &'static str,
    pub items: usize,
    pub users: usize,
    pub validation: Metrics,
    pub test: Metrics,
    /// The popularity baseline on the same split (counts over train + validation).
    pub popularity_test: Metrics,
}

/// Every user's ranking for `stage` from the blob.
fn metrics(blob: &Blob, data: &ItemsData, stage: Stage) -> Result<Metrics> {
    let staged: Vec<_> = (0..data.users.len())
        .map(|u| data.stage(u, stage))
        .collect();
    let inputs: Vec<(&[u16], Option<u16>)> = staged
        .iter()
        .enumerate()
        .map(|(u, (history, _, _))| (&history[..], Some(u as u16)))
        .collect();
    let all = runtime::scores_many(blob, &inputs)?;
    let mut evaluation = Evaluation::default();
    for ((_, seen, targets), scores) in staged.iter().zip(all) {
        // int8 blobs rank by their int32 scores, as the device does.
        evaluation.add(&data.rank(&scores.keys(), seen), targets);
    }
    Ok(evaluation.finish())
}

pub fn run(args: &EvaluateArgs, blob: &Blob, summary: &Summary) -> Result<()> {
    let interactions = recsys::read(&args.data)?;
    let data = ItemsData::new(&interactions).with_context(|| args.data.display().to_string())?;
    let info = scnn::model::ModelInfo::try_parse(blob.bytes()).map_err(|e| blob.load_error(e))?;
    let items = match info.head() {
        scnn::model::Head::Scores { items } => items,
        scnn::model::Head::PairMap => bail!("{} has no scores head", args.model.display()),
    };
    if items != data.vocab() || info.vocab_size() != data.vocab() {
        bail!(
            "{} scores {items} tokens but {} has {} items (+1 padding token): not the data it was trained on",
            args.model.display(),
            args.data.display(),
            data.items.len()
        );
    }
    if info.side_rows() != data.users.len() {
        bail!(
            "{} has {} user rows but {} has {} users with more than 5 interactions",
            args.model.display(),
            info.side_rows(),
            args.data.display(),
            data.users.len()
        );
    }
    let bar = crate::progress::bar(2, "evaluating");
    let validation = metrics(blob, &data, Stage::Validation)?;
    bar.inc(1);
    let test = metrics(blob, &data, Stage::Test)?;
    bar.finish_and_clear();
    let report = EvaluateReport {
        model: args.model.display().to_string(),
        precision: super::precision_name(summary.precision),
        items: data.items.len(),
        users: data.users.len(),
        validation,
        test,
        popularity_test: recsys::popularity(&data.users, &data.items, Stage::Test),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    outln!(
        "{} ({}), {} items, {} users",
        report.model,
        report.precision,
        report.items,
        report.users
    )?;
    outln!("| split | MAP | P@1 | P@5 | P@10 | R@1 | R@5 | R@10 |")?;
    outln!("|---|---|---|---|---|---|---|---|")?;
    for (name, m) in [
        ("validation", &report.validation),
        ("test", &report.test),
        ("test, popularity", &report.popularity_test),
    ] {
        outln!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            m.map,
            m.precision[0],
            m.precision[1],
            m.precision[2],
            m.recall[0],
            m.recall[1],
            m.recall[2]
        )?;
    }
    Ok(())
}
