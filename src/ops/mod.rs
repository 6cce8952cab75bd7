//! Layers of pooled heads, as TensorFlow Lite (Micro) defines their int8 arithmetic: fully
//! connected ([`fully_connected`]), TANH and LOGISTIC ([`activation`], on gemmlowp's fixed
//! point, [`fixed_point`]). Pooling over the triangle and the residual add are in
//! [`crate::layers`].

pub mod activation;
pub mod fixed_point;
pub mod fully_connected;

pub use activation::{ActivationI8, Curve};
pub use fully_connected::{FullyConnectedF32, FullyConnectedI8};
