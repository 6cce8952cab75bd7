//! Format 4's residual-add rescale tables: adding through them equals TFLite's ADD arithmetic
//! for every pair of int8 inputs, and a blob whose table disagrees with its add is refused.

use scnn::blob::{self, header as h, layer as lr, AlignedBlob};
use scnn::layers::{residual_add_i8, residual_add_i8_tables, AddQuant, AddTables};
use scnn::model::ModelInfo;
use scnn::{Activation, Error, Model};

static SHIPPED: &AlignedBlob<[u8]> = &AlignedBlob(*include_bytes!("../tools/models/example.scnn"));

#[test]
fn adding_through_the_tables_equals_the_add_for_every_pair_of_inputs() {
    let all: Vec<i8> = (i8::MIN..=i8::MAX).collect();
    // Every (a, b): a runs over all values for each b.
    let acc: Vec<i8> = all.iter().flat_map(|_| all.iter().copied()).collect();
    let skip: Vec<i8> = all
        .iter()
        .flat_map(|&b| std::iter::repeat_n(b, 256))
        .collect();
    for (a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, activation) in [
        (0.05, -3, 0.08, 7, 0.1, -12, Activation::Relu),
        (0.31, 127, 0.002, -128, 0.4, 0, Activation::None),
        (1.0, 0, 1.0, 0, 0.01, -128, Activation::Relu6),
        (0.0007, -128, 0.9, 127, 2.5, 127, Activation::None),
    ] {
        let quant =
            AddQuant::from_scales(a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, activation)
                .unwrap();
        let words = quant.rescale_tables();
        let tables = AddTables::new(&words, &quant).unwrap();
        let mut by_table = acc.clone();
        let mut by_add = acc.clone();
        residual_add_i8_tables(&mut by_table, &skip, &quant, &tables).unwrap();
        residual_add_i8(&mut by_add, &skip, &quant).unwrap();
        assert_eq!(by_table, by_add, "{quant:?}");
        // A table off by one somewhere is refused.
        let mut wrong = words;
        wrong[300] += 1;
        assert_eq!(AddTables::new(&wrong, &quant), Err(Error::BadAddTable));
    }
}

/// The shipped example with one word of its first add's tables changed (`delta` added) and
/// the CRC fixed, so that the table check (not the CRC) must catch it.
fn with_table_word_changed(word: usize, delta: i32) -> Vec<u32> {
    let mut bytes = SHIPPED.0.to_vec();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let layers = u32_at(&bytes, h::LAYERS_OFFSET) as usize;
    let info = ModelInfo::try_parse(&SHIPPED.0).unwrap();
    // The first layer with a residual add.
    let t = (0..info.layer_count())
        .find(|&t| {
            let at = layers + t * blob::LAYER_RECORD_LEN + lr::RESIDUAL;
            u16::from_le_bytes([bytes[at], bytes[at + 1]]) != blob::NO_RESIDUAL
        })
        .unwrap();
    let record = layers + t * blob::LAYER_RECORD_LEN;
    let params = u32_at(&bytes, record + lr::PARAMS_OFFSET) as usize;
    let out = u16::from_le_bytes([bytes[record + lr::OUT_CHANNELS], bytes[record + 7]]) as usize;
    let table = params + 4 * (3 * out + blob::I8_CONV_TAIL_WORDS + blob::I8_ADD_WORDS);
    let at = table + 4 * word;
    let value = (u32_at(&bytes, at) as i32).wrapping_add(delta);
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    let end = bytes.len() - blob::CRC_LEN;
    let crc = blob::checksum(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    words
}

#[test]
fn the_shipped_example_is_format_4_and_a_wrong_table_entry_is_refused() {
    let info = ModelInfo::try_parse(&SHIPPED.0).unwrap();
    assert_eq!(info.format_version(), blob::FORMAT_V4);
    assert!(Model::<128>::from_bytes(&SHIPPED.0).is_ok());
    let len = SHIPPED.0.len();
    // Unchanged, the patched copy loads: the patching itself is right.
    let same = with_table_word_changed(0, 0);
    assert!(Model::<128>::from_bytes(&bytemuck::cast_slice(&same)[..len]).is_ok());
    for (word, delta) in [(0, 1), (255, -1), (256, 1 << 20), (511, 1)] {
        let words = with_table_word_changed(word, delta);
        let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..len];
        assert_eq!(
            Model::<128>::from_bytes(bytes).err(),
            Some(Error::BadAddTable),
            "word {word}"
        );
    }
}
