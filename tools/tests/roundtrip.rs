//! Weights → blob → loader gives back exactly the packed values that went in.

use std::path::Path;

use scnn::model::{EmbeddingTable, LayerParams};
use scnn::Model;
use scnn_tools::formats::fasta;
use scnn_tools::quantize;
use scnn_tools::runtime::Blob;
use scnn_tools::weights::FloatModel;

fn example() -> FloatModel {
    FloatModel::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/example.safetensors"),
        false,
    )
    .unwrap()
}

#[test]
fn f32_blob_round_trips_packed_kernels() {
    let float = example();
    let blob = Blob::new(&quantize::f32_blob(&float).unwrap().to_bytes());
    let model = Model::<128>::from_bytes(blob.bytes()).unwrap();
    let EmbeddingTable::F32(table) = model.embedding() else {
        panic!("f32 blob")
    };
    assert_eq!(*table, &float.embedding[..]);
    for (t, layer) in model.layers().enumerate() {
        let LayerParams::F32(p) = layer.params else {
            panic!("f32 layer")
        };
        assert_eq!(p.weights, &float.packed(t)[..], "layer {t} weights");
        assert_eq!(p.bias, &float.layers[t].bias[..], "layer {t} bias");
        assert_eq!(layer.residual, float.config.layers[t].residual);
        assert_eq!(layer.kernel, float.config.layers[t].kernel);
        assert_eq!(layer.dilation, float.config.layers[t].dilation);
    }
    // Only triangles and one kernel per transposed pair are stored: layer 0 has 8 concat
    // channels (4 stored 1×1 kernels) and 16 outer-product channels (4 diagonal + 6 pairs).
    assert_eq!(float.packed(0).len(), 8 * (4 + 4 + 6));
}

#[test]
fn int8_blob_round_trips_quantized_values() {
    let float = example();
    let records =
        fasta::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/calibration.fa")).unwrap();
    let sequences: Vec<_> = records
        .iter()
        .map(|r| fasta::tokens(&r.name, &r.sequence, scnn::apps::rna::ALPHABET).unwrap())
        .collect();
    let ranges = quantize::calibrate(&float, &sequences, || {});
    let spec = quantize::int8_blob(&float, &ranges).unwrap();
    let blob = Blob::new(&spec.to_bytes());
    let model = Model::<128>::from_bytes(blob.bytes()).unwrap();
    for (t, layer) in model.layers().enumerate() {
        let LayerParams::I8(p) = layer.params else {
            panic!("int8 layer")
        };
        let bytes: Vec<u8> = p.weights.iter().map(|&w| w as u8).collect();
        assert_eq!(bytes, spec.layers[t].weights, "layer {t} weights");
        let bias: Vec<u8> = p.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
        assert_eq!(bias, spec.layers[t].params[..bias.len()], "layer {t} bias");
        // Per-channel symmetric weights use the full range: the largest is ±127.
        for row in p.weights.chunks(p.weights.len() / layer.out_channels) {
            let max = row.iter().map(|w| w.unsigned_abs()).max().unwrap();
            assert!(max == 127 || max == 0, "layer {t}: row max {max}");
        }
    }
}
