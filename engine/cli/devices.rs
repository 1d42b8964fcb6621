//! `faultline devices`: the GPU adapters wgpu finds, and which one a run would use.

use super::Diagnostic;
use crate::numerics::gpu::{AdapterSelection, backend_env_problem, list_adapters};

/// Lists the adapters of the backends `WGPU_BACKEND` allows (all compiled in when
/// unset), best first, marking what `--backend auto` and `--backend gpu` pick.
pub fn devices() -> Result<(), Diagnostic> {
    if let Some(problem) = backend_env_problem() {
        return Err(Diagnostic::bad_input(problem));
    }
    let selection = AdapterSelection::from_env();
    let adapters = list_adapters(&selection);
    let wanted = selection.name.as_ref().map(|n| n.to_lowercase());
    let matches = |name: &str| wanted.as_ref().is_none_or(|w| name.to_lowercase().contains(w));
    // The same rule as the context: the first (best) adapter whose name matches;
    // `auto` takes only a hardware one.
    let for_gpu = adapters.iter().position(|a| matches(&a.name));
    let for_auto = adapters.iter().position(|a| matches(&a.name) && !a.software);
    if adapters.is_empty() {
        say!("no GPU adapter found; runs use the CPU (--backend auto or cpu)");
        say!("to run the WGSL kernels without a GPU: apt-get install mesa-vulkan-drivers libvulkan1");
        return Ok(());
    }
    say!("  # name  (backend, type, driver)");
    for (i, adapter) in adapters.iter().enumerate() {
        let mut marks = Vec::new();
        if for_auto == Some(i) {
            marks.push("--backend auto");
        }
        if for_gpu == Some(i) {
            marks.push("--backend gpu");
        }
        let marks = if marks.is_empty() { String::new() } else { format!("   <- {}", marks.join(", ")) };
        say!("{i:>3} {adapter}{}{marks}", if adapter.software { " [software]" } else { "" });
    }
    if for_auto.is_none() {
        say!("no hardware adapter: --backend auto runs on the CPU");
    }
    if let (Some(name), None) = (&selection.name, for_gpu) {
        say!("WGPU_ADAPTER_NAME={name} matches none of them");
    }
    Ok(())
}
