//! Sequential recommendation data: interaction files, the per-user chronological split and the
//! ranking metrics of Caser / CosRec / SCosRec (MAP over the full ranking, Precision@k,
//! Recall@k), with the popularity baseline to check the protocol against.
//!
//! The protocol: per user, interactions sorted by timestamp (ties by item id); users with 5
//! or fewer dropped; the first `⌊0.7·n⌋` for training, up to `⌊0.8·n⌋` for validation, the
//! rest for testing. Validation ranks every item but the user's training items against the
//! validation items; the test ranks every item but the training and validation items against
//! the test items.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One interaction: user and item ids as the file writes them, and the time.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub user: String,
    pub item: String,
    pub timestamp: f64,
}

/// Reads a RecBole `.inter` file (tab-separated with a `name:type` header holding
/// `user_id`, `item_id` and `timestamp`) or a Caser/CosRec text file (`user item rating`
/// per line, whitespace-separated, in time order: the line number is the time).
pub fn parse(text: &str) -> Result<Vec<Interaction>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        bail!("no interactions");
    };
    let header: Vec<&str> = first
        .split('\t')
        .map(|f| f.split(':').next().unwrap_or(f))
        .collect();
    let column = |name: &str| header.iter().position(|&h| h == name);
    let mut out = Vec::new();
    if let (Some(u), Some(i)) = (column("user_id"), column("item_id")) {
        let t = column("timestamp");
        for (number, line) in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            let get = |c: usize| {
                fields
                    .get(c)
                    .map(|f| f.trim())
                    .filter(|f| !f.is_empty())
                    .with_context(|| {
                        format!(
                            "line {}: {} columns, the header has {}",
                            number + 1,
                            fields.len(),
                            header.len()
                        )
                    })
            };
            let timestamp = match t {
                Some(t) => get(t)?
                    .parse()
                    .with_context(|| format!("line {}: timestamp is not a number", number + 1))?,
                None => number as f64,
            };
            out.push(Interaction {
                user: get(u)?.to_string(),
                item: get(i)?.to_string(),
                timestamp,
            });
        }
    } else {
        for (number, line) in std::iter::once((0, first)).chain(lines) {
            let mut fields = line.split_whitespace();
            let (Some(user), Some(item)) = (fields.next(), fields.next()) else {
                bail!("line {}: expected `user item [rating]`", number + 1);
            };
            out.push(Interaction {
                user: user.to_string(),
                item: item.to_string(),
                timestamp: number as f64,
            });
        }
    }
    if out.is_empty() {
        bail!("no interactions");
    }
    Ok(out)
}

/// Reads an interaction file.
pub fn read(path: &Path) -> Result<Vec<Interaction>> {
    let text = crate::formats::read_text(path)?;
    parse(&text).with_context(|| format!("{}", path.display()))
}

/// Item ids in order: numerically when every id is a number, else as text.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// One user's split sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct UserSplit {
    pub user: String,
    pub train: Vec<String>,
    pub validation: Vec<String>,
    pub test: Vec<String>,
}

/// The chronological split of every user with more than 5 interactions, users in id order.
pub fn split(interactions: &[Interaction]) -> Vec<UserSplit> {
    let mut by_user: BTreeMap<&str, Vec<&Interaction>> = BTreeMap::new();
    for x in interactions {
        by_user.entry(&x.user).or_default().push(x);
    }
    let mut users: Vec<UserSplit> = by_user
        .into_iter()
        .filter(|(_, xs)| xs.len() > 5)
        .map(|(user, mut xs)| {
            xs.sort_by(|a, b| {
                a.timestamp
                    .total_cmp(&b.timestamp)
                    .then_with(|| id_order(&a.item, &b.item))
            });
            let n = xs.len();
            let (a, b) = ((0.7 * n as f64) as usize, (0.8 * n as f64) as usize);
            let items: Vec<String> = xs.iter().map(|x| x.item.clone()).collect();
            UserSplit {
                user: user.to_string(),
                train: items[..a].to_vec(),
                validation: items[a..b].to_vec(),
                test: items[b..].to_vec(),
            }
        })
        .collect();
    users.sort_by(|a, b| id_order(&a.user, &b.user));
    users
}

/// Ranking metrics averaged over the users that have targets.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub users: usize,
    pub map: f64,
    pub precision: [f64; 3],
    pub recall: [f64; 3],
}

/// The cut-offs of [`Metrics::precision`] and [`Metrics::recall`].
pub const CUTOFFS: [usize; 3] = [1, 5, 10];

/// Average precision of a full `ranking` against `targets` (Caser's `apk` with `k = ∞`).
pub fn average_precision(ranking: &[&str], targets: &HashSet<&str>) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let (mut hits, mut score) = (0.0, 0.0);
    for (rank, item) in ranking.iter().enumerate() {
        if targets.contains(item) {
            hits += 1.0;
            score += hits / (rank + 1) as f64;
        }
    }
    score / targets.len() as f64
}

/// Accumulates metrics user by user.
#[derive(Default)]
pub struct Evaluation {
    sum: Metrics,
}

impl Evaluation {
    /// Adds one user's ranking (excluded items already removed) against its targets; users
    /// without targets do not count.
    pub fn add(&mut self, ranking: &[&str], targets: &[String]) {
        let targets: HashSet<&str> = targets.iter().map(String::as_str).collect();
        if targets.is_empty() {
            return;
        }
        self.sum.users += 1;
        self.sum.map += average_precision(ranking, &targets);
        for (slot, &k) in CUTOFFS.iter().enumerate() {
            let hits = ranking
                .iter()
                .take(k)
                .filter(|i| targets.contains(*i))
                .count() as f64;
            self.sum.precision[slot] += hits / k as f64;
            self.sum.recall[slot] += hits / targets.len() as f64;
        }
    }

    /// The averages.
    pub fn finish(&self) -> Metrics {
        let n = self.sum.users.max(1) as f64;
        Metrics {
            users: self.sum.users,
            map: self.sum.map / n,
            precision: self.sum.precision.map(|p| p / n),
            recall: self.sum.recall.map(|r| r / n),
        }
    }
}

/// Which targets an evaluation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Validation items; training items excluded.
    Validation,
    /// Test items; training and validation items excluded.
    Test,
}

/// Every item of the file, once.
pub fn items(interactions: &[Interaction]) -> Vec<String> {
    let set: HashSet<&str> = interactions.iter().map(|x| x.item.as_str()).collect();
    let mut items: Vec<String> = set.into_iter().map(str::to_string).collect();
    items.sort_by(|a, b| id_order(a, b));
    items
}

/// The popularity baseline: every user gets all `items` by interaction count over training
/// and validation (ties by item id), minus the excluded ones.
pub fn popularity(users: &[UserSplit], items: &[String], stage: Stage) -> Metrics {
    let mut counts: HashMap<&str, usize> = items.iter().map(|i| (i.as_str(), 0)).collect();
    for u in users {
        for item in u.train.iter().chain(&u.validation) {
            *counts.entry(item).or_insert(0) += 1;
        }
    }
    let mut order: Vec<&str> = counts.keys().copied().collect();
    order.sort_by(|a, b| counts[b].cmp(&counts[a]).then_with(|| id_order(a, b)));
    let mut evaluation = Evaluation::default();
    for u in users {
        let (seen, targets): (HashSet<&str>, &[String]) = match stage {
            Stage::Validation => (u.train.iter().map(String::as_str).collect(), &u.validation),
            Stage::Test => (
                u.train
                    .iter()
                    .chain(&u.validation)
                    .map(String::as_str)
                    .collect(),
                &u.test,
            ),
        };
        let ranking: Vec<&str> = order
            .iter()
            .copied()
            .filter(|i| !seen.contains(i))
            .collect();
        evaluation.add(&ranking, targets);
    }
    evaluation.finish()
}

/// Tokens from `first` on by `keys` (one per token), best first, ties by the lower token, the
/// `excluded` ones left out: the order host tools and devices share.
pub fn rank_tokens(keys: &[f64], first: u16, excluded: impl Fn(u16) -> bool) -> Vec<u16> {
    let mut order: Vec<u16> = (first..keys.len() as u16)
        .filter(|&t| !excluded(t))
        .collect();
    order.sort_by(|&a, &b| {
        keys[usize::from(b)]
            .total_cmp(&keys[usize::from(a)])
            .then(a.cmp(&b))
    });
    order
}

/// Items in a recommendation model's history (its pair map is `L×L`).
pub const HISTORY: usize = 5;

/// A recommendation model's tokens for a data file: 0 pads a history shorter than
/// [`HISTORY`]; item `k` of [`items`] (ids in order) is token `k + 1`; users are rows of the
/// side table in [`split`]'s order. Both follow from the file alone.
pub struct ItemsData {
    /// Item ids; item `k` is token `k + 1`.
    pub items: Vec<String>,
    /// Users in side-table order, with their splits.
    pub users: Vec<UserSplit>,
    token_of: HashMap<String, u16>,
}

impl ItemsData {
    /// Tokens and rows of an interaction file's items and users (see the module docs).
    pub fn new(interactions: &[Interaction]) -> Result<Self> {
        let items = items(interactions);
        if items.len() + 1 > u16::MAX as usize {
            bail!(
                "{} items: at most {} fit a model",
                items.len(),
                u16::MAX - 1
            );
        }
        let users = split(interactions);
        if users.is_empty() || users.len() > u16::MAX as usize {
            bail!(
                "{} users with more than 5 interactions: need 1 to 65535",
                users.len()
            );
        }
        let token_of = items
            .iter()
            .enumerate()
            .map(|(k, id)| (id.clone(), (k + 1) as u16))
            .collect();
        Ok(Self {
            items,
            users,
            token_of,
        })
    }

    /// Tokens of the model's vocabulary (the padding token included).
    pub fn vocab(&self) -> usize {
        self.items.len() + 1
    }

    /// The token of an item id.
    pub fn token(&self, id: &str) -> Option<u16> {
        self.token_of.get(id).copied()
    }

    pub fn tokens(&self, ids: &[String]) -> Vec<u16> {
        ids.iter().filter_map(|id| self.token(id)).collect()
    }

    /// The last [`HISTORY`] tokens of `ids`, padded in front with token 0.
    pub fn history(&self, ids: &[String]) -> [u16; HISTORY] {
        let tokens = self.tokens(ids);
        let mut out = [0u16; HISTORY];
        let take = tokens.len().min(HISTORY);
        out[HISTORY - take..].copy_from_slice(&tokens[tokens.len() - take..]);
        out
    }

    /// User `u`'s history and excluded items for `stage`, with its targets.
    pub fn stage(&self, u: usize, stage: Stage) -> ([u16; HISTORY], HashSet<u16>, &[String]) {
        let user = &self.users[u];
        let (seen, targets): (Vec<String>, &[String]) = match stage {
            Stage::Validation => (user.train.clone(), &user.validation),
            Stage::Test => (
                user.train.iter().chain(&user.validation).cloned().collect(),
                &user.test,
            ),
        };
        let history = self.history(&seen);
        (history, self.tokens(&seen).into_iter().collect(), targets)
    }

    /// Item ids by `scores` (one per token), best first, ties by the lower token; the padding
    /// token and `seen` left out.
    pub fn rank(&self, scores: &[f64], seen: &HashSet<u16>) -> Vec<&str> {
        rank_tokens(scores, 1, |t| seen.contains(&t))
            .into_iter()
            .filter_map(|t| self.items.get(usize::from(t) - 1).map(String::as_str))
            .collect()
    }
}

/// The ids behind a recommendation model's tokens, saved next to its weights and blob
/// (`NAME.ids.json`) so that users and items can be named as the data file names them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdMap {
    /// Item ids; item `k` is token `k + 1` (token 0 pads short histories).
    pub items: Vec<String>,
    /// User ids; user `r` is row `r` of the side table.
    pub users: Vec<String>,
}

impl IdMap {
    /// The map of `data`.
    pub fn of(data: &ItemsData) -> Self {
        Self {
            items: data.items.clone(),
            users: data.users.iter().map(|u| u.user.clone()).collect(),
        }
    }

    /// Where the map of a weights file or blob lives: the same path with `.ids.json`.
    pub fn path_for(model: &Path) -> std::path::PathBuf {
        model.with_extension("ids.json")
    }

    /// Reads a map.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the id map {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not an id map", path.display()))
    }

    /// The token of an item id.
    pub fn item_token(&self, id: &str) -> Result<u16> {
        self.items
            .iter()
            .position(|i| i == id)
            .map(|k| (k + 1) as u16)
            .with_context(|| {
                format!(
                    "item `{id}` is not one of the model's {} items",
                    self.items.len()
                )
            })
    }

    /// The side-table row of a user id.
    pub fn user_row(&self, id: &str) -> Result<u16> {
        self.users
            .iter()
            .position(|u| u == id)
            .map(|r| r as u16)
            .with_context(|| {
                format!(
                    "user `{id}` is not one of the model's {} users",
                    self.users.len()
                )
            })
    }
}
