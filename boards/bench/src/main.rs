//! Benchmark firmware: executed instructions (SysTick under `-icount`) of the reference int8
//! layers, symmetric and dense, and of the whole example model (row streaming, and the
//! whole-map path for comparison), with its activation RAM and stack. Prints one
//! `bench <key> <value>` line per number on semihosting stdout; `scnn bench` runs it and
//! writes the report.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use defmt_semihosting as _;
use qemu_mps2_an386 as board;
use scnn::model::{Buffers, Stage};
use scnn::tri::{tri_len, TriMap};
use scnn::{ConvGeom, ConvI8, DenseConvI8, Involution, Model, OutputQuant, QuantMap};
use scnn_board::counter::Counter;
use scnn_board::example;
use scnn_board::stack;
use static_cell::ConstStaticCell;

/// xorshift32: the same data on every run.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// In [-127, 127].
    fn i8(&mut self) -> i8 {
        ((self.next() % 255) as i32 - 127) as i8
    }
}

const MAX_C: usize = 32;
const K: usize = 3;

/// Per-output-channel parameters of a reference layer.
struct Params {
    sym_weights: [i8; MAX_C * MAX_C * 6],
    dense_weights: [i8; MAX_C * MAX_C * 9],
    bias: [i32; MAX_C],
    multipliers: [i32; MAX_C],
    shifts: [i32; MAX_C],
}

fn params(c: usize, rng: &mut Rng) -> Params {
    let mut p = Params {
        sym_weights: [0; MAX_C * MAX_C * 6],
        dense_weights: [0; MAX_C * MAX_C * 9],
        bias: [0; MAX_C],
        multipliers: [0; MAX_C],
        shifts: [0; MAX_C],
    };
    for w in p.sym_weights.iter_mut().take(c * c * 6) {
        *w = rng.i8();
    }
    for w in p.dense_weights.iter_mut().take(c * c * K * K) {
        *w = rng.i8();
    }
    for o in 0..c {
        p.bias[o] = (rng.next() % 20_001) as i32 - 10_000;
        p.multipliers[o] = (1 << 30) + (rng.next() % (1 << 30)) as i32;
        p.shifts[o] = -8;
    }
    p
}

/// Instructions of one symmetric and one dense `c → c` 3×3 layer on an `L×L` map.
#[inline(never)]
fn reference<const L: usize>(
    c: usize,
    arena: &mut [i8],
    scratch: &mut [i16],
    counter: &mut impl Counter,
) -> Option<(u64, u64)> {
    let mut rng = Rng(0x5EED_0000 ^ L as u32);
    let p = params(c, &mut rng);
    let quant = OutputQuant {
        multipliers: &p.multipliers[..c],
        shifts: &p.shifts[..c],
        zero_point: -3,
        act_min: -128,
        act_max: 127,
    };
    let (input, rest) = arena.split_at_mut_checked(L * L * c)?;
    let (output, _) = rest.split_at_mut_checked(L * L * c)?;
    for x in input.iter_mut() {
        *x = rng.i8();
    }

    let geom = ConvGeom::new(c, c, K, 1, Involution::Identity).ok()?;
    let sym = ConvI8::new(geom, &p.sym_weights[..c * c * 6], &p.bias[..c], quant).ok()?;
    let map = QuantMap::new(
        TriMap::<i8, L>::new(input.get(..tri_len(L) * c)?, c, L).ok()?,
        5,
    )
    .ok()?;
    let start = counter.now();
    sym.run::<_, L>(&map, scratch, output).ok()?;
    let sym_count = counter.now() - start;

    let dense = DenseConvI8::new(
        c,
        c,
        K,
        1,
        &p.dense_weights[..c * c * 9],
        &p.bias[..c],
        quant,
    )
    .ok()?;
    let start = counter.now();
    dense.run::<L>(input, L, 5, scratch, output).ok()?;
    let dense_count = counter.now() - start;
    Some((sym_count, dense_count))
}

/// Room for the dense reference layers (two 64×64×32 maps) and the whole-map model arena.
const BIG_LEN: usize = 256 * 1024;
static BIG: ConstStaticCell<[i8; BIG_LEN]> = ConstStaticCell::new([0; BIG_LEN]);
/// Scratch of the reference layers: a dense patch and its widened weights (static, so it is
/// not counted in the model's stack).
const REF_SCRATCH_LEN: usize = scnn::plan::dense_i8_scratch_len(MAX_C, MAX_C, K);
/// The nested decoder's table at the example's `L`.
static NESTED_TABLE: ConstStaticCell<[u16; scnn::decode::nested_table_len(example::L)]> =
    ConstStaticCell::new([0; scnn::decode::nested_table_len(example::L)]);
static REF_SCRATCH: ConstStaticCell<[i16; REF_SCRATCH_LEN]> =
    ConstStaticCell::new([0; REF_SCRATCH_LEN]);

fn report(key: &str, value: u64) {
    semihosting::println!("bench {} {}", key, value);
}

/// Reports where the streaming path's instructions go: each stage's count since the last mark
/// (the marks' own few instructions included), summed over rows. Out of line, so its tables
/// stay out of the frame the predictions above are measured in.
#[inline(never)]
fn profile<const L: usize>(
    model: &Model<'_, L>,
    sequence: &[u8],
    arena: &mut [i8],
    scratch: &mut [i16],
    counter: &mut impl Counter,
) -> Option<()> {
    let mut conv = [0u64; scnn::MAX_LAYERS];
    let mut add = [0u64; scnn::MAX_LAYERS];
    let mut features = 0u64;
    let mut last = counter.now();
    model
        .predict_i8_rows_marked(
            sequence,
            arena,
            scratch,
            |_, _, _| {},
            |stage| {
                let now = counter.now();
                let spent = now - last;
                match stage {
                    Stage::PairFeatures => features += spent,
                    Stage::Conv(t) => {
                        if let Some(c) = conv.get_mut(t) {
                            *c += spent;
                        }
                    }
                    Stage::Add(t) => {
                        if let Some(a) = add.get_mut(t) {
                            *a += spent;
                        }
                    }
                }
                last = counter.now();
            },
        )
        .ok()?;
    report("model.profile.pair_features", features);
    for t in 0..model.layer_count() {
        semihosting::println!("bench model.profile.conv.{} {}", t, conv[t]);
        if add[t] > 0 {
            semihosting::println!("bench model.profile.add.{} {}", t, add[t]);
        }
    }
    Some(())
}

fn run() -> Option<()> {
    let peripherals = cortex_m::Peripherals::take()?;
    let mut counter = board::Instructions::start(peripherals.SYST);
    let big = BIG.try_take()?;
    let arena = example::ARENA.try_take()?;
    let scratch = example::SCRATCH.try_take()?;
    let probs = example::PROBS.try_take()?;
    let logits = example::LOGITS.try_take()?;
    let ref_scratch = REF_SCRATCH.try_take()?;

    let (sym, dense) = reference::<64>(16, &mut big[..], ref_scratch, &mut counter)?;
    report("ref64.sym_instructions", sym);
    report("ref64.dense_instructions", dense);
    let (sym, dense) = reference::<32>(8, &mut big[..], ref_scratch, &mut counter)?;
    report("ref32.sym_instructions", sym);
    report("ref32.dense_instructions", dense);
    // Narrow and wide layers on the same map: where per-pair overhead weighs.
    for c in [8, 32] {
        let (sym, dense) = reference::<64>(c, &mut big[..], ref_scratch, &mut counter)?;
        semihosting::println!("bench ref64_c{}.sym_instructions {}", c, sym);
        semihosting::println!("bench ref64_c{}.dense_instructions {}", c, dense);
    }

    let model = Model::<{ example::L }>::from_bytes(&example::BLOB.0).ok()?;
    // A full-length sequence: the model's worst case.
    let mut sequence = [0u8; example::L];
    let mut rng = Rng(0x7E57);
    for b in sequence.iter_mut() {
        *b = b"ACGU"[(rng.next() % 4) as usize];
    }
    let mut buffers = Buffers {
        arena: &mut arena[..],
        scratch: &mut scratch[..],
        probs: &mut probs[..],
    };
    // The firmware's path: row streaming, the last layer's int8 logits kept as they come
    // (what its decoder and the parity check read), no f32 map.
    let last = model.layer_count() - 1;
    stack::paint();
    let start = counter.now();
    model
        .predict_i8_rows(&sequence, buffers.arena, buffers.scratch, |t, i, row| {
            if t == last {
                let at = scnn::tri::tri_index(example::L, i, i);
                if let Some(out) = logits.get_mut(at..at + row.len()) {
                    out.copy_from_slice(row);
                }
            }
        })
        .ok()?;
    let count = counter.now() - start;
    let stack_bytes = stack::used();
    report("model.instructions", count);
    // The same with the f32 probability map as well (a sigmoid for every pair).
    let start = counter.now();
    model
        .predict_i8_streaming(&sequence, &mut buffers, |_, _, _| {})
        .ok()?;
    report("model.probs_instructions", counter.now() - start);
    report("model.sequence_length", example::L as u64);
    report(
        "model.peak_activation_bytes",
        model.stream_arena_len().ok()? as u64,
    );
    report("model.stack_bytes", stack_bytes as u64);
    decoders(&model, &sequence, &logits[..], &mut counter)?;

    profile(
        &model,
        &sequence,
        &mut arena[..],
        &mut scratch[..],
        &mut counter,
    )?;

    let mut buffers = Buffers {
        arena: big.get_mut(..model.arena_len())?,
        scratch: &mut scratch[..],
        probs: &mut probs[..],
    };
    let start = counter.now();
    model
        .predict_i8_with(&sequence, &mut buffers, |_, _| {})
        .ok()?;
    report("model.full_map_instructions", counter.now() - start);
    report("model.full_map_activation_bytes", model.arena_len() as u64);
    Some(())
}

/// What the two RNA decoders cost on the firmware path's logits: greedy (no table) and nested
/// (a `u16` table over the triangle).
fn decoders(
    model: &Model<'_, { example::L }>,
    sequence: &[u8],
    logits: &[i8],
    counter: &mut impl Counter,
) -> Option<()> {
    use scnn::decode::{decode_logits, decode_logits_nested, NestedScoring, DEFAULT_THRESHOLD};
    let mut bases = [scnn::seq::Base::N; example::L];
    let n = scnn::seq::encode(sequence, &mut bases).ok()?;
    let bases = bases.get(..n)?;
    let quant = model.logit_quant();
    let start = counter.now();
    let greedy =
        decode_logits::<{ example::L }>(logits, bases, DEFAULT_THRESHOLD, quant.0, quant.1);
    report("decode.greedy_instructions", counter.now() - start);
    let table = NESTED_TABLE.try_take()?;
    let start = counter.now();
    let nested =
        decode_logits_nested::<{ example::L }>(logits, bases, NestedScoring::DEFAULT, quant, table);
    report("decode.nested_instructions", counter.now() - start);
    report("decode.nested_table_bytes", 2 * table.len() as u64);
    report("decode.greedy_pairs", greedy.ok()?.pairs.len() as u64);
    report("decode.nested_pairs", nested.ok()?.pairs.len() as u64);
    Some(())
}

#[entry]
fn main() -> ! {
    let code = match run() {
        Some(()) => 0,
        None => {
            semihosting::println!("bench failed");
            1
        }
    };
    semihosting::process::exit(code)
}

#[exception]
fn SysTick() {
    scnn_board::counter::on_systick();
}
