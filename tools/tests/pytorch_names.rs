//! Weights saved with PyTorch's own module names convert as if they had scnn's: an
//! `nn.Sequential`, conv + batch-norm blocks, numbered attributes; a layout that does not fit
//! the description is an error that lists what the file holds.

use std::collections::BTreeMap;

use scnn_tools::commands::example;
use scnn_tools::config::ModelConfig;
use scnn_tools::weights::{self, FloatModel};

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The example with batch norm after layer 1, its tensors named the scnn way.
fn reference() -> (ModelConfig, Tensors) {
    let mut config = example::config();
    config.layers[1].batch_norm = true;
    let o = config.layers[1].out_channels;
    let mut tensors = example::tensors();
    for (key, base) in [
        ("weight", 1.5),
        ("bias", 0.1),
        ("running_mean", 0.2),
        ("running_var", 2.0),
    ] {
        let values = (0..o).map(|k| base + 0.01 * k as f32).collect();
        tensors.insert(format!("layers.1.bn.{key}"), (vec![o], values));
    }
    (config, tensors)
}

/// The reference tensors renamed by `rename` (scnn name → file name).
fn renamed(rename: impl Fn(&str) -> String) -> Vec<u8> {
    let (config, tensors) = reference();
    let mut out: Tensors = tensors
        .into_iter()
        .map(|(name, value)| (rename(&name), value))
        .collect();
    // PyTorch saves this beside every BatchNorm2d.
    let counter = rename("layers.1.bn.weight").replace(".weight", ".num_batches_tracked");
    out.insert(counter, (vec![1], vec![0.0]));
    weights::to_bytes(&config, &out).unwrap()
}

fn load(bytes: &[u8]) -> anyhow::Result<FloatModel> {
    FloatModel::from_bytes(bytes, false)
}

fn assert_same(model: &FloatModel) {
    let (config, tensors) = reference();
    let want = load(&weights::to_bytes(&config, &tensors).unwrap()).unwrap();
    for (t, (a, b)) in model.layers.iter().zip(&want.layers).enumerate() {
        assert_eq!(a.weight, b.weight, "layer {t} weights");
        assert_eq!(a.bias, b.bias, "layer {t} bias (batch norm folded)");
    }
}

/// `layers.T.rest` → (T, rest).
fn split(name: &str) -> (usize, &str) {
    let rest = name.strip_prefix("layers.").unwrap();
    let (t, rest) = rest.split_once('.').unwrap();
    (t.parse().unwrap(), rest)
}

#[test]
fn an_nn_sequential_state_dict_converts() {
    // conv, relu, conv, bn, relu, …: the conv of layer t is module 3t, its batch norm 3t + 1.
    let bytes = renamed(|name| {
        let (t, rest) = split(name);
        match rest.strip_prefix("bn.") {
            Some(key) => format!("net.{}.{key}", 3 * t + 1),
            None => format!("net.{}.{rest}", 3 * t),
        }
    });
    assert_same(&load(&bytes).unwrap());
}

#[test]
fn conv_and_batch_norm_blocks_convert() {
    let bytes = renamed(|name| {
        let (t, rest) = split(name);
        match rest.strip_prefix("bn.") {
            Some(key) => format!("blocks.{t}.norm.{key}"),
            None => format!("blocks.{t}.conv.{rest}"),
        }
    });
    assert_same(&load(&bytes).unwrap());
}

#[test]
fn numbered_attributes_convert_in_number_order() {
    // conv1 … conv4 and bn2: `conv10` would sort after `conv9`, not after `conv1`.
    let bytes = renamed(|name| {
        let (t, rest) = split(name);
        match rest.strip_prefix("bn.") {
            Some(key) => format!("bn{}.{key}", t + 1),
            None => format!("conv{}.{rest}", t + 1),
        }
    });
    assert_same(&load(&bytes).unwrap());
}

#[test]
fn a_layout_that_does_not_fit_is_an_error_that_lists_the_file() {
    // One conv short of the description.
    let (config, tensors) = reference();
    let mut short: Tensors = tensors
        .into_iter()
        .filter(|(name, _)| !name.starts_with("layers.3."))
        .map(|(name, value)| (name.replace("layers.", "net."), value))
        .collect();
    short.remove("net.1.bn.num_batches_tracked");
    let error = load(&weights::to_bytes(&config, &short).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the description has 4 conv layers, the file 3 4-D `*.weight` tensors (net.0.weight, net.1.weight, net.2.weight)"),
        "{error}"
    );
    // A batch norm the description does not have.
    let (mut plain, tensors) = reference();
    plain.layers[1].batch_norm = false;
    let named: Tensors = tensors
        .into_iter()
        .map(|(name, value)| (name.replace("layers.", "m."), value))
        .collect();
    let error = load(&weights::to_bytes(&plain, &named).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("batch norm `m.1.bn` follows layer 1 (`m.1.weight`), whose description has no batch_norm"),
        "{error}"
    );
}
