//! Buffer sizes and work counts as `const fn`s of the model dimensions, so that firmware can
//! size its `static` buffers at compile time.

use crate::tri::{map_len, tri_len};

/// Patch values a conv with `in_channels` inputs and kernel size `kernel` gathers per pair
/// (all the scratch a float conv needs), for any involution (a symmetric kernel packs `k(k+1)/2` values a channel, a transposed pair `k²`
/// values for two channels, which is never more).
pub const fn conv_scratch_len(in_channels: usize, kernel: usize) -> usize {
    in_channels * tri_len(kernel)
}

/// int16 values an int8 conv's weights take once widened for the SMLAD kernel: the output
/// channels rounded up to a group of four, each row of `patch_len` weights rounded up to
/// whole words. Part of every int8 conv's scratch, in every build (see
/// [`conv_i8_scratch_len`]).
pub const fn widened_weight_len(patch_len: usize, out_channels: usize) -> usize {
    out_channels.div_ceil(4) * 4 * patch_len.div_ceil(2) * 2
}

/// Most int16 values a layer's widened weights may take (96 KiB: a 64-channel 3×3 layer, dense
/// or symmetric, still widens). A layer with more runs the portable inner loop on its weights
/// in flash instead (the same bits, more instructions), so RAM stays bounded for wide layers
/// such as SCosRec's 256-channel 3×3 conv (786 KB widened).
pub const MAX_WIDENED_WEIGHTS: usize = 48 * 1024;

/// Whether an int8 conv of this shape widens its weights for the SMLAD kernel (on builds that
/// have it): when they fit [`MAX_WIDENED_WEIGHTS`].
pub const fn widens(patch_len: usize, out_channels: usize) -> bool {
    widened_weight_len(patch_len, out_channels) <= MAX_WIDENED_WEIGHTS
}

/// Scratch values of an int8 conv whose patch holds `patch_len` values: the patch, then, when
/// the layer [`widens`] them, its weights widened for the SMLAD kernel
/// ([`widened_weight_len`]) plus one value of slack to start them on a word boundary (the
/// kernel loads them with `LDM`, which faults on unaligned addresses).
pub const fn conv_i8_scratch_len_for(patch_len: usize, out_channels: usize) -> usize {
    if widens(patch_len, out_channels) {
        patch_len + widened_weight_len(patch_len, out_channels) + 1
    } else {
        patch_len
    }
}

/// Scratch values an int8 symmetric conv with `in_channels` inputs, `out_channels` outputs
/// and kernel size `kernel` needs, for any involution.
pub const fn conv_i8_scratch_len(in_channels: usize, out_channels: usize, kernel: usize) -> usize {
    conv_i8_scratch_len_for(conv_scratch_len(in_channels, kernel), out_channels)
}

/// Scratch values of the plain int8 conv ([`DenseConvI8`](crate::conv::DenseConvI8)) of
/// the same shape: a `k·k·C` patch and its widened weights.
pub const fn dense_i8_scratch_len(in_channels: usize, out_channels: usize, kernel: usize) -> usize {
    conv_i8_scratch_len_for(in_channels * kernel * kernel, out_channels)
}

/// Packed weights of a symmetry-preserving conv (identity involution).
pub const fn packed_weight_len(in_channels: usize, out_channels: usize, kernel: usize) -> usize {
    out_channels * in_channels * tri_len(kernel)
}

/// Weights of the same conv with dense `k×k` kernels.
pub const fn dense_weight_len(in_channels: usize, out_channels: usize, kernel: usize) -> usize {
    out_channels * in_channels * kernel * kernel
}

/// Multiply-accumulates of a dense conv over the full `l×l` map.
pub const fn dense_macs(l: usize, in_channels: usize, out_channels: usize, kernel: usize) -> usize {
    l * l * dense_weight_len(in_channels, out_channels, kernel)
}

/// Multiplies of a symmetric conv (identity involution) over the upper triangle, after the
/// pre-add of mirrored inputs.
pub const fn symmetric_macs(
    l: usize,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
) -> usize {
    tri_len(l) * packed_weight_len(in_channels, out_channels, kernel)
}

/// Activation values of the two ping-pong maps a full-map schedule needs, each packed with at
/// most `max_channels` channels.
pub const fn ping_pong_len(l: usize, max_channels: usize) -> usize {
    2 * map_len(l, max_channels)
}

/// Activation values of one dense `l×l` map, for comparison.
pub const fn dense_map_len(l: usize, channels: usize) -> usize {
    l * l * channels
}

/// Arena values of a whole-model run: `l · feature_dim` per-position features, then `slots`
/// packed maps of `max_channels` (2 slots, or 3 for models with skip connections).
pub const fn model_arena_len(
    l: usize,
    feature_dim: usize,
    max_channels: usize,
    slots: usize,
) -> usize {
    l * feature_dim + slots * map_len(l, max_channels)
}

/// Arena values of row-streaming execution: the per-position features and every layer's ring
/// of rows, `ring_len = Σ rows · channels` (`Model::stream_ring_len`, `scnn inspect`).
pub const fn stream_arena_len(l: usize, feature_dim: usize, ring_len: usize) -> usize {
    l * feature_dim + l * ring_len
}

/// Most int8 values a layer-0 token-pair table may take (8 KiB): enough for a protein model's
/// 21 × 21 tokens at 16 channels. A bigger one is not built, and layer 0 runs as a conv.
pub const MAX_PAIR_TABLE: usize = 8 * 1024;

/// int8 values of the table a 1×1 first layer becomes: its output for every ordered pair of
/// `vocab` tokens, `out_channels` each; 0 when that exceeds [`MAX_PAIR_TABLE`] or the
/// vocabulary does not fit a byte.
pub const fn pair_table_len(vocab: usize, out_channels: usize) -> usize {
    let len = vocab * vocab * out_channels;
    if vocab <= 256 && len <= MAX_PAIR_TABLE {
        len
    } else {
        0
    }
}

/// Probability values of a whole-model run: one per pair of the packed `l×l` triangle.
pub const fn model_probs_len(l: usize) -> usize {
    tri_len(l)
}
