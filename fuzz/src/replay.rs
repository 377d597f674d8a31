//! Replaying committed inputs without AFL (the regular-test side of the fuzzing:
//! cheap, no instrumented build): the seed corpus and every regression input.

use crate::{exec, rig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the panic hook `replay` installs: a panic the module's guard caught (and
/// answered CKR_GENERAL_ERROR for) is a failure here, as it is a crash under AFL.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// fuzz/corpus: `seed/` (written by `seeds::write`) and `regressions/` (inputs that
/// once broke something, kept to check they never do again).
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The files of a corpus subdirectory, sorted (none when it is missing).
pub fn files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join(sub))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Makes an instance of `kind` in a temporary directory, then runs every committed
/// input `rounds` times in this process; the first broken contract is the error.
pub fn replay(kind: rig::Kind, rounds: usize) -> Result<usize, String> {
    let dir = tempfile::Builder::new()
        .prefix("kmsbridge-fuzz-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    rig::prepare(kind, dir.path())?;
    let (user, so) = rig::load(dir.path())?;
    let mut ctx = rig::start(user, so)?;
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    // Regressions first: while the fixtures still have their first handles (1 to 11),
    // the ones that name handles by number reach them.
    for f in files("regressions").into_iter().chain(files("seed")) {
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        inputs.push((f.display().to_string(), bytes));
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
    let mut runs = 0;
    for _ in 0..rounds {
        for (name, bytes) in &inputs {
            exec::run(&mut ctx, bytes).map_err(|e| format!("{name}: {e}"))?;
            if PANICKED.load(Ordering::SeqCst) {
                return Err(format!(
                    "{name}: a panic inside the module (caught at the C ABI)"
                ));
            }
            runs += 1;
        }
    }
    // No input may change the fixtures (the harness never hands them to a call that
    // would): all are still found by their labels.
    let before = ctx.fixtures.len();
    ctx.fixtures.clear();
    crate::fixtures::find(&mut ctx)?;
    if ctx.fixtures.len() != before {
        return Err(format!(
            "{before} fixtures before the inputs, {} after",
            ctx.fixtures.len()
        ));
    }
    Ok(runs)
}
