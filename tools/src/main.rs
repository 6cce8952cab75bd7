//! `scnn`: convert trained weights into packed blobs, inspect them, check them against the
//! float model, and predict structures with the same runtime a microcontroller runs.

use std::process::ExitCode;

use scnn_tools::commands;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "scnn",
    version,
    about = "Symmetry-structured CNNs for microcontrollers: host tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Convert float weights (safetensors) into a packed .scnn blob.
    Convert(commands::convert::ConvertArgs),
    /// Show a blob's layers, parameter counts, MACs and memory.
    Inspect(commands::inspect::InspectArgs),
    /// Compare the runtime on the host against the float reference.
    Verify(commands::verify::VerifyArgs),
    /// Predict RNA structures, protein contacts, or a recommender's best items.
    Predict(commands::predict::PredictArgs),
    /// Score a model against known answers: RNA pair F1, contact precision, or ranking metrics.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Train an SCNN (or a plain CNN) on RNA structures, protein contacts, or interactions.
    #[cfg(feature = "train")]
    Train(commands::train::TrainArgs),
    /// Rebuild the shipped example blob and golden outputs from the trained weights.
    Example(commands::example::ExampleArgs),
    /// Instruction counts, activation RAM and stack on QEMU's Cortex-M4F.
    Bench(commands::bench::BenchArgs),
    /// Flash, static RAM and measured stack of firmware builds.
    Footprint(commands::footprint::FootprintArgs),
    /// A model with random weights (and random sequences), to size a board or test parity.
    Random(commands::random::RandomArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Convert(args) => commands::convert::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Evaluate(args) => commands::evaluate::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) => commands::train::run(args),
        Command::Example(args) => commands::example::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Footprint(args) => commands::footprint::run(args),
        Command::Random(args) => commands::random::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output has gone (`scnn … | head`): end quietly, with the status
        // a shell reports for a process SIGPIPE ended (128 + 13), as the Unix tools end.
        Err(error) if scnn_tools::output::is_broken_pipe(&error) => ExitCode::from(141),
        Err(error) => {
            // One line: the context chain joined by ": ".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
