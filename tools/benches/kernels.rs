//! Host benchmarks (criterion) of the kernels `scnn bench` measures on the Cortex-M4F: the
//! REF-64 and REF-32 int8 layers, symmetric and dense, and the example model with row
//! streaming and over whole maps. Wall-clock on the host is for spotting regressions; the
//! instruction counts on the target are in `scnn bench`.

use criterion::{criterion_group, criterion_main, Criterion};
use scnn::model::Buffers;
use scnn::tri::{tri_len, TriMap};
use scnn::{ConvGeom, ConvI8, DenseConvI8, Involution, Model, OutputQuant, QuantMap};
use std::hint::black_box;

/// xorshift32, as in the benchmark firmware.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn i8(&mut self) -> i8 {
        ((self.next() % 255) as i32 - 127) as i8
    }
}

fn reference<const L: usize>(c: &mut Criterion, name: &str, ch: usize) {
    let mut rng = Rng(0x5EED_0000 ^ L as u32);
    let sym_weights: Vec<i8> = (0..ch * ch * 6).map(|_| rng.i8()).collect();
    let dense_weights: Vec<i8> = (0..ch * ch * 9).map(|_| rng.i8()).collect();
    let bias: Vec<i32> = (0..ch)
        .map(|_| (rng.next() % 20_001) as i32 - 10_000)
        .collect();
    let multipliers: Vec<i32> = (0..ch)
        .map(|_| (1 << 30) + (rng.next() % (1 << 30)) as i32)
        .collect();
    let shifts = vec![-8; ch];
    let quant = OutputQuant {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: -3,
        act_min: -128,
        act_max: 127,
    };
    let input: Vec<i8> = (0..L * L * ch).map(|_| rng.i8()).collect();
    let mut output = vec![0i8; L * L * ch];
    let mut scratch = vec![0i16; scnn::plan::dense_i8_scratch_len(ch, ch, 3)];

    let geom = ConvGeom::new(ch, ch, 3, 1, Involution::Identity).unwrap();
    let sym = ConvI8::new(geom, &sym_weights, &bias, quant).unwrap();
    let map = QuantMap::new(
        TriMap::<i8, L>::new(&input[..tri_len(L) * ch], ch, L).unwrap(),
        5,
    )
    .unwrap();
    c.bench_function(&format!("{name} symmetric"), |b| {
        b.iter(|| {
            sym.run::<_, L>(black_box(&map), &mut scratch, &mut output)
                .unwrap()
        })
    });
    let dense = DenseConvI8::new(ch, ch, 3, 1, &dense_weights, &bias, quant).unwrap();
    c.bench_function(&format!("{name} dense"), |b| {
        b.iter(|| {
            dense
                .run::<L>(black_box(&input), L, 5, &mut scratch, &mut output)
                .unwrap()
        })
    });
}

fn kernels(c: &mut Criterion) {
    reference::<64>(c, "REF-64 16->16", 16);
    reference::<32>(c, "REF-32 8->8", 8);
}

fn model(c: &mut Criterion) {
    const L: usize = 128;
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/example.scnn")).unwrap();
    let blob = scnn_tools::runtime::Blob::new(&bytes);
    let model = Model::<L>::from_bytes(blob.bytes()).unwrap();
    let trna = b"UAGAUUGAAGCCAGUAAUAGGGUAUUUAGCUGUUAACUAAAUUUUCGUAGGUUUAAUUCCUGCCAAUCUAG";
    let mut scratch = vec![0i16; model.scratch_len()];
    let mut probs = vec![0f32; tri_len(L)];
    let mut arena = vec![0i8; model.stream_arena_len().unwrap()];
    c.bench_function("example model, 71 nt, row streaming", |b| {
        b.iter(|| {
            let mut buffers = Buffers {
                arena: &mut arena,
                scratch: &mut scratch,
                probs: &mut probs,
            };
            model
                .predict_i8_streaming(black_box(trna), &mut buffers, |_, _, _| {})
                .unwrap()
        })
    });
    let mut arena = vec![0i8; model.arena_len()];
    c.bench_function("example model, 71 nt, whole map", |b| {
        b.iter(|| {
            let mut buffers = Buffers {
                arena: &mut arena,
                scratch: &mut scratch,
                probs: &mut probs,
            };
            model
                .predict_i8_with(black_box(trna), &mut buffers, |_, _| {})
                .unwrap()
        })
    });
}

criterion_group!(benches, kernels, model);
criterion_main!(benches);
