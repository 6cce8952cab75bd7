//! `scnn predict` for a recommendation model: the best items of each history.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{DeviceJson, PredictArgs};
use crate::runtime::{self, Blob};
use crate::target::parity;

#[derive(Serialize)]
struct JsonItems<'a> {
    name: &'a str,
    user: Option<u16>,
    history: &'a [u16],
    /// `[item, score]`, best first.
    items: Vec<(u16, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

/// The best items of each history, from the host runtime (and checked on a device).
pub fn recommend(args: &PredictArgs, blob: &Blob, app: scnn::blob::App) -> Result<()> {
    let Some(path) = &args.histories else {
        bail!(
            "{} is a recommendation model: give --histories",
            args.model.display()
        );
    };
    if app != scnn::blob::App::Items {
        bail!(
            "--histories needs a recommendation model; {} is a {} model",
            args.model.display(),
            app.name()
        );
    }
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    let histories = crate::formats::histories::read(path)?;
    // Every history is scored before any output, so bad input prints nothing.
    let mut results = Vec::new();
    for history in &histories {
        let scores = runtime::scores(blob, &history.items, history.user)
            .with_context(|| format!("history `{}`", history.name))?;
        results.push(scores);
    }
    let mut device = args.device.start(blob)?;
    let mut text = String::new();
    for (history, scores) in histories.iter().zip(&results) {
        let on_device = match device.as_mut() {
            Some(d) => {
                let out = parity::compare_items(blob, d, history)?;
                Some(DeviceJson::new(args, d, &out))
            }
            None => None,
        };
        // int8 models rank by their int32 scores, as the device does.
        let mut ranked: Vec<(u16, f64)> = scores
            .ranking(0, |t| history.items.contains(&t))
            .into_iter()
            .map(|t| (t, scores.real[usize::from(t)]))
            .collect();
        ranked.truncate(args.top);
        if args.json {
            let json = JsonItems {
                name: &history.name,
                user: history.user,
                history: &history.items,
                items: ranked,
                device: on_device,
            };
            text.push_str(&serde_json::to_string(&json)?);
            text.push('\n');
        } else {
            let items: Vec<String> = ranked.iter().map(|(i, s)| format!("{i}:{s:.4}")).collect();
            text.push_str(&format!("{}\t{}\n", history.name, items.join(" ")));
            if let Some(d) = &on_device {
                text.push_str(&format!(
                    "# scored on {}: {} {}, stack {} bytes; scores and top items bit-identical to the host runtime\n",
                    d.machine, d.count, d.unit, d.stack_bytes
                ));
            }
        }
    }
    if let Some(d) = device {
        d.close()?;
    }
    out!("{text}")?;
    Ok(())
}

/// Titles by item id from a RecBole `.item` file (`item_id` and `movie_title` columns, or the
/// second column).
fn titles(path: &std::path::Path) -> Result<std::collections::HashMap<String, String>> {
    let text = crate::formats::read_text(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split('\t')
        .map(|h| h.split(':').next().unwrap_or(h))
        .collect();
    let id = header.iter().position(|&h| h == "item_id");
    let title = header.iter().position(|&h| h.contains("title")).or(Some(1));
    let (Some(id), Some(title)) = (id, title) else {
        bail!("{}: no item_id column", path.display());
    };
    Ok(lines
        .filter_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            Some((fields.get(id)?.to_string(), fields.get(title)?.to_string()))
        })
        .collect())
}

#[derive(Serialize)]
struct JsonRanking {
    user: Option<String>,
    history: Vec<String>,
    /// Item ids, best first (ties by the lower item id).
    items: Vec<String>,
    /// The model's score of each.
    scores: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceJson>,
}

/// `--history` (and `--user`): one ranking, named with the data file's ids.
pub fn recommend_one(args: &PredictArgs, blob: &Blob, app: scnn::blob::App) -> Result<()> {
    use crate::recsys::{IdMap, HISTORY};
    if app != scnn::blob::App::Items {
        bail!(
            "--history needs a recommendation model; {} is a {} model",
            args.model.display(),
            app.name()
        );
    }
    if args.top == 0 {
        bail!("--top must be at least 1");
    }
    let ids_path = args
        .ids
        .clone()
        .unwrap_or_else(|| IdMap::path_for(&args.model));
    let ids = IdMap::read(&ids_path)?;
    let history_ids = args.history.clone().unwrap_or_default();
    let tokens = history_ids
        .iter()
        .map(|id| ids.item_token(id.trim()))
        .collect::<Result<Vec<u16>>>()?;
    let mut history = [0u16; HISTORY];
    let take = tokens.len().min(HISTORY);
    history[HISTORY - take..].copy_from_slice(&tokens[tokens.len() - take..]);
    let user = args.user.as_deref().map(|u| ids.user_row(u)).transpose()?;
    let mut excluded: std::collections::HashSet<u16> = tokens.iter().copied().collect();
    if let Some(path) = &args.exclude {
        let text = crate::formats::read_text(path)?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            excluded.insert(
                ids.item_token(line)
                    .with_context(|| format!("{}", path.display()))?,
            );
        }
    }
    let titles = args.items.as_deref().map(titles).transpose()?;
    let scores = runtime::scores(blob, &history, user)?;
    // On a device, its scores and top items are checked against these first.
    let on_device = match args.device.start(blob)? {
        Some(mut device) => {
            let request = crate::formats::histories::History {
                name: "history".into(),
                user,
                items: history.to_vec(),
            };
            let out = parity::compare_items(blob, &mut device, &request)?;
            let note = DeviceJson::new(args, &device, &out);
            device.close()?;
            Some(note)
        }
        None => None,
    };
    if scores.real.len() != ids.items.len() + 1 {
        bail!(
            "{} scores {} tokens but {} lists {} items: not this model's id map",
            args.model.display(),
            scores.real.len(),
            ids_path.display(),
            ids.items.len()
        );
    }
    // int8 models rank by their int32 scores, as the device does; ties by the lower token,
    // which is the lower item id.
    let mut order = scores.ranking(1, |t| excluded.contains(&t));
    order.truncate(args.top);
    let item_id = |t: u16| ids.items[usize::from(t) - 1].clone();
    let name_of = |id: &str| -> String {
        titles
            .as_ref()
            .and_then(|m| m.get(id))
            .map_or(format!("item {id}"), |title| format!("{title} ({id})"))
    };
    if let Some(png) = &args.png {
        crate::output::check_replaceable(png)?;
        let title = match &args.user {
            Some(u) => format!("user {u}: what comes next"),
            None => "what comes next".to_string(),
        };
        let shown: Vec<String> = history_ids.iter().map(|id| name_of(id.trim())).collect();
        let bars: Vec<(String, f64)> = order
            .iter()
            .map(|&t| (name_of(&item_id(t)), scores.real[usize::from(t)]))
            .collect();
        let mut staged = crate::output::Staged::default();
        staged.add(png, crate::ranking_chart::render(&title, &shown, &bars)?)?;
        staged.commit()?;
    }
    if args.json {
        let json = JsonRanking {
            user: args.user.clone(),
            history: history_ids,
            items: order.iter().map(|&t| item_id(t)).collect(),
            scores: order.iter().map(|&t| scores.real[usize::from(t)]).collect(),
            device: on_device,
        };
        outln!("{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    for (rank, &t) in order.iter().enumerate() {
        let id = item_id(t);
        let title = titles
            .as_ref()
            .and_then(|m| m.get(&id))
            .map_or(String::new(), |title| format!("\t{title}"));
        outln!(
            "{}\t{id}\t{:.4}{title}",
            rank + 1,
            scores.real[usize::from(t)]
        )?;
    }
    if let Some(d) = on_device {
        outln!(
            "# scored on {}: {} {}, stack {} bytes; scores and top 10 bit-identical to the host runtime",
            d.machine, d.count, d.unit, d.stack_bytes
        )?;
    }
    Ok(())
}
