//! Growing a trained model: `--init` weights of a model with fewer residual blocks, or fewer
//! channels, than the one asked for. Each new block starts with zero kernels and biases, so it
//! adds nothing to the skip connection and, its input being a ReLU output already, passes that
//! input on. A widened layer keeps its old channels' weights; its new channels start from the
//! usual random values and reach no old channel (their weights into old channels, and the
//! head's, start at zero). Either way the grown net computes exactly what the file's did, and
//! training goes on from there.

use anyhow::{bail, Result};

use crate::config::{ActivationName, LayerConfig, ModelConfig};

/// Per layer of `asked`: the layer of `file` whose weights it takes, or `None` for a new
/// block that starts as the identity. Fails unless `asked` is `file` with such blocks
/// inserted and layers at least as wide (same input, pair features and head, the last layer
/// as wide as the file's; every other layer the same but for its width, in order).
pub fn layer_sources(file: &ModelConfig, asked: &ModelConfig) -> Result<Vec<Option<usize>>> {
    let without_layers = |c: &ModelConfig| ModelConfig {
        layers: Vec::new(),
        ..c.clone()
    };
    if without_layers(file) != without_layers(asked) {
        bail!("its input, pair features or head differ from the asked model's");
    }
    if asked.layers.len() < file.layers.len() {
        bail!(
            "the asked model has {} layers and the file's {}: blocks can be added, not removed",
            asked.layers.len(),
            file.layers.len()
        );
    }
    let mut sources = Vec::with_capacity(asked.layers.len());
    // value[t]: the file layer whose output layer t's output equals at the start.
    let mut value: Vec<usize> = Vec::with_capacity(asked.layers.len());
    let mut next = 0;
    let last = asked.layers.len().saturating_sub(1);
    for (t, layer) in asked.layers.iter().enumerate() {
        let same_shape = file
            .layers
            .get(next)
            .filter(|f| same_but_width_and_residual(f, layer));
        let width_allowed = |f: &LayerConfig| {
            layer.out_channels == f.out_channels || layer.out_channels > f.out_channels && t != last
        };
        let taken = same_shape
            .filter(|f| f.residual == layer.residual.map(|s| value[s]) && width_allowed(f));
        if taken.is_some() {
            sources.push(Some(next));
            value.push(next);
            next += 1;
        } else if starts_as_identity(asked, t) {
            sources.push(None);
            value.push(value[t - 1]);
        } else if let Some(f) = same_shape.filter(|f| !width_allowed(f)) {
            bail!(
                "layer {t} of the asked model has {} channels and the file's layer {next} {}: {}",
                layer.out_channels,
                f.out_channels,
                if t == last {
                    "the last layer keeps its width"
                } else {
                    "layers can be widened, not narrowed"
                }
            );
        } else {
            bail!(
                "layer {t} of the asked model ({}) is neither layer {next} of the file nor a new residual block on the layer before it",
                describe(layer)
            );
        }
    }
    if next < file.layers.len() {
        bail!(
            "layer {next} of the file ({}) has no place in the asked model",
            describe(&file.layers[next])
        );
    }
    Ok(sources)
}

/// `k×k, dilation d, c channels`: a layer as messages name it.
pub fn describe(layer: &LayerConfig) -> String {
    format!(
        "{k}×{k}, dilation {d}, {c} channels",
        k = layer.kernel,
        d = layer.dilation,
        c = layer.out_channels
    )
}

fn same_but_width_and_residual(a: &LayerConfig, b: &LayerConfig) -> bool {
    let neither = |l: &LayerConfig| LayerConfig {
        residual: None,
        out_channels: 0,
        ..l.clone()
    };
    neither(a) == neither(b)
}

/// Whether layer `t` of `config`, with zero weights, outputs its input: a same-padded residual
/// conv on the layer before it, as wide as that layer, whose activation leaves that layer's
/// outputs as they are (ReLU after ReLU or ReLU6; ReLU6 only after ReLU6).
fn starts_as_identity(config: &ModelConfig, t: usize) -> bool {
    let Some(before) = t.checked_sub(1).map(|s| &config.layers[s]) else {
        return false;
    };
    let layer = &config.layers[t];
    let keeps = matches!(
        (before.activation, layer.activation),
        (
            ActivationName::Relu | ActivationName::Relu6,
            ActivationName::Relu
        ) | (ActivationName::Relu6, ActivationName::Relu6)
    );
    keeps
        && layer.residual == Some(t - 1)
        && layer.out_channels == before.out_channels
        && layer.padding == crate::config::PaddingName::Same
        && !layer.batch_norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PaddingName;

    fn conv(dilation: usize, residual: Option<usize>) -> LayerConfig {
        LayerConfig {
            out_channels: 4,
            kernel: 3,
            dilation,
            activation: ActivationName::Relu,
            residual,
            batch_norm: false,
            padding: PaddingName::Same,
        }
    }

    fn head() -> LayerConfig {
        LayerConfig {
            out_channels: 1,
            kernel: 1,
            activation: ActivationName::None,
            ..conv(1, None)
        }
    }

    fn model(layers: Vec<LayerConfig>) -> ModelConfig {
        let mut config: ModelConfig = serde_json::from_str(
            r#"{"pair_len":16,"embedding_dim":4,"pair_features":["outer"],"layers":[]}"#,
        )
        .unwrap();
        config.layers = layers;
        config
    }

    #[test]
    fn a_block_inserted_anywhere_starts_new_and_the_rest_map_in_order() {
        let file = model(vec![conv(1, None), conv(2, Some(0)), head()]);
        let at_end = model(vec![
            conv(1, None),
            conv(2, Some(0)),
            conv(4, Some(1)),
            head(),
        ]);
        assert_eq!(
            layer_sources(&file, &at_end).unwrap(),
            [Some(0), Some(1), None, Some(2)]
        );
        // In the middle: the old layer 1 now adds the new layer's output, which equals layer 0's.
        let middle = model(vec![
            conv(1, None),
            conv(4, Some(0)),
            conv(2, Some(1)),
            head(),
        ]);
        assert_eq!(
            layer_sources(&file, &middle).unwrap(),
            [Some(0), None, Some(1), Some(2)]
        );
        assert_eq!(
            layer_sources(&file, &file).unwrap(),
            [Some(0), Some(1), Some(2)]
        );
    }

    #[test]
    fn only_residual_relu_blocks_of_the_same_width_may_be_new() {
        let file = model(vec![conv(1, None), head()]);
        let no_skip = model(vec![conv(1, None), conv(2, None), head()]);
        let err = layer_sources(&file, &no_skip).unwrap_err().to_string();
        assert!(err.contains("layer 1 of the asked model"), "{err}");
        let wider = model(vec![
            conv(1, None),
            LayerConfig {
                out_channels: 8,
                ..conv(2, Some(0))
            },
            head(),
        ]);
        // Wider without a skip from the layer before is not a new block either.
        assert!(layer_sources(&file, &wider).is_err());
        let clamps = model(vec![
            conv(1, None),
            LayerConfig {
                activation: ActivationName::Relu6,
                ..conv(2, Some(0))
            },
            head(),
        ]);
        assert!(layer_sources(&file, &clamps).is_err());
        // A layer of the file the asked model drops, or a changed input, is refused too.
        let fewer = model(vec![conv(1, None)]);
        let err = layer_sources(&file, &fewer).unwrap_err().to_string();
        assert!(err.contains("not removed"), "{err}");
        // As many layers, one of them new: a layer of the file is left over.
        let swapped = model(vec![conv(1, None), conv(2, Some(0)), conv(4, Some(1))]);
        let err = layer_sources(&file, &swapped).unwrap_err().to_string();
        assert!(err.contains("has no place"), "{err}");
        let mut other_input = file.clone();
        other_input.pair_len = 32;
        assert!(layer_sources(&file, &other_input).is_err());
    }

    #[test]
    fn layers_may_be_widened_but_not_narrowed_and_the_last_keeps_its_width() {
        let width = |c: usize, l: LayerConfig| LayerConfig {
            out_channels: c,
            ..l
        };
        let file = model(vec![conv(1, None), conv(2, Some(0)), head()]);
        let wider = model(vec![
            width(6, conv(1, None)),
            width(6, conv(2, Some(0))),
            width(6, conv(4, Some(1))),
            head(),
        ]);
        assert_eq!(
            layer_sources(&file, &wider).unwrap(),
            [Some(0), Some(1), None, Some(2)]
        );
        let narrower = model(vec![
            width(2, conv(1, None)),
            width(2, conv(2, Some(0))),
            head(),
        ]);
        let err = layer_sources(&file, &narrower).unwrap_err().to_string();
        assert!(err.contains("widened, not narrowed"), "{err}");
        let two_heads = model(vec![conv(1, None), conv(2, Some(0)), width(2, head())]);
        let err = layer_sources(&file, &two_heads).unwrap_err().to_string();
        assert!(err.contains("last layer keeps its width"), "{err}");
    }

    /// The net of `grown` set from a net of `small` (through its exported weights) and the
    /// sources used, after checking that both compute the same map of a random input, to
    /// within `tolerance`.
    fn grow_and_compare(
        small: &crate::train::net::Layout,
        grown: &crate::train::net::Layout,
        tolerance: f32,
    ) -> (crate::train::net::Net, Vec<Option<usize>>) {
        use burn::tensor::{Device, Tensor, TensorData};

        use crate::commands::example::Rng;
        use crate::train::export;

        let device = Device::flex();
        let trained = small.init(3, &device);
        let tensors = export(small, &trained, &device).unwrap();
        let model = crate::weights::FloatModel {
            config: small.config.clone(),
            embedding: Vec::new(),
            layers: (0..small.config.layers.len())
                .map(|t| crate::weights::FloatLayer {
                    weight: tensors[&format!("layers.{t}.weight")].1.clone(),
                    bias: tensors[&format!("layers.{t}.bias")].1.clone(),
                })
                .collect(),
            head: Vec::new(),
            converted: Vec::new(),
            symmetrized: Vec::new(),
        };
        let sources = layer_sources(&small.config, &grown.config).unwrap();
        let net = grown
            .net_from(grown.init(5, &device), &model, &sources, &device)
            .unwrap();
        let channels = small.config.in_channels(0);
        let mut rng = Rng(9);
        let values: Vec<f32> = (0..channels * 12 * 12).map(|_| rng.unit()).collect();
        let x = || {
            Tensor::<4>::from_data(
                TensorData::new(values.clone(), [1, channels, 12, 12]),
                &device,
            )
        };
        let before: Vec<f32> = small
            .forward_maps(&trained, x(), None)
            .into_data()
            .try_to_vec()
            .unwrap();
        let after: Vec<f32> = grown
            .forward_maps(&net, x(), None)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(
            before.iter().any(|&v| v != before[0]),
            "a constant map tests nothing"
        );
        let worst = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= tolerance, "outputs differ by up to {worst}");
        (net, sources)
    }

    #[test]
    fn the_grown_net_computes_exactly_what_the_files_did() {
        use crate::train::{net::Layout, rna_config};

        let small = Layout::new(&rna_config(12, 4, &[(3, 1), (3, 2)]), false);
        let deeper = Layout::new(&rna_config(12, 4, &[(3, 1), (3, 4), (3, 2), (3, 8)]), false);
        let (_, sources) = grow_and_compare(&small, &deeper, 0.0);
        assert_eq!(sources, [Some(0), Some(1), None, Some(2), None, Some(3)]);
    }

    #[test]
    fn the_widened_net_computes_exactly_what_the_files_did_and_its_new_channels_can_learn() {
        use crate::train::{net::Layout, rna_config};

        let small = Layout::new(&rna_config(12, 4, &[(3, 1), (3, 2)]), false);
        let wider = Layout::new(&rna_config(12, 6, &[(3, 1), (3, 4), (3, 2)]), false);
        // The same sums with zeros in them, but the conv may add them up in another order.
        let (net, sources) = grow_and_compare(&small, &wider, 1e-5);
        assert_eq!(sources, [Some(0), Some(1), None, Some(2), Some(3)]);
        // The new channels' kernels start random, not at zero: nonzero parameters outnumber
        // the old layer's parameters.
        let kernel: Vec<f32> = net.kernels[1].val().into_data().try_to_vec().unwrap();
        let nonzero = kernel.iter().filter(|&&v| v != 0.0).count();
        assert!(nonzero > small.params[1], "{nonzero} of {}", kernel.len());
    }
}
