//! Training smoke test: a few steps on a tiny synthetic set. The loss must fall, every
//! kernel must be exactly symmetric after the updates, and a seed must fix the result.

use scnn_tools::commands::example::{hairpins, Rng};
use scnn_tools::dataset::Example;
use scnn_tools::formats::fasta::pairs_of;
use scnn_tools::train::{self, Options, Trained};
use scnn_tools::weights::FloatModel;

fn synthetic(count: usize, seed: u64) -> Vec<Example> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|n| {
            let (sequence, structure) = hairpins(&mut rng, 28);
            Example {
                name: format!("s{n}"),
                pairs: pairs_of(&structure).unwrap(),
                sequence,
            }
        })
        .collect()
}

fn run(dense: bool, seed: u64) -> Trained {
    let config = train::example_config(32, 4);
    let options = Options {
        epochs: 100,
        max_steps: 40,
        batch: 4,
        learning_rate: 0.01,
        pos_weight: 4.0,
        seed,
        dense,
        ..Options::default()
    };
    let data = synthetic(24, 7);
    train::train(
        &config,
        &data[..16],
        &data[16..20],
        &data[20..],
        &options,
        |_| {},
    )
    .unwrap()
}

/// Largest |W[o][c][u][v] − W[o][π(c)][v][u]| over all layers.
fn asymmetry(trained: &Trained) -> f32 {
    let config = &trained.config;
    let mut worst = 0f32;
    for (t, layer) in config.layers.iter().enumerate() {
        let (_, w) = &trained.tensors[&format!("layers.{t}.weight")];
        let partners = config.partners(t);
        let (c_count, k) = (partners.len(), layer.kernel);
        let at = |o: usize, c: usize, u: usize, v: usize| w[((o * c_count + c) * k + u) * k + v];
        for o in 0..layer.out_channels {
            for (c, &p) in partners.iter().enumerate() {
                for u in 0..k {
                    for v in 0..k {
                        worst = worst.max((at(o, c, u, v) - at(o, p, v, u)).abs());
                    }
                }
            }
        }
    }
    worst
}

#[test]
fn scnn_training_lowers_the_loss_and_keeps_kernels_exactly_symmetric() {
    let trained = run(false, 3);
    let losses = &trained.report.losses;
    assert_eq!(losses.len(), 40);
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[35..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.8 * first, "loss did not fall: {first} -> {last}");
    assert_eq!(asymmetry(&trained), 0.0, "a kernel lost its symmetry");
    // The weights load in `scnn convert` without --symmetrize.
    let bytes = scnn_tools::weights::to_bytes(&trained.config, &trained.tensors).unwrap();
    FloatModel::from_bytes(&bytes, false).unwrap();
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let a = run(false, 11);
    let b = run(false, 11);
    assert_eq!(a.report.losses, b.report.losses);
    assert_eq!(a.tensors, b.tensors);
    let c = run(false, 12);
    assert_ne!(a.tensors, c.tensors, "the seed must matter");
}

#[test]
fn a_plain_cnn_trains_without_the_constraint() {
    let trained = run(true, 3);
    let scnn = run(false, 3);
    assert!(
        asymmetry(&trained) > 1e-4,
        "the plain CNN's kernels should be free"
    );
    assert!(trained.report.trainable_parameters > scnn.report.trainable_parameters);
}

#[test]
fn a_tuned_threshold_is_chosen_on_validation_and_folded_into_the_head_bias() {
    let config = train::example_config(32, 4);
    let options = Options {
        epochs: 100,
        max_steps: 40,
        batch: 4,
        learning_rate: 0.01,
        seed: 3,
        ..Options::default()
    };
    let data = synthetic(24, 7);
    let tuned_task = train::Structures {
        tune_threshold: true,
        nested: None,
    };
    let run = |task: &train::Structures| {
        train::train_task(
            task,
            &config,
            &data[..16],
            &data[16..20],
            &data[20..],
            &options,
            |_| {},
        )
        .unwrap()
    };
    let plain = run(&train::Structures::default());
    let tuned = run(&tuned_task);
    assert!(plain.report.tuned.is_none());
    let t = tuned.report.tuned.clone().expect("a threshold");
    assert!((0.2..=0.6).contains(&t.threshold));
    // Validation chose it: no candidate scores better there than the one kept at 0.5.
    assert!(t.validation_score >= plain.report.validation_f1);
    let expected_shift = -(t.threshold / (1.0 - t.threshold)).ln();
    assert!((t.bias_shift - expected_shift).abs() < 1e-6);
    let head = format!("layers.{}.bias", config.layers.len() - 1);
    for (name, (shape, values)) in &tuned.tensors {
        let (plain_shape, plain_values) = &plain.tensors[name];
        assert_eq!(shape, plain_shape);
        for (a, b) in values.iter().zip(plain_values) {
            let shift = if *name == head { t.bias_shift } else { 0.0 };
            assert!((a - (b + shift)).abs() < 1e-6, "{name}");
        }
    }
}

/// One step of training `config` at `learning_rate` from the weights in `init`.
fn fine_tune(
    config: &scnn_tools::config::ModelConfig,
    init: &std::path::Path,
    learning_rate: f64,
) -> anyhow::Result<Trained> {
    let options = Options {
        epochs: 1,
        max_steps: 1,
        batch: 4,
        learning_rate,
        seed: 5,
        init: Some(init.to_path_buf()),
        ..Options::default()
    };
    let data = synthetic(24, 7);
    train::train(
        config,
        &data[..16],
        &data[16..20],
        &data[20..],
        &options,
        |_| {},
    )
}

#[test]
fn a_fine_tune_starts_from_the_given_weights() {
    let trained = run(false, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("start.safetensors");
    scnn_tools::weights::save(&path, &trained.config, &trained.tensors).unwrap();
    // At a zero learning rate the step changes nothing: the weights come back exactly.
    let still = fine_tune(&trained.config, &path, 0.0).unwrap();
    assert_eq!(still.tensors, trained.tensors);
    // And its first loss is the trained net's, far below a fresh net's.
    let fresh_first = run(false, 5).report.losses[0];
    let tuned_first = fine_tune(&trained.config, &path, 0.01)
        .unwrap()
        .report
        .losses[0];
    assert!(
        tuned_first < 0.8 * fresh_first,
        "fine-tune started at loss {tuned_first}, a fresh net at {fresh_first}"
    );
    // A narrower model's weights are refused, naming the option (a wider one is a widening).
    let narrower = train::example_config(32, 2);
    let err = fine_tune(&narrower, &path, 0.01).err().expect("a refusal");
    assert!(format!("{err:#}").contains("--init"), "{err:#}");
    assert!(format!("{err:#}").contains("not narrowed"), "{err:#}");
}

#[test]
fn a_family_cap_trains_each_epoch_on_at_most_that_many_of_every_family() {
    let config = train::example_config(32, 4);
    // One family of 12 sequences and four of one each.
    let mut data = synthetic(20, 3);
    for (n, e) in data.iter_mut().enumerate() {
        e.name = format!("RF{:05}|fam|s{n}", n.saturating_sub(11));
    }
    let options = |family_cap| Options {
        epochs: 2,
        batch: 2,
        family_cap,
        ..Options::default()
    };
    let steps = |family_cap| -> Vec<usize> {
        let trained = train::train(
            &config,
            &data[..16],
            &data[16..18],
            &data[18..],
            &options(family_cap),
            |_| {},
        )
        .unwrap();
        trained.report.epochs.iter().map(|e| e.steps).collect()
    };
    // Capped at 3: 3 of the large family and the 4 small ones, in batches of 2.
    assert_eq!(steps(3), [4, 4]);
    assert_eq!(steps(0), [8, 8]);
    // Names without a family can't be capped: the error says so.
    let unnamed = synthetic(6, 3);
    let refused = train::train(
        &config,
        &unnamed[..4],
        &unnamed[4..5],
        &unnamed[5..],
        &options(3),
        |_| {},
    );
    let err = refused.err().expect("trained without families");
    assert!(format!("{err:#}").contains("names no family"), "{err:#}");
}

#[test]
fn reports_weigh_families_alike_when_every_name_has_one() {
    let config = train::example_config(32, 4);
    let data = synthetic(18, 7);
    let named = |name: &str, e: &Example| Example {
        name: name.into(),
        ..e.clone()
    };
    // Of two lengths, the shorter last: evaluation batches by length, so this tells whether
    // each score lands on its own example.
    let (a, b) = (&data[15], &data[17]);
    assert!(a.sequence.len() < b.sequence.len());
    // Validation: `a` alone in one family, three copies of `b` in another; test: one each.
    let validation = [
        named("RF00002|y|b1", b),
        named("RF00002|y|b2", b),
        named("RF00002|y|b3", b),
        named("RF00001|x|a", a),
    ];
    let test = [named("RF00004|y|b", b), named("RF00003|x|a", a)];
    let options = Options {
        epochs: 100,
        max_steps: 120,
        batch: 4,
        learning_rate: 0.01,
        ..Options::default()
    };
    // A low threshold, so that this briefly trained net predicts pairs.
    let task = train::Structures {
        tune_threshold: false,
        nested: Some(scnn::decode::NestedScoring {
            threshold: 0.1,
            helix_penalty: 0.0,
        }),
    };
    let trained = train::train_task(
        &task,
        &config,
        &data[..15],
        &validation,
        &test,
        &options,
        |_| {},
    )
    .unwrap();
    let r = &trained.report;
    let f1 = |v: Option<f64>| v.expect("a mean over families");
    // The test's families hold one sequence each: both means agree.
    assert!((f1(r.test_family_f1) - r.test_f1).abs() < 1e-9, "{r:?}");
    // On validation `b` counts three times by sequence and once by family, so the family mean
    // is the test's (the same net and sequences) and the mean by sequence is not.
    assert!(
        (f1(r.validation_family_f1) - r.test_f1).abs() < 1e-9,
        "{r:?}"
    );
    assert!(
        (r.validation_f1 - r.test_f1).abs() > 1e-3,
        "a and b score alike: {r:?}"
    );
    assert!(r.epochs.iter().all(|e| e.validation_family_f1.is_some()));

    // Names without a family: no means over families.
    let plain = run(false, 1).report;
    assert_eq!(
        (plain.validation_family_f1, plain.test_family_f1),
        (None, None)
    );
    assert!(plain
        .epochs
        .iter()
        .all(|e| e.validation_family_f1.is_none()));
}
