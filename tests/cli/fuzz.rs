//! No input may panic or hang: thousands of seeded mutations of valid scenarios go
//! through the loader, and those that still load are simulated (briefly).

use std::panic;

use faultline::observe::EventLog;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::LoadedScenario;
use faultline::simulation::Simulation;

use crate::{ron_files, root};

/// Characters that matter to RON, so mutations reach deep into the parser.
const ALPHABET: &[u8] = b"()[]{}:,\"'0123456789-+.eE_ #/*\\\naZrbNnIif\xc3\xa9\x00";

fn mutate(rng: &mut SimRng, text: &[u8]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len() as u64) as usize;
        match rng.below(6) {
            0 => bytes[at] = ALPHABET[rng.below(ALPHABET.len() as u64) as usize],
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, ALPHABET[rng.below(ALPHABET.len() as u64) as usize]),
            3 => bytes.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(40) as usize).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => {
                // Swap a number for an extreme one.
                let extreme: &[u8] =
                    [&b"18446744073709551616"[..], b"-1", b"0", b"1e308", b"NaN", b"\"0ns\""]
                        [rng.below(6) as usize];
                bytes.splice(at..at, extreme.iter().copied());
            }
        }
    }
    bytes
}

#[test]
fn mutated_scenarios_never_panic() {
    let mut seeds_text: Vec<Vec<u8>> =
        ron_files(&root().join("scenarios")).into_iter().map(|p| std::fs::read(p).unwrap()).collect();
    seeds_text.push(std::fs::read(root().join("tests/bad/support/trace-ok.ron")).unwrap());
    let mut rng = SimRng::new(99, Purpose::Compute, 0);
    let mut loaded_count = 0;
    for round in 0..30_000 {
        let source = &seeds_text[round % seeds_text.len()];
        let bytes = mutate(&mut rng, source);
        let outcome = panic::catch_unwind(|| {
            let result = LoadedScenario::from_bytes(&bytes, "fuzz.ron", &root().join("scenarios"), None);
            if let Ok(mut loaded) = result {
                loaded.scenario.stop.max_events = 20_000;
                if let Ok(schedule) = faultline::schedule::realize(&loaded, 1) {
                    Simulation::new(&loaded.scenario, &schedule.trace, 1).run(&mut EventLog::hashing());
                }
                true
            } else {
                // Rendering the message must not panic either.
                let _ = result.unwrap_err().to_string();
                false
            }
        });
        match outcome {
            Ok(loaded) => loaded_count += usize::from(loaded),
            Err(_) => panic!("panicked on mutation {round}:\n{}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert!(loaded_count > 100, "mutations should sometimes stay valid ({loaded_count})");
}
