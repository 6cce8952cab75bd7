//! The dense baseline conv agrees with the symmetric conv when the kernels are symmetric and
//! the input map is symmetric: same values on every pair `i <= j`, and a symmetric output.

use scnn::tri::{tri_index, tri_len, TriMap};
use scnn::{ConvGeom, ConvI8, DenseConvI8, Involution, OutputQuant, QuantMap};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn i8(&mut self) -> i8 {
        (self.next() % 255) as i8 as i32 as i8
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn case<const L: usize>(seed: u64, c_in: usize, c_out: usize, k: usize, d: usize, len: usize) {
    let mut rng = Rng(seed);
    let tri = |u: usize, v: usize| -> usize {
        let (a, b) = if u <= v { (u, v) } else { (v, u) };
        (0..a).map(|r| k - r).sum::<usize>() + (b - a)
    };
    let per_kernel = k * (k + 1) / 2;
    let packed: Vec<i8> = (0..c_out * c_in * per_kernel)
        .map(|_| rng.i8().max(-127))
        .collect();
    // Dense [O][u][v][C] from the packed symmetric kernels.
    let mut dense = vec![0i8; c_out * k * k * c_in];
    for o in 0..c_out {
        for c in 0..c_in {
            for u in 0..k {
                for v in 0..k {
                    dense[((o * k + u) * k + v) * c_in + c] =
                        packed[(o * c_in + c) * per_kernel + tri(u, v)];
                }
            }
        }
    }
    let bias: Vec<i32> = (0..c_out)
        .map(|_| rng.below(20001) as i32 - 10000)
        .collect();
    let multipliers: Vec<i32> = (0..c_out)
        .map(|_| (1 << 30) + rng.below(1 << 30) as i32)
        .collect();
    let shifts: Vec<i32> = (0..c_out).map(|_| -(6 + rng.below(4) as i32)).collect();
    let quant = OutputQuant {
        multipliers: &multipliers,
        shifts: &shifts,
        zero_point: rng.below(40) as i32 - 20,
        act_min: -128,
        act_max: 127,
    };
    let in_zp = rng.below(60) as i32 - 30;
    let input: Vec<i8> = (0..tri_len(L) * c_in).map(|_| rng.i8()).collect();
    let mut dense_input = vec![0i8; L * L * c_in];
    for i in 0..L {
        for j in 0..L {
            let pair = tri_index(L, i.min(j), i.max(j));
            dense_input[(i * L + j) * c_in..(i * L + j + 1) * c_in]
                .copy_from_slice(&input[pair * c_in..(pair + 1) * c_in]);
        }
    }

    let geom = ConvGeom::new(c_in, c_out, k, d, Involution::Identity).unwrap();
    let sym = ConvI8::new(geom, &packed, &bias, quant).unwrap();
    let map = QuantMap::new(TriMap::<i8, L>::new(&input, c_in, len).unwrap(), in_zp).unwrap();
    let mut scratch = vec![0i16; scnn::plan::dense_i8_scratch_len(c_in, c_out, k)];
    let mut sym_out = vec![0i8; tri_len(L) * c_out];
    sym.run::<_, L>(&map, &mut scratch, &mut sym_out).unwrap();

    let plain = DenseConvI8::new(c_in, c_out, k, d, &dense, &bias, quant).unwrap();
    let mut dense_out = vec![0i8; L * L * c_out];
    plain
        .run::<L>(&dense_input, len, in_zp, &mut scratch, &mut dense_out)
        .unwrap();

    for i in 0..L {
        for j in i..L {
            let pair = tri_index(L, i, j);
            let s = &sym_out[pair * c_out..(pair + 1) * c_out];
            let upper = &dense_out[(i * L + j) * c_out..(i * L + j + 1) * c_out];
            let lower = &dense_out[(j * L + i) * c_out..(j * L + i + 1) * c_out];
            assert_eq!(s, upper, "pair ({i}, {j}), case seed {seed}");
            assert_eq!(upper, lower, "dense output not symmetric at ({i}, {j})");
        }
    }
}

#[test]
fn dense_baseline_equals_the_symmetric_conv_on_symmetric_data() {
    case::<9>(1, 3, 2, 3, 1, 9);
    case::<9>(2, 2, 3, 3, 2, 7);
    case::<12>(3, 4, 4, 5, 1, 12);
    case::<8>(4, 1, 2, 1, 1, 5);
    case::<16>(5, 2, 2, 7, 2, 13);
}

#[test]
fn dense_baseline_rejects_bad_shapes() {
    let w = [0i8; 9];
    let b = [0i32; 1];
    let (m, s) = ([1 << 30], [0]);
    let q = OutputQuant {
        multipliers: &m,
        shifts: &s,
        zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    assert!(DenseConvI8::new(1, 1, 3, 1, &w[..8], &b, q).is_err());
    assert!(DenseConvI8::new(1, 1, 4, 1, &w, &b, q).is_err());
    let conv = DenseConvI8::new(1, 1, 3, 1, &w, &b, q).unwrap();
    let mut scratch = [0i16; scnn::plan::dense_i8_scratch_len(1, 1, 3)];
    assert_eq!(scratch.len(), conv.scratch_len());
    let mut out = [0i8; 16];
    conv.run::<4>(&[0; 16], 4, 0, &mut scratch, &mut out)
        .unwrap();
    assert!(conv
        .run::<4>(&[0; 15], 4, 0, &mut scratch, &mut out)
        .is_err());
    assert!(conv
        .run::<4>(&[0; 16], 5, 0, &mut scratch, &mut out)
        .is_err());
    // The patch alone is not enough: every build needs room for the widened weights.
    assert!(conv
        .run::<4>(&[0; 16], 4, 0, &mut scratch[..9], &mut out)
        .is_err());
}
