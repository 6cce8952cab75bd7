//! Training at scale: length-bucketed batches cropped to their longest sequence, and
//! checkpoints that resume to the same weights as an uninterrupted run.

use std::collections::HashSet;

use scnn_tools::commands::example::{hairpins, Rng};
use scnn_tools::dataset::Example;
use scnn_tools::formats::fasta::pairs_of;
use scnn_tools::train::batches::{batch, by_length, epoch_batches, FamilyCap};
use scnn_tools::train::{self, Options, Trained};

fn synthetic(count: usize, seed: u64) -> Vec<Example> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|n| {
            let (sequence, structure) = hairpins(&mut rng, 14 + n % 12);
            Example {
                name: format!("s{n}"),
                pairs: pairs_of(&structure).unwrap(),
                sequence,
            }
        })
        .collect()
}

fn lengths(n: usize) -> Vec<usize> {
    let mut rng = Rng(42);
    (0..n).map(|_| 8 + rng.below(120)).collect()
}

#[test]
fn bucketed_batches_cover_every_sequence_once_and_group_lengths() {
    let lengths = lengths(203);
    let batches = epoch_batches(&lengths, 8, true, None, &mut Rng(1));
    assert_eq!(batches.len(), 203usize.div_ceil(8));
    let mut seen = HashSet::new();
    for b in &batches {
        assert!(!b.is_empty() && b.len() <= 8);
        for &i in b {
            assert!(seen.insert(i), "index {i} in two batches");
        }
    }
    assert_eq!(seen.len(), 203);
    // Bucketed: ordered by their shortest member, each batch ends where the next begins.
    let mut spans: Vec<(usize, usize)> = batches
        .iter()
        .map(|b| {
            let l = b.iter().map(|&i| lengths[i]);
            (l.clone().min().unwrap(), l.max().unwrap())
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "batches overlap in length: {w:?}");
    }
    // The batch order is shuffled with the seed, not sorted.
    let firsts: Vec<usize> = batches.iter().map(|b| lengths[b[0]]).collect();
    assert!(
        firsts.windows(2).any(|w| w[0] > w[1]),
        "batches came out sorted"
    );
    assert_eq!(batches, epoch_batches(&lengths, 8, true, None, &mut Rng(1)));
    assert_ne!(batches, epoch_batches(&lengths, 8, true, None, &mut Rng(2)));
    // Without bucketing a batch mixes lengths.
    let mixed = epoch_batches(&lengths, 8, false, None, &mut Rng(1));
    let spread = |b: &Vec<usize>| {
        let l = b.iter().map(|&i| lengths[i]);
        l.clone().max().unwrap() - l.min().unwrap()
    };
    assert!(
        mixed.iter().map(spread).sum::<usize>() > 10 * batches.iter().map(spread).sum::<usize>()
    );
}

#[test]
fn a_family_cap_draws_at_most_that_many_of_each_family_and_a_new_draw_each_epoch() {
    let lengths = lengths(203);
    // Family 0 holds 120 examples, families 1..=83 one each.
    let families: Vec<u32> = (0..203u32).map(|i| i.saturating_sub(119)).collect();
    let cap = FamilyCap {
        families: &families,
        cap: 5,
    };
    assert_eq!(cap.epoch_len(), 5 + 83);
    let mut rng = Rng(1);
    let first = epoch_batches(&lengths, 8, true, Some(cap), &mut rng);
    let second = epoch_batches(&lengths, 8, true, Some(cap), &mut rng);
    for epoch in [&first, &second] {
        let drawn: Vec<usize> = epoch.concat();
        assert_eq!(drawn.len(), cap.epoch_len());
        assert_eq!(epoch.len(), cap.epoch_len().div_ceil(8));
        assert_eq!(drawn.iter().filter(|&&i| families[i] == 0).count(), 5);
        // Every small family is in, once.
        let small: HashSet<usize> = drawn.iter().copied().filter(|&i| i >= 120).collect();
        assert_eq!(small.len(), 83);
    }
    let large = |epoch: &Vec<Vec<usize>>| -> HashSet<usize> {
        epoch.concat().into_iter().filter(|&i| i < 120).collect()
    };
    assert_ne!(large(&first), large(&second), "the same draw twice");
    // A cap no family reaches changes nothing: same batches, same randomness used.
    let loose = FamilyCap {
        families: &families,
        cap: 120,
    };
    let (mut a, mut b) = (Rng(7), Rng(7));
    assert_eq!(
        epoch_batches(&lengths, 8, true, Some(loose), &mut a),
        epoch_batches(&lengths, 8, true, None, &mut b)
    );
    assert_eq!(a.0, b.0);
}

#[test]
fn evaluation_batches_are_sorted_by_length() {
    let lengths = lengths(50);
    let batches = by_length(&lengths, 16);
    let flat: Vec<usize> = batches.concat();
    assert_eq!(flat.len(), 50);
    assert!(flat.windows(2).all(|w| lengths[w[0]] <= lengths[w[1]]));
}

#[test]
fn a_batch_is_cropped_to_its_longest_sequence() {
    let config = train::example_config(128, 4);
    let examples = [
        Example {
            name: "a".into(),
            sequence: "GGGAACCC".into(),
            pairs: vec![(0, 7), (1, 6), (2, 5)],
        },
        Example {
            name: "b".into(),
            sequence: "GAAAC".into(),
            pairs: vec![(0, 4)],
        },
    ];
    let refs: Vec<&Example> = examples.iter().collect();
    let device = burn::tensor::Device::flex();
    let b = batch(&config, &refs, &device);
    assert_eq!(b.n, 8);
    assert_eq!(b.features.dims(), [2, config.pair_channels(), 8, 8]);
    assert_eq!(b.mask.dims(), [2, 1, 8, 8]);
    let mask: Vec<f32> = b.mask.into_data().try_to_vec().unwrap();
    // The shorter sequence's mask covers its 5×5 corner only.
    assert_eq!(mask[..64].iter().sum::<f32>(), 64.0);
    assert_eq!(mask[64..].iter().sum::<f32>(), 25.0);
    assert_eq!(mask[64 + 4 * 8 + 4], 1.0);
    assert_eq!(mask[64 + 4 * 8 + 5], 0.0);
    assert_eq!(mask[64 + 5 * 8], 0.0);
    let target: Vec<f32> = b.target.into_data().try_to_vec().unwrap();
    assert_eq!(target[7], 1.0);
    assert_eq!(target[7 * 8], 1.0);
    assert_eq!(target[64 + 4], 1.0);
    assert_eq!(target.iter().sum::<f32>(), 8.0);
}

fn options(seed: u64) -> Options {
    Options {
        epochs: 3,
        batch: 4,
        learning_rate: 0.01,
        seed,
        ..Options::default()
    }
}

fn run(data: &[Example], options: &Options) -> anyhow::Result<Trained> {
    let config = train::example_config(32, 4);
    train::train(
        &config,
        &data[..16],
        &data[16..20],
        &data[20..],
        options,
        |_| {},
    )
}

#[test]
fn a_resumed_run_reaches_the_same_weights_as_an_uninterrupted_one() {
    let data = synthetic(24, 7);
    let whole = run(&data, &options(5)).unwrap();
    assert_eq!(whole.report.losses.len(), 12);

    let dir = tempfile::tempdir().unwrap();
    let mut first = options(5);
    first.checkpoint = Some(dir.path().to_path_buf());
    first.epochs_per_run = 1;
    let part = run(&data, &first).unwrap();
    assert!(!part.report.finished);
    assert_eq!(part.report.losses.len(), 4);

    // Without --resume an existing checkpoint is not overwritten.
    let err = run(&data, &first)
        .err()
        .expect("a checkpoint was overwritten");
    assert!(format!("{err:#}").contains("--resume"), "{err:#}");

    // --export-best: the weights so far, no step taken, the checkpoint left as it was.
    let mut export = first.clone();
    export.resume = true;
    export.export_best = true;
    let exported = run(&data, &export).unwrap();
    assert!(!exported.report.finished);
    assert_eq!(exported.report.steps_this_run, 0);
    assert_eq!(exported.report.losses, part.report.losses);
    assert_eq!(exported.tensors, part.tensors);
    assert_eq!(exported.report.test_f1, part.report.test_f1);

    let mut rest = first.clone();
    rest.resume = true;
    rest.epochs_per_run = 0;
    let resumed = run(&data, &rest).unwrap();
    assert!(resumed.report.finished);
    assert_eq!(resumed.report.resumed_after_epoch, 1);
    assert_eq!(resumed.report.steps_this_run, 8);
    assert_eq!(resumed.report.losses, whole.report.losses);
    assert_eq!(resumed.report.best_epoch, whole.report.best_epoch);
    assert_eq!(resumed.tensors, whole.tensors);
}

#[test]
fn a_run_stopped_within_an_epoch_resumes_to_the_same_weights() {
    let data = synthetic(24, 7);
    let whole = run(&data, &options(5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut first = options(5);
    first.checkpoint = Some(dir.path().to_path_buf());
    first.checkpoint_every = 2;
    // 4 steps an epoch: stop after 6, in the middle of the second epoch.
    first.steps_per_run = 6;
    let part = run(&data, &first).unwrap();
    assert!(!part.report.finished);
    assert_eq!(part.report.losses, whole.report.losses[..6]);
    let mut rest = first.clone();
    rest.resume = true;
    rest.steps_per_run = 3;
    // Steps 7 and 8 end epoch 2 (validated, checkpointed); step 9 starts epoch 3.
    let more = run(&data, &rest).unwrap();
    assert_eq!(more.report.losses, whole.report.losses[..9]);
    rest.steps_per_run = 0;
    let done = run(&data, &rest).unwrap();
    assert!(done.report.finished);
    assert_eq!(done.report.losses, whole.report.losses);
    assert_eq!(done.report.best_epoch, whole.report.best_epoch);
    assert_eq!(done.tensors, whole.tensors);
}

#[test]
fn a_run_stopped_inside_its_first_epoch_says_how_to_continue() {
    let data = synthetic(24, 7);
    let dir = tempfile::tempdir().unwrap();
    let mut first = options(5);
    first.checkpoint = Some(dir.path().to_path_buf());
    // 4 steps an epoch: stop after 2, before any validation.
    first.steps_per_run = 2;
    let err = run(&data, &first).err().expect("weights without an epoch");
    let message = format!("{err:#}");
    assert!(message.contains("stopped after 2 steps"), "{message}");
    assert!(message.contains("continue with --resume"), "{message}");
    // And it does continue.
    let mut rest = first.clone();
    rest.resume = true;
    rest.steps_per_run = 0;
    let done = run(&data, &rest).unwrap();
    assert!(done.report.finished);
    assert_eq!(
        done.report.losses,
        run(&data, &options(5)).unwrap().report.losses
    );
}

#[test]
fn a_checkpoint_resumes_only_its_own_run() {
    let data = synthetic(24, 7);
    let dir = tempfile::tempdir().unwrap();
    let mut first = options(5);
    first.checkpoint = Some(dir.path().to_path_buf());
    first.epochs_per_run = 1;
    run(&data, &first).unwrap();
    let mut other = options(6);
    other.checkpoint = Some(dir.path().to_path_buf());
    other.resume = true;
    let err = run(&data, &other)
        .err()
        .expect("resumed another run's checkpoint");
    assert!(format!("{err:#}").contains("different run"), "{err:#}");
    let mut missing = options(5);
    missing.checkpoint = Some(dir.path().join("none"));
    missing.resume = true;
    assert!(run(&data, &missing).is_err());
}
