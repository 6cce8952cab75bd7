//! The popularity baseline of the sequential-recommendation protocol (`scnn_tools::recsys`) on
//! an interaction file: `cargo run --release -p scnn-tools --example popularity -- FILE`.

use anyhow::{Context, Result};
use scnn_tools::recsys::{self, Stage};

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: popularity INTERACTIONS_FILE")?;
    let interactions = recsys::read(std::path::Path::new(&path))?;
    let users = recsys::split(&interactions);
    let items = recsys::items(&interactions);
    println!(
        "{} interactions, {} users kept, {} items",
        interactions.len(),
        users.len(),
        items.len()
    );
    for stage in [Stage::Validation, Stage::Test] {
        let m = recsys::popularity(&users, &items, stage);
        println!(
            "{stage:?}: {} users, MAP {:.4}, P@1/5/10 {:.4} {:.4} {:.4}, R@1/5/10 {:.4} {:.4} {:.4}",
            m.users, m.map, m.precision[0], m.precision[1], m.precision[2], m.recall[0], m.recall[1], m.recall[2]
        );
    }
    Ok(())
}
