//! What sits around the engine for each of the paper's applications: the alphabet that turns
//! text into tokens and the decoder that turns the head's output into an answer. The tools
//! and the boards use these; the engine itself takes tokens.

pub mod items;
pub mod protein;
pub mod rna;
