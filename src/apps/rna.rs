//! RNA secondary structure: bases in, base pairs out (the decoder is [`crate::decode`]).

/// The RNA alphabet: A, C, G, U (T reads as U) and N, either case, as tokens 0–4 (the rows
/// of the embedding, the order of [`Base`](crate::seq::Base)).
pub const ALPHABET: &[(u8, u16)] = &[
    (b'A', 0),
    (b'C', 1),
    (b'G', 2),
    (b'U', 3),
    (b'T', 3),
    (b'N', 4),
    (b'a', 0),
    (b'c', 1),
    (b'g', 2),
    (b'u', 3),
    (b't', 3),
    (b'n', 4),
];

/// Tokens of the RNA alphabet.
pub const VOCAB_SIZE: usize = 5;
