//! Weights files as PyTorch writes them: half-precision and double tensors read as f32 (and
//! said so), BatchNorm2d's `num_batches_tracked` counters ignored, other types refused.

use std::collections::HashMap;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use scnn_tools::commands::example;
use scnn_tools::config::METADATA_KEY;
use scnn_tools::weights::FloatModel;

fn encode(dtype: Dtype, values: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::F16 => values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::F64 => values
            .iter()
            .flat_map(|&v| (v as f64).to_le_bytes())
            .collect(),
        Dtype::I32 => values
            .iter()
            .flat_map(|&v| (v as i32).to_le_bytes())
            .collect(),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// The example fixture with each tensor stored as `dtype_of(name)`, plus `extra` tensors.
fn file(dtype_of: impl Fn(&str) -> Dtype, extra: &[(&str, Dtype, Vec<u8>)]) -> Vec<u8> {
    let encoded: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = example::tensors()
        .iter()
        .map(|(name, (shape, values))| {
            let dtype = dtype_of(name);
            (name.clone(), shape.clone(), dtype, encode(dtype, values))
        })
        .chain(extra.iter().map(|(n, d, b)| {
            (
                n.to_string(),
                vec![b.len() * 8 / d.bitsize()],
                *d,
                b.clone(),
            )
        }))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = encoded
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let mut metadata = HashMap::new();
    metadata.insert(
        METADATA_KEY.to_string(),
        serde_json::to_string(&example::config()).unwrap(),
    );
    safetensors::tensor::serialize(views, Some(metadata)).unwrap()
}

fn weights_as(dtype: Dtype) -> impl Fn(&str) -> Dtype {
    move |name: &str| {
        if name.ends_with(".weight") {
            dtype
        } else {
            Dtype::F32
        }
    }
}

#[test]
fn half_and_double_precision_read_as_f32_and_are_reported() {
    let reference = FloatModel::from_bytes(&file(weights_as(Dtype::F32), &[]), false).unwrap();
    assert!(reference.converted.is_empty());
    for dtype in [Dtype::F16, Dtype::BF16, Dtype::F64] {
        let model = FloatModel::from_bytes(&file(weights_as(dtype), &[]), false).unwrap();
        assert_eq!(
            model.converted.len(),
            4,
            "{dtype:?}: the four layer weights"
        );
        assert!(model
            .converted
            .iter()
            .all(|(_, d)| d == &format!("{dtype:?}")));
        // Within the stored type's rounding of the f32 weights (bf16 keeps 8 bits).
        for (a, b) in model.layers.iter().zip(&reference.layers) {
            for (x, y) in a.weight.iter().zip(&b.weight) {
                assert!(
                    (x - y).abs() <= y.abs() / 128.0 + 1e-6,
                    "{dtype:?}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn batch_norm_counters_are_ignored_and_other_tensors_refused() {
    let counter = 1i64.to_le_bytes().to_vec();
    let with_counter = file(
        weights_as(Dtype::F32),
        &[("layers.1.bn.num_batches_tracked", Dtype::I64, counter)],
    );
    assert!(FloatModel::from_bytes(&with_counter, false).is_ok());

    let stray = file(
        weights_as(Dtype::F32),
        &[("layers.1.scale", Dtype::F32, 1f32.to_le_bytes().to_vec())],
    );
    let error = FloatModel::from_bytes(&stray, false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unexpected tensor `layers.1.scale`"),
        "{error}"
    );

    let ints = file(
        |name| {
            if name == "layers.0.weight" {
                Dtype::I32
            } else {
                Dtype::F32
            }
        },
        &[],
    );
    let error = FloatModel::from_bytes(&ints, false)
        .unwrap_err()
        .to_string();
    assert!(error.contains("`layers.0.weight` has dtype I32"), "{error}");
}
