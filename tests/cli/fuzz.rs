//! No input may panic or hang: thousands of seeded mutations of valid scenarios and
//! traces go through the loader, and those that still load are simulated
//! (briefly); a sample goes through `validate`, `trace` and `run --dry-run`.

use std::panic;

use faultline::rng::{Purpose, SimRng};
use faultline::scenario::LoadedScenario;
use faultline::timing::observe::EventLog;
use faultline::timing::simulation::Simulation;

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
                if let Ok(schedule) = faultline::timing::schedule::realize(&loaded, 1) {
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

#[test]
fn mutated_traces_never_panic() {
    let dir = std::env::temp_dir().join(format!("faultline-fuzz-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stochastic = LoadedScenario::from_file(&root().join("scenarios/stochastic-failures.ron")).unwrap();
    let traces: Vec<Vec<u8>> = vec![
        std::fs::read(root().join("tests/bad/support/trace-ok.ron")).unwrap(),
        faultline::timing::schedule::realize(&stochastic, 1).unwrap().trace.to_ron().into_bytes(),
    ];
    let scenario = br#"(workers: 8, stop: (rounds: 20, max_events: 20000), failures: (replay: "t.ron"))"#;
    let mut rng = SimRng::new(5, Purpose::Compute, 1);
    let mut replayed = 0;
    for round in 0..3000 {
        let bytes = mutate(&mut rng, &traces[round % traces.len()]);
        std::fs::write(dir.join("t.ron"), &bytes).unwrap();
        let outcome =
            panic::catch_unwind(|| match LoadedScenario::from_bytes(scenario, "s.ron", &dir, None) {
                Ok(loaded) => {
                    let schedule =
                        faultline::timing::schedule::realize(&loaded, 1).expect("a replayed trace realizes");
                    Simulation::new(&loaded.scenario, &schedule.trace, 1).run(&mut EventLog::hashing());
                    true
                }
                Err(errors) => {
                    let _ = errors.to_string();
                    false
                }
            });
        match outcome {
            Ok(ok) => replayed += usize::from(ok),
            Err(_) => panic!("panicked on trace mutation {round}:\n{}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert!(replayed > 50, "mutations should sometimes stay valid ({replayed})");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The commands themselves, as a user runs them on broken files: every exit is
/// 0, 1 or 2, never a panic or an abort, and nothing hangs.
#[test]
fn mutated_inputs_never_crash_the_commands() {
    let dir = std::env::temp_dir().join(format!("faultline-fuzz-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root().join("tests/bad/support/trace-ok.ron"), dir.join("trace-ok.ron")).unwrap();
    let sources: Vec<Vec<u8>> = vec![
        std::fs::read(root().join("scenarios/quickstart.ron")).unwrap(),
        std::fs::read(root().join("scenarios/stochastic-failures.ron")).unwrap(),
        br#"(workers: 3, stop: (rounds: 30), failures: (replay: "trace-ok.ron"))"#.to_vec(),
    ];
    let mut rng = SimRng::new(11, Purpose::Compute, 2);
    for round in 0..90 {
        let bytes = mutate(&mut rng, &sources[round % sources.len()]);
        std::fs::write(dir.join("s.ron"), &bytes).unwrap();
        let command: &[&str] = match round % 3 {
            0 => &["validate", "s.ron"],
            1 => &["trace", "s.ron"],
            _ => &["run", "--dry-run", "--quiet", "s.ron", "--out", "out"],
        };
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(command)
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{command:?} hangs on mutation {round}:\n{}", String::from_utf8_lossy(&bytes));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(0..=2)) && !stderr.contains("panicked"),
            "{command:?} on mutation {round} exited {:?}:\n{stderr}\n{}",
            output.status,
            String::from_utf8_lossy(&bytes)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn random_overrides_never_panic() {
    let paths = [
        "workers",
        "seeds",
        "stop.rounds",
        "training.tau",
        "training.data.overlap",
        "training.optimizer.lr",
        "training.optimizer",
        "compute.speed[1]",
        "failures.events[0].at",
        "failures.generate.crashes.workers",
        "network.uplink",
        "name",
        "training.strategies[0]",
        "a.b.c",
        "training.model.hidden[0]",
    ];
    let values: [&[u8]; 8] =
        [b"4", b"0.5", b"\"10ms\"", b"[1, 2]", b"(lr: 0.1)", b"Constant(\"1ms\")", b"-1", b"Sgd()"];
    let mut rng = SimRng::new(3, Purpose::Compute, 3);
    let mut loaded = 0;
    for round in 0..2000 {
        let mut overrides = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let path = paths[rng.below(paths.len() as u64) as usize];
            let pick = values[rng.below(values.len() as u64) as usize];
            let value = mutate(&mut rng, pick);
            let argument = format!("{path}={}", String::from_utf8_lossy(&value));
            if let Ok(o) = faultline::scenario::Override::parse(&argument) {
                overrides.push(o);
            }
        }
        let outcome = panic::catch_unwind(|| {
            let result = LoadedScenario::from_bytes_with(
                faultline::scenario::QUICKSTART.as_bytes(),
                "scenarios/quickstart.ron",
                &root(),
                None,
                &overrides,
            );
            match result {
                Ok(_) => true,
                Err(errors) => {
                    let _ = errors.to_string();
                    false
                }
            }
        });
        match outcome {
            Ok(ok) => loaded += usize::from(ok),
            Err(_) => panic!("panicked on overrides {round}: {overrides:?}"),
        }
    }
    assert!(loaded > 100, "overrides should often be valid ({loaded})");
}
