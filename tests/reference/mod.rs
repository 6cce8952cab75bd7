//! An independent dense reference: full L×L maps, unpacked k×k kernels, naive loops.
//!
//! Written from the documented layouts and formulas only; it never calls the runtime's
//! kernels, gathers or requantization.
#![allow(dead_code)]

/// A channel-pairing rule described the way a user would: runs of channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// `n` self-mirroring channels.
    Fixed(usize),
    /// `[a ; b]` halves of `d` channels each, swapped by the mirror.
    Halves(usize),
    /// `d×d` outer-product channels, `(a, b)` swapped with `(b, a)`.
    Outer(usize),
    /// `n` self-mirroring channels: the one-hot bin of `|i − j|`.
    Separation(usize),
}

impl Run {
    pub fn channels(self) -> usize {
        match self {
            Run::Fixed(n) | Run::Separation(n) => n,
            Run::Halves(d) => 2 * d,
            Run::Outer(d) => d * d,
        }
    }

    pub fn to_segment(self) -> scnn::Segment {
        match self {
            Run::Fixed(n) => scnn::Segment::Fixed(n as u16),
            Run::Halves(d) => scnn::Segment::SwapHalves(d as u16),
            Run::Outer(d) => scnn::Segment::Transpose(d as u16),
            Run::Separation(n) => scnn::Segment::Separation(n as u16),
        }
    }
}

/// The partner table `π` of a list of runs.
pub fn partner_table(runs: &[Run]) -> Vec<usize> {
    let mut table = Vec::new();
    for &run in runs {
        let start = table.len();
        match run {
            Run::Fixed(n) | Run::Separation(n) => table.extend(start..start + n),
            Run::Halves(d) => {
                table.extend((0..d).map(|a| start + d + a));
                table.extend((0..d).map(|a| start + a));
            }
            Run::Outer(d) => {
                for a in 0..d {
                    for b in 0..d {
                        table.push(start + b * d + a);
                    }
                }
            }
        }
    }
    table
}

/// A dense `l×l×c` map, `data[(i·l + j)·c + ch]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T> {
    pub l: usize,
    pub c: usize,
    pub data: Vec<T>,
}

impl<T: Copy + Default> Dense<T> {
    pub fn zeros(l: usize, c: usize) -> Self {
        Self {
            l,
            c,
            data: vec![T::default(); l * l * c],
        }
    }
    pub fn at(&self, i: usize, j: usize, ch: usize) -> T {
        self.data[(i * self.l + j) * self.c + ch]
    }
    pub fn set(&mut self, i: usize, j: usize, ch: usize, value: T) {
        let c = self.c;
        let l = self.l;
        self.data[(i * l + j) * c + ch] = value;
    }

    /// Packs the upper triangle of the first `len` rows into an `cap_l`-sized triangle,
    /// following the documented index formula; pairs past `len` get `fill`.
    pub fn pack(&self, cap_l: usize, fill: T) -> Vec<T> {
        let mut out = Vec::new();
        for i in 0..cap_l {
            for j in i..cap_l {
                for ch in 0..self.c {
                    if i < self.l && j < self.l {
                        out.push(self.at(i, j, ch));
                    } else {
                        out.push(fill);
                    }
                }
            }
        }
        out
    }
}

/// Reads the value of pair `(i, j)` from a packed `cap_l` triangle by walking the rows.
pub fn packed_at<T: Copy>(
    packed: &[T],
    cap_l: usize,
    c: usize,
    i: usize,
    j: usize,
    ch: usize,
) -> T {
    let (a, b) = if i <= j { (i, j) } else { (j, i) };
    let mut index = 0;
    for row in 0..a {
        index += cap_l - row;
    }
    index += b - a;
    packed[index * c + ch]
}

/// Expands packed kernels into dense `w[o][c][u][v]` (as `((o·C + c)·k + u)·k + v`).
pub fn expand_kernels<T: Copy + Default>(
    packed: &[T],
    out_channels: usize,
    partners: &[usize],
    k: usize,
) -> Vec<T> {
    let in_channels = partners.len();
    let mut dense = vec![T::default(); out_channels * in_channels * k * k];
    let at = |o: usize, c: usize, u: usize, v: usize| ((o * in_channels + c) * k + u) * k + v;
    let mut next = 0;
    for o in 0..out_channels {
        for c in 0..in_channels {
            let p = partners[c];
            if p == c {
                for u in 0..k {
                    for v in u..k {
                        dense[at(o, c, u, v)] = packed[next];
                        dense[at(o, c, v, u)] = packed[next];
                        next += 1;
                    }
                }
            } else if c < p {
                for u in 0..k {
                    for v in 0..k {
                        dense[at(o, c, u, v)] = packed[next];
                        dense[at(o, p, v, u)] = packed[next];
                        next += 1;
                    }
                }
            }
        }
    }
    assert_eq!(
        next,
        packed.len(),
        "packed kernel length disagrees with the layout"
    );
    dense
}

/// Expected packed length per output channel, counted from the partner table.
pub fn packed_len_per_output(partners: &[usize], k: usize) -> usize {
    let mut n = 0;
    for (c, &p) in partners.iter().enumerate() {
        if p == c {
            n += k * (k + 1) / 2;
        } else if c < p {
            n += k * k;
        }
    }
    n
}

/// Dense float conv, 'same' zero padding outside `0..len`, stride 1, in f64. Returns the
/// outputs and, for the error bound, the sum of absolute terms of each output.
pub fn conv_f64(
    x: &Dense<f64>,
    len: usize,
    w: &[f64],
    bias: &[f64],
    k: usize,
    dilation: usize,
    relu: Option<f64>,
) -> (Dense<f64>, Dense<f64>) {
    let out_channels = bias.len();
    let in_channels = x.c;
    let r = (k / 2) as isize;
    let mut y = Dense::zeros(len, out_channels);
    let mut magnitude = Dense::zeros(len, out_channels);
    for i in 0..len {
        for j in 0..len {
            for o in 0..out_channels {
                let mut acc = bias[o];
                let mut mag = bias[o].abs();
                for c in 0..in_channels {
                    for u in 0..k {
                        for v in 0..k {
                            let a = i as isize + dilation as isize * (u as isize - r);
                            let b = j as isize + dilation as isize * (v as isize - r);
                            if a < 0 || b < 0 || a >= len as isize || b >= len as isize {
                                continue;
                            }
                            let term = w[((o * in_channels + c) * k + u) * k + v]
                                * x.at(a as usize, b as usize, c);
                            acc += term;
                            mag += term.abs();
                        }
                    }
                }
                if let Some(cap) = relu {
                    acc = acc.max(0.0).min(cap);
                }
                y.set(i, j, o, acc);
                magnitude.set(i, j, o, mag);
            }
        }
    }
    (y, magnitude)
}

/// `round(a·b / 2^31)` the gemmlowp way, written with i128 and explicit cases.
pub fn high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let p = a as i128 * b as i128;
    let nudged = if p >= 0 {
        p + (1 << 30)
    } else {
        p + 1 - (1 << 30)
    };
    // Truncation toward zero.
    let q = if nudged >= 0 {
        nudged >> 31
    } else {
        -((-nudged) >> 31)
    };
    q as i32
}

/// `x / 2^e`, nearest, ties away from zero.
pub fn shift_round(x: i32, e: u32) -> i32 {
    if e == 0 {
        return x;
    }
    let x = x as i64;
    let d = 1i64 << e;
    let q = if x >= 0 {
        (x + d / 2) / d
    } else {
        -((-x + d / 2) / d)
    };
    q as i32
}

/// Double-rounding requantization, as the spec states it.
pub fn requant(acc: i32, multiplier: i32, shift: i32) -> i32 {
    let scaled = if shift > 0 {
        acc.wrapping_shl(shift as u32)
    } else {
        acc
    };
    let right = if shift < 0 { (-shift) as u32 } else { 0 };
    shift_round(high_mul(scaled, multiplier), right)
}

pub struct I8Out<'a> {
    pub multipliers: &'a [i32],
    pub shifts: &'a [i32],
    pub zero_point: i32,
    pub min: i8,
    pub max: i8,
}

/// Dense int8 conv over a centered input (`q − zp`, 0 at padding), int32 accumulation.
pub fn conv_i8(
    centered: &Dense<i32>,
    len: usize,
    w: &[i8],
    bias: &[i32],
    k: usize,
    dilation: usize,
    q: &I8Out<'_>,
) -> Dense<i8> {
    let out_channels = bias.len();
    let in_channels = centered.c;
    let r = (k / 2) as isize;
    let mut y = Dense::zeros(len, out_channels);
    for i in 0..len {
        for j in 0..len {
            for o in 0..out_channels {
                let mut acc = bias[o];
                for c in 0..in_channels {
                    for u in 0..k {
                        for v in 0..k {
                            let a = i as isize + dilation as isize * (u as isize - r);
                            let b = j as isize + dilation as isize * (v as isize - r);
                            if a < 0 || b < 0 || a >= len as isize || b >= len as isize {
                                continue;
                            }
                            let wv = w[((o * in_channels + c) * k + u) * k + v] as i32;
                            acc = acc.wrapping_add(wv * centered.at(a as usize, b as usize, c));
                        }
                    }
                }
                let v = requant(acc, q.multipliers[o], q.shifts[o]) + q.zero_point;
                y.set(i, j, o, v.clamp(q.min as i32, q.max as i32) as i8);
            }
        }
    }
    y
}

/// The materialized pair tensor of per-position features: concatenation and outer product
/// runs in order. `product` maps a product of two features to the channel's value.
/// The separation bin of `distance` among `bins`, from the documented bin edges: 0, 1, 2, 3,
/// then 2^k and 3·2^(k−1) for k ≥ 2 (4, 6, 8, 12, 16, 24, …); the last bin takes the rest.
pub fn separation_bin(distance: usize, bins: usize) -> usize {
    let mut edges = vec![0usize, 1, 2, 3];
    let mut k = 2;
    while edges.len() < bins {
        edges.push(1 << k);
        edges.push(3 << (k - 1));
        k += 1;
    }
    let bin = edges.iter().filter(|&&edge| edge <= distance).count() - 1;
    bin.min(bins - 1)
}

/// The pair tensor of per-position features: `product` makes an outer-product value and
/// `one` is a separation channel's value when on.
pub fn materialize<T: Copy + Default>(
    features: &[T],
    dim: usize,
    len: usize,
    runs: &[Run],
    product: impl Fn(T, T) -> T,
    one: T,
) -> Dense<T> {
    let channels: usize = runs.iter().map(|r| r.channels()).sum();
    let mut x = Dense::zeros(len, channels);
    let e = |p: usize, f: usize| features[p * dim + f];
    for i in 0..len {
        for j in 0..len {
            let mut ch = 0;
            for &run in runs {
                match run {
                    Run::Halves(d) => {
                        assert_eq!(d, dim);
                        for f in 0..d {
                            x.set(i, j, ch + f, e(i, f));
                            x.set(i, j, ch + d + f, e(j, f));
                        }
                    }
                    Run::Outer(d) => {
                        assert_eq!(d, dim);
                        for a in 0..d {
                            for b in 0..d {
                                x.set(i, j, ch + a * d + b, product(e(i, a), e(j, b)));
                            }
                        }
                    }
                    Run::Separation(n) => {
                        x.set(i, j, ch + separation_bin(i.abs_diff(j), n), one);
                    }
                    Run::Fixed(_) => panic!("no per-position construction for fixed runs"),
                }
                ch += run.channels();
            }
        }
    }
    x
}
